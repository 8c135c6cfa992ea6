"""`ssl-video data prepare` pays off: random training clips from raw long-GOP footage vs from the prepared copy.

Writes raw H.264 files as a dash camera might (640x360, 30 fps, a keyframe every 250 frames),
prepares them with ``ssl-video data prepare --size 128 --fps 10`` (short side 128 px, a
keyframe every second, no B-frames), then measures 16-frame clips at 10 fps, 128 px short side
(what the quickstart-size model trains on), one PyAV reader per file, one thread:

- ``raw random clips``: from the raw files (every 3rd source frame, resized on decode);
- ``prepared random clips``: from the prepared copy;
- ``prepared decode bound``: every frame of the prepared files decoded once in order, / 16
  (random clips cannot beat it without skipping decode work).
Targets: prepared random >= 0.9x its decode bound, and >= 3x the raw random clips/s.

    python benchmarks/prepare.py                  # ~2 min on a 2-core CPU
    python benchmarks/prepare.py --videos 4 --frames 1800
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from decode import write_videos  # noqa: E402  (benchmarks/decode.py)

from ssl_video.data.decode import open_video  # noqa: E402
from ssl_video.data.prepare import PrepareSettings, output_size, prepare_dataset  # noqa: E402

CLIP = 16


def random_clips(paths: list[Path], size: tuple[int, int], step: int, clips: int, seed: int = 0) -> float:
    """Clips/s of ``clips`` random clips (CLIP frames, every ``step``-th source frame) over open readers."""
    rng = np.random.default_rng(seed)
    readers = [open_video(p, size=size, backend="pyav") for p in paths]
    try:
        start = time.perf_counter()
        for k in range(clips):
            reader = readers[k % len(readers)]
            first = int(rng.integers(0, reader.num_frames - CLIP * step + 1))
            frames = reader.get_frames(range(first, first + CLIP * step, step))
            assert frames.shape == (CLIP, *size, 3)
        return clips / (time.perf_counter() - start)
    finally:
        for reader in readers:
            reader.close()


def sequential_clips(paths: list[Path], size: tuple[int, int], repeats: int = 3) -> float:
    """Every frame decoded once in order, frames/s / CLIP; the best of ``repeats`` passes (a shared
    machine only ever makes a pass slower, and the first pass also reads the files into the page cache)."""
    rates = []
    for _ in range(repeats):
        start, frames = time.perf_counter(), 0
        for path in paths:
            with open_video(path, size=size, backend="pyav") as reader:
                for first in range(0, reader.num_frames, 64):  # in chunks, as a long file would be read
                    frames += len(reader.get_frames(range(first, min(first + 64, reader.num_frames))))
        rates.append(frames / (time.perf_counter() - start) / CLIP)
    return max(rates)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--videos", type=int, default=2)
    parser.add_argument("--frames", type=int, default=900, help="frames per raw file (30 s at 30 fps)")
    parser.add_argument("--clips", type=int, default=40, help="random clips per measured row")
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--fps", type=float, default=10.0)
    parser.add_argument("--workers", type=int, default=None, help="prepare's processes (default: one per core)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    os.environ.setdefault("SSL_VIDEO_HOME", tempfile.mkdtemp(prefix="ssl_video_bench_home_"))
    with tempfile.TemporaryDirectory(prefix="ssl_video_bench_") as tmp:
        raw = Path(tmp) / "raw"
        raw.mkdir()
        paths = write_videos(raw, args.videos, args.frames, 360, 640, 30.0, gop=250)
        start = time.perf_counter()
        prepare_dataset(raw, Path(tmp) / "prepared", PrepareSettings(size=args.size, fps=args.fps),
                        num_workers=args.workers, progress=False)
        prepare_s = time.perf_counter() - start
        prepared = sorted((Path(tmp) / "prepared" / "videos").glob("[!.]*.mp4"))
        width, height = output_size(640, 360, args.size)
        size = (height, width)
        step = round(30.0 / args.fps)
        rows = [("raw random clips (long GOP, 30 fps)", random_clips(paths, size, step, args.clips)),
                ("prepared random clips", random_clips(prepared, size, 1, args.clips)),
                ("prepared decode bound (sequential)", sequential_clips(prepared, size))]
    bound, raw_rate = rows[2][1], rows[0][1]
    minutes = args.videos * args.frames / 30 / 60
    print(f"{CLIP}-frame clips at {args.fps:g} fps, {width}x{height}; raw: H.264 640x360 @ 30 fps, keyframe every 250, "
          f"{args.videos} x {args.frames} frames ({minutes:.1f} min); prepare took {prepare_s:.1f} s "
          f"({minutes * 60 / prepare_s:.1f}x real time); torch threads 1")
    print("| row | clips/s | x prepared decode bound | x raw random |\n|---|---:|---:|---:|")
    for name, value in rows:
        print(f"| {name} | {value:,.1f} | {value / bound:.2f} | {value / raw_rate:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
