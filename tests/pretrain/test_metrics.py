from __future__ import annotations

import math

import pytest
import torch

from ssl_video.pretrain.metrics import FutureFrameMetrics, copy_last_frame, effective_rank, feature_std


def test_psnr_and_copy_last_baseline_match_hand_computation():
    torch.manual_seed(0)
    pixels = torch.rand(2, 3, 6, 16, 16)
    predicted = (pixels[:, :, 4:] + 0.05 * torch.randn(2, 3, 2, 16, 16)).clamp(0, 1)
    metrics = FutureFrameMetrics()
    metrics.update(predicted, pixels, context=4)
    values = {k: m.compute().item() for k, m in metrics.items()}
    mse_pred = ((predicted - pixels[:, :, 4:]) ** 2).mean().item()
    mse_last = ((pixels[:, :, 3:4] - pixels[:, :, 4:]) ** 2).mean().item()
    assert values["psnr"] == pytest.approx(10 * math.log10(1 / mse_pred), rel=1e-4)
    assert values["psnr_copy_last"] == pytest.approx(10 * math.log10(1 / mse_last), rel=1e-4)
    assert values["ssim"] > values["ssim_copy_last"]
    assert copy_last_frame(pixels, 4).shape == (2, 3, 2, 16, 16)
    with pytest.raises(ValueError, match=r"\(2, 3, 3, 16, 16\).*\(2, 3, 2, 16, 16\)"):
        metrics.update(torch.rand(2, 3, 3, 16, 16), pixels, context=4)


def test_health_signals_separate_healthy_from_collapsed_features():
    torch.manual_seed(0)
    healthy = torch.randn(4, 64, 32)
    collapsed = torch.randn(1, 1, 32).expand(4, 64, 32) + 1e-4 * torch.randn(4, 64, 32)  # complete collapse
    dimensional = torch.randn(4, 64, 2) @ torch.randn(2, 32)  # features in a 2-d subspace
    assert feature_std(healthy).item() == pytest.approx(1 / math.sqrt(32), rel=0.15)
    assert feature_std(collapsed).item() < 1e-3  # std sees complete collapse (rank is scale-free and cannot)
    assert effective_rank(healthy).item() > 25 and effective_rank(dimensional).item() < 2.01
    # rank-1 features have effective rank 1
    rank_one = torch.randn(256, 1) * torch.randn(1, 16)
    assert effective_rank(rank_one).item() == pytest.approx(1.0, abs=0.05)
