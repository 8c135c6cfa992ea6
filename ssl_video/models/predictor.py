"""Narrow transformer predictor: context tokens + mask tokens at target positions -> targets.

As in V-JEPA's ``VisionTransformerPredictor`` (Bardes et al. 2024,
https://github.com/facebookresearch/jepa, src/models/predictor.py): the context tokens
are projected to a narrow width, given the fixed 3D sincos embedding of their position in
the full (T', H', W') grid, and joined by one learned mask token per target position (plus
that position's embedding). After a few blocks only the target tokens are projected to
``out_dim`` and returned. Used for future features (out_dim = encoder width), future
pixels (out_dim = tt*ph*pw*C) and VideoMAE-style masked reconstruction.

    >>> p = Predictor(96, 96, dim=48, depth=1, num_heads=3)
    >>> p(torch.randn(2, 16, 96), torch.arange(16), torch.arange(16, 32), (2, 4, 4)).shape
    torch.Size([2, 16, 96])
"""

from __future__ import annotations

import torch
from torch import nn

from ssl_video.models.layers import Block, init_transformer, sincos_3d_on


def _batched_ids(ids: torch.Tensor, batch: int, name: str) -> torch.Tensor:
    """(K,) or (B, K) position ids -> (B, K) long."""
    if ids.ndim == 1:
        ids = ids[None].expand(batch, -1)
    if ids.ndim != 2 or ids.shape[0] != batch:
        raise ValueError(f"{name} must be (K,) or (B={batch}, K), got {tuple(ids.shape)}")
    return ids.long()


class Predictor(nn.Module):
    """forward(context (B, Nc, in_dim), context_pos_ids (B, Nc)|(Nc,), target_pos_ids (B, Nt)|(Nt,),
    grid (T', H', W'), target_init (B, Nt, in_dim) | None) -> (B, Nt, out_dim). Position ids index the
    raster-ordered full grid; ``target_init`` is embedded like the context and added to the mask tokens."""

    def __init__(self, in_dim: int, out_dim: int, *, dim: int = 192, depth: int = 2, num_heads: int = 3,
                 mlp_ratio: float = 4.0, qkv_bias: bool = True, drop_path: float = 0.0):
        super().__init__()
        self.in_dim, self.out_dim, self.dim = in_dim, out_dim, dim
        self.embed = nn.Linear(in_dim, dim)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, dim))
        rates = torch.linspace(0, drop_path, depth).tolist()
        self.blocks = nn.ModuleList(Block(dim, num_heads, mlp_ratio, qkv_bias, r) for r in rates)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.head = nn.Linear(dim, out_dim)
        init_transformer(self, depth)
        nn.init.trunc_normal_(self.mask_token, std=0.02)  # as V-JEPA's mask tokens

    def forward(self, context: torch.Tensor, context_pos_ids: torch.Tensor, target_pos_ids: torch.Tensor,
                grid: tuple[int, int, int], target_init: torch.Tensor | None = None) -> torch.Tensor:
        B, Nc, _ = context.shape
        ctx_ids = _batched_ids(context_pos_ids, B, "context_pos_ids")
        tgt_ids = _batched_ids(target_pos_ids, B, "target_pos_ids")
        if ctx_ids.shape[1] != Nc:
            raise ValueError(f"context has {Nc} tokens but context_pos_ids has {ctx_ids.shape[1]}")
        pos = sincos_3d_on(self.dim, grid, context.device, context.dtype)  # (N, dim)
        ctx = self.embed(context) + pos[ctx_ids]  # (B, Nc, Din) -> (B, Nc, dim)
        tgt = self.mask_token.expand(B, tgt_ids.shape[1], -1) + pos[tgt_ids]  # (B, Nt, dim)
        if target_init is not None:
            if target_init.shape[:2] != tgt.shape[:2]:
                raise ValueError(f"target_init must be (B={B}, Nt={tgt.shape[1]}, {self.in_dim}), "
                                 f"got {tuple(target_init.shape)}")
            tgt = tgt + self.embed(target_init)  # (B, Nt, in_dim) -> (B, Nt, dim)
        x = torch.cat([ctx, tgt], dim=1)  # (B, Nc + Nt, dim)
        for block in self.blocks:
            x = block(x)
        return self.head(self.norm(x[:, Nc:]))  # (B, Nt, dim) -> (B, Nt, out_dim)
