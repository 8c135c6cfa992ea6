"""Built-in procedural driving world: dash-camera videos with labels that need time to read.

    ssl-video data make-drive data/drive --minutes 30 --seed 0 --size 128 --fps 10 --preview preview.png

writes ``drive_000.mp4 ...`` (H.264, one per drive) and ``labels.csv`` in the manifest format
(``video, start_s, end_s, sequence`` + label columns, see ``labels.LABEL_COLUMNS``). The world is
a seeded simulator (``simulate.py``) rendered by a vectorised NumPy scanline renderer
(``render.py``); labels come from the simulator state (``labels.py``).
"""

from __future__ import annotations

import logging
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from ssl_video._io import atomic_path, write_csv
from ssl_video.data.drive_world.labels import LABEL_COLUMNS, window_labels
from ssl_video.data.drive_world.render import Camera, render_frames
from ssl_video.data.drive_world.simulate import Drive, simulate_drive
from ssl_video.data.x264 import deterministic_x264_params
from ssl_video.errors import UserError

__all__ = ["Camera", "LABEL_COLUMNS", "drive_count", "make_drive_dataset", "render_drive", "simulate_drive",
           "write_preview"]

log = logging.getLogger(__name__)
_CHUNK = 50  # frames rendered at once: amortises Python overhead, keeps memory small
KEYFRAME_S = 2.0  # seconds between H.264 keyframes
CSV_COLUMNS = ("video", "start_s", "end_s", "sequence", *LABEL_COLUMNS)


def _check_args(minutes: float, size: int, fps: float, drive_s: float, window_s: float,
                width: int | None = None) -> None:
    if minutes <= 0:
        raise UserError(f"minutes must be > 0, got {minutes}")
    for name, px in (("size", size), ("width", size if width is None else width)):
        if px < 16 or px % 2:
            raise UserError(f"{name} must be an even number of pixels >= 16 (H.264 with yuv420p), got {px}")
    if fps <= 0:
        raise UserError(f"fps must be > 0, got {fps}")
    if not 0 < window_s <= drive_s:
        raise UserError(f"window_s must be in (0, drive_s={drive_s}], got {window_s}")
    if window_s * fps < 2:
        raise UserError(f"a window of {window_s} s at {fps} fps has fewer than 2 frames")


def drive_count(minutes: float, drive_s: float) -> int:
    """Number of drives (videos) in a dataset of ``minutes`` made of ``drive_s``-second drives."""
    return max(1, round(minutes * 60.0 / drive_s))


def render_drive(drive: Drive, size: int, width: int | None = None, cam: Camera = Camera()) -> np.ndarray:
    """All video frames of a drive as (T, H, W, 3) uint8 (for tests and previews; the writer streams chunks)."""
    w = size if width is None else width
    return np.concatenate([render_frames(drive, size, w, a, min(a + _CHUNK, drive.n_video), cam)
                           for a in range(0, drive.n_video, _CHUNK)])


def _write_video(drive: Drive, path: Path, size: int, width: int | None = None, cam: Camera = Camera()) -> None:
    """Encode a drive with libx264 (one thread, deterministic) to ``path`` atomically."""
    with atomic_path(path) as tmp, av.open(str(tmp), mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=Fraction(drive.fps).limit_denominator(1000))
        stream.height, stream.width = size, size if width is None else width
        stream.pix_fmt = "yuv420p"
        # A keyframe every 2 s, as dash cameras write (0.5-2 s): a random clip then decodes from a
        # keyframe at most 2 s back, not from libx264's default 250 frames back (4x faster reads).
        stream.options = {"preset": "veryfast", "crf": "20", "g": str(max(1, round(KEYFRAME_S * drive.fps))),
                          **deterministic_x264_params()}
        stream.codec_context.thread_count = 1
        for a in range(0, drive.n_video, _CHUNK):
            for frame in render_frames(drive, size, stream.width, a, min(a + _CHUNK, drive.n_video), cam):
                container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())


def make_drive_dataset(
    out_dir: str | Path,
    *,
    minutes: float = 30.0,
    seed: int = 0,
    size: int = 128,
    fps: float = 10.0,
    drive_s: float = 60.0,
    window_s: float = 2.0,
    progress: bool = False,
    width: int | None = None,
    camera: Camera = Camera(),
) -> Path:
    """Render ``round(minutes * 60 / drive_s)`` drives to ``out_dir`` and return the labels.csv path.

    Windows of ``window_s`` seconds tile each drive without overlap and never cross drives; the
    ``sequence`` column is the drive id, so splits by sequence keep drives apart. A window is
    ``round(window_s * fps)`` whole frames, so ``end_s - start_s`` may differ slightly from ``window_s``.
    """
    _check_args(minutes, size, fps, drive_s, window_s, width)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    n_drives = drive_count(minutes, drive_s)
    digits = max(3, len(str(n_drives - 1)))
    window = int(round(window_s * fps))
    rows = []
    drives = range(n_drives)
    if progress:
        from tqdm import tqdm

        drives = tqdm(drives, desc="drives", unit="drive")
    for index in drives:
        drive = simulate_drive(seed, index, duration_s=drive_s, fps=fps)
        name = f"drive_{index:0{digits}d}"
        _write_video(drive, out / f"{name}.mp4", size, width, camera)
        for start in range(0, drive.n_video - window + 1, window):
            labels = window_labels(drive, start, start + window)
            rows.append({"video": f"{name}.mp4", "start_s": round(start / fps, 4),
                         "end_s": round((start + window) / fps, 4), "sequence": name, **labels})
    csv_path = out / "labels.csv"
    write_csv(csv_path, CSV_COLUMNS, rows)
    log.info("wrote %d drives, %d windows to %s", n_drives, len(rows), out)
    return csv_path


def write_preview(path: str | Path, *, seed: int = 0, size: int = 128, fps: float = 10.0, drive_s: float = 60.0,
                  drives: int = 6, columns: int = 4, width: int | None = None, camera: Camera = Camera()) -> Path:
    """A (drives x columns) grid of frames, each row one drive at evenly spaced times, as a PNG; ``size`` x
    ``width`` (default square) frames seen by ``camera``, as ``make_drive_dataset`` renders them."""
    import matplotlib.pyplot as plt

    grid = []
    for index in range(drives):
        drive = simulate_drive(seed, index, duration_s=drive_s, fps=fps)
        picks = np.linspace(0, drive.n_video - 1, columns + 2)[1:-1].astype(int)
        grid.append(np.concatenate([render_frames(drive, size, width or size, i, i + 1, camera)[0] for i in picks],
                                   axis=1))
    path = Path(path)
    with atomic_path(path) as tmp:
        plt.imsave(tmp, np.concatenate(grid, axis=0), format="png")
    return path
