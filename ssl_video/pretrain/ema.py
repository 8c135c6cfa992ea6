"""Exponential moving average of weights, for the target encoder of future_features.

BYOL [0] / V-JEPA [1]: target <- m * target + (1 - m) * online after each optimizer
step, with the momentum m rising from ``start`` to ``end`` over training. V-JEPA raises
it linearly (0.998 -> 1.0, src/train.py ``momentum_scheduler``); we use BYOL's cosine
schedule, which spends longer near ``start`` early on, when the online encoder changes most.

[0] Grill et al., "Bootstrap Your Own Latent", NeurIPS 2020.
[1] Bardes et al., "V-JEPA", 2024, https://github.com/facebookresearch/jepa

    >>> cosine_momentum(0.0, 0.996, 1.0), cosine_momentum(1.0, 0.996, 1.0)
    (0.996, 1.0)
"""

from __future__ import annotations

import math

import torch
from torch import nn


def cosine_momentum(progress: float, start: float, end: float) -> float:
    """Momentum at ``progress`` in [0, 1]: start + (end - start) * (1 - cos(pi * progress)) / 2."""
    progress = min(max(progress, 0.0), 1.0)
    return end - (end - start) * (math.cos(math.pi * progress) + 1) / 2


@torch.no_grad()
def ema_update_(target: nn.Module, online: nn.Module, momentum: float) -> None:
    """In place: every parameter and floating buffer of ``target`` <- m * target + (1 - m) * online."""
    if not 0.0 <= momentum <= 1.0:
        raise ValueError(f"EMA momentum must be in [0, 1], got {momentum}")
    t_params, o_params = list(target.parameters()), list(online.parameters())
    if len(t_params) != len(o_params):
        raise ValueError(f"target has {len(t_params)} parameters but online has {len(o_params)}")
    torch._foreach_lerp_(t_params, o_params, 1.0 - momentum)
    for t_buf, o_buf in zip(target.buffers(), online.buffers()):
        if t_buf.dtype.is_floating_point:
            t_buf.lerp_(o_buf, 1.0 - momentum)
        else:
            t_buf.copy_(o_buf)
