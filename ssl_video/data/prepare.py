"""``ssl-video data prepare``: raw footage -> a training-ready copy (size, constant frame rate, short GOP).

    ssl-video data prepare /data/dashcam data/prepared --size 128 --fps 10
    ssl-video data prepare raw/labels.csv data/prepared --size 224 --fps 15 --keyframe-s 1
    ssl-video data prepare /fleet out --size 128 --fps 10 --num-shards 64 --shard-id $SLURM_ARRAY_TASK_ID
    ssl-video data merge out            # the shards' manifests -> out/manifest.csv

Random clips from long-GOP footage decode up to 250 frames to return 16 (BENCHMARKS.md,
"Decoding"); the VideoMAE maintainers advise reducing resolution and length offline
(MCG-NJU/VideoMAE issue 81) and DALI's reader went 5x faster after re-encoding with short
keyframe intervals (NVIDIA/DALI issue 1464). Each usable video is decoded once, in order,
resampled to a constant ``fps`` on the project's clock (output frame j is the source frame
nearest to time j / fps, as :mod:`ssl_video.data.sampling` picks clip frames, so a window's
``start_s`` / ``end_s`` mean the same moment in both copies), resized so its short side is
``size`` (aspect ratio kept, even sides for yuv420p; AREA), and encoded with libx264: a
keyframe every ``keyframe_s``, no B-frames, one thread (deterministic output).

Shards: every n-th video of the sorted source paths (``load_windows(shard=...)``), so each job
probes and transcodes only its own. Layout of OUT: ``videos/<stem>-<hash of the source path>.mp4`` plus a
``.json`` record (source path, size, mtime, settings, frames), ``manifest.csv`` (or ``manifest-<i>-of-<n>.csv`` per
shard): every window of the source with its labels and ``sequence``, its ``video`` pointing
at the prepared file; ``skipped.csv`` (or per shard): each unusable or failed file with the
reason. A video counts as done when its mp4 and a matching record exist; both are written
to a temporary name and renamed, so a rerun after a kill finishes the rest and a half-written
file never sits under its final name.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import os
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from av.video.reformatter import VideoReformatter
from tqdm.auto import tqdm

from ssl_video._io import atomic_path, atomic_write_json, write_csv
from ssl_video.data.decode import display_size
from ssl_video.data.index import VideoInfo
from ssl_video.data.manifest import RESERVED_COLUMNS, ClipWindow, load_windows
from ssl_video.data.sampling import nearest_frames
from ssl_video.data.x264 import deterministic_x264_params
from ssl_video.errors import MissingInput, UserError

log = logging.getLogger(__name__)

RECORD_VERSION = 1
AREA = "AREA"  # the readers resize with AREA too (ssl_video.data.decode)


@dataclass(frozen=True)
class PrepareSettings:
    """Target of the prepared copy: short side ``size`` px, ``fps`` frames/s, a keyframe every ``keyframe_s``."""

    size: int
    fps: float
    keyframe_s: float = 1.0
    crf: int = 20  # libx264 quality (18-23 is visually near-lossless at these sizes)
    preset: str = "veryfast"

    def __post_init__(self):
        if self.size < 16 or self.fps <= 0 or self.keyframe_s <= 0 or not 0 <= self.crf <= 51:
            raise UserError(f"data prepare needs --size >= 16, --fps > 0, --keyframe-s > 0 and 0 <= --crf <= 51; "
                            f"got {self.size}, {self.fps}, {self.keyframe_s}, {self.crf}")

    @property
    def gop(self) -> int:
        return max(1, round(self.keyframe_s * self.fps))


def output_size(width: int, height: int, size: int) -> tuple[int, int]:
    """(width, height) with the short side ``size``, aspect ratio kept, both even (yuv420p)."""
    scale = size / min(width, height)
    even = lambda x: max(2, int(round(x * scale / 2)) * 2)  # noqa: E731
    return even(width), even(height)


def resample_indices(frames: int, video_fps: float, fps: float) -> np.ndarray:
    """Source frame (nearest to time j / fps) of each output frame j, over the whole video."""
    count = int(np.floor((frames - 0.5) * fps / video_fps)) + 1
    return nearest_frames(np.arange(count) / fps, video_fps, frames)


def prepared_name(source: str) -> str:
    """Flat, collision-free file name for a source path."""
    return f"{Path(source).stem}-{hashlib.sha1(source.encode()).hexdigest()[:10]}.mp4"


def _record(info: VideoInfo, settings: PrepareSettings) -> dict:
    return {"version": RECORD_VERSION, "source": info.path, "size_bytes": info.size_bytes, "mtime": info.mtime,
            "settings": asdict(settings)}


def _is_done(mp4: Path, record: dict) -> bool:
    meta = mp4.with_suffix(".json")
    if not (mp4.is_file() and meta.is_file()):
        return False
    try:
        stored = json.loads(meta.read_text())
    except (OSError, json.JSONDecodeError):
        return False
    return {k: stored.get(k) for k in record} == record


def transcode(info: VideoInfo, out_dir: Path, settings: PrepareSettings) -> tuple[str, int]:
    """Write ``out_dir/<prepared_name>`` and its record (atomically); -> (file name, frames). Idempotent."""
    mp4 = out_dir / prepared_name(info.path)
    record = _record(info, settings)
    if _is_done(mp4, record):
        return mp4.name, json.loads(mp4.with_suffix(".json").read_text())["frames"]
    keep = resample_indices(info.frames, info.fps, settings.fps)
    written = 0
    with atomic_path(mp4) as tmp:
        with av.open(info.path) as source, av.open(str(tmp), mode="w", format="mp4") as target:
            src = source.streams.video[0]
            shown_h, shown_w = display_size(src)  # non-square pixels: the frame as players show it, square pixels out
            width, height = output_size(round(shown_w), round(shown_h), settings.size)
            stream = target.add_stream("libx264", rate=Fraction(settings.fps).limit_denominator(1000))
            stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
            stream.options = {"preset": settings.preset, "crf": str(settings.crf), "g": str(settings.gop),
                              "keyint_min": str(settings.gop), "bf": "0", "sc_threshold": "0", "threads": "1",
                              **deterministic_x264_params()}
            stream.codec_context.thread_count = 1  # deterministic (with the params above), one process per core
            src.codec_context.thread_count = 1
            time_base = Fraction(1) / stream.codec_context.rate

            reformatter = VideoReformatter()  # one swscale context per file (4-7x faster than frame.reformat)

            def emit(frame) -> None:
                nonlocal written
                out = reformatter.reformat(frame, width=width, height=height, format="yuv420p", interpolation=AREA)
                out.pts, out.time_base = written, time_base
                target.mux(stream.encode(out))
                written += 1

            index, frame, damage = -1, None, None
            try:
                for frame in source.decode(src):
                    index += 1
                    while written < len(keep) and keep[written] == index:  # a frame repeats when fps up-samples
                        emit(frame)
                    if written == len(keep):
                        break
            except av.FFmpegError as error:  # damaged data: keep the frames before it, as clips of the original do
                damage = error
            while damage is None and frame is not None and written < len(keep):  # fewer frames than probed: hold
                emit(frame)
            target.mux(stream.encode())
        if written == 0:
            raise ValueError("no frame could be decoded")
    if damage is not None:
        log.warning("%s: decoding stopped at frame %d (%s); the prepared copy keeps the %d frames before it",
                    info.path, index + 1, damage, written)
    atomic_write_json(mp4.with_suffix(".json"), {**record, "frames": written, "width": width, "height": height},
                      indent=None)
    return mp4.name, written


def _transcode_or_reason(info: VideoInfo, out_dir: Path, settings: PrepareSettings) -> tuple[str, str | None]:
    """Worker entry: -> (file name, None) or (source path, reason)."""
    try:
        return transcode(info, out_dir, settings)[0], None
    except Exception as error:  # a broken file is skipped with its reason, never the whole job
        return info.path, f"transcoding failed ({type(error).__name__}: {error})"


def _map(videos: list[VideoInfo], out_dir: Path, settings: PrepareSettings, workers: int):
    """Yield (video, (name, reason)) as transcodes finish, in ``workers`` processes (in this one for 1)."""
    if workers == 1:
        for video in videos:
            yield video, _transcode_or_reason(video, out_dir, settings)
        return
    with ProcessPoolExecutor(workers) as pool:
        futures = {pool.submit(_transcode_or_reason, v, out_dir, settings): v for v in videos}
        for future in as_completed(futures):
            yield futures[future], future.result()


def _shard_suffix(num_shards: int, shard_id: int) -> str:
    return "" if num_shards == 1 else f"-{shard_id}-of-{num_shards}"


def _manifest_rows(windows: list[ClipWindow], names: dict[str, str], root: Path) -> tuple[list[str], list[dict]]:
    label_columns = sorted({c for w in windows for c in w.labels})
    rows = []
    for w in windows:
        if w.video not in names:
            continue
        sequence = w.sequence if w.sequence and w.sequence != w.video else _relative(w.video, root)
        row = {"video": f"videos/{names[w.video]}", "start_s": w.start_s, "end_s": "" if w.end_s is None else w.end_s,
               "sequence": sequence}
        rows.append({**row, **{c: w.labels.get(c, "") for c in label_columns}})
    return [*RESERVED_COLUMNS, *label_columns], rows


def _relative(path: str, root: Path) -> str:
    try:
        return str(Path(path).relative_to(root))
    except ValueError:
        return path


def prepare_dataset(src: str | Path, out: str | Path, settings: PrepareSettings, *, num_workers: int | None = None,
                    num_shards: int = 1, shard_id: int = 0, progress: bool = True) -> dict:
    """Prepare shard ``shard_id`` of ``num_shards`` of ``src`` (folder or manifest CSV) into ``out``.

    -> a summary dict (videos prepared, skipped with reasons, windows written, manifest path).
    """
    if num_shards < 1 or not 0 <= shard_id < num_shards:
        raise UserError(f"need --num-shards >= 1 and 0 <= --shard-id < --num-shards, got {num_shards}, {shard_id}")
    src, out = Path(src), Path(out)
    if not src.exists():
        raise MissingInput(f"{src}: no such folder or manifest CSV "
                           f"(give a folder of videos or a CSV with a `video` column)")
    windows, index = load_windows(src, progress=progress, shard=(shard_id, num_shards))  # probes this shard's only
    videos = index.usable
    skipped = [{"path": s.path, "reason": s.reason} for s in index.skipped]
    (out / "videos").mkdir(parents=True, exist_ok=True)
    for v in videos:  # temporary files a killed run of this shard left behind (other shards' are theirs)
        for stale in (out / "videos").glob(f".{Path(prepared_name(v.path)).stem}*.tmp*"):
            stale.unlink(missing_ok=True)
    names: dict[str, str] = {}
    workers = max(1, min(num_workers or os.cpu_count() or 1, len(videos) or 1))
    with tqdm(total=len(videos), desc="prepare", unit="video", disable=not progress or None) as bar:
        for video, (name, reason) in _map(videos, out / "videos", settings, workers):
            if reason is None:
                names[video.path] = name
            else:
                skipped.append({"path": name, "reason": reason})
                log.warning("skipped %s: %s", name, reason)
            bar.update()
    root = src if src.is_dir() else src.parent
    fields, rows = _manifest_rows(windows, names, root.resolve())
    suffix = _shard_suffix(num_shards, shard_id)
    manifest = out / f"manifest{suffix}.csv"
    write_csv(manifest, fields, rows)
    write_csv(out / f"skipped{suffix}.csv", ["path", "reason"], sorted(skipped, key=lambda s: s["path"]))
    summary = {"videos": len(names), "skipped": len(skipped), "windows": len(rows), "manifest": str(manifest)}
    log.info("prepared %d videos (%d skipped, see %s), %d windows -> %s", len(names), len(skipped),
             out / f"skipped{suffix}.csv", len(rows), manifest)
    return summary


def merge_shards(out: str | Path) -> Path:
    """``out/manifest-<i>-of-<n>.csv`` (all n) -> ``out/manifest.csv``, and the skipped lists -> ``skipped.csv``."""
    out = Path(out)
    shards = sorted(out.glob("manifest-*-of-*.csv"))
    if not shards:
        raise MissingInput(f"{out}: no manifest-<i>-of-<n>.csv to merge "
                           f"(run `ssl-video data prepare ... --num-shards`)")
    total = {int(p.stem.rsplit("-of-", 1)[1]) for p in shards}
    if len(total) != 1:
        raise UserError(f"{out}: shard manifests of different --num-shards {sorted(total)}; remove the stale ones")
    n = total.pop()
    missing = [i for i in range(n) if not (out / f"manifest-{i}-of-{n}.csv").is_file()]
    if missing:
        raise UserError(f"{out}: shard(s) {missing} of {n} have not finished; run them, then merge again")
    rows, fields = [], list(RESERVED_COLUMNS)
    for i in range(n):
        with open(out / f"manifest-{i}-of-{n}.csv", newline="") as handle:
            reader = csv.DictReader(handle)
            fields += [c for c in reader.fieldnames or [] if c not in fields]
            rows += list(reader)
    write_csv(out / "manifest.csv", fields, rows)
    skipped = []
    for i in range(n):
        path = out / f"skipped-{i}-of-{n}.csv"
        if path.is_file():
            with open(path, newline="") as handle:
                skipped += list(csv.DictReader(handle))
    write_csv(out / "skipped.csv", ["path", "reason"], skipped)
    log.info("merged %d shards: %d windows -> %s (%d skipped files)", n, len(rows), out / "manifest.csv", len(skipped))
    return out / "manifest.csv"
