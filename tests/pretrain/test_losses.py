from __future__ import annotations

import pytest
import torch

from ssl_video.pretrain.objectives.losses import patch_mse


def test_patch_mse_matches_a_reference_loop_per_clip_and_overall():
    torch.manual_seed(1)
    pred, target = torch.randn(3, 4, 6), torch.randn(3, 4, 6)
    per_clip = [sum((pred[b, k, p] - target[b, k, p]).item() ** 2 for k in range(4) for p in range(6)) / 24
                for b in range(3)]
    assert patch_mse(pred, target, reduction="none").tolist() == pytest.approx(per_clip, rel=1e-5)
    assert patch_mse(pred, target).item() == pytest.approx(sum(per_clip) / 3, rel=1e-5)
    assert patch_mse(pred.half(), target.half()).dtype == torch.float32


def test_patch_mse_names_both_shapes():
    with pytest.raises(ValueError, match=r"\(2, 3, 4\).*\(2, 3, 5\)"):
        patch_mse(torch.zeros(2, 3, 4), torch.zeros(2, 3, 5))
