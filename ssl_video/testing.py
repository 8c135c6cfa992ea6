"""Small video fixtures for tests and examples (like ``torch.testing``).

``write_numbered_video`` writes a real video whose frames carry their own index as a
binary bar code, and ``read_frame_number`` reads it back: a decoder that seeks to the
wrong frame is caught by comparing the two.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from ssl_video.data.x264 import deterministic_x264_params

NUMBER_BITS = 12  # frames 0..4095


def numbered_frame(index: int, height: int = 64, width: int = 96) -> np.ndarray:
    """One (H, W, 3) uint8 frame whose top band encodes ``index`` in NUMBER_BITS black/white blocks.

    The blocks are wide (W / NUMBER_BITS pixels) and tall (H / 4) so that lossy codecs,
    chroma subsampling and resizing cannot flip a bit.
    """
    if not 0 <= index < 2**NUMBER_BITS:
        raise ValueError(f"index {index} does not fit in {NUMBER_BITS} bits")
    frame = np.full((height, width, 3), 96, dtype=np.uint8)
    band = height // 4
    edges = np.linspace(0, width, NUMBER_BITS + 1).astype(int)
    for bit in range(NUMBER_BITS):
        value = 255 if (index >> bit) & 1 else 0
        frame[:band, edges[bit] : edges[bit + 1]] = value
    # A moving square below the band, so the video is not static (encoders behave differently on static input).
    y = band + (index * 3) % max(1, height - band - 8)
    x = (index * 5) % max(1, width - 8)
    frame[y : y + 8, x : x + 8] = (200, 40, 40)
    return frame


def read_frame_number(frame: np.ndarray) -> int:
    """Inverse of :func:`numbered_frame` for a decoded (H, W, 3) uint8 frame of any size."""
    height, width = frame.shape[:2]
    band = frame[: max(1, height // 4)].astype(np.float32).mean(axis=(0, 2))  # (W,)
    edges = np.linspace(0, width, NUMBER_BITS + 1).astype(int)
    index = 0
    for bit in range(NUMBER_BITS):
        lo, hi = edges[bit], edges[bit + 1]
        margin = max(0, (hi - lo) // 4)  # ignore block edges blurred by the codec or the resize
        if band[lo + margin : hi - margin].mean() > 127:
            index |= 1 << bit
    return index


def write_video(
    path: str | Path,
    frames: Iterable[np.ndarray],
    *,
    fps: float = 10.0,
    codec: str = "libx264",
    pix_fmt: str = "yuv420p",
    gop: int | None = None,
    timestamps_s: Sequence[float] | None = None,
    options: dict[str, str] | None = None,
) -> Path:
    """Encode (H, W, 3) uint8 frames with PyAV; the container follows the file suffix.

    ``timestamps_s`` gives each frame its own presentation time (variable frame rate);
    ``gop`` sets the keyframe interval (long intervals make seeking hard).
    """
    path = Path(path)
    rate = Fraction(fps).limit_denominator(1000)
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream(codec, rate=rate)
        stream.pix_fmt = pix_fmt
        if codec == "libx264":  # byte-identical files from identical frames (see ssl_video.data.x264)
            options = {**deterministic_x264_params(), **(options or {})}
        if options:
            stream.options = dict(options)
        if gop is not None:
            stream.codec_context.gop_size = gop
        time_base = Fraction(1, 1000) if timestamps_s is not None else None
        if time_base is not None:
            stream.codec_context.time_base = time_base
        for i, image in enumerate(frames):
            if i == 0:
                stream.height, stream.width = image.shape[:2]
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
            if timestamps_s is not None:
                frame.pts = int(round(timestamps_s[i] * 1000))
                frame.time_base = time_base
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def write_numbered_video(
    path: str | Path, num_frames: int, *, height: int = 64, width: int = 96, **kwargs
) -> Path:
    """A video whose frame ``i`` shows the number ``i`` (see :func:`read_frame_number`)."""
    frames = (numbered_frame(i, height, width) for i in range(num_frames))
    return write_video(path, frames, **kwargs)
