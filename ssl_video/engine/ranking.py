"""Windows in, ranked windows out: sliding windows over videos and the ranking CSV.

The ranking CSV is a manifest (``video, start_s, end_s, sequence`` + extra columns), so the
mined batch can go straight to labeling and, once labeled, straight back into
``ssl_video.data.manifest.read_manifest`` / ``load_windows``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from ssl_video._io import write_csv

RANKING_COLUMNS = ("video", "start_s", "end_s", "sequence", "score", "reason")
SCORE_FORMAT = ".6g"  # float cells of the ranking CSVs: 6 significant digits


def sliding_windows(windows: Sequence[Any], durations_s: Mapping[str, float], *, window_s: float,
                    stride_s: float | None = None) -> list[Any]:
    """Cut each window (a ``ClipWindow``) into consecutive sub-windows of ``window_s`` seconds.

    ``durations_s`` maps a video path to its duration (used when ``end_s`` is None). A
    window shorter than ``window_s`` is kept whole, so no video is silently dropped.
    ``stride_s`` defaults to ``window_s`` (no overlap). Labels are carried over.
    """
    if window_s <= 0:
        raise ValueError(f"window_s must be > 0, got {window_s}")
    stride = window_s if stride_s is None else stride_s
    if stride <= 0:
        raise ValueError(f"stride_s must be > 0, got {stride}")
    out = []
    for w in windows:
        if w.video not in durations_s and w.end_s is None:
            raise ValueError(f"no duration known for {w.video}")
        end = float(w.end_s) if w.end_s is not None else float(durations_s[w.video])
        start = float(w.start_s)
        if end - start < window_s:
            out.append(replace(w, end_s=end))
            continue
        count = int(math.floor((end - start - window_s) / stride + 1e-9)) + 1
        for i in range(count):
            s = start + i * stride
            out.append(replace(w, start_s=round(s, 6), end_s=round(s + window_s, 6)))
    return out


def write_ranking(path: str | Path, windows: Sequence[Any], scores: Sequence[float],
                  reasons: Sequence[str], *, extra: Mapping[str, Sequence[Any]] | None = None) -> Path:
    """Write ranked windows as a manifest CSV: ``video, start_s, end_s, sequence, score, reason``.

    ``windows`` are ``ClipWindow``s in rank order (best first); ``extra`` adds columns
    (one value per window), e.g. ``{"rank": [...]}``. ``end_s`` None is written empty.
    """
    if not (len(windows) == len(scores) == len(reasons)):
        raise ValueError(f"windows ({len(windows)}), scores ({len(scores)}) and reasons ({len(reasons)}) differ in length")
    extra = dict(extra or {})
    for name, values in extra.items():
        if len(values) != len(windows):
            raise ValueError(f"extra column {name!r} has {len(values)} values for {len(windows)} windows")
    columns = list(RANKING_COLUMNS) + [c for c in extra if c not in RANKING_COLUMNS]
    rows = []
    for i, w in enumerate(windows):
        row = {"video": str(Path(w.video).resolve()), "start_s": float(w.start_s),
               "end_s": "" if w.end_s is None else float(w.end_s), "sequence": w.sequence or str(w.video),
               "score": float(scores[i]), "reason": reasons[i]}
        row.update({name: values[i] for name, values in extra.items()})
        rows.append(row)
    return write_csv(path, columns, rows, float_format=SCORE_FORMAT)
