"""Tiny videos for the engine tests: squares that move left or right, one drive with a sudden event."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from ssl_video.testing import write_video

FPS, SECONDS, SIZE = 10.0, 8.0, 32


def _frames(direction: int, event_at: int | None, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    background = rng.integers(40, 90, size=3)
    frames = []
    for i in range(int(FPS * SECONDS)):
        img = np.zeros((SIZE, SIZE, 3), dtype=np.uint8) + background.astype(np.uint8)
        x = (8 + direction * i) % (SIZE - 6)
        img[12:18, x : x + 6] = (220, 220, 40)
        if event_at is not None and event_at <= i < event_at + 6:
            img[:, : SIZE // 2] = (250, 30, 30)  # something big and sudden
        frames.append(img)
    return frames


@pytest.fixture(scope="session", autouse=True)
def _private_cache(tmp_path_factory):
    """Clip and feature caches (ssl_video.evaluate.features) go to a folder of this test session,
    not ~/.cache; shared by the engine tests, which mine the same videos with the same seeded encoders."""
    mp = pytest.MonkeyPatch()
    mp.setenv("SSL_VIDEO_HOME", str(tmp_path_factory.mktemp("ssl_video_home")))
    yield
    mp.undo()


@pytest.fixture(scope="session")
def engine_videos(tmp_path_factory) -> Path:
    """A folder of 6 short drives + ``labels.csv`` (1.6 s windows, column ``direction``)."""
    root = tmp_path_factory.mktemp("engine_videos")
    rows = []
    for d, (direction, event) in enumerate([(1, 52), (-1, None), (1, None), (-1, None), (1, None), (-1, None)]):
        path = write_video(root / f"drive_{d}.mp4", _frames(direction, event, d), fps=FPS)
        for start in np.arange(0.0, SECONDS - 1.6 + 1e-9, 1.6):
            rows.append({"video": path.name, "start_s": f"{start:.1f}", "end_s": f"{start + 1.6:.1f}",
                         "sequence": f"drive_{d}", "direction": "right" if direction > 0 else "left"})
    with (root / "labels.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return root
