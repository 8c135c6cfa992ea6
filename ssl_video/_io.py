"""Atomic file writes and small CSV / JSON helpers: the one place ssl_video writes a result file.

Every file ssl_video writes for later use (reports, caches, manifests, weights, rankings) goes
through a temporary file in the same folder and ``os.replace``, so a reader, a crash or a kill
never sees half a file under the final name.

    >>> with atomic_path("runs/x/features.npy") as tmp:   # tmp keeps the suffix: np.save adds none
    ...     np.save(tmp, array)
    >>> atomic_write_json("runs/x/report.json", {"a": 1})
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import secrets
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path next to ``path`` (same suffix); on success it replaces ``path``, on error it goes.

    The temporary file is not created here: the writer creates it, with the usual permissions (umask), not the
    owner-only ones of ``tempfile.mkstemp``, so results in a shared folder stay readable by others."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.{secrets.token_hex(4)}.tmp{path.suffix}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (flushed to disk before the rename)."""
    path = Path(path)
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8, newlines as given) to ``path`` atomically."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | Path, obj: Any, *, indent: int | None = 2, **kwargs: Any) -> Path:
    """``json.dumps(obj)`` plus a final newline, written atomically."""
    return atomic_write_text(path, json.dumps(obj, indent=indent, **kwargs) + "\n")


def csv_text(columns: Sequence[str], rows: Sequence[Mapping[str, Any]], *, float_format: str | None = None) -> str:
    """Dict rows under a fixed header as CSV text; missing values become empty cells, extra keys are ignored.
    ``float_format`` (e.g. ``".6g"``) writes float cells with ``format(value, float_format)``."""
    if float_format is not None:
        rows = [{k: format(v, float_format) if isinstance(v, float) else v for k, v in row.items()} for row in rows]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(columns), extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def write_csv(path: str | Path, columns: Sequence[str], rows: Sequence[Mapping[str, Any]], *,
              float_format: str | None = None) -> Path:
    """Atomically write dict rows with a fixed header (see :func:`csv_text`)."""
    return atomic_write_text(path, csv_text(columns, rows, float_format=float_format))
