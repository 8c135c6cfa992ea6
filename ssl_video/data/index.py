"""Probe a folder or manifest of videos: which files are usable, what they hold, and why others are not.

Frame counts are what decoding yields, because clip sampling relies on them:

* MP4/MOV carry a sample table: ``stream.frames`` is trusted, and the tail of the file is decoded
  (seek to the last keyframe, decode to the end) to prove the data behind the table is there.
* Every other container (MKV, WebM, AVI, ...) is demuxed once without decoding to count packets
  (AVI headers and MKV durations survive truncation, so they are only compared, never trusted),
  then the tail is decoded the same way.

A file cut short or damaged keeps the frames before the damage: when the tail does not decode (or
the data ends before what the header claims), the file is decoded from the start and its usable
frames are those that decode before the first error; ``VideoInfo.note`` says so. Damage in the
middle of a file whose tail is intact shows only to a full decode: ``full_decode=True``
(``ssl-video data index --full-decode``) decodes every frame of every file (a cached full probe
then serves later scans, e.g. the training run's).

Probe results are cached in ``$SSL_VIDEO_HOME/probe_cache.json`` keyed by (path, size, mtime), so a
second scan only stats the files.

    ssl-video data index /data/drives --json index.json
    ssl-video data index /data/drives --full-decode      # also find damage in the middle of files
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import av
import numpy as np
from filelock import FileLock
from tqdm import tqdm

from ssl_video._io import atomic_write_json
from ssl_video.data.decode import packet_table
from ssl_video.paths import ssl_video_home

log = logging.getLogger(__name__)

VIDEO_EXTENSIONS = (".mp4", ".mkv", ".webm", ".avi", ".mov")
CACHE_VERSION = 3  # 3: an edit list's dropped lead-in is not counted; 2: damaged files keep their first frames
_INDEXED_FORMATS = ("mov", "mp4")  # containers whose sample table gives an exact frame count


@dataclass(frozen=True)
class VideoInfo:
    path: str  # absolute path
    frames: int  # number of decodable frames
    fps: float  # average frame rate
    duration_s: float
    width: int
    height: int
    codec: str  # e.g. "h264"
    size_bytes: int
    mtime: float
    note: str = ""  # why fewer frames are usable than the file holds ("damaged after frame 59 of 100"), else ""


@dataclass(frozen=True)
class SkippedVideo:
    path: str
    reason: str  # for a person: "empty file", "truncated (...)", "not a video (...)", ...


class VideoProbeError(ValueError):
    """``path`` is not a usable video; ``reason`` says why in words."""

    def __init__(self, path: str | Path, reason: str):
        super().__init__(f"{path}: {reason}")
        self.path = str(path)
        self.reason = reason


class VideoUnreadable(VideoProbeError):
    """The file could not be read at all (permission denied, I/O error). Not cached: fixing the permissions
    changes neither its size nor its mtime, and the next scan must see the file again."""


@dataclass
class VideoIndex:
    usable: list[VideoInfo]
    skipped: list[SkippedVideo]
    probed: int = 0  # files probed in this scan (the rest came from the cache)
    cached: int = 0
    _by_path: dict = field(default_factory=dict, repr=False, compare=False)

    def hours(self) -> float:
        return sum(v.duration_s for v in self.usable) / 3600.0

    def by_path(self) -> dict[str, VideoInfo]:
        if len(self._by_path) != len(self.usable):
            self._by_path = {v.path: v for v in self.usable}
        return self._by_path

    def to_json(self) -> dict:
        return {"usable": [asdict(v) for v in self.usable], "skipped": [asdict(s) for s in self.skipped]}

    def summary(self) -> str:
        lines = [f"usable: {len(self.usable)} files, {self.hours():.2f} hours of video"]
        damaged = [v for v in self.usable if v.note]
        if damaged:
            lines.append(f"  of which damaged or cut short, the frames before the damage kept: {len(damaged)}")
            lines.extend(f"    {v.path}: {v.note}" for v in damaged)
        by_reason: dict[str, list[str]] = defaultdict(list)
        for s in self.skipped:
            by_reason[s.reason.split(" (")[0]].append(f"{s.path}: {s.reason}")
        lines.append(f"skipped: {len(self.skipped)} files")
        for reason, paths in sorted(by_reason.items()):
            lines.append(f"  {reason}: {len(paths)}")
            lines.extend(f"    {p}" for p in paths)
        lines.append(f"probed {self.probed} files, {self.cached} from the cache")
        return "\n".join(lines)


def video_candidates(folder: str | Path) -> list[Path]:
    """Everything under ``folder`` named like a video, directories included (they get skipped with a reason).

    Symlinked folders are followed, as torchvision's ``ImageFolder`` does, each real folder once (no loops)."""
    found, seen = [], set()
    for root, dirs, files in os.walk(folder, followlinks=True):
        real = os.path.realpath(root)
        if real in seen:
            dirs[:] = []
            continue
        seen.add(real)
        dirs.sort()  # a folder reached twice is listed under its first path in sorted order
        found.extend(Path(root, n) for n in (*dirs, *files) if Path(n).suffix.lower() in VIDEO_EXTENSIONS)
    return sorted(found)


def find_videos(folder: str | Path) -> list[Path]:
    """Video files under ``folder``, recursive and sorted."""
    return [p for p in video_candidates(folder) if p.is_file()]


def _open_failure(path: Path, error: Exception) -> str:
    with open(path, "rb") as f:
        head = f.read(4096)
    if head[4:8] in (b"ftyp", b"moov", b"mdat", b"wide", b"free"):
        # An MP4/MOV whose index (moov box) never got written or got cut off: a recording stopped early.
        return "truncated (MP4/MOV index missing or cut off)"
    if head[:4] == b"\x1aE\xdf\xa3" or head[:4] == b"RIFF":
        return f"truncated or corrupt container ({error.__class__.__name__})"
    try:
        text = head.decode("utf-8")
        if all(c.isprintable() or c.isspace() for c in text):
            return "not a video (text file)"
    except UnicodeDecodeError:
        pass
    return "not a video (unrecognized data)"


def _decode_tail(container, stream, last_pts: int | None) -> tuple[int, int | None]:
    """Decode from the last keyframe to the end: (frames decoded there, pts of the last one)."""
    target = last_pts if last_pts is not None else (stream.start_time or 0) + (stream.duration or 0)
    container.seek(int(target), stream=stream, backward=True, any_frame=False)
    count, last = 0, None
    try:
        for frame in container.decode(stream):
            count += 1
            if frame.pts is not None:
                last = frame.pts if last is None else max(last, frame.pts)
    except av.FFmpegError:
        pass  # a broken last packet: what decoded before it counts
    return count, last


def _decodable_prefix(path: Path) -> tuple[np.ndarray, int]:
    """Demux and decode the whole video stream from the start, in one pass: (pts of every frame the file holds,
    in presentation order; how many of the first of them decode before the first error or missing frame)."""
    pts, decoded, failed = [], set(), False
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        # One thread: with frame threads an error surfaces a few packets late, after frames that reference the
        # damaged one were decoded (concealed, wrong) and would be counted.
        stream.codec_context.thread_count = 1
        try:
            for packet in container.demux(stream):
                stamp = packet.pts if packet.pts is not None else packet.dts
                if packet.size and stamp is not None:  # the last packet (size 0) flushes the decoder
                    pts.append(stamp)
                if not failed:
                    try:
                        decoded.update(frame.pts for frame in packet.decode())
                    except av.FFmpegError:
                        failed = True  # keep demuxing: the count of frames the file holds
                        try:  # frames decoded before the error but still held for reordering (B-frames)
                            decoded.update(frame.pts for frame in stream.codec_context.decode(None))
                        except av.FFmpegError:
                            pass
        except av.FFmpegError:
            pass  # demuxing stops where the readable data ends
    pts = np.sort(np.asarray(pts, dtype=np.int64))
    usable = 0
    while usable < len(pts) and int(pts[usable]) in decoded:
        usable += 1
    return pts, usable


def _kept_before_damage(path: Path, info: VideoInfo, time_base: float, claim: str | None) -> VideoInfo:
    """``info`` limited to the frames that decode from the start before the first damage. ``claim``: what the
    header says the file holds (" of the 100 frames its index lists"), None when nothing looked damaged."""
    pts, usable = _decodable_prefix(path)
    usable = min(usable, info.frames)
    if usable < 1:
        raise VideoProbeError(path, f"truncated or corrupt (no frame decodes{claim or ''})")
    if usable == info.frames and claim is None:
        return info  # a full decode found nothing
    span = float(pts[usable - 1] - pts[0]) * time_base
    fps = (usable - 1) / span if span > 0 else info.fps
    note = (f"damaged or cut short after frame {usable}{claim or f' of {info.frames}'}: kept the {usable} frames "
            f"({usable / fps:.1f} s) before it")
    return dataclasses.replace(info, frames=usable, fps=fps, duration_s=usable / fps, note=note)


def _leading_discards(container, stream, settle: int = 64) -> int:
    """Frames an edit list drops at the start (a trimmed copy's lead-in): counted from the first packets, until
    ``settle`` kept ones in a row."""
    container.seek(0)
    discarded = kept = 0
    try:
        for packet in container.demux(stream):
            if not packet.size:
                continue
            if packet.is_discard:
                discarded, kept = discarded + 1, 0
            elif (kept := kept + 1) >= settle:
                break
    except av.FFmpegError:
        pass  # the tail check below reports damage
    return discarded


def _probe_open(path: Path, container, size: int, mtime: float, full_decode: bool = False) -> VideoInfo:
    if not container.streams.video:
        audio = " (audio only)" if container.streams.audio else ""
        raise VideoProbeError(path, f"no video stream{audio}")
    stream = container.streams.video[0]
    stream.codec_context.thread_count = 1
    codec = stream.codec_context.name
    time_base = float(stream.time_base)
    try:
        first = next(container.decode(stream), None)
    except av.FFmpegError as error:
        raise VideoProbeError(path, f"cannot decode first frame ({error.__class__.__name__})") from None
    if first is None:
        raise VideoProbeError(path, "cannot decode first frame (no frames)")
    width, height = first.width, first.height
    if getattr(first, "rotation", 0):  # a display rotation: frames are read as stored (docs/data.md)
        log.warning("%s: the file asks players to rotate it %d degrees; ssl_video reads its frames as stored "
                    "(rotate it first: ffmpeg -i IN OUT)", path, first.rotation)
    indexed = any(name in _INDEXED_FORMATS for name in container.format.name.split(",")) and stream.frames > 0
    claim = None  # what the header claims, when the data does not hold it
    if indexed:
        frames = stream.frames - _leading_discards(container, stream)  # the index lists an edit list's lead-in too
        start = stream.start_time or 0
        duration = (stream.duration or 0) * time_base
        fps = float(stream.average_rate or 0) or (frames / duration if duration else 0.0)
        tail, last = _decode_tail(container, stream, None)
        # The last frame must start within two frame periods of the end the index claims.
        if tail == 0 or last is None or (start + stream.duration - last) * time_base > 2.0 / max(fps, 1e-6):
            claim = f" of the {frames} frames its index lists"
    else:
        container.seek(0)
        pts, keyframes = packet_table(container, stream)
        if not len(pts):
            raise VideoProbeError(path, "no video frames")
        keyframes = keyframes or [0]
        tail, last = _decode_tail(container, stream, int(pts[keyframes[-1]]))
        expected_tail = len(pts) - keyframes[-1]
        frames = len(pts) - max(0, expected_tail - tail)  # drop undecodable trailing frames
        if frames < 1:
            raise VideoProbeError(path, "truncated (no frame decodes)")
        span = float(pts[frames - 1] - pts[0]) * time_base
        fps = (frames - 1) / span if span > 0 else float(stream.average_rate or 0)
        claimed = container.duration / 1e6 if container.duration else 0.0
        # Fewer frames than the header claims, or data that ends well before the duration it claims: cut short.
        if stream.frames and frames < stream.frames:
            claim = f" of the {stream.frames} frames the header claims"
        elif fps > 0 and claimed and frames / fps < 0.9 * claimed - 1.0 / fps:
            claim = f" ({frames / fps:.1f} s of the {claimed:.1f} s the header claims)"
        duration = frames / fps if fps > 0 else 0.0
    if fps <= 0:
        raise VideoProbeError(path, "no frame rate")
    info = VideoInfo(path=str(path), frames=int(frames), fps=float(fps), duration_s=float(duration),
                     width=int(width), height=int(height), codec=codec, size_bytes=size, mtime=mtime)
    return _kept_before_damage(path, info, time_base, claim) if claim is not None or full_decode else info


def probe_video(path: str | Path, *, full_decode: bool = False) -> VideoInfo:
    """Probe one file; raises VideoProbeError(path, reason) when it is not a usable video (VideoUnreadable when it
    cannot be read at all). ``full_decode``: decode every frame, so that damage in the middle of the file ends its
    usable frames (see the module docstring)."""
    path = Path(os.path.abspath(path))
    try:
        return _probe_video(path, full_decode)
    except OSError as error:  # permission denied, an I/O error: this file is unusable, the others are still probed
        reason = error.strerror or str(error) or type(error).__name__
        raise VideoUnreadable(path, f"cannot be read ({reason}); check its permissions") from None


def _probe_video(path: Path, full_decode: bool) -> VideoInfo:
    if not path.exists():
        raise VideoProbeError(path, "file not found")
    if path.is_dir():
        raise VideoProbeError(path, "is a directory")
    stat = path.stat()
    if stat.st_size == 0:
        raise VideoProbeError(path, "empty file")
    try:
        container = av.open(str(path))
    except (av.FFmpegError, UnicodeDecodeError, ValueError) as error:
        raise VideoProbeError(path, _open_failure(path, error)) from None
    try:
        with container:
            return _probe_open(path, container, stat.st_size, stat.st_mtime, full_decode)
    except av.FFmpegError as error:
        raise VideoProbeError(path, f"corrupt ({error.__class__.__name__}: {error})") from None


def default_cache_path() -> Path:
    return ssl_video_home() / "probe_cache.json"


def _load_cache(cache_path: Path) -> dict:
    try:
        data = json.loads(cache_path.read_text())
        return data["entries"] if data.get("version") == CACHE_VERSION else {}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}


def _save_cache(cache_path: Path, entries: dict) -> None:
    cache_path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(cache_path) + ".lock"):
        merged = _load_cache(cache_path)  # keep what other processes added meanwhile
        merged.update(entries)
        atomic_write_json(cache_path, {"version": CACHE_VERSION, "entries": merged}, indent=None)


def index_videos(paths: Iterable[str | Path], *, min_frames: int = 2, cache_path: Path | None = None,
                 progress: bool = False, use_cache: bool = True, full_decode: bool = False) -> VideoIndex:
    """Probe each path (cached by path, size and mtime) and sort them into usable and skipped.

    ``cache_path`` defaults to ``$SSL_VIDEO_HOME/probe_cache.json``; ``use_cache=False`` probes
    everything and leaves the cache alone. Videos with fewer than ``min_frames`` frames are skipped.
    ``full_decode`` decodes every frame (:func:`probe_video`); a cached full probe serves any later scan.
    """
    cache_path = Path(cache_path) if cache_path is not None else default_cache_path()
    entries = _load_cache(cache_path) if use_cache else {}
    fresh: dict = {}
    index = VideoIndex(usable=[], skipped=[])
    for raw in tqdm(list(paths), desc="probing videos", unit="file", disable=not progress):
        path = os.path.abspath(raw)
        try:
            stat = os.stat(path)
            key = {"size": stat.st_size, "mtime": stat.st_mtime, "is_dir": os.path.isdir(path)}
        except OSError:
            key = None
        entry = entries.get(path)
        if key is not None and entry is not None and entry.get("key") == key and (entry.get("full") or not full_decode):
            index.cached += 1
        else:
            index.probed += 1
            try:
                entry = {"info": asdict(probe_video(path, full_decode=full_decode))}
            except VideoProbeError as error:
                entry = {"reason": error.reason}
                if isinstance(error, VideoUnreadable):
                    key = None  # not cached: the next scan reads it again
            if full_decode:
                entry["full"] = True
            if key is not None:
                entry["key"] = key
                fresh[path] = entry
        if "reason" in entry:
            index.skipped.append(SkippedVideo(path, entry["reason"]))
            continue
        info = VideoInfo(**entry["info"])
        if info.frames < min_frames:
            noun = "frame" if info.frames == 1 else "frames"
            index.skipped.append(SkippedVideo(path, f"shorter than one clip ({info.frames} {noun})"))
        else:
            index.usable.append(info)
            if info.note:
                log.warning("%s: %s", path, info.note)
    if fresh and use_cache:
        try:
            _save_cache(cache_path, fresh)
        except OSError as error:
            log.warning("could not write the probe cache %s: %s", cache_path, error)
    for s in index.skipped:
        log.info("skipped %s: %s", s.path, s.reason)
    return index
