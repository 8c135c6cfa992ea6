"""_io.py: atomic writes leave the old file or the new one, never a half one, and nothing else behind."""

from __future__ import annotations

import json
import os
import stat

import pytest

from ssl_video._io import atomic_path, atomic_write_json, csv_text, write_csv


def test_atomic_path_replaces_on_success_and_keeps_the_old_file_on_error(tmp_path):
    path = tmp_path / "sub" / "features.npy"
    with atomic_path(path) as tmp:
        assert tmp.parent == path.parent and tmp.suffix == ".npy" and not tmp.exists()
        tmp.write_bytes(b"first")
    assert path.read_bytes() == b"first"
    with pytest.raises(RuntimeError), atomic_path(path) as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("killed mid-write")
    assert path.read_bytes() == b"first"
    assert sorted(p.name for p in path.parent.iterdir()) == ["features.npy"]


def test_written_files_follow_the_umask_not_owner_only(tmp_path):
    old = os.umask(0o022)
    try:
        path = atomic_write_json(tmp_path / "report.json", {"a": 1.5})
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert path.read_text() == '{\n  "a": 1.5\n}\n' and json.loads(path.read_text()) == {"a": 1.5}


def test_csv_rows_under_a_fixed_header_with_a_float_format(tmp_path):
    rows = [{"video": "a.mp4", "score": 1 / 3, "extra": "dropped"}, {"video": "b.mp4"}]
    assert csv_text(["video", "score"], rows) == f"video,score\na.mp4,{1 / 3}\nb.mp4,\n"
    path = write_csv(tmp_path / "ranking.csv", ["video", "score"], rows, float_format=".6g")
    assert path.read_text() == "video,score\na.mp4,0.333333\nb.mp4,\n"
