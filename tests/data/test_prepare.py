"""prepare.py: raw footage -> training-ready copy; frame-exact resampling, short GOP, resumable after kill -9,
shards."""

from __future__ import annotations

import csv
import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import av
import numpy as np
import pytest

from ssl_video.data.decode import packet_table
from ssl_video.data.manifest import load_windows
from ssl_video.data.prepare import PrepareSettings, merge_shards, output_size, prepare_dataset, resample_indices
from ssl_video.data.sampling import clip_frame_indices
from ssl_video.spec import ClipSpec
from ssl_video.testing import read_frame_number, write_numbered_video


def _raw(root: Path, count: int = 3, frames: int = 90) -> Path:
    """``count`` 30 fps numbered videos (96x64, a keyframe every 250 frames) + a broken file + a manifest."""
    root.mkdir(parents=True, exist_ok=True)
    rows = []
    for v in range(count):
        write_numbered_video(root / f"cam_{v}.mp4", frames, fps=30.0, gop=250)
        rows += [{"video": f"cam_{v}.mp4", "start_s": s, "end_s": s + 1.0, "sequence": f"drive_{v}",
                  "speed": 10 * v + s} for s in (0.0, 1.0, 2.0)]
    (root / "broken.mp4").write_bytes(b"\x00" * 2048)
    rows.append({"video": "broken.mp4", "start_s": 0.0, "end_s": 1.0, "sequence": "x", "speed": 1})
    with open(root / "labels.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return root / "labels.csv"


def _rows(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _digests(out: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted([*out.glob("videos/*"), out / "manifest.csv"]) if not p.name.startswith(".")}


def test_resampling_and_sizes():
    assert resample_indices(90, 30.0, 10.0).tolist() == list(range(0, 90, 3))
    # nearest: up-sampling repeats (ties round up)
    assert resample_indices(10, 10.0, 20.0).tolist()[:5] == [0, 1, 1, 2, 2]
    assert output_size(640, 360, 128) == (228, 128) and output_size(360, 640, 128) == (128, 228)


@pytest.mark.parametrize("video_fps, fps", [(30.0, 10.0), (29.97, 10.0), (24.0, 7.5), (10.0, 20.0), (60.0, 0.9375)])
def test_prepared_frames_are_the_frames_a_clip_reads(video_fps, fps):
    """Output frame j of `data prepare` is the source frame a clip starting at j / fps begins with."""
    frames = 600
    keep = resample_indices(frames, video_fps, fps)
    spec = ClipSpec(context=1, future=1, fps=fps, size=(32, 32))
    assert keep.tolist() == [clip_frame_indices(j / fps, spec, video_fps, frames)[0] for j in range(len(keep))]


def test_prepare_is_frame_exact_short_gop_and_keeps_windows(tmp_path):
    manifest = _raw(tmp_path / "raw")
    summary = prepare_dataset(manifest, tmp_path / "out", PrepareSettings(size=32, fps=10.0), num_workers=1,
                              progress=False)
    assert summary == {"videos": 3, "skipped": 1, "windows": 9, "manifest": str(tmp_path / "out" / "manifest.csv")}
    skipped = _rows(tmp_path / "out" / "skipped.csv")
    assert [Path(s["path"]).name for s in skipped] == ["broken.mp4"] and skipped[0]["reason"]
    rows = _rows(tmp_path / "out" / "manifest.csv")
    assert [(r["sequence"], r["start_s"], r["end_s"], r["speed"]) for r in rows[:3]] == [
        ("drive_0", "0.0", "1.0", "0.0"), ("drive_0", "1.0", "2.0", "1.0"), ("drive_0", "2.0", "3.0", "2.0")]
    video = tmp_path / "out" / rows[0]["video"]
    with av.open(str(video)) as container:
        stream = container.streams.video[0]
        assert (stream.codec_context.width, stream.codec_context.height) == (48, 32)
        assert float(stream.average_rate) == 10.0
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(stream)]
    with av.open(str(video)) as container:
        stream = container.streams.video[0]
        _, keys = packet_table(container, stream)
        dts_order = [p.pts for p in container.demux(stream) if p.size]
    assert len(frames) == 30  # 3 s at 10 fps
    assert [read_frame_number(f) for f in frames] == list(range(0, 90, 3))  # frame j = source frame nearest j/10 s
    assert keys[0] == 0 and max(np.diff(keys)) <= 10  # a keyframe every second
    assert dts_order == sorted(dts_order)  # no B-frames: decode order is presentation order


@pytest.mark.slow
def test_kill_9_mid_run_then_rerun_gives_the_uninterrupted_runs_output(tmp_path):
    manifest = _raw(tmp_path / "raw", count=6, frames=600)
    argv = [sys.executable, "-m", "ssl_video.cli", "data", "prepare", str(manifest), None, "--size", "64", "--fps",
            "15", "--workers", "1", "--quiet"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    whole = tmp_path / "whole"
    subprocess.run([*argv[:6], str(whole), *argv[7:]], check=True, env=env, capture_output=True)

    killed = tmp_path / "killed"
    proc = subprocess.Popen([*argv[:6], str(killed), *argv[7:]], env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(list((killed / "videos").glob("*.json"))) < 2:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)  # the worker process too, mid-file
    proc.wait()
    done = len(list((killed / "videos").glob("*.json")))
    assert 2 <= done < 6, done  # killed mid-run
    assert not (killed / "manifest.csv").exists()
    for mp4 in [p for p in (killed / "videos").glob("*.mp4") if not p.name.startswith(".")]:  # final names: whole files
        with av.open(str(mp4)) as container:
            assert sum(1 for _ in container.decode(video=0)) == 300

    subprocess.run([*argv[:6], str(killed), *argv[7:]], check=True, env=env, capture_output=True)
    # The same bytes as the uninterrupted run (libx264 without its AVX-512 code: ssl_video.data.x264) ...
    assert _digests(killed) == _digests(whole)
    assert (killed / "manifest.csv").read_bytes() == (whole / "manifest.csv").read_bytes()
    # ... and so the same frames: every file whole, each output frame the same source frame.
    for mp4 in sorted(p for p in (whole / "videos").glob("*.mp4") if not p.name.startswith(".")):
        numbers = []
        for root in (whole, killed):
            with av.open(str(root / "videos" / mp4.name)) as container:
                numbers.append([read_frame_number(f.to_ndarray(format="rgb24")) for f in container.decode(video=0)])
        assert numbers[0] == numbers[1] and len(numbers[0]) == 300
    assert not [p for p in (killed / "videos").iterdir() if ".tmp" in p.name]


def test_shards_merge_into_the_unsharded_manifest(tmp_path):
    manifest = _raw(tmp_path / "raw")
    settings = PrepareSettings(size=32, fps=10.0)
    prepare_dataset(manifest, tmp_path / "one", settings, num_workers=1, progress=False)
    for shard in (0, 1):
        prepare_dataset(manifest, tmp_path / "two", settings, num_workers=1, num_shards=2, shard_id=shard,
                        progress=False)
    merge_shards(tmp_path / "two")
    key = lambda r: (r["video"], r["start_s"])  # noqa: E731
    assert (sorted(_rows(tmp_path / "two" / "manifest.csv"), key=key)
            == sorted(_rows(tmp_path / "one" / "manifest.csv"), key=key))
    assert len(_rows(tmp_path / "two" / "skipped.csv")) == 1
    assert _digests(tmp_path / "two").keys() - {"manifest.csv"} == _digests(tmp_path / "one").keys() - {"manifest.csv"}
    # a shard probes only its own videos: 4 in the manifest (3 good, 1 broken), 2 per shard
    counts = [len(index.usable) + len(index.skipped) for index in
              (load_windows(manifest, shard=(i, 2))[1] for i in (0, 1))]
    assert counts == [2, 2]


def test_non_square_pixels_are_prepared_as_players_show_them(tmp_path):
    """A 64x64 stream with 2:1 pixels is shown 128x64: the copy has square pixels of that shape."""
    from fractions import Fraction

    from ssl_video.data.index import probe_video
    from ssl_video.data.prepare import transcode

    path = tmp_path / "sar.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 64, "yuv420p"
        stream.codec_context.sample_aspect_ratio = Fraction(2, 1)
        for i in range(10):
            frame = av.VideoFrame.from_ndarray(np.full((64, 64, 3), 20 * i, np.uint8), format="rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    name, _ = transcode(probe_video(str(path)), tmp_path, PrepareSettings(size=32, fps=10.0))
    with av.open(str(tmp_path / name)) as container:
        context = container.streams.video[0].codec_context
        assert (context.width, context.height) == (64, 32) and context.sample_aspect_ratio in (None, 1)


def test_a_damaged_packet_keeps_the_frames_before_it(tmp_path, caplog):
    """One bad packet used to skip the whole file; the copy now ends where the damage starts, with a warning."""
    from ssl_video.data.index import probe_video
    from ssl_video.data.prepare import transcode

    path = tmp_path / "v.mp4"
    write_numbered_video(path, 120, fps=10.0, gop=250)
    with av.open(str(path)) as container:
        starts = [packet.pos for packet in container.demux(container.streams.video[0]) if packet.size]
    data = bytearray(path.read_bytes())
    data[starts[45] + 4 : starts[47]] = np.random.default_rng(0).integers(0, 256, starts[47] - starts[45] - 4,
                                                                          dtype=np.uint8).tobytes()
    path.write_bytes(bytes(data))
    with caplog.at_level("WARNING"):
        name, frames = transcode(probe_video(str(path)), tmp_path / "out", PrepareSettings(size=32, fps=10.0))
    assert 30 <= frames < 120 and "decoding stopped at frame" in caplog.text
    with av.open(str(tmp_path / "out" / name)) as container:
        numbers = [read_frame_number(f.to_ndarray(format="rgb24")) for f in container.decode(video=0)]
    assert numbers == list(range(frames))  # the frames before the damage, none held or frozen
