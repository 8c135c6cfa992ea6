"""Turn a folder of videos or a manifest CSV into clip windows (``ClipWindow``), per /work/contracts.md.

Manifest CSV columns: ``video`` (required; a path relative to the CSV's folder, or absolute),
optional ``start_s`` / ``end_s`` (a window of the video, seconds), optional ``sequence`` (the drive
the window belongs to; defaults to the video path), and any number of label columns. A label
column whose every non-empty value parses as a number becomes floats; otherwise values stay strings.

    video,start_s,end_s,sequence,weather
    drive_01.mp4,0,30,drive_01,rain
"""

from __future__ import annotations

import csv
import logging
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ssl_video.data.index import VideoIndex, index_videos, video_candidates
from ssl_video.errors import MissingInput, UserError

log = logging.getLogger(__name__)

RESERVED_COLUMNS = ("video", "start_s", "end_s", "sequence")


@dataclass(frozen=True)
class ClipWindow:
    video: str  # absolute path
    start_s: float = 0.0
    end_s: float | None = None  # None = end of video
    sequence: str = ""  # drive id; read_manifest/load_windows fill in the video path when empty
    labels: Mapping[str, str | float] = field(default_factory=dict)


def _parse_float(text: str, csv_path: Path, row: int, column: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise UserError(f"{csv_path}: row {row}, column {column!r}: {text!r} is not a number") from None
    if not math.isfinite(value):
        raise UserError(f"{csv_path}: row {row}, column {column!r}: {text!r} is not a finite number")
    return value


def _is_number(text: str) -> bool:
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False


def read_manifest(csv_path: str | Path) -> list[ClipWindow]:
    """Read a manifest CSV (see module docstring). Bad input raises ValueError naming file, row and column.

    Rows are numbered as a spreadsheet shows them (the header is row 1).
    """
    csv_path = Path(csv_path)
    with open(csv_path, newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        columns = [c.strip() for c in (reader.fieldnames or [])]
        if "video" not in columns:
            raise UserError(f"{csv_path}: no `video` column (columns: {', '.join(columns) or 'none'})")
        rows = [{(k or "").strip(): (v or "").strip() for k, v in r.items()} for r in reader]
    label_columns = [c for c in columns if c not in RESERVED_COLUMNS and c]
    numeric = {c: all(_is_number(r[c]) for r in rows if r.get(c)) and any(r.get(c) for r in rows)
               for c in label_columns}
    base = csv_path.parent.absolute()
    windows = []
    for number, r in enumerate(rows, start=2):
        if not r.get("video"):
            raise UserError(f"{csv_path}: row {number}, column 'video': empty path")
        video = Path(r["video"]).expanduser()
        video = os.path.abspath(video if video.is_absolute() else base / video)  # same key as the index
        start = _parse_float(r["start_s"], csv_path, number, "start_s") if r.get("start_s") else 0.0
        end = _parse_float(r["end_s"], csv_path, number, "end_s") if r.get("end_s") else None
        if start < 0 or (end is not None and end <= start):
            raise UserError(f"{csv_path}: row {number}: window start_s={start} end_s={end} is empty or negative")
        labels = {c: (float(r[c]) if numeric[c] else r[c]) for c in label_columns if r.get(c, "") != ""}
        windows.append(ClipWindow(video=str(video), start_s=start, end_s=end,
                                  sequence=r.get("sequence") or str(video), labels=labels))
    return windows


def _shard(paths, shard: tuple[int, int] | None) -> list:
    """Every n-th path of the sorted paths, from the i-th (``shard`` = (i, n)); all of them for None."""
    if shard is None:
        return list(paths)
    i, n = shard
    return sorted(paths)[i::n]


def load_windows(source: str | Path, *, min_frames: int = 2, progress: bool = False,
                 cache_path: Path | None = None,
                 shard: tuple[int, int] | None = None) -> tuple[list[ClipWindow], VideoIndex]:
    """Folder -> one window per usable video; CSV -> its rows whose video is usable.

    Windows of skipped videos are dropped, counted and logged with the reason, never silently.
    ``shard=(i, n)`` loads only the i-th of n disjoint shares of the videos (every n-th of the
    sorted paths), and probes only those: a job array splits a fleet's footage without each job
    probing all of it.
    """
    source = Path(source)
    if not source.exists():
        raise MissingInput(f"{source}: no such folder or manifest CSV (give a folder of videos or a CSV with a `video` column)")
    if source.is_dir():
        index = index_videos(_shard(video_candidates(source), shard), min_frames=min_frames, progress=progress,
                             cache_path=cache_path)
        return [ClipWindow(video=v.path, sequence=v.path) for v in index.usable], index
    windows = read_manifest(source)
    videos = _shard(dict.fromkeys(w.video for w in windows), shard)
    if shard is not None:
        mine = set(videos)
        windows = [w for w in windows if w.video in mine]
    index = index_videos(videos, min_frames=min_frames, progress=progress, cache_path=cache_path)
    usable = index.by_path()
    kept = [w for w in windows if w.video in usable]
    if len(kept) < len(windows):
        reasons = {s.path: s.reason for s in index.skipped}
        log.warning("%s: dropped %d of %d windows whose video is not usable: %s", source,
                    len(windows) - len(kept), len(windows),
                    "; ".join(f"{p}: {r}" for p, r in list(reasons.items())[:10]))
    return kept, index
