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
    ("video,start_s,end_s\na.mp4,5,2\n", r"row 2: window"),
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
    assert len(windows) == len(vids.GOOD) and len(index.skipped) == len(vids.BROKEN)
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
