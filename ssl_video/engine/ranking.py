"""Windows in, ranked windows out: sliding windows over videos and the ranking CSV.

The ranking CSV is a manifest (``video, start_s, end_s, sequence`` + extra columns), so the
mined batch can go straight to labeling and, once labeled, straight back into
``ssl_video.data.manifest.read_manifest`` / ``load_windows``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ssl_video._io import write_csv
from ssl_video.data.manifest import window_row

RANKING_COLUMNS = ("video", "start_s", "end_s", "sequence", "score", "reason")
SCORE_FORMAT = ".6g"  # float cells of the ranking CSVs: 6 significant digits


def write_ranking(path: str | Path, windows: Sequence[Any], scores: Sequence[float],
                  reasons: Sequence[str], *, extra: Mapping[str, Sequence[Any]] | None = None) -> Path:
    """Write ranked windows as a manifest CSV: ``video, start_s, end_s, sequence, score, reason``.

    ``windows`` are ``ClipWindow``s in rank order (best first); ``extra`` adds columns
    (one value per window), e.g. ``{"rank": [...]}``. ``end_s`` None is written empty.
    """
    if not (len(windows) == len(scores) == len(reasons)):
        raise ValueError(f"windows ({len(windows)}), scores ({len(scores)}) and reasons ({len(reasons)}) "
                         f"differ in length")
    extra = dict(extra or {})
    for name, values in extra.items():
        if len(values) != len(windows):
            raise ValueError(f"extra column {name!r} has {len(values)} values for {len(windows)} windows")
    columns = list(RANKING_COLUMNS) + [c for c in extra if c not in RANKING_COLUMNS]
    rows = []
    for i, w in enumerate(windows):
        row = {**window_row(w), "score": float(scores[i]), "reason": reasons[i]}
        row.update({name: values[i] for name, values in extra.items()})
        rows.append(row)
    return write_csv(path, columns, rows, float_format=SCORE_FORMAT)
