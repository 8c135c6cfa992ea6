import csv
from dataclasses import dataclass, field

import numpy as np
import pytest

from ssl_video.data.windows import sliding_windows
from ssl_video.engine import contact_sheet, ranking


@dataclass(frozen=True)
class Window:  # the fields of ssl_video.data.manifest.ClipWindow that the engine uses
    video: str
    start_s: float = 0.0
    end_s: float | None = None
    sequence: str = ""
    labels: dict = field(default_factory=dict)


def test_sliding_windows_cover_each_video_without_crossing_it():
    windows = [Window("/v/a.mp4", sequence="a"), Window("/v/b.mp4", 1.0, 4.0, "b"), Window("/v/c.mp4", sequence="c")]
    out = sliding_windows(windows, {"/v/a.mp4": 10.0, "/v/c.mp4": 1.5}, window_s=2.0)
    a = [(w.start_s, w.end_s) for w in out if w.video == "/v/a.mp4"]
    assert a == [(0.0, 2.0), (2.0, 4.0), (4.0, 6.0), (6.0, 8.0), (8.0, 10.0)]
    assert [(w.start_s, w.end_s) for w in out if w.video == "/v/b.mp4"] == [(1.0, 3.0)]
    assert [(w.start_s, w.end_s) for w in out if w.video == "/v/c.mp4"] == [(0.0, 1.5)]  # short video kept whole
    assert all(w.sequence for w in out)
    overlapping = sliding_windows(windows[:1], {"/v/a.mp4": 4.0}, window_s=2.0, stride_s=1.0)
    assert [w.start_s for w in overlapping] == [0.0, 1.0, 2.0]
    with pytest.raises(ValueError, match="window_s"):
        sliding_windows(windows, {}, window_s=0)
    with pytest.raises(ValueError, match="no duration"):
        sliding_windows([Window("/v/x.mp4")], {}, window_s=1.0)


def test_write_ranking_is_a_manifest(tmp_path):
    windows = [Window(str(tmp_path / "a.mp4"), 2.0, 4.0, "a"), Window(str(tmp_path / "b.mp4"), 10800.25, None, "")]
    path = ranking.write_ranking(tmp_path / "out" / "ranking.csv", windows, [3.5, 1.25], ["surprise z=3.5", "x"],
                                 extra={"rank": [1, 2]})
    rows = list(csv.DictReader(path.open()))
    assert list(rows[0]) == ["video", "start_s", "end_s", "sequence", "score", "reason", "rank"]
    assert rows[0]["video"] == str(tmp_path / "a.mp4") and rows[0]["end_s"] == "4" and rows[0]["score"] == "3.5"
    assert rows[1]["end_s"] == "" and rows[1]["sequence"] == str(tmp_path / "b.mp4")
    assert rows[1]["start_s"] == "10800.25"  # times are never rounded like scores (6 digits would give 10800.2)
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".")]  # no temporary file left behind
    with pytest.raises(ValueError, match="differ in length"):
        ranking.write_ranking(tmp_path / "r.csv", windows, [1.0], ["a", "b"])


def test_contact_sheet_writes_a_png(tmp_path):
    rng = np.random.default_rng(0)
    clips = [rng.integers(0, 255, size=(16, 24, 32, 3), dtype=np.uint8) for _ in range(3)]
    assert contact_sheet.pick_frames(clips[0], 4).shape == (4, 24, 32, 3)
    path = contact_sheet.contact_sheet(clips, ["a", "b", "c"], tmp_path / "sheet.png", title="top")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    from PIL import Image

    assert Image.open(path).size[1] >= 3 * 96  # three rows of frames enlarged to >= 96 px
    with pytest.raises(ValueError, match="captions"):
        contact_sheet.contact_sheet(clips, ["a"], tmp_path / "x.png")
