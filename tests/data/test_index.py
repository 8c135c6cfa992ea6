from __future__ import annotations

import json
import os
from pathlib import Path

import av
import pytest

from ssl_video.cli import main
from ssl_video.commands.data import index_main as cli_main
from ssl_video.data.decode import DecodeError, open_video, read_frames
from ssl_video.data.index import (
    CACHE_VERSION,
    VideoProbeError,
    find_videos,
    index_videos,
    probe_video,
    video_candidates,
)
from ssl_video.testing import read_frame_number


def _rel(root, path):
    return os.path.relpath(path, root)


def test_every_good_file_usable_every_broken_one_skipped_with_reason(video_folder, probe_cache, vids):
    index = index_videos(video_candidates(video_folder), cache_path=probe_cache)
    usable = {_rel(video_folder, v.path): v for v in index.usable}
    skipped = {_rel(video_folder, s.path): s.reason for s in index.skipped}
    assert set(usable) == set(vids.GOOD) | set(vids.DAMAGED)
    assert set(skipped) == set(vids.BROKEN)
    for name, reason in vids.BROKEN.items():
        assert skipped[name].startswith(reason), (name, skipped[name])
    for name, written in vids.DAMAGED.items():  # cut at 60 % of its bytes: about half its frames kept
        info = usable.pop(name)
        assert written // 3 < info.frames < written and info.note.startswith("damaged or cut short after frame")
    for name, info in usable.items():
        assert info.frames == vids.NUM_FRAMES and info.note == "", name
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


def test_symlinked_folders_are_followed_once(video_folder, tmp_path):
    root = tmp_path / "footage"
    (root / "more").mkdir(parents=True)
    (root / "linked").symlink_to(video_folder, target_is_directory=True)  # a folder of drives linked in, not copied
    (root / "more" / "again").symlink_to(video_folder, target_is_directory=True)  # the same folder twice
    (root / "more" / "loop").symlink_to(root, target_is_directory=True)
    found = [_rel(root, p) for p in find_videos(root)]
    direct = {_rel(video_folder, p) for p in find_videos(video_folder)}
    assert len(found) == len(set(found)) == len(direct)
    assert {f.removeprefix("linked/") for f in found} == direct


def test_truncated_mp4_with_index_up_front_keeps_the_frames_before_the_cut(tmp_path, vids):
    # moov first (faststart): the index survives the cut, the tail decode notices the missing data, and the
    # frames before the cut stay usable.
    full = _faststart(vids.write_good(tmp_path / "moov_last.mp4", 100, gop=12), tmp_path / "full.mp4")
    vids.cut(full, tmp_path / "cut.mp4", 0.9)
    info = probe_video(tmp_path / "cut.mp4")
    assert 50 < info.frames < 100 and info.duration_s == pytest.approx(info.frames / 10)
    assert info.note.startswith(f"damaged or cut short after frame {info.frames} of the 100 frames its index lists")
    last = read_frames(tmp_path / "cut.mp4", range(info.frames - 8, info.frames), timeout_s=None)
    assert [read_frame_number(f) for f in last] == list(range(info.frames - 8, info.frames))
    assert probe_video(full).frames == 100 and probe_video(full).note == ""
    vids.cut(full, tmp_path / "stub.mp4", 0.05)  # nothing but the index and part of one frame
    with pytest.raises(VideoProbeError, match="truncated|cannot decode first frame"):
        probe_video(tmp_path / "stub.mp4")


def _faststart(source: Path, target: Path) -> Path:
    """``source`` remuxed with its index (moov) before the data, as ``-movflags faststart`` writes it."""
    with av.open(str(source)) as src, av.open(str(target), "w", options={"movflags": "faststart"}) as dst:
        stream = dst.add_stream_from_template(src.streams.video[0])
        for packet in src.demux(src.streams.video[0]):
            if packet.dts is not None:
                packet.stream = stream
                dst.mux(packet)
    data = target.read_bytes()
    assert data.find(b"moov") < data.find(b"mdat")
    return target


def _zero_packet(source, target, k: int) -> tuple[int, int]:
    """Copy ``source`` to ``target`` with the bytes of its k-th packet (decode order) zeroed: damage in the middle
    of a file whose index and tail are intact. -> (frames before the damage, frame index of the damaged packet):
    the frames whose pts come before every pts of packets k, k+1, ... (a frame can only reference frames decoded
    before it)."""
    with av.open(str(source)) as container:
        packets = [(p.pos, p.size, p.pts) for p in container.demux(container.streams.video[0]) if p.size]
    data = bytearray(Path(source).read_bytes())
    pos, size, _ = packets[k]
    data[pos : pos + size] = bytes(size)
    Path(target).write_bytes(bytes(data))
    ordered = sorted(p[2] for p in packets)
    first_unsafe = min(p[2] for p in packets[k:])
    return sum(1 for t in ordered if t < first_unsafe), ordered.index(packets[k][2])


@pytest.mark.parametrize("k", [30, 61])
def test_damage_in_the_middle_keeps_the_frames_before_it(tmp_path, probe_cache, vids, k):
    full = vids.write_good(tmp_path / "full.mp4", 100, gop=10)
    damaged = tmp_path / "damaged.mp4"
    before, broken_frame = _zero_packet(full, damaged, k)
    assert 0 < before < 100
    assert probe_video(damaged).frames == 100  # index and tail intact: only a full decode can see the damage
    info = probe_video(damaged, full_decode=True)
    assert info.frames == before and info.duration_s == pytest.approx(before / 10)
    assert info.note == (f"damaged or cut short after frame {before} of 100: kept the {before} frames "
                         f"({before / 10:.1f} s) before it")
    assert probe_video(full, full_decode=True) == probe_video(full)  # a sound file: the same record either way

    clip = read_frames(damaged, range(max(0, before - 8), before), timeout_s=None)  # the last clip before it
    assert [read_frame_number(f) for f in clip] == list(range(max(0, before - 8), before))
    with open_video(damaged, backend="pyav") as reader, pytest.raises(DecodeError, match=r"damaged\.mp4: frame"):
        reader.get_frames([broken_frame])

    index = index_videos([damaged], cache_path=probe_cache, full_decode=True)
    assert [v.frames for v in index.usable] == [before] and "damaged or cut short" in index.summary()
    later = index_videos([damaged], cache_path=probe_cache)  # a later default scan reuses the full probe
    assert (later.cached, [v.frames for v in later.usable]) == (1, [before])


def test_second_scan_uses_the_cache_and_notices_changes(tmp_path, probe_cache, vids):
    for name in ("a.mp4", "b.mkv"):
        vids.write_good(tmp_path / name, 20, gop=5)
    (tmp_path / "bad.mp4").write_text("text")
    paths = video_candidates(tmp_path)
    first = index_videos(paths, cache_path=probe_cache)
    assert (first.probed, first.cached) == (3, 0)
    assert json.loads(probe_cache.read_text())["version"] == CACHE_VERSION
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
    assert f"usable: {len(vids.GOOD) + len(vids.DAMAGED)} files" in printed and "is a directory" in printed
    assert "of which damaged or cut short, the frames before the damage kept: 1" in printed
    data = json.loads(out.read_text())
    assert len(data["usable"]) == len(vids.GOOD) + len(vids.DAMAGED) and len(data["skipped"]) == len(vids.BROKEN)
    assert {"path", "frames", "fps", "width", "height", "codec"} <= set(data["usable"][0])
    assert set(data["skipped"][0]) == {"path", "reason"}
    assert (tmp_path / "home" / "probe_cache.json").exists()
    assert main(["data", "index", str(tmp_path / "missing")]) == 2  # one line naming the command, the path, the fix
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("ssl-video data index: error: ") and "missing: no such folder or manifest CSV" in line
    assert "give a folder of videos" in line and "Traceback" not in line


def test_cli_on_manifest(video_folder, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("SSL_VIDEO_HOME", str(tmp_path / "home"))
    csv_path = tmp_path / "manifest.csv"
    csv_path.write_text(f"video,label\n{video_folder / 'h264.mp4'},a\n{video_folder / 'empty.mp4'},b\n")
    assert cli_main([str(csv_path), "--no-cache"]) == 0
    printed = capsys.readouterr().out
    assert "usable: 1 files" in printed and "empty file" in printed
    assert not (tmp_path / "home" / "probe_cache.json").exists()


def test_a_file_that_cannot_be_read_is_skipped_with_the_reason_and_not_cached(tmp_path, probe_cache, monkeypatch,
                                                                               capsys, vids):
    """Permission denied on one file: it is listed as skipped with the reason, every other file is still probed, and
    the next scan tries it again. Root reads any file, so av.open and open are made to refuse it."""
    import builtins
    import errno

    folder = tmp_path / "videos"
    good, locked = vids.write_good(folder / "good.mp4"), vids.write_good(folder / "locked.mp4")
    real_av_open, real_open = av.open, builtins.open

    def av_open(file, *args, **kwargs):
        if str(file) == str(locked):  # what PyAV raises on a file it may not read
            raise av.error.PermissionError(errno.EACCES, "Permission denied", str(file))
        return real_av_open(file, *args, **kwargs)

    def py_open(file, *args, **kwargs):
        if str(file) == str(locked):
            raise PermissionError(errno.EACCES, "Permission denied", str(file))
        return real_open(file, *args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(av, "open", av_open)
        patch.setattr(builtins, "open", py_open)
        index = index_videos([good, locked], cache_path=probe_cache)
        monkeypatch.setenv("SSL_VIDEO_HOME", str(tmp_path / "home"))
        assert cli_main([str(folder), "--no-cache"]) == 0
    assert [v.path for v in index.usable] == [str(good)]
    reason = "cannot be read (Permission denied); check its permissions"
    assert [(s.path, s.reason) for s in index.skipped] == [(str(locked), reason)]
    assert f"{locked}: {reason}" in capsys.readouterr().out  # `ssl-video data index` lists it
    again = index_videos([good, locked], cache_path=probe_cache)  # readable now: probed again, not taken from the cache
    assert sorted(v.path for v in again.usable) == [str(good), str(locked)] and again.cached == 1


def test_a_trimmed_copy_with_an_edit_list_counts_and_reads_the_frames_players_show(tmp_path):
    """A copy cut without re-encoding (ffmpeg -ss T -c copy) keeps a lead-in that its edit list drops: the index
    listed it as frames, so frame 0 failed to decode and every time was off by the lead-in."""
    from fractions import Fraction

    import numpy as np

    from ssl_video.data.prepare import PrepareSettings, transcode
    from ssl_video.testing import numbered_frame

    path = tmp_path / "trim.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 96, 64, "yuv420p"
        stream.codec_context.time_base, stream.options = Fraction(1, 10), {"bf": "0", "g": "250"}
        for i in range(40):  # frames 0-4 before time 0: the lead-in the edit list drops
            frame = av.VideoFrame.from_ndarray(numbered_frame(i, 64, 96), format="rgb24")
            frame.pts, frame.time_base = i - 5, Fraction(1, 10)
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    info = probe_video(path)
    assert (info.frames, info.duration_s) == (35, 3.5)
    assert [read_frame_number(f) for f in read_frames(path, [0, 1, 34])] == [5, 6, 39]
    name, frames = transcode(info, tmp_path / "prepared", PrepareSettings(size=32, fps=10.0))
    with av.open(str(tmp_path / "prepared" / name)) as container:
        numbers = [read_frame_number(f.to_ndarray(format="rgb24")) for f in container.decode(video=0)]
    assert frames == 35 and numbers == list(np.arange(5, 40))  # prepared frame j is the original's frame j


def test_a_rotated_phone_video_is_named_in_a_warning(tmp_path, caplog):
    """Frames are read as stored; a file that asks players to rotate it is named, with how to fix it."""
    import numpy as np

    path = tmp_path / "phone.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 32, "yuv420p"
        stream.set_display_rotation(90)
        for _ in range(5):
            container.mux(stream.encode(av.VideoFrame.from_ndarray(np.zeros((32, 64, 3), np.uint8), format="rgb24")))
        container.mux(stream.encode())
    with caplog.at_level("WARNING"):
        probe_video(path)
    assert "phone.mp4: the file asks players to rotate it 90 degrees" in caplog.text
