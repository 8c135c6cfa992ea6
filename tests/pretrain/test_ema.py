from __future__ import annotations

import pytest
import torch
from torch import nn

from ssl_video.pretrain.ema import cosine_momentum, ema_update_


def test_ema_update_math():
    online, target = nn.BatchNorm1d(3), nn.BatchNorm1d(3)
    with torch.no_grad():
        online.weight.fill_(2.0)
        target.weight.fill_(1.0)
        online.running_mean.fill_(4.0)
        online.num_batches_tracked.fill_(7)
    ema_update_(target, online, 0.75)
    torch.testing.assert_close(target.weight, torch.full((3,), 0.75 * 1.0 + 0.25 * 2.0))
    torch.testing.assert_close(target.running_mean, torch.full((3,), 1.0))
    assert target.num_batches_tracked.item() == 7
    with pytest.raises(ValueError, match="momentum"):
        ema_update_(target, online, 1.5)


def test_cosine_momentum_schedule():
    values = [cosine_momentum(p / 10, 0.996, 1.0) for p in range(11)]
    assert values[0] == pytest.approx(0.996) and values[-1] == pytest.approx(1.0)
    assert values[5] == pytest.approx(0.998)
    assert all(a <= b for a, b in zip(values, values[1:]))
