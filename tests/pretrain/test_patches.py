from __future__ import annotations

import pytest
import torch

from ssl_video.pretrain.patches import future_split, gather_tokens, patchify, unpatchify


def test_patchify_matches_a_loop_over_tubelets_and_round_trips():
    video = torch.randn(2, 3, 4, 8, 12)
    patches = patchify(video, (2, 4, 4))
    assert patches.shape == (2, 2 * 2 * 3, 2 * 4 * 4 * 3)
    n = 0
    for t in range(2):
        for h in range(2):
            for w in range(3):
                cube = video[:, :, 2 * t : 2 * t + 2, 4 * h : 4 * h + 4, 4 * w : 4 * w + 4]  # (B, C, tt, ph, pw)
                torch.testing.assert_close(patches[:, n], cube.permute(0, 2, 3, 4, 1).reshape(2, -1))
                n += 1
    torch.testing.assert_close(unpatchify(patches, (2, 4, 4), (2, 2, 3), 3), video)


def test_patchify_rejects_indivisible_clip():
    with pytest.raises(ValueError, match="not divisible"):
        patchify(torch.randn(1, 3, 5, 8, 8), (2, 4, 4))


def test_future_split_is_the_first_context_frames():
    ctx, fut = future_split((4, 2, 2), context_frames=4, tubelet_t=2)
    assert ctx.tolist() == list(range(8)) and fut.tolist() == list(range(8, 16))
    with pytest.raises(ValueError, match="multiple"):
        future_split((4, 2, 2), context_frames=3, tubelet_t=2)
    with pytest.raises(ValueError, match="no future"):
        future_split((4, 2, 2), context_frames=8, tubelet_t=2)


def test_gather_tokens_shared_and_per_clip_ids():
    x = torch.arange(2 * 5 * 1.0).view(2, 5, 1)
    assert gather_tokens(x, torch.tensor([4, 0])).squeeze(-1).tolist() == [[4, 0], [9, 5]]
    assert gather_tokens(x, torch.tensor([[1], [2]])).squeeze(-1).tolist() == [[1], [7]]
