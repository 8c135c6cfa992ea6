"""Which frames make a clip: a clip spec, frame indices at a target fps, and clip start times.

A clip is ``context`` frames followed by ``future`` frames sampled at ``spec.fps``, whatever
the file's own frame rate: frame ``k`` of a clip starting at ``start_s`` is the source frame
nearest to time ``start_s + k / spec.fps``. A 30 fps and a 10 fps file therefore give clips
that cover the same seconds (the 30 fps file contributes every third frame; a file slower
than ``spec.fps`` repeats frames).

Times are seconds from the first frame (frame ``i`` of a file is at ``i / video_fps``), the
same clock as ``ClipWindow.start_s`` / ``end_s``. A window's usable range is the frames
inside ``[start_s, end_s)`` that the file actually has.

    >>> spec = ClipSpec(context=4, future=4, fps=10.0, size=(112, 112))
    >>> clip_frame_indices(1.0, spec, video_fps=30.0, video_frames=300).tolist()
    [30, 33, 36, 39, 42, 45, 48, 51]
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch

from ssl_video.spec import ClipSpec

if TYPE_CHECKING:
    from ssl_video.data.index import VideoInfo
    from ssl_video.data.manifest import ClipWindow

# Frame times are products of floats (k / fps * video_fps); this tolerance keeps an exact
# multiple such as 2.9999999996 on the intended frame when rounding.
_EPS = 1e-6


def clip_frame_indices(start_s: float, spec: ClipSpec, video_fps: float, video_frames: int) -> np.ndarray:
    """Source frame indices (num_frames,) int64 for a clip starting at ``start_s`` seconds.

    Nearest source frame to ``start_s + k / spec.fps``; indices past either end are clipped
    to ``[0, video_frames - 1]`` (so a clip that does not fit repeats its edge frame).
    """
    if video_fps <= 0 or video_frames <= 0:
        raise ValueError(f"video_fps and video_frames must be > 0, got {video_fps}, {video_frames}")
    return nearest_frames(start_s + np.arange(spec.num_frames, dtype=np.float64) / spec.fps, video_fps, video_frames)


def nearest_frames(times_s: np.ndarray, video_fps: float, video_frames: int) -> np.ndarray:
    """Index of the source frame nearest to each time in seconds, clipped to ``[0, video_frames - 1]``: int64,
    the shape of ``times_s``. Clips and ``ssl-video data prepare`` pick frames through it, so they agree."""
    indices = np.floor(np.asarray(times_s, dtype=np.float64) * video_fps + 0.5 + _EPS).astype(np.int64)
    return np.clip(indices, 0, video_frames - 1)


def window_range(window: ClipWindow, info: VideoInfo) -> tuple[float, float]:
    """(first, last) frame times in seconds that a clip may use inside ``window``."""
    period = 1.0 / info.fps
    first = max(0.0, window.start_s)
    last = (info.frames - 1) * period
    if window.end_s is not None:
        last = min(last, window.end_s - period)  # end_s is exclusive
    return first, last


def clip_fits(window: ClipWindow, info: VideoInfo, spec: ClipSpec) -> bool:
    """Whether a whole clip fits in the window without repeating edge frames."""
    first, last = window_range(window, info)
    return last - first >= spec.span_s - _EPS


def random_clip_start(window: ClipWindow, info: VideoInfo, spec: ClipSpec, generator: torch.Generator) -> float:
    """A start time drawn uniformly from the starts whose clip fits in the window (training).

    Uses only ``generator`` (never the global RNG). A window shorter than one clip returns its
    first time; the clip then repeats the edge frame (see :func:`clip_fits`, which the dataset
    uses to drop such windows by default).
    """
    first, last = window_range(window, info)
    room = last - first - spec.span_s
    if room <= 0:
        return first
    return first + room * float(torch.rand((), generator=generator, dtype=torch.float64))


def eval_clip_start(window: ClipWindow, info: VideoInfo, spec: ClipSpec, index: int = 0, count: int = 1) -> float:
    """Deterministic start: clip ``index`` of ``count`` evenly spaced clips (one clip -> centred).

    A window shorter than one clip returns its first time (see :func:`random_clip_start`).
    """
    if not 0 <= index < count:
        raise ValueError(f"clip index {index} out of range for {count} clips")
    first, last = window_range(window, info)
    room = last - first - spec.span_s
    if room <= 0:
        return first
    return first + room * (index + 0.5) / count
