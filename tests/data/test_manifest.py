from __future__ import annotations

import os

import pytest

from ssl_video.data.manifest import ClipWindow, load_windows, read_manifest


def test_read_manifest_paths_windows_and_labels(tmp_path):
    other = tmp_path / "elsewhere" / "b.mp4"
    (tmp_path / "m").mkdir()
    csv_path = tmp_path / "m" / "labels.csv"
    csv_path.write_text(
        "video,start_s,end_s,sequence,speed,weather,code\n"
        "clips/a.mp4,1.5,4,drive1,3.5,rain,7\n"
        f"{other},,,,12,sun,x9\n"
        "clips/a.mp4,4,,drive1,,rain,8\n"
    )
    windows = read_manifest(csv_path)
    a = str(tmp_path / "m" / "clips" / "a.mp4")
    assert windows[0] == ClipWindow(video=a, start_s=1.5, end_s=4.0, sequence="drive1",
                                    labels={"speed": 3.5, "weather": "rain", "code": "7"})
    assert windows[1].video == str(other) and windows[1].sequence == str(other)
    assert (windows[1].start_s, windows[1].end_s) == (0.0, None)
    assert windows[1].labels == {"speed": 12.0, "weather": "sun", "code": "x9"}
    assert windows[2].labels == {"weather": "rain", "code": "8"}  # empty cell: no label
    assert all(os.path.isabs(w.video) for w in windows)


@pytest.mark.parametrize(("text", "match"), [
    ("path,label\na.mp4,1\n", r"bad\.csv.*no `video` column"),
    ("video,start_s\na.mp4,1\nb.mp4,soon\n", r"bad\.csv: row 3, column 'start_s': 'soon' is not a number"),
    ("video,end_s\na.mp4,nan\n", r"row 2, column 'end_s'"),
    ("video,start_s,end_s\na.mp4,5,2\n", r"bad\.csv: row 2: start_s=5 is not before end_s=2"),
    ("video,start_s,end_s\na.mp4,0,1\na.mp4,2,2\n", r"bad\.csv: row 3: start_s=2 is not before end_s=2"),
    ("video,start_s\na.mp4,-1\n", r"bad\.csv: row 2, column 'start_s': -1 is negative"),
    ("video,weather\na.mp4,rain\nb.mp4,sun\na.mp4,sun\n", r"bad\.csv: row 4 repeats the window of row 2 with other"),
    ("video,label\n,1\n", r"row 2, column 'video': empty path"),
])
def test_read_manifest_errors_name_file_row_column(tmp_path, text, match):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(ValueError, match=match):
        read_manifest(path)


def test_load_windows_from_folder_and_csv(video_folder, vids, tmp_path):
    cache = tmp_path / "cache.json"
    windows, index = load_windows(video_folder, cache_path=cache)
    assert len(windows) == len(vids.GOOD) + len(vids.DAMAGED) and len(index.skipped) == len(vids.BROKEN)
    assert all(w.sequence == w.video and w.end_s is None for w in windows)

    csv_path = tmp_path / "labels.csv"
    csv_path.write_text(f"video,turn\n{video_folder / 'h264.mp4'},left\n{video_folder / 'notes.mp4'},right\n"
                        f"{video_folder / 'vp9.webm'},right\n")
    windows, index = load_windows(csv_path, cache_path=cache)
    assert [os.path.basename(w.video) for w in windows] == ["h264.mp4", "vp9.webm"]
    assert [s.reason for s in index.skipped] == ["not a video (text file)"]
    assert index.cached == 3  # every file was probed by the folder scan above
    with pytest.raises(FileNotFoundError, match="missing"):
        load_windows(tmp_path / "missing")


def _tiny_mp4(vids, path, frames=40):
    """A real 4 s mp4 (40 frames at 10 fps)."""
    return vids.write_good(path, frames, gop=10)


def test_bom_semicolons_and_decimal_commas(tmp_path, vids):
    _tiny_mp4(vids, tmp_path / "a.mp4")
    (tmp_path / "excel.csv").write_text("\ufeffvideo;start_s;end_s;speed;weather\r\na.mp4;0;1,5;3,5;rain\r\n"
                                        ";;;;\r\n;;;;\r\n", encoding="utf-8")  # and the blank rows Excel saves
    (tmp_path / "tabs.csv").write_text("video\tstart_s\tend_s\tspeed\tweather\na.mp4\t0\t1.5\t3.5\train\n")
    for name in ("excel.csv", "tabs.csv"):
        (window,) = read_manifest(tmp_path / name)
        assert (window.video, window.start_s, window.end_s) == (str(tmp_path / "a.mp4"), 0.0, 1.5), name
        assert window.labels == {"speed": 3.5, "weather": "rain"}, name
        assert window.row == 2


def test_nan_labels_are_missing_labels_counted_in_one_line(tmp_path, caplog):
    path = tmp_path / "labels.csv"
    path.write_text("video,speed,weather,lane_change\na.mp4,1,rain,none\nb.mp4,NaN,nan,left\nc.mp4,nan,sun,none\n")
    with caplog.at_level("WARNING", logger="ssl_video.data.manifest"):
        windows = read_manifest(path)
    assert [w.labels for w in windows] == [{"speed": 1.0, "weather": "rain", "lane_change": "none"},
                                           {"lane_change": "left"}, {"weather": "sun", "lane_change": "none"}]
    lines = [r.getMessage() for r in caplog.records]
    assert any("column 'speed': 2 'nan' cell(s) read as missing labels, rows 3, 4" in line for line in lines)
    assert any("column 'weather': 1 'nan' cell(s) read as missing labels, rows 3" in line for line in lines)
    assert len(lines) == 2  # one line per column, and `none` stays a class


def test_duplicate_rows_are_read_once_and_counted(tmp_path, caplog):
    path = tmp_path / "labels.csv"
    path.write_text("video,start_s,end_s,weather\na.mp4,0,2,rain\na.mp4,0,2,rain\na.mp4,2,4,rain\n"
                    "a.mp4,0,2,rain\n")
    with caplog.at_level("WARNING", logger="ssl_video.data.manifest"):
        windows = read_manifest(path)
    assert [(w.start_s, w.row) for w in windows] == [(0.0, 2), (2.0, 4)]
    (line,) = [r.getMessage() for r in caplog.records]
    assert "skipped 2 duplicate row(s)" in line and "rows 3, 5" in line


def test_windows_past_the_end_of_the_video_are_skipped_with_their_rows(tmp_path, vids, caplog):
    _tiny_mp4(vids, tmp_path / "a.mp4")  # 4.0 s
    path = tmp_path / "labels.csv"
    path.write_text("video,start_s,end_s\na.mp4,0,2\na.mp4,2,4\na.mp4,3,6\na.mp4,4.5,\na.mp4,1,\n")
    with caplog.at_level("WARNING", logger="ssl_video.data.manifest"):
        windows, index = load_windows(path, cache_path=tmp_path / "cache.json")
    assert [(w.start_s, w.end_s) for w in windows] == [(0.0, 2.0), (2.0, 4.0), (1.0, None)]
    (line,) = [r.getMessage() for r in caplog.records if "past the end" in r.getMessage()]
    assert "skipped 2 window(s)" in line
    assert "row 4: 3-6 s of a.mp4 (4.00 s long)" in line and "row 5: 4.5-end s of a.mp4" in line


def test_paths_with_spaces_commas_and_non_ascii(tmp_path, vids):
    video = _tiny_mp4(vids, tmp_path / "drives 2024" / "straße, 東京 #1.mp4")
    path = tmp_path / "labels.csv"
    path.write_text('video,weather\n"drives 2024/straße, 東京 #1.mp4",rain\n" drives 2024/straße, 東京 #1.mp4 ",sun\n',
                    encoding="utf-8")
    with pytest.raises(ValueError, match="row 3 repeats the window of row 2 with other labels"):
        read_manifest(path)  # surrounding spaces are not part of a path: the same video, twice
    path.write_text('video,start_s,weather\n"drives 2024/straße, 東京 #1.mp4",0,rain\n'
                    f'"{video}",1,sun\n', encoding="utf-8")
    windows, index = load_windows(path, cache_path=tmp_path / "cache.json")
    assert [w.video for w in windows] == [str(video)] * 2 and [w.labels["weather"] for w in windows] == ["rain", "sun"]
    assert [v.path for v in index.usable] == [str(video)] and not index.skipped


def test_a_bad_row_is_one_line_from_the_command(tmp_path, capsys):
    from ssl_video.cli import main

    path = tmp_path / "labels.csv"
    path.write_text("video,start_s,end_s\na.mp4,0,2\na.mp4,3,1\n")
    assert main(["data", "index", str(path)]) == 2
    captured = capsys.readouterr()
    (line,) = captured.err.splitlines()
    assert "error: " in line and "labels.csv: row 3: start_s=3 is not before end_s=1" in line
    assert captured.out == ""
