from __future__ import annotations

import pytest

from ssl_video.data.datasets import ClipDataset
from ssl_video.data.windows import load_sliding_windows
from ssl_video.errors import UserError
from ssl_video.spec import ClipSpec
from ssl_video.testing import write_numbered_video


@pytest.mark.parametrize("fps", [5.0, 9.99, 30.0])
def test_a_folder_is_cut_into_windows_that_each_hold_a_clip_whatever_the_video_fps(tmp_path, monkeypatch, fps):
    """A video slower than the clip's 10 fps used to give windows one clip long (0.8 s), none of which fits 8 of its
    frames: every window was dropped as too short."""
    monkeypatch.setenv("SSL_VIDEO_HOME", str(tmp_path / "home"))
    folder = tmp_path / "videos"
    folder.mkdir()
    write_numbered_video(folder / "drive.mp4", int(6 * fps), fps=fps)
    spec = ClipSpec(context=4, future=4, fps=10.0, size=(32, 48))
    windows, infos = load_sliding_windows(folder, window_s=None, stride_s=None, spec=spec)
    dataset = ClipDataset(windows, infos, spec, mode="eval")
    assert dataset.num_short <= 1 and len(dataset) >= 5  # only a tail shorter than a clip is left out
    assert all(w.end_s - w.start_s >= spec.duration_s - 1e-6 for w in dataset.windows)
    if fps >= spec.fps:  # as fast as the clip or faster: windows stay one clip long
        assert windows[1].start_s == pytest.approx(spec.duration_s)


def test_stride_without_window_on_a_manifest_is_refused(tmp_path):
    manifest = tmp_path / "labels.csv"
    manifest.write_text("video\ndrive.mp4\n")
    with pytest.raises(UserError, match="--window-s too"):
        load_sliding_windows(manifest, window_s=None, stride_s=0.5, spec=ClipSpec(context=4, future=4, fps=10.0,
                                                                                  size=(32, 32)))
