"""Attentive probe: a learned query cross-attends over frozen patch tokens, then a linear head.

Mean pooling understates masked and predictive encoders, whose information sits in
particular tokens; V-JEPA (Bardes et al. 2024, "Revisiting Feature Prediction for Learning
Visual Representations from Video", Sec. 4) evaluates with this attentive probe
(reference: facebookresearch/jepa ``src/models/attentive_pooler.py``). Trained with the
shared Lightning loop in :mod:`ssl_video.evaluate.training` on cached tokens.

    head = AttentiveProbe(dim=192, outputs=3)
    logits = head(tokens)          # tokens (B, N, D) -> (B, 3)
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ssl_video.evaluate.training import SupervisedModule, TrainBudget, fit_supervised, predict

ATTENTIVE_BUDGET = TrainBudget(max_epochs=30, batch_size=32, lr=1e-3, weight_decay=0.05, patience=5)


class AttentiveProbe(nn.Module):
    """``num_queries`` learned queries attend over frozen tokens; their mean feeds a linear head."""

    def __init__(self, dim: int, outputs: int, *, num_heads: int = 4, num_queries: int = 1):
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"token dim {dim} is not divisible by num_heads={num_heads}; pick a divisor of {dim}")
        self.num_heads = num_heads
        self.query = nn.Parameter(torch.zeros(1, num_queries, dim))
        nn.init.trunc_normal_(self.query, std=0.02)  # as ViT's cls token (timm)
        self.norm_kv = nn.LayerNorm(dim)
        self.q, self.kv, self.proj = nn.Linear(dim, dim), nn.Linear(dim, 2 * dim), nn.Linear(dim, dim)
        self.norm_out = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, outputs)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """tokens (B, N, D) float (any float dtype) -> (B, outputs)."""
        B, N, D = tokens.shape
        h = self.num_heads
        x = self.norm_kv(tokens.float())
        k, v = self.kv(x).reshape(B, N, 2, h, D // h).permute(2, 0, 3, 1, 4)  # (B, N, 2D) -> 2 x (B, h, N, D/h)
        q = self.q(self.query).expand(B, -1, -1)  # (B, Q, D)
        q = q.reshape(B, -1, h, D // h).transpose(1, 2)  # (B, Q, D) -> (B, h, Q, D/h)
        pooled = F.scaled_dot_product_attention(q, k, v)  # (B, h, Q, D/h)
        pooled = pooled.transpose(1, 2).reshape(B, -1, D)  # (B, h, Q, D/h) -> (B, Q, D)
        pooled = self.proj(pooled).mean(1)  # (B, Q, D) -> (B, D)
        return self.head(self.norm_out(pooled))


def _heads_for(dim: int, preferred: int = 4) -> int:
    return next(h for h in (preferred, 8, 4, 3, 2, 1) if dim % h == 0)


def fit_attentive_probe(
    tokens,
    labels: np.ndarray,
    train_idx: np.ndarray,
    task: str,
    outputs: int,
    *,
    val_idx: np.ndarray | None = None,
    budget: TrainBudget = ATTENTIVE_BUDGET,
    seed: int = 0,
) -> SupervisedModule:
    """Train an attentive probe on ``tokens[train_idx]`` ((N, K, D) array, e.g. a memmap)."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        head = AttentiveProbe(tokens.shape[-1], outputs, num_heads=_heads_for(tokens.shape[-1]))
    return fit_supervised(head, tokens, labels, train_idx, task, budget, val_idx=val_idx, seed=seed)


def predict_attentive(module: SupervisedModule, tokens, indices: np.ndarray) -> np.ndarray:
    """Class ids or regression targets (N,) for ``tokens[indices]``."""
    return predict(module, tokens, indices)
