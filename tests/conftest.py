"""Fixtures shared by every test area."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from ssl_video.data.drive_world import make_drive_dataset

# The small built-in driving dataset: 8 drives x 20 s at 64x64, 10 fps, 2 s windows (80 windows).
DRIVE_DATA = {"minutes": 8 * 20 / 60, "seed": 0, "size": 64, "fps": 10.0, "drive_s": 20.0, "window_s": 2.0}


@pytest.fixture(scope="session")
def drive_data(tmp_path_factory) -> Path:
    """Folder with ``drive_000.mp4 ... drive_007.mp4`` and ``labels.csv`` (manifest format).

    Labels: speed_kmh (float), speed_bucket, lane_change, time_of_day, weather. Generated once
    per test session in a few seconds; treat it as read-only.
    """
    out = tmp_path_factory.mktemp("drive_data")
    make_drive_dataset(out, **DRIVE_DATA)
    return out


@pytest.fixture(autouse=True)
def _one_thread_and_seed():
    """2 shared CPU cores: one torch thread per test process; fixed seed for reproducible weights."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(autouse=True, scope="session")
def _isolated_cache_home(tmp_path_factory):
    """Probe, feature and weights caches go to a per-session folder, never to the user's ~/.cache."""
    mp = pytest.MonkeyPatch()
    mp.setenv("SSL_VIDEO_HOME", str(tmp_path_factory.mktemp("ssl_video_home")))
    yield
    mp.undo()
