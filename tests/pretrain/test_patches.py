from __future__ import annotations

import pytest
import torch

from ssl_video.pretrain.patches import context_block_split, future_split, gather_tokens, patchify, unpatchify


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


def test_context_block_split_hides_one_block_at_every_context_step_plus_the_future():
    grid = (4, 6, 8)  # T' = 4 (2 context steps), 6 x 8 spatial
    ctx, tgt = context_block_split(5, grid, context_frames=4, tubelet_t=2, ratio=0.3,
                                   generator=torch.Generator().manual_seed(1))
    n_ctx, n = 2 * 48, 4 * 48
    for c, t in zip(ctx.tolist(), tgt.tolist()):
        assert sorted(c + t) == list(range(n))  # a partition of all tokens
        assert c == sorted(c) and max(c) < n_ctx  # the encoder never sees the future
        hidden = [i for i in t if i < n_ctx]
        assert t[len(hidden):] == list(range(n_ctx, n))  # every future token is a target
        steps = [{i % 48 for i in hidden if i // 48 == s} for s in (0, 1)]
        assert steps[0] == steps[1] and len(steps[0]) == 3 * 5  # one 3x5 block (~0.3 of 48), same at both steps
        rows, cols = {i // 8 for i in steps[0]}, {i % 8 for i in steps[0]}
        assert len(rows) * len(cols) == len(steps[0])  # a rectangle
    assert len({tuple(r) for r in tgt.tolist()}) > 1  # blocks differ between clips
    with pytest.raises(ValueError, match="whole"):
        context_block_split(1, grid, 4, 2, 0.999, torch.Generator())
