import csv

import av
import numpy as np
import pytest

from ssl_video.data.drive_world import LABEL_COLUMNS, make_drive_dataset, render_drive, simulate_drive


def _rows(csv_path):
    with open(csv_path, newline="") as handle:
        return list(csv.DictReader(handle))


def _decode(path):
    with av.open(str(path)) as container:
        return np.stack([frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)])


def test_fixture_dataset_is_a_manifest_of_playable_videos(drive_data):
    rows = _rows(drive_data / "labels.csv")
    assert len(rows) == 80
    assert set(rows[0]) == {"video", "start_s", "end_s", "sequence", *LABEL_COLUMNS}
    videos = sorted(drive_data.glob("*.mp4"))
    assert [v.name for v in videos] == [f"drive_{i:03d}.mp4" for i in range(8)]
    frames = _decode(videos[0])
    assert frames.shape == (200, 64, 64, 3)
    assert frames.std() > 10  # not blank


def test_windows_never_cross_drives(drive_data):
    rows = _rows(drive_data / "labels.csv")
    for row in rows:
        assert row["sequence"] + ".mp4" == row["video"]
        assert 0.0 <= float(row["start_s"]) < float(row["end_s"]) <= 20.0
        assert float(row["end_s"]) - float(row["start_s"]) == pytest.approx(2.0)


def test_same_seed_same_frames_different_seed_differs(tmp_path):
    first = make_drive_dataset(tmp_path / "a", minutes=0.1, seed=3, size=32, drive_s=6.0)
    again = make_drive_dataset(tmp_path / "b", minutes=0.1, seed=3, size=32, drive_s=6.0)
    other = make_drive_dataset(tmp_path / "c", minutes=0.1, seed=4, size=32, drive_s=6.0)
    a, b, c = (_decode(p.parent / "drive_000.mp4") for p in (first, again, other))
    assert np.array_equal(a, b)
    assert (first.parent / "drive_000.mp4").read_bytes() == (again.parent / "drive_000.mp4").read_bytes()
    assert _rows(first) == _rows(again)
    assert not np.array_equal(a, c)


@pytest.mark.parametrize("bad", [{"size": 33}, {"minutes": 0}, {"window_s": 0.1, "fps": 5.0}, {"window_s": 90.0}])
def test_bad_arguments_raise(tmp_path, bad):
    with pytest.raises(ValueError):
        make_drive_dataset(tmp_path, **{"minutes": 0.1, **bad})


def test_render_is_deterministic_and_sized():
    drive = simulate_drive(0, 1, duration_s=3.0, fps=10.0)
    frames = render_drive(drive, 48)
    assert frames.shape == (30, 48, 48, 3) and frames.dtype == np.uint8
    assert np.array_equal(frames, render_drive(simulate_drive(0, 1, duration_s=3.0, fps=10.0), 48))
