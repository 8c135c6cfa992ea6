from __future__ import annotations

import torch

from ssl_video.models import count_flops, get_encoder


def test_linear_forward_and_backward():
    layer = torch.nn.Linear(8, 4, bias=False)
    x = torch.randn(5, 8, requires_grad=True)
    assert count_flops(lambda: layer(x), backward=False) == 2 * 5 * 8 * 4
    assert count_flops(lambda: layer(x)) == 3 * 2 * 5 * 8 * 4  # + grad wrt input and weight


def test_vit_flops_scale_with_depth():
    x = torch.randn(1, 3, 4, 32, 32)
    one = count_flops(lambda: get_encoder("vit_tiny", depth=1).forward_features(x))
    two = count_flops(lambda: get_encoder("vit_tiny", depth=2).forward_features(x))
    assert one > 0 and two > one
