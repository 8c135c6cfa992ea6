"""Turn a folder of videos or a manifest CSV into clip windows (``ClipWindow``).

Manifest CSV columns: ``video`` (required; a path relative to the CSV's folder, or absolute),
optional ``start_s`` / ``end_s`` (a window of the video, seconds), optional ``sequence`` (the drive
the window belongs to; defaults to the video path), and any number of label columns. A label
column whose every non-empty value parses as a number becomes floats; otherwise values stay strings.

    video,start_s,end_s,sequence,weather
    drive_01.mp4,0,30,drive_01,rain

Read leniently where the meaning is clear, strictly where it is not:

* a UTF-8 byte-order mark (Excel's "CSV UTF-8") is dropped; ``;``- and tab-separated files are
  recognised by their header (a ``;`` file may write decimals with a comma, ``1,5``);
* a label cell ``nan`` (any case, as pandas writes a missing value it turned into text) is a missing
  label, as an empty cell is (one log line per column counts them; ``none`` stays a class name);
* a row repeated exactly is read once (the repeats are logged and counted); the same window
  with other labels is an error naming both rows;
* ``start_s >= end_s``, a negative start or a cell that is not a number is an error naming the row;
* :func:`load_windows` skips a window that ends past the end of its video, logged with its row and
  counted.
"""

from __future__ import annotations

import csv
import io
import logging
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ssl_video.data.index import (
    VIDEO_EXTENSIONS,
    VideoIndex,
    VideoInfo,
    find_videos,
    index_videos,
    video_candidates,
)
from ssl_video.errors import MissingInput, UserError

log = logging.getLogger(__name__)

RESERVED_COLUMNS = ("video", "start_s", "end_s", "sequence")
DELIMITERS = (",", ";", "\t")
MISSING_LABEL = "nan"  # compared lowercased; "none", "NA" and the like can be class names (lane_change: none)


@dataclass(frozen=True)
class ClipWindow:
    video: str  # absolute path
    start_s: float = 0.0
    end_s: float | None = None  # None = end of video
    sequence: str = ""  # drive id; read_manifest/load_windows fill in the video path when empty
    labels: Mapping[str, str | float] = field(default_factory=dict)
    row: int = field(default=0, compare=False)  # the manifest row it came from (header = row 1); 0 = not a manifest


def window_row(window: ClipWindow) -> dict[str, str | None]:
    """A window as the reserved columns of an output CSV (``end_s`` None writes an empty cell): what `mine`,
    `embed` and `predict` write, so their rows read back as the same windows. Times are text to the microsecond,
    so that a CSV's float format for scores never rounds them (10800.25 s is not 10800.2)."""
    return {"video": str(window.video), "start_s": _time_cell(window.start_s),
            "end_s": None if window.end_s is None else _time_cell(window.end_s),
            "sequence": window.sequence or str(window.video)}


def _time_cell(seconds: float) -> str:
    return f"{float(seconds):.6f}".rstrip("0").rstrip(".")  # 4.0 -> "4", 10800.25 -> "10800.25"


def _delimiter(header: str) -> str:
    """The separator whose split of the header line has a ``video`` column (``,`` when none has)."""
    for delimiter in DELIMITERS:
        if "video" in (c.strip().strip('"') for c in header.split(delimiter)):
            return delimiter
    return ","


def _number(text: str, decimal_comma: bool) -> float:
    return float(text.replace(",", ".") if decimal_comma else text)


def _parse_float(text: str, csv_path: Path, row: int, column: str, decimal_comma: bool = False) -> float:
    try:
        value = _number(text, decimal_comma)
    except ValueError:
        raise UserError(f"{csv_path}: row {row}, column {column!r}: {text!r} is not a number") from None
    if not math.isfinite(value):
        raise UserError(f"{csv_path}: row {row}, column {column!r}: {text!r} is not a finite number")
    return value


def _is_number(text: str, decimal_comma: bool = False) -> bool:
    try:
        return math.isfinite(_number(text, decimal_comma))
    except ValueError:
        return False


def _rows_list(rows: list[int]) -> str:
    return ", ".join(map(str, rows[:10])) + (f" and {len(rows) - 10} more" if len(rows) > 10 else "")


def read_manifest(csv_path: str | Path) -> list[ClipWindow]:
    """Read a manifest CSV (see module docstring). Bad input raises ``UserError`` (a ValueError) naming
    the file, the row and the column.

    Rows are numbered as a spreadsheet shows them (the header is row 1).
    """
    csv_path = Path(csv_path)
    try:
        with open(csv_path, newline="", encoding="utf-8-sig") as f:
            text = f.read()
    except UnicodeDecodeError as error:
        raise UserError(f"{csv_path}: not UTF-8 text (byte {error.start}); save it as CSV UTF-8") from None
    delimiter = _delimiter(text.split("\n", 1)[0])
    decimal_comma = delimiter == ";"
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter)
    columns = [c.strip() for c in (reader.fieldnames or [])]
    if "video" not in columns:
        raise UserError(f"{csv_path}: no `video` column (columns: {', '.join(columns) or 'none'}; separators "
                        f"tried: {' '.join(repr(d) for d in DELIMITERS)})")
    rows = [{(k or "").strip(): (v or "").strip() if isinstance(v, str) else "" for k, v in r.items()}
            for r in reader]
    label_columns = [c for c in columns if c not in RESERVED_COLUMNS and c]
    missing: dict[str, list[int]] = {}
    for number, r in enumerate(rows, start=2):
        for c in label_columns:
            if r.get(c, "").lower() == MISSING_LABEL:
                missing.setdefault(c, []).append(number)
                r[c] = ""
    for c, numbers in missing.items():
        log.warning("%s: column %r: %d 'nan' cell(s) read as missing labels, rows %s", csv_path, c,
                    len(numbers), _rows_list(numbers))
    numeric = {c: all(_is_number(r[c], decimal_comma) for r in rows if r.get(c)) and any(r.get(c) for r in rows)
               for c in label_columns}
    base = csv_path.parent.absolute()
    windows: list[ClipWindow] = []
    first_row: dict[tuple, ClipWindow] = {}  # (video, start, end, sequence) -> its first window
    repeats: list[int] = []
    for number, r in enumerate(rows, start=2):
        if not any(r.values()):  # a blank row (spreadsheets save them as ",,," or ";;" at the end)
            continue
        if not r.get("video"):
            raise UserError(f"{csv_path}: row {number}, column 'video': empty path")
        video = Path(r["video"]).expanduser()
        video = os.path.abspath(video if video.is_absolute() else base / video)  # same key as the index
        start = _parse_float(r["start_s"], csv_path, number, "start_s", decimal_comma) if r.get("start_s") else 0.0
        end = _parse_float(r["end_s"], csv_path, number, "end_s", decimal_comma) if r.get("end_s") else None
        if start < 0:
            raise UserError(f"{csv_path}: row {number}, column 'start_s': {start:g} is negative")
        if end is not None and end <= start:
            raise UserError(f"{csv_path}: row {number}: start_s={start:g} is not before end_s={end:g} (a window needs "
                            f"start_s < end_s; leave end_s empty for the end of the video)")
        labels = {c: (_number(r[c], decimal_comma) if numeric[c] else r[c]) for c in label_columns if r.get(c, "")}
        window = ClipWindow(video=str(video), start_s=start, end_s=end, sequence=r.get("sequence") or str(video),
                            labels=labels, row=number)
        key = (window.video, start, end, window.sequence)
        first = first_row.setdefault(key, window)
        if first is not window:
            if first.labels != labels:
                raise UserError(f"{csv_path}: row {number} repeats the window of row {first.row} with other labels "
                                f"({first.labels} vs {labels}); keep one of them")
            repeats.append(number)
            continue
        windows.append(window)
    if repeats:
        log.warning("%s: skipped %d duplicate row(s) (the same window and labels as an earlier row): rows %s",
                    csv_path, len(repeats), _rows_list(repeats))
    return windows


def check_source(source: str | Path, *, option: str = "data") -> None:
    """Fail fast, before anything heavy is built: ``source`` must be a folder, or a manifest CSV whose rows read
    (:func:`read_manifest`'s errors). ``option`` names the setting in the message (e.g. ``data.data``)."""
    path = Path(source)
    if not path.exists():
        folder = path.parent if path.suffix == ".csv" else path
        raise MissingInput(f"{option}={source}: no such folder or manifest CSV; render the built-in drives with "
                           f"`ssl-video data make-drive {folder}` or point --{option} at your videos or a manifest CSV")
    if path.is_file():
        read_manifest(path)
    elif not find_videos(path):
        raise MissingInput(f"{option}={source}: no video files ({' '.join(VIDEO_EXTENSIONS)}) in this folder or "
                           f"below; point --{option} at your videos or a manifest CSV")


def _shard(paths, shard: tuple[int, int] | None) -> list:
    """Every n-th path of the sorted paths, from the i-th (``shard`` = (i, n)); all of them for None."""
    if shard is None:
        return list(paths)
    i, n = shard
    return sorted(paths)[i::n]


def _past_the_end(window: ClipWindow, info: VideoInfo) -> bool:
    """Whether ``window`` ends (or starts) more than one frame period after the last frame of its video."""
    end = window.end_s if window.end_s is not None else window.start_s
    return end > info.duration_s + 1.0 / info.fps + 1e-6


def load_windows(source: str | Path, *, min_frames: int = 2, progress: bool = False,
                 cache_path: Path | None = None,
                 shard: tuple[int, int] | None = None) -> tuple[list[ClipWindow], VideoIndex]:
    """Folder -> one window per usable video; CSV -> its rows whose video is usable and holds the window.

    Windows of skipped videos and windows past the end of their video are dropped, counted and logged
    with the reason, never silently. ``shard=(i, n)`` loads only the i-th of n disjoint shares of the
    videos (every n-th of the sorted paths), and probes only those: a job array splits a fleet's
    footage without each job probing all of it.
    """
    source = Path(source)
    if not source.exists():
        raise MissingInput(f"{source}: no such folder or manifest CSV (give a folder of videos or a CSV with a "
                           f"`video` column)")
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
    past = [w for w in kept if _past_the_end(w, usable[w.video])]
    if past:
        log.warning("%s: skipped %d window(s) that end past the end of their video: %s", source, len(past),
                    "; ".join(f"row {w.row}: {w.start_s:g}-{'end' if w.end_s is None else f'{w.end_s:g}'} s of "
                              f"{Path(w.video).name} ({usable[w.video].duration_s:.2f} s long)" for w in past[:10]))
        kept = [w for w in kept if not _past_the_end(w, usable[w.video])]
    return kept, index
