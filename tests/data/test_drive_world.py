import csv
import dataclasses

import av
import numpy as np
import pytest

from ssl_video.data.decode import packet_table
from ssl_video.data.drive_world import KEYFRAME_S, LABEL_COLUMNS, make_drive_dataset, render_drive, simulate_drive
from ssl_video.data.drive_world.labels import window_labels
from ssl_video.data.drive_world.render import CAMERA_HEIGHT, DASH_LENGTH, DASH_PERIOD, camera, render_frames
from ssl_video.data.drive_world.simulate import ROAD_STEP


def _rows(csv_path):
    with open(csv_path, newline="") as handle:
        return list(csv.DictReader(handle))


def _decode(path):
    with av.open(str(path)) as container:
        container.streams.video[0].codec_context.thread_count = 1  # as the library decodes
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


def test_videos_have_a_keyframe_every_two_seconds(drive_data):
    # like dash cameras: a random clip seeks to a keyframe at most 2 s back (libx264's default is 250 frames);
    # 20 = 2 s at the fixture's 10 fps, so a change of KEYFRAME_S is a deliberate one
    with av.open(str(drive_data / "drive_000.mp4")) as container:
        stream = container.streams.video[0]
        fps = float(stream.average_rate)
        _, keys = packet_table(container, stream)  # keyframe positions in presentation order
    assert keys[0] == 0
    assert max(np.diff(keys)) <= round(KEYFRAME_S * fps) == 20


def test_windows_never_cross_drives(drive_data):
    rows = _rows(drive_data / "labels.csv")
    for row in rows:
        assert row["sequence"] + ".mp4" == row["video"]
        assert 0.0 <= float(row["start_s"]) < float(row["end_s"]) <= 20.0
        assert float(row["end_s"]) - float(row["start_s"]) == pytest.approx(2.0)


def test_same_seed_same_frames_different_seed_differs(tmp_path):
    # 64 px, 12 s drives: where libx264's AVX-512 code encoded 3 of 5 drives of seed 3 differently between two renders
    kwargs = dict(minutes=0.6, size=64, drive_s=12.0)
    first = make_drive_dataset(tmp_path / "a", seed=3, **kwargs)
    again = make_drive_dataset(tmp_path / "b", seed=3, **kwargs)
    other = make_drive_dataset(tmp_path / "c", seed=4, **kwargs)
    # layer by layer, so a failure says which one is not deterministic: simulation + rendering, then encoding
    assert np.array_equal(render_drive(simulate_drive(3, 1, duration_s=12.0, fps=10.0), 64),
                          render_drive(simulate_drive(3, 1, duration_s=12.0, fps=10.0), 64)), "rendering differs"
    for name in ("drive_000.mp4", "drive_001.mp4", "drive_002.mp4"):
        assert (first.parent / name).read_bytes() == (again.parent / name).read_bytes(), \
            f"{name}: same frames, different mp4 bytes: the encoder is not deterministic"
    assert _rows(first) == _rows(again)
    assert not np.array_equal(_decode(first.parent / "drive_000.mp4"), _decode(other.parent / "drive_000.mp4"))


@pytest.mark.parametrize("bad", [{"size": 33}, {"minutes": 0}, {"window_s": 0.1, "fps": 5.0}, {"window_s": 90.0}])
def test_bad_arguments_raise(tmp_path, bad):
    with pytest.raises(ValueError):
        make_drive_dataset(tmp_path, **{"minutes": 0.1, **bad})


def test_render_is_deterministic_and_sized():
    drive = simulate_drive(0, 1, duration_s=3.0, fps=10.0)
    frames = render_drive(drive, 48)
    assert frames.shape == (30, 48, 48, 3) and frames.dtype == np.uint8
    assert np.array_equal(frames, render_drive(simulate_drive(0, 1, duration_s=3.0, fps=10.0), 48))


def test_manifest_reader_and_index_accept_the_dataset(drive_data, tmp_path):
    from ssl_video.data.index import index_videos
    from ssl_video.data.manifest import read_manifest

    windows = read_manifest(drive_data / "labels.csv")
    assert len(windows) == 80 and len({w.sequence for w in windows}) == 8
    assert all(w.video.endswith(".mp4") and (drive_data / w.video).exists() for w in windows)
    assert isinstance(windows[0].labels["speed_kmh"], float)
    assert set(windows[0].labels) == set(LABEL_COLUMNS)
    index = index_videos(sorted(drive_data.glob("*.mp4")), cache_path=tmp_path / "cache.json")
    assert len(index.usable) == 8 and not index.skipped
    assert {(v.width, v.height, v.frames) for v in index.usable} == {(64, 64, 200)}


def _straight_drive(speed_ms: float, fps: float = 10.0):
    """A drive on a flat straight road at constant speed, ego in the left lane, no shake, no traffic."""
    drive = simulate_drive(0, 0, duration_s=4.0, fps=fps)
    n = len(drive.s)
    zeros = np.zeros_like(drive.road_k)
    return dataclasses.replace(
        drive, s=100.0 + speed_ms * np.arange(n) / fps, v=np.full(n, speed_ms), x=np.zeros(n), x_lane=np.zeros(n),
        yaw=np.zeros(n), pitch_px=np.zeros(n), yaw_px=np.zeros(n), road_k=zeros, road_theta=zeros,
        road_theta_int=zeros, road_e=zeros, road_de=zeros, veh_s=drive.veh_s - 1e5,
        appearance=dataclasses.replace(drive.appearance, time_of_day="day", weather="clear", fog_m=400.0),
    )


def test_dashes_move_as_the_camera_model_predicts_at_the_labelled_speed():
    size, speed = 256, 20.0
    drive = _straight_drive(speed)
    labels = window_labels(drive, 0, 20)
    assert labels["speed_kmh"] == pytest.approx(72.0) and labels["speed_bucket"] == "fast"
    f, cx, cy = camera(size, size)
    rows = np.arange(int(cy + f * CAMERA_HEIGHT / 20.0), int(cy + f * CAMERA_HEIGHT / 4.5))  # road 4.5..20 m ahead
    z = f * CAMERA_HEIGHT / (rows + 0.5 - cy)
    cols = (cx + f * 1.75 / z).astype(int)  # the dashed line between our two lanes
    frames = render_frames(drive, size, size, 0, 2).astype(float).mean(axis=-1)
    edges = []
    for k in range(2):
        paint = frames[k, rows, cols] > 150
        measured = rows[1:][paint[1:] != paint[:-1]]  # rows where a dash starts or ends
        ahead = drive.s[k] + z  # the dash pattern is a function of road distance
        dash = (ahead % DASH_PERIOD) < DASH_LENGTH
        predicted = rows[1:][dash[1:] != dash[:-1]]
        assert len(measured) >= 2 and len(measured) == len(predicted)
        assert np.abs(measured - predicted).max() <= 1
        edges.append(measured)
    # From the pixels alone: an edge at distance z (row cy + f h / z) is at z - v / fps one frame later.
    z0 = f * CAMERA_HEIGHT / (edges[0] - cy)
    moved = cy + f * CAMERA_HEIGHT / (z0 - speed / drive.fps)
    moved = moved[moved < size]
    assert len(moved) >= 1
    assert np.abs(moved[:, None] - edges[1][None, :]).min(axis=1).max() <= 1.5
    assert np.abs(moved - edges[0][: len(moved)]).max() > 3  # the dashes did move (several pixels per frame)


def test_lane_change_is_the_lateral_lane_move_during_the_window():
    drive = _straight_drive(20.0)
    move = np.clip((np.arange(len(drive.s)) - 5) / 10, 0, 1) * 3.5  # left lane -> right lane over frames 5..15
    for x_lane, expected in ((np.zeros_like(move), "none"), (move, "right"), (3.5 - move, "left")):
        assert window_labels(dataclasses.replace(drive, x_lane=x_lane), 0, 20)["lane_change"] == expected
    assert window_labels(dataclasses.replace(drive, x_lane=move), 20, 40)["lane_change"] == "none"  # already moved


def _skyline_shift(before: np.ndarray, after: np.ndarray, band: slice, search: int = 30) -> int:
    """Horizontal shift (pixels, + = rightwards) that best maps the sky band of ``before`` onto ``after``."""
    a, b = (frame[band].astype(float).mean(axis=(0, 2)) for frame in (before, after))
    errors = {d: np.abs(a[search - d : len(a) - search - d] - b[search : len(b) - search]).mean()
              for d in range(-search, search + 1)}
    return min(errors, key=errors.get)


def test_distant_hills_pan_at_the_turn_rate_of_the_road():
    # In a right-hand bend of 300 m radius at 20 m/s the road under the car turns by v / R = 3.8 degrees
    # per second, and the distant hills (fixed to world directions) slide left
    # across the image by f * v / (R * fps) pixels per frame, while the road ahead stays in front of the car.
    size, speed, radius = 256, 20.0, 300.0
    drive = _straight_drive(speed)
    grid = np.arange(len(drive.road_k)) * ROAD_STEP
    drive = dataclasses.replace(
        drive, road_k=np.full_like(grid, 1 / radius), road_theta=grid / radius, road_theta_int=grid**2 / (2 * radius),
        obj_s=drive.obj_s + 1e6,  # no trees or poles in front of the hills
    )
    f, _, cy = camera(size, size)
    frames = render_frames(drive, size, size, 0, 11)
    band = slice(int(cy - f * 0.03), int(cy) - 1)  # just above the horizon: hills, no road
    assert frames[0, band].std() > 5  # there is a skyline to see
    for lag in (5, 10):
        expected = -f * speed * lag / (radius * drive.fps)  # -11.5 and -23 px
        assert abs(_skyline_shift(frames[0], frames[lag], band) - expected) <= 1.5
    still = dataclasses.replace(drive, road_k=drive.road_k * 0, road_theta=drive.road_theta * 0,
                                road_theta_int=drive.road_theta_int * 0)
    assert _skyline_shift(*render_frames(still, size, size, 0, 11)[[0, 10]], band) == 0


def test_cli_writes_dataset_counts_and_preview(tmp_path, capsys):
    import matplotlib.pyplot as plt

    from ssl_video.commands.data import make_drive_main as cli_main

    argv = [str(tmp_path / "out"), "--minutes", "0.2", "--drive-s", "6", "--size", "32", "--fps", "5",
            "--window-s", "1.5"]
    assert cli_main([*argv, "--quiet", "--preview", str(tmp_path / "grid.png")]) == 0
    out = capsys.readouterr().out
    assert "speed_bucket" in out and "6 windows" in out  # 2 drives x 3 windows of 8 frames (1.5 s rounded to frames)
    assert plt.imread(tmp_path / "grid.png").shape[:2] == (6 * 32, 4 * 32)
    assert cli_main([*argv, "--quiet", "--width", "56", "--preview", str(tmp_path / "wide.png")]) == 0
    assert plt.imread(tmp_path / "wide.png").shape[:2] == (6 * 32, 4 * 56)  # the frames the dataset has
    with pytest.raises(SystemExit):
        cli_main([str(tmp_path / "bad"), "--size", "31"])


def test_another_camera_and_a_wide_frame_show_the_same_drive_differently(tmp_path):
    """--width and --camera: the same simulated drive (same labels) seen by another dash cam, at 16:9."""
    from ssl_video.commands.data import make_drive_main as cli_main
    from ssl_video.data.drive_world import Camera

    drive = simulate_drive(3, 0, duration_s=2.0, fps=10.0)
    low, high = (render_frames(drive, 48, 80, 0, 1, Camera(horizon=h))[0].astype(float) for h in (0.35, 0.6))
    assert low.shape == (48, 80, 3)
    road = lambda img: (np.abs(img[..., 0] - img[..., 2]) < 12).mean(axis=1)  # noqa: E731 grey rows (road) per row
    assert road(high)[:25].mean() < road(low)[:25].mean()  # a lower horizon: less road in the top half
    out = tmp_path / "wide"
    assert cli_main([str(out), "--minutes", "0.1", "--drive-s", "6", "--size", "32", "--width", "56", "--fps", "15",
                     "--camera", "0.6", "0.5", "1.9", "--seed", "3", "--quiet"]) == 0
    frames = _decode(out / "drive_000.mp4")
    assert frames.shape[1:] == (32, 56, 3) and len(frames) == 90
    assert [r["speed_bucket"] for r in _rows(out / "labels.csv")] == [
        r["speed_bucket"] for r in _rows(make_drive_dataset(tmp_path / "square", minutes=0.1, drive_s=6, size=32,
                                                            fps=15, seed=3))]  # labels do not depend on the camera
    with pytest.raises(SystemExit):
        cli_main([str(tmp_path / "bad"), "--camera", "0.9", "1.5", "1.4", "--quiet"])


def test_x264_leaves_out_avx512_only_on_cpus_that_have_it():
    from ssl_video.data.x264 import deterministic_x264_params

    avx512 = "processor : 0\nflags : fpu sse sse2 pni ssse3 sse4_1 sse4_2 avx avx2 fma bmi1 bmi2 abm avx512f avx512bw\n"
    params = deterministic_x264_params(avx512)["x264-params"]
    assert params == "asm=MMX2,SSE,SSE2,SSE3,SSSE3,SSE4.1,SSE4.2,LZCNT,AVX,FMA3,BMI1,BMI2,AVX2"
    assert deterministic_x264_params(avx512.replace(" avx512f avx512bw", "")) == {}  # libx264 detects by itself
    assert "AVX2" not in deterministic_x264_params(avx512.replace(" avx2", ""))["x264-params"]
