from __future__ import annotations

import pytest
import torch

from ssl_video.models import Predictor


def test_returns_target_tokens_only():
    p = Predictor(48, 96, dim=24, depth=1, num_heads=2)
    grid = (4, 2, 2)
    ctx = torch.randn(3, 8, 48)
    out = p(ctx, torch.arange(8), torch.arange(8, 16), grid)
    assert out.shape == (3, 8, 96)
    # per-sample ids (B, K), different numbers of context and target tokens
    ctx_ids = torch.stack([torch.randperm(16)[:5] for _ in range(3)])
    tgt_ids = torch.stack([torch.randperm(16)[:7] for _ in range(3)])
    assert p(torch.randn(3, 5, 48), ctx_ids, tgt_ids, grid).shape == (3, 7, 96)


def test_target_position_changes_prediction_and_gradients_flow():
    p = Predictor(48, 48, dim=24, depth=1, num_heads=2)
    ctx = torch.randn(1, 4, 48, requires_grad=True)
    a = p(ctx, torch.arange(4), torch.tensor([4, 15]), (4, 2, 2))
    assert not torch.allclose(a[0, 0], a[0, 1])  # same mask token, different positions
    a.sum().backward()
    assert ctx.grad.abs().sum() > 0 and p.mask_token.grad.abs().sum() > 0


def test_bad_ids_raise():
    p = Predictor(48, 48, dim=24, depth=1, num_heads=2)
    with pytest.raises(ValueError, match="context_pos_ids"):
        p(torch.randn(2, 4, 48), torch.zeros(3, 4, dtype=torch.long), torch.arange(2), (1, 2, 4))
    with pytest.raises(ValueError, match="4 tokens"):
        p(torch.randn(2, 4, 48), torch.arange(3), torch.arange(2), (1, 2, 4))
