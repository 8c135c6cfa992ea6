"""Real videos for the data tests: good files in several codecs/containers and broken ones.

Encoded once per session with ``ssl_video.testing`` (frame numbers drawn into the pixels).
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import av
import numpy as np
import pytest

from ssl_video.testing import write_numbered_video

NUM_FRAMES = 40
X265 = {"x265-params": "log-level=error"}
# name -> write_numbered_video kwargs. Odd sizes need 4:4:4 (4:2:0 wants even sizes in libx264).
GOOD_VIDEOS = {
    "h264.mp4": dict(gop=12),
    "vp9.webm": dict(codec="libvpx-vp9", gop=12),
    "hevc.mkv": dict(codec="libx265", gop=12, options=X265),
    "mpeg4.avi": dict(codec="mpeg4", gop=12),
    "mjpeg.mov": dict(codec="mjpeg", pix_fmt="yuvj420p"),
    "h264 10bit.mp4": dict(pix_fmt="yuv420p10le", gop=12),
    "odd 97x61.mp4": dict(height=61, width=97, pix_fmt="yuv444p", gop=12),
    "vfr.mp4": dict(gop=12, timestamps_s="vfr"),
    "vfr.mkv": dict(gop=12, timestamps_s="vfr"),
    "sub dir/straße 東京.mp4": dict(gop=12),
}
# name -> start of the expected skip reason
BROKEN_VIDEOS = {
    "empty.mp4": "empty file",
    "truncated.mp4": "truncated",  # its index (moov, written last) was cut off: nothing to read the data by
    "random.mkv": "not a video",
    "notes.mp4": "not a video (text file)",
    "audio only.mp4": "no video stream",
    "folder.mp4": "is a directory",
    "one frame.mp4": "shorter than one clip (1 frame)",
}
# Cut short: usable, with the frames before the cut (index.VideoInfo.note says so). name -> frames written.
DAMAGED_VIDEOS = {"truncated.mkv": 100}
VFR_TIMES = np.cumsum(np.r_[0.0, np.random.default_rng(0).uniform(0.03, 0.2, NUM_FRAMES - 1)])


def write_good(path: Path, num_frames: int = NUM_FRAMES, **kwargs) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if kwargs.get("timestamps_s") == "vfr":
        kwargs["timestamps_s"] = VFR_TIMES[:num_frames]
    return write_numbered_video(path, num_frames, **kwargs)


def write_audio_only(path: Path) -> None:
    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=16000)
        for i in range(10):
            frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
            frame.sample_rate, frame.pts = 16000, i * 1024
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def cut(source: Path, target: Path, fraction: float) -> None:
    data = source.read_bytes()
    target.write_bytes(data[: int(len(data) * fraction)])


@pytest.fixture(scope="session")
def video_folder(tmp_path_factory) -> Path:
    """A folder holding every GOOD_VIDEOS, BROKEN_VIDEOS and DAMAGED_VIDEOS entry (names with spaces and non-ASCII)."""
    root = tmp_path_factory.mktemp("videos")
    for name, kwargs in GOOD_VIDEOS.items():
        write_good(root / name, **kwargs)
    scratch = tmp_path_factory.mktemp("scratch")
    (root / "empty.mp4").touch()
    cut(write_good(scratch / "long.mp4", 100, gop=12), root / "truncated.mp4", 0.6)
    cut(write_good(scratch / "long.mkv", 100, gop=12), root / "truncated.mkv", 0.6)
    (root / "random.mkv").write_bytes(np.random.default_rng(1).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    (root / "notes.mp4").write_text("not a video, just some notes\n")
    write_audio_only(root / "audio only.mp4")
    (root / "folder.mp4").mkdir()
    write_good(root / "one frame.mp4", 1)
    return root


@pytest.fixture()
def probe_cache(tmp_path) -> Path:
    return tmp_path / "probe_cache.json"


@pytest.fixture(scope="session")
def vids():
    """The constants and writers above, for test modules (importing conftest by name is fragile)."""
    return SimpleNamespace(GOOD=GOOD_VIDEOS, BROKEN=BROKEN_VIDEOS, DAMAGED=DAMAGED_VIDEOS, NUM_FRAMES=NUM_FRAMES,
                           VFR_TIMES=VFR_TIMES, write_good=write_good, cut=cut)


# A 16:9 drive-camera frame: a white circle (diameter 120 px) in the middle, red bars at the left and right
# edges that a centre crop to a square must cut off.
WIDE_SIZE, CIRCLE_DIAMETER = (180, 320), 120


def circle_box(frame: np.ndarray) -> tuple[int, int, float, float]:
    """(height, width, centre row, centre column) of the white circle in a decoded (H, W, 3) frame."""
    white = frame.min(axis=-1) > 150  # (H, W); the red bars are not white
    rows, cols = np.flatnonzero(white.any(axis=1)), np.flatnonzero(white.any(axis=0))
    return rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1, (rows[0] + rows[-1]) / 2, (cols[0] + cols[-1]) / 2


@pytest.fixture(scope="session")
def wide_video(tmp_path_factory) -> SimpleNamespace:
    """A real 16:9 mp4 (180x320, 20 frames at 10 fps) of a round circle, and :func:`circle_box` to measure it."""
    from ssl_video.testing import write_video

    height, width = WIDE_SIZE
    yy, xx = np.mgrid[:height, :width]
    frame = np.full((height, width, 3), 40, dtype=np.uint8)
    frame[(yy - height / 2 + 0.5) ** 2 + (xx - width / 2 + 0.5) ** 2 <= (CIRCLE_DIAMETER / 2) ** 2] = 240
    frame[:, :32], frame[:, -32:] = (220, 30, 30), (220, 30, 30)
    path = write_video(tmp_path_factory.mktemp("wide") / "dashcam 16x9.mp4", [frame] * 20, fps=10.0)
    return SimpleNamespace(path=path, size=WIDE_SIZE, diameter=CIRCLE_DIAMETER, measure=circle_box)
