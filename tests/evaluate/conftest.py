"""Fixtures for evaluate tests: a small labeled video set and a tiny encoder checkpoint."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import torch

from ssl_video.models import encoder_config, get_encoder
from ssl_video.testing import write_video

TINY_ARGS = {"img_size": 32, "num_frames": 8, "tubelet": (2, 8, 8), "depth": 1, "embed_dim": 32, "num_heads": 2}


def _drive(rng: np.random.Generator, windows: int, frames_per_window: int, size: int = 32):
    """Frames of a bright square moving left or right, a new direction and speed per window."""
    frames, labels = [], []
    x = float(rng.uniform(0, size))
    for _ in range(windows):
        direction = rng.choice(["left", "right"])
        speed = float(rng.uniform(0.5, 3.0))
        labels.append((direction, speed))
        for _ in range(frames_per_window):
            x = (x + (speed if direction == "right" else -speed)) % (size - 6)
            frame = np.full((size, size, 3), 40, dtype=np.uint8)
            frame[12:18, int(x) : int(x) + 6] = (230, 230, 60)
            frames.append(frame)
    return frames, labels


@pytest.fixture(autouse=True)
def one_torch_thread():
    """The CPU is shared by several test runs: one intra-op thread avoids oversubscription."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def labeled_videos(tmp_path_factory):
    """8 drives x 4 windows of 1.5 s at 10 fps; labels `direction` (class) and `speed` (float)."""
    root = tmp_path_factory.mktemp("labeled_videos")
    rng = np.random.default_rng(0)
    rows = []
    for d in range(8):
        frames, labels = _drive(rng, windows=4, frames_per_window=15)
        write_video(root / f"drive_{d}.mp4", frames, fps=10.0)
        for k, (direction, speed) in enumerate(labels):
            rows.append({"video": f"drive_{d}.mp4", "start_s": 1.5 * k, "end_s": 1.5 * (k + 1),
                         "sequence": f"drive_{d}", "direction": direction, "speed": round(speed, 3)})
    with open(root / "labels.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return root / "labels.csv"


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory):
    """A Lightning-style checkpoint per the checkpoint contract, holding a tiny random ViT."""
    torch.manual_seed(0)
    encoder = get_encoder("vit_tiny", **TINY_ARGS)
    name, args = encoder_config(encoder)
    path = tmp_path_factory.mktemp("ckpt") / "tiny.ckpt"
    torch.save({"state_dict": {f"encoder.{k}": v for k, v in encoder.state_dict().items()},
                "ssl_video": {"encoder": {"name": name, "args": args},
                              "clip": {"context": 4, "future": 4, "fps": 10.0, "size": [32, 32]},
                              "normalize": {"mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25]},
                              "objectives": []},
                "global_step": 0, "epoch": 0}, path)
    return path
