"""benchmarks/external_drives.py: tiny drives of each simulator decode and load as a manifest.

The simulators are not dependencies of ssl_video; each test is skipped when its package is missing
(CI installs only ``.[dev]``). Install them with the pip lines at the top of the script.
"""

from __future__ import annotations

import csv

import numpy as np
import pytest

from ssl_video.data.decode import read_frames
from ssl_video.data.manifest import load_windows
from ssl_video.testing import write_video

PACKAGES = {"carracing": ("Box2D", "gymnasium"), "highway": ("highway_env",), "pybullet": ("pybullet", "scipy")}
SIZES = {"carracing": (48, 48), "highway": (80, 48), "pybullet": (80, 48)}


@pytest.mark.parametrize("source", sorted(PACKAGES))
def test_tiny_drives_decode_and_load(source, tmp_path, script):
    for name in PACKAGES[source]:
        pytest.importorskip(name)
    ext = script("external_drives")
    size = SIZES[source]
    out = tmp_path / source
    path = ext.build(source, out, drives=2, seconds=6.0, fps=5.0, size=size, seed=3, log=lambda *a, **k: None)
    assert path == out / "labels.csv"
    for name in ("drive_000", "drive_001"):
        frames = read_frames(out / f"{name}.mp4", list(range(30)))
        assert frames.shape == (30, size[1], size[0], 3) and frames.dtype.name == "uint8"
        assert frames.std() > 1.0  # something was drawn
    assert not list(out.glob("*.tmp"))
    rows = list(csv.DictReader(open(path)))
    # 6 s at 5 fps, 2 s windows, 1 s of look-ahead: 2 windows per drive
    assert len(rows) == 4 and {r["sequence"] for r in rows} == {"drive_000", "drive_001"}
    assert {r["speed_bucket"] for r in rows} <= {"slow", "medium", "fast"}
    assert {r["turn_ahead"] for r in rows} <= {"left", "straight", "right"}
    now = "lateral_now_m" if source == "highway" else "heading_now_deg"
    for r in rows:  # the direction of motion during the window: its sign is the label's side
        assert {"left": float(r[now]) < 0, "right": float(r[now]) > 0, "straight": True}[r["turn_now"]]
    windows, index = load_windows(path, cache_path=tmp_path / "probe_cache.json")
    assert len(windows) == 4 and not index.skipped
    assert {w.labels["turn_ahead"] for w in windows} == {r["turn_ahead"] for r in rows}

    # deterministic and resumable: a rerun skips finished drives; a fresh build gives the same bytes
    mtime = (out / "drive_000.mp4").stat().st_mtime_ns
    ext.build(source, out, drives=2, seconds=6.0, fps=5.0, size=size, seed=3, log=lambda *a, **k: None)
    assert (out / "drive_000.mp4").stat().st_mtime_ns == mtime
    again = tmp_path / "again"
    ext.build(source, again, drives=1, seconds=6.0, fps=5.0, size=size, seed=3, log=lambda *a, **k: None)
    assert (again / "drive_000.mp4").read_bytes() == (out / "drive_000.mp4").read_bytes()


def test_missing_package_is_one_clear_line(monkeypatch, capsys, script):
    ext = script("external_drives")

    def missing(source):
        raise ext.MissingPackage(f"source {source!r} needs 'x'; install it with: {ext.PIP[source]}")

    monkeypatch.setattr(ext, "_need", missing)
    assert ext.main(["--source", "carracing", "--out", "/nonexistent/never", "--drives", "1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "pip install" in err[0]


def test_arrow_of_time_pairs_each_window_with_itself_played_backwards(tmp_path, script):
    ext = script("external_drives")
    fps, n = 5.0, 30  # 6 s: a square moving right, one step per frame
    frames = np.zeros((n, 32, 48, 3), np.uint8)
    for k in range(n):
        frames[k, 8:24, k:k + 16] = 255
    write_video(tmp_path / "drive_000.mp4", frames, fps=fps)
    np.savez(tmp_path / "drive_000.npz", fps=fps, t=np.arange(n) / fps)
    (tmp_path / "labels.csv").write_text("video,start_s,end_s,sequence\n"
                                         "drive_000.mp4,0.0,2.0,drive_000\ndrive_000.mp4,2.0,4.0,drive_000\n")
    path = ext.write_arrow(tmp_path, ["drive_000"], fps, log=lambda *a, **k: None)
    rows = list(csv.DictReader(open(path)))
    assert [(r["video"], r["start_s"], r["end_s"], r["arrow_of_time"]) for r in rows] == [
        ("drive_000_fwd.mp4", "0.0", "2.0", "forward"), ("drive_000_rev.mp4", "4.0", "6.0", "backward"),
        ("drive_000_fwd.mp4", "2.0", "4.0", "forward"), ("drive_000_rev.mp4", "2.0", "4.0", "backward")]
    assert {r["sequence"] for r in rows} == {"drive_000"} and not list(tmp_path.glob("*.tmp"))
    forward = read_frames(tmp_path / "drive_000_fwd.mp4", list(range(0, 10))).astype(np.float32)
    backward = read_frames(tmp_path / "drive_000_rev.mp4", list(range(20, 30))).astype(np.float32)[::-1]
    assert np.abs(forward - backward).mean() < 3 < np.abs(forward - forward[::-1]).mean()
    windows, index = load_windows(path, cache_path=tmp_path / "probe_cache.json")
    assert len(windows) == 4 and not index.skipped


def test_pybullet_camera_looks_down_its_lane_and_loops_go_both_ways(script):
    pytest.importorskip("pybullet")
    pytest.importorskip("scipy")
    ext = script("external_drives")
    for frame, _ in ext.pybullet_drive(3, 0, 1.0, 5.0, (80, 48)):
        road = frame[-6:, 30:50].reshape(-1, 3).astype(float).mean(axis=0)  # the road just ahead of the car
        assert np.ptp(road) < 20, f"not asphalt grey under the camera: {road}"
    turns = [ext._loop(np.random.default_rng(k))[2].sum() * ext.ROAD_STEP for k in range(8)]
    assert all(abs(abs(t) - 2 * np.pi) < 0.05 for t in turns)  # closed loops
    assert min(turns) < 0 < max(turns)  # some drives go round clockwise, some counter-clockwise
