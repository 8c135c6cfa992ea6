"""Clip decoding throughput next to its bounds: clips/s for 16-frame H.264 clips (default: a keyframe every 250 frames).

Rows, per output size (112 and 224 px):
- ``decode bound``: every frame of the file decoded once in order by the PyAV reader (same
  thread count and resizing as the random reads), frames/s divided by 16. Random clips cannot
  beat this without skipping decode work.
- ``pyav`` / ``decord``: random 16-frame clips (consecutive frames) read through one open
  reader per file (what a worker's ReaderCache does); with a keyframe every 250 frames (--gop) each
  clip decodes from the previous keyframe.
- ``torchcodec``: the same clips through torchcodec's CPU ``VideoDecoder`` (one FFmpeg thread, exact
  seeking, its decoder-side ``Resize``), when torchcodec and the FFmpeg libraries it loads are
  installed (``pip install torchcodec`` and e.g. ``apt-get install ffmpeg``); not a dependency of
  ssl_video, so the row is skipped with a line saying why otherwise.
- ``datamodule w=0`` / ``w=2``: UnlabeledClipDataModule batches (no augmentation), 0 and 2
  DataLoader workers, default backend.
- ``memcpy bound``: copying a (3, 16, H, W) uint8 clip in memory.
Each row also shows its ratio to the decode bound.

    python benchmarks/decode.py            # ~2 min on a 2-core CPU
    python benchmarks/decode.py --clips 40 --frames 600 --width 1280 --height 720
    python benchmarks/decode.py --gop 30      # a keyframe every second, as most dash cameras write
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

from ssl_video.data.datamodules import UnlabeledClipDataModule
from ssl_video.data.decode import DEFAULT_BACKEND, open_video
from ssl_video.testing import numbered_frame, write_video

CLIP = 16
GOP = 250


def write_videos(folder: Path, count: int, frames: int, height: int, width: int, fps: float,
                 gop: int = GOP) -> list[Path]:
    """H.264 files (a keyframe every ``gop`` frames) with moving content (frame numbers, a moving square,
    a drifting gradient)."""
    ramp = np.linspace(0, 80, width, dtype=np.float32)[None, :, None]  # (1, W, 1)
    paths = []
    for v in range(count):
        def frames_of(v=v):
            for i in range(frames):
                base = numbered_frame(i, height, width).astype(np.float32)
                yield np.clip(base + np.roll(ramp, 7 * i + 31 * v, axis=1), 0, 255).astype(np.uint8)
        paths.append(write_video(folder / f"drive_{v}.mp4", frames_of(), fps=fps, gop=gop))
    return paths


def sequential_fps(path: Path, size: int) -> float:
    """Frames/s decoding every frame in order once, resized to size x size exactly as the readers do
    (PyAV reader: one decoding thread, a persistent swscale context, AREA)."""
    start = time.perf_counter()
    with open_video(path, size=(size, size), backend="pyav") as reader:
        n = len(reader.get_frames(range(reader.num_frames)))
    return n / (time.perf_counter() - start)


def backend_clips(paths: list[Path], size: int, backend: str, clips: int, seed: int = 0) -> float:
    rng = np.random.default_rng(seed)
    readers = [open_video(p, size=(size, size), backend=backend) for p in paths]
    try:
        start = time.perf_counter()
        for k in range(clips):
            reader = readers[k % len(readers)]
            first = int(rng.integers(0, reader.num_frames - CLIP + 1))
            frames = reader.get_frames(range(first, first + CLIP))
            assert frames.shape == (CLIP, size, size, 3)
        return clips / (time.perf_counter() - start)
    finally:
        for reader in readers:
            reader.close()


def torchcodec_clips(paths: list[Path], size: int, clips: int, seed: int = 0) -> float:
    """Like :func:`backend_clips`, through torchcodec's CPU decoder (raises ImportError/RuntimeError if unusable)."""
    from torchcodec.decoders import VideoDecoder
    from torchcodec.transforms import Resize

    rng = np.random.default_rng(seed)
    decoders = [VideoDecoder(p, dimension_order="NHWC", num_ffmpeg_threads=1, seek_mode="exact",
                             transforms=[Resize((size, size))]) for p in paths]
    start = time.perf_counter()
    for k in range(clips):
        decoder = decoders[k % len(decoders)]
        first = int(rng.integers(0, decoder.metadata.num_frames - CLIP + 1))
        frames = decoder.get_frames_in_range(first, first + CLIP).data
        assert frames.shape == (CLIP, size, size, 3)
    return clips / (time.perf_counter() - start)


def datamodule_clips(folder: Path, size: int, fps: float, workers: int, clips: int, videos: int) -> float:
    dm = UnlabeledClipDataModule(str(folder), context=CLIP // 2, future=CLIP // 2, fps=fps, size=size, batch_size=4,
                                 num_workers=workers, persistent_workers=False, val_fraction=0.0, augment=False,
                                 clips_per_video=max(1, clips // videos))
    dm.setup("fit")
    loader = iter(dm.train_dataloader())
    first = next(loader)  # worker start-up and first open are not throughput
    count, start = 0, time.perf_counter()
    for batch in loader:
        count += batch["video"].shape[0]
    elapsed = time.perf_counter() - start
    del loader, first
    dm.teardown("fit")
    return count / elapsed if count else float("nan")


def memcpy_clips(size: int, repeats: int = 200) -> float:
    clip = torch.randint(0, 256, (3, CLIP, size, size), dtype=torch.uint8)
    out = torch.empty_like(clip)
    start = time.perf_counter()
    for _ in range(repeats):
        out.copy_(clip)
    return repeats / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--videos", type=int, default=2)
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=360)
    parser.add_argument("--fps", type=float, default=30.0)
    parser.add_argument("--clips", type=int, default=24, help="clips per measured row")
    parser.add_argument("--sizes", type=int, nargs="+", default=[112, 224])
    parser.add_argument("--gop", type=int, default=GOP, help="frames between keyframes (dash cameras: 0.5-2 s)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    os.environ.setdefault("SSL_VIDEO_HOME", tempfile.mkdtemp(prefix="ssl_video_bench_home_"))
    rows = []
    with tempfile.TemporaryDirectory(prefix="ssl_video_bench_") as tmp:
        folder = Path(tmp)
        paths = write_videos(folder, args.videos, args.frames, args.height, args.width, args.fps, args.gop)
        for size in args.sizes:
            bound = float(np.mean([sequential_fps(p, size) for p in paths])) / CLIP
            measured = [("decode bound (sequential)", bound)]
            for backend in ("pyav", "decord"):
                measured.append((f"{backend} random clips", backend_clips(paths, size, backend, args.clips)))
            try:
                measured.append(("torchcodec random clips (CPU)", torchcodec_clips(paths, size, args.clips)))
            except (ImportError, RuntimeError, OSError) as err:  # not installed, or no FFmpeg libraries to load
                print(f"torchcodec row skipped: {type(err).__name__}: {str(err).splitlines()[0]}", file=sys.stderr)
            for workers in (0, 2):
                measured.append((f"datamodule workers={workers} ({DEFAULT_BACKEND})",
                                 datamodule_clips(folder, size, args.fps, workers, args.clips, args.videos)))
            measured.append(("memcpy bound (uint8 clip)", memcpy_clips(size)))
            rows += [(size, name, value, value / bound) for name, value in measured]
            print(f"measured {size} px: " + ", ".join(f"{n} {v:.1f}" for n, v in measured), file=sys.stderr, flush=True)
    header = (f"16-frame clips, H.264 {args.width}x{args.height} @ {args.fps:g} fps, keyframe every {args.gop}, "
              f"{args.frames} frames x {args.videos} files; torch threads 1")
    print(header)
    print("| size | row | clips/s | x decode bound |\n|---:|---|---:|---:|")
    for size, name, value, ratio in rows:
        print(f"| {size} | {name} | {value:,.1f} | {ratio:.3g} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
