"""The optimizer decisions every trainer shares, as in nanoGPT [0]: which tensors get weight decay and
the learning-rate schedule. Pure torch.

Weight decay goes on matmul weights and embeddings (tensors with dim >= 2), never on biases or norm
gains (model.py ``configure_optimizers``); the learning rate warms up linearly, then decays along a
cosine to a floor (train.py ``get_lr``).

[0] Karpathy, nanoGPT, https://github.com/karpathy/nanoGPT

    >>> groups = param_groups(torch.nn.Linear(4, 2).parameters(), 0.05)
    >>> [(len(g["params"]), g["weight_decay"]) for g in groups]
    [(1, 0.05), (1, 0.0)]
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch

NO_DECAY_NAMES = ("pos_embed",)  # parameters never decayed whatever their dim (timm's ``no_weight_decay``)


def decays(param: torch.Tensor) -> bool:
    """Whether ``param`` gets weight decay: matrices, kernels and embeddings (dim >= 2), not biases or norms."""
    return param.dim() >= 2


def no_weight_decay(module: torch.nn.Module) -> set[int]:
    """ids of ``module``'s position tables (:data:`NO_DECAY_NAMES`): trained from the future objectives, the rows
    of the positions the encoder never sees (the future) get no gradient, so decay alone would shrink them."""
    return {id(p) for name, p in module.named_parameters() if name.rsplit(".", 1)[-1] in NO_DECAY_NAMES}


def param_groups(params: Iterable[torch.nn.Parameter], weight_decay: float, *, no_decay: set[int] = frozenset(),
                 **options) -> list[dict]:
    """AdamW groups of the trainable ``params``: the decayed ones at ``weight_decay``, then the rest at 0
    (parameters whose id is in ``no_decay`` too: see :func:`no_weight_decay`).

    ``options`` (e.g. ``lr=`` for layer-wise lr decay) go into both groups; an empty group is left out.
    """
    trainable = [p for p in params if p.requires_grad]
    groups = []
    for decayed in (True, False):
        chosen = [p for p in trainable if (decays(p) and id(p) not in no_decay) == decayed]
        if chosen:
            groups.append({"params": chosen, "weight_decay": weight_decay if decayed else 0.0, **options})
    return groups


def warmup_cosine(step: int, warmup_steps: int, total_steps: int, min_ratio: float = 0.0) -> float:
    """LR multiplier: linear 0 -> 1 over ``warmup_steps``, then cosine 1 -> ``min_ratio`` at ``total_steps``."""
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
    return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))
