"""Count model FLOPs with ``torch.utils.flop_counter.FlopCounterMode`` (for MFU in benchmarks).

    >>> from ssl_video.models import get_encoder
    >>> flops = count_flops(lambda: get_encoder("vit_tiny").forward_features(torch.randn(1, 3, 16, 64, 64)))
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch.utils.flop_counter import FlopCounterMode


def count_flops(fn: Callable[[], torch.Tensor], *, backward: bool = True) -> int:
    """FLOPs of ``fn()`` (forward), plus the backward of ``fn().float().sum()`` when ``backward``.

    Counts matmuls, convolutions and SDPA as PyTorch's flop counter does (2 FLOPs per
    multiply-add); elementwise ops are ignored, as is usual for MFU.
    """
    with FlopCounterMode(display=False) as counter:
        out = fn()
        if backward:
            out.float().sum().backward()
    return int(counter.get_total_flops())
