from __future__ import annotations

import json
import os

import pytest

from ssl_video.commands.data import index_main as cli_main
from ssl_video.data.index import VideoProbeError, find_videos, index_videos, probe_video, video_candidates


def _rel(root, path):
    return os.path.relpath(path, root)


def test_every_good_file_usable_every_broken_one_skipped_with_reason(video_folder, probe_cache, vids):
    index = index_videos(video_candidates(video_folder), cache_path=probe_cache)
    usable = {_rel(video_folder, v.path): v for v in index.usable}
    skipped = {_rel(video_folder, s.path): s.reason for s in index.skipped}
    assert set(usable) == set(vids.GOOD)
    assert set(skipped) == set(vids.BROKEN)
    for name, reason in vids.BROKEN.items():
        assert skipped[name].startswith(reason), (name, skipped[name])
    for name, info in usable.items():
        assert info.frames == vids.NUM_FRAMES, name
        assert (info.height, info.width) == ((61, 97) if "97x61" in name else (64, 96)), name
        assert os.path.isabs(info.path)
    assert usable["h264.mp4"].codec == "h264" and usable["hevc.mkv"].codec == "hevc"
    assert usable["h264.mp4"].fps == pytest.approx(10.0)
    assert usable["h264.mp4"].duration_s == pytest.approx(4.0)
    vfr_fps = (vids.NUM_FRAMES - 1) / (vids.VFR_TIMES[-1] - vids.VFR_TIMES[0])
    assert usable["vfr.mkv"].fps == pytest.approx(vfr_fps, rel=0.05)
    assert index.hours() == pytest.approx(sum(v.duration_s for v in index.usable) / 3600)


def test_find_videos_lists_files_only(video_folder):
    found = {_rel(video_folder, p) for p in find_videos(video_folder)}
    assert "folder.mp4" not in found and "sub dir/straße 東京.mp4" in found


def test_truncated_mp4_with_index_up_front(tmp_path, vids):
    # moov first (faststart): the index survives the cut, the tail decode must notice the missing data.
    full = vids.write_good(tmp_path / "full.mp4", 100, gop=12, options={"movflags": "faststart"})
    vids.cut(full, tmp_path / "cut.mp4", 0.9)
    with pytest.raises(VideoProbeError, match="truncated"):
        probe_video(tmp_path / "cut.mp4")
    assert probe_video(full).frames == 100


def test_second_scan_uses_the_cache_and_notices_changes(tmp_path, probe_cache, vids):
    for name in ("a.mp4", "b.mkv"):
        vids.write_good(tmp_path / name, 20, gop=5)
    (tmp_path / "bad.mp4").write_text("text")
    paths = video_candidates(tmp_path)
    first = index_videos(paths, cache_path=probe_cache)
    assert (first.probed, first.cached) == (3, 0)
    assert json.loads(probe_cache.read_text())["version"] == 1
    second = index_videos(paths, cache_path=probe_cache)
    assert (second.probed, second.cached) == (0, 3)
    assert second.to_json() == first.to_json()
    vids.write_good(tmp_path / "a.mp4", 30, gop=5)  # rewritten: new size/mtime -> probed again
    third = index_videos(paths, cache_path=probe_cache)
    assert (third.probed, third.cached) == (1, 2)
    assert third.by_path()[str(tmp_path / "a.mp4")].frames == 30
    uncached = index_videos(paths, cache_path=probe_cache, use_cache=False)
    assert (uncached.probed, uncached.cached) == (3, 0)


def test_min_frames_and_corrupt_cache(tmp_path, probe_cache, vids):
    vids.write_good(tmp_path / "short.mp4", 5)
    probe_cache.write_text("{not json")
    index = index_videos([tmp_path / "short.mp4"], min_frames=8, cache_path=probe_cache)
    assert [s.reason for s in index.skipped] == ["shorter than one clip (5 frames)"]


def test_cli_summary_json_and_exit_codes(video_folder, tmp_path, capsys, monkeypatch, vids):
    monkeypatch.setenv("SSL_VIDEO_HOME", str(tmp_path / "home"))
    out = tmp_path / "out" / "index.json"
    assert cli_main([str(video_folder), "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"usable: {len(vids.GOOD)} files" in printed and "is a directory" in printed
    data = json.loads(out.read_text())
    assert len(data["usable"]) == len(vids.GOOD) and len(data["skipped"]) == len(vids.BROKEN)
    assert {"path", "frames", "fps", "width", "height", "codec"} <= set(data["usable"][0])
    assert set(data["skipped"][0]) == {"path", "reason"}
    assert (tmp_path / "home" / "probe_cache.json").exists()
    assert cli_main([str(tmp_path / "missing")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_cli_on_manifest(video_folder, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("SSL_VIDEO_HOME", str(tmp_path / "home"))
    csv_path = tmp_path / "manifest.csv"
    csv_path.write_text(f"video,label\n{video_folder / 'h264.mp4'},a\n{video_folder / 'empty.mp4'},b\n")
    assert cli_main([str(csv_path), "--no-cache"]) == 0
    printed = capsys.readouterr().out
    assert "usable: 1 files" in printed and "empty file" in printed
    assert not (tmp_path / "home" / "probe_cache.json").exists()
