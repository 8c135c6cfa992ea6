"""Which windows of which videos to read: a manifest's rows, or videos cut into sliding windows.

Mining, shadow comparisons and ``ssl-video embed`` all take "a folder or a manifest" and turn it
into clip windows the same way: a folder's videos are cut into consecutive windows (one clip
long unless ``window_s`` says otherwise); a manifest's rows are used as they are, unless
``window_s`` is given, in which case they are cut too.

    >>> windows, infos = load_sliding_windows("data/drive", window_s=None, stride_s=None, spec=encoder_spec)
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from ssl_video.data.manifest import load_windows
from ssl_video.errors import UserError
from ssl_video.spec import ClipSpec

log = logging.getLogger(__name__)


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


def load_sliding_windows(data: str | Path, *, window_s: float | None, stride_s: float | None,
                         spec: ClipSpec | Sequence[ClipSpec]):
    """Windows to read and {video: VideoInfo}: a folder is cut into sliding windows of ``window_s`` (default: one
    clip long, ``spec.duration_s``); a manifest's rows are used as they are unless ``window_s`` is given. A video
    slower than the clip's fps gets windows long enough to hold a clip of its own frames; with several ``spec``
    (models compared on the same windows) each window fits every one of them."""
    if (window_s is not None and window_s <= 0) or (stride_s is not None and stride_s <= 0):
        raise UserError(f"--window-s and --stride-s must be > 0, got {window_s} and {stride_s}")
    if stride_s is not None and window_s is None and not Path(data).is_dir():
        raise UserError(f"{data}: --stride-s cuts windows, and a manifest's rows are used as they are; give "
                        f"--window-s too to cut its rows")
    specs = [spec] if isinstance(spec, ClipSpec) else list(spec)
    windows, index = load_windows(data)
    infos = index.by_path()
    if Path(data).is_dir() or window_s is not None:
        clip_s = max(s.duration_s for s in specs)
        if window_s is not None and window_s < clip_s:
            log.warning("--window-s %.3g is shorter than one clip (%.3g s); using %.3g s", window_s, clip_s, clip_s)
        length = max(window_s or clip_s, clip_s)
        durations = {path: info.duration_s for path, info in infos.items()}
        cut, slow = [], set()
        for w in windows:
            # a clip spans span_s from its first frame to its last; the window's end is one source frame later
            fits = max(s.span_s for s in specs) + 1.0 / infos[w.video].fps
            if fits > length:
                slow.add(w.video)
            cut += sliding_windows([w], durations, window_s=max(length, fits), stride_s=stride_s)
        if slow:
            log.info("%d video(s) have fewer frames per second than the clip: their windows are longer, to hold "
                     "one clip of their own frames", len(slow))
        windows = cut
    if not windows:
        raise UserError(f"{data}: no usable windows ({len(index.skipped)} videos skipped); "
                        f"`ssl-video data index {data}` lists every file with its reason")
    return windows, infos
