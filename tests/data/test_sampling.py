from __future__ import annotations

import numpy as np
import pytest
import torch

from ssl_video.data.index import VideoInfo
from ssl_video.data.manifest import ClipWindow
from ssl_video.data.sampling import clip_fits, clip_frame_indices, eval_clip_start, random_clip_start, window_range
from ssl_video.spec import ClipSpec


def _info(frames, fps):
    return VideoInfo(path="/v.mp4", frames=frames, fps=fps, duration_s=frames / fps, width=96, height=64,
                     codec="h264", size_bytes=1, mtime=0.0)


def test_clip_spec():
    spec = ClipSpec(context=6, future=2, fps=4.0, size=[32, 48])
    assert spec.num_frames == 8 and spec.duration_s == 2.0 and spec.span_s == 1.75 and spec.size == (32, 48)
    for bad in (dict(context=0), dict(fps=0.0), dict(size=(0, 4)), dict(future=-1)):
        with pytest.raises(ValueError):
            ClipSpec(**bad)


def test_30_and_10_fps_files_cover_the_same_seconds():
    spec = ClipSpec(context=4, future=4, fps=10.0)
    fast = clip_frame_indices(1.0, spec, 30.0, 300)
    slow = clip_frame_indices(1.0, spec, 10.0, 100)
    assert fast.tolist() == list(range(30, 54, 3)) and slow.tolist() == list(range(10, 18))
    np.testing.assert_allclose(fast / 30.0, slow / 10.0)
    # Non-integer ratio: nearest source frame of 25 fps for times 0, 0.1, ...: 0, 2.5->3 (half up), 5, 7.5->8
    assert clip_frame_indices(0.0, spec, 25.0, 100)[:4].tolist() == [0, 3, 5, 8]
    # Slower file than the target fps repeats frames; indices past the end are clipped.
    assert clip_frame_indices(0.0, spec, 5.0, 100)[:4].tolist() == [0, 1, 1, 2]
    assert clip_frame_indices(0.0, spec, 10.0, 5).tolist() == [0, 1, 2, 3, 4, 4, 4, 4]


def test_random_start_inside_window_reproducible_no_global_rng():
    spec = ClipSpec(context=4, future=4, fps=10.0)
    info = _info(300, 30.0)  # 10 s
    window = ClipWindow(video="/v.mp4", start_s=2.0, end_s=5.0)
    state = torch.get_rng_state()
    starts = [random_clip_start(window, info, spec, torch.Generator().manual_seed(s)) for s in range(200)]
    assert torch.equal(torch.get_rng_state(), state)
    assert min(starts) >= 2.0 and max(starts) <= 5.0 - 1 / 30 - spec.span_s + 1e-9
    assert max(starts) - min(starts) > 0.8 * (3.0 - 1 / 30 - spec.span_s)  # spread over the room
    for s in starts[:20]:
        idx = clip_frame_indices(s, spec, info.fps, info.frames)
        assert idx.min() >= 60 and idx.max() < 150  # frames inside [2 s, 5 s)
    again = random_clip_start(window, info, spec, torch.Generator().manual_seed(3))
    assert again == starts[3]


def test_eval_start_centred_and_spaced():
    spec = ClipSpec(context=4, future=4, fps=10.0)
    info = _info(100, 10.0)  # last frame at 9.9 s
    whole = ClipWindow(video="/v.mp4")
    first, last = window_range(whole, info)
    assert (first, last) == (0.0, pytest.approx(9.9))
    centre = eval_clip_start(whole, info, spec)
    assert centre == pytest.approx((9.9 - spec.span_s) / 2)
    spaced = [eval_clip_start(whole, info, spec, i, 3) for i in range(3)]
    assert spaced[0] < spaced[1] < spaced[2] <= 9.9 - spec.span_s
    assert spaced[1] == pytest.approx(centre)
    assert eval_clip_start(whole, info, spec) == centre  # deterministic


def test_short_window_clamped_and_reported():
    spec = ClipSpec(context=8, future=8, fps=10.0)  # 1.5 s span
    info = _info(12, 10.0)  # 1.1 s of frames
    window = ClipWindow(video="/v.mp4")
    assert not clip_fits(window, info, spec)
    assert clip_fits(ClipWindow(video="/v.mp4"), _info(16, 10.0), spec)
    assert random_clip_start(window, info, spec, torch.Generator().manual_seed(0)) == 0.0
    assert eval_clip_start(window, info, spec) == 0.0
    assert clip_frame_indices(0.0, spec, info.fps, info.frames)[-5:].tolist() == [11] * 5
