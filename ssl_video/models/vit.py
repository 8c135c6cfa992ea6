"""Video Vision Transformer with tubelet patches (ViViT / VideoMAE / V-JEPA encoder).

A clip (B, C, T, H, W) is cut into non-overlapping tubelets of (tt, ph, pw) pixels by a
Conv3d, giving N = T'H'W' tokens in (t', h', w') raster order. Position embeddings are
fixed 3D sine-cosine (computed for whatever grid the input gives) or learned (trilinearly
interpolated when the grid differs from the one they were built for). ``causal_time``
restricts attention to tokens at the same or an earlier time index, so the features of
the context frames never depend on future frames.

References: Arnab et al., "ViViT", ICCV 2021 (tubelet embedding); Tong et al.,
"VideoMAE", NeurIPS 2022; Bardes et al., "V-JEPA", 2024, and
https://github.com/facebookresearch/jepa (src/models/vision_transformer.py).

    >>> enc = VideoViT(VideoViTConfig(img_size=64, num_frames=8, tubelet=(2, 8, 8), embed_dim=96, depth=2, num_heads=3))
    >>> enc.forward_features(torch.randn(1, 3, 8, 64, 64)).shape
    torch.Size([1, 256, 96])
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ssl_video.models.layers import Block, causal_time_mask, init_transformer, sincos_3d_on, time_index
from ssl_video.models.registry import apply_overrides, register_encoder
from ssl_video.spec import size_hw


@dataclass(frozen=True)
class VideoViTConfig:
    img_size: int | tuple[int, int] = 224  # (H, W); only sizes the learned pos-embed table
    num_frames: int = 16  # likewise; sincos works for any clip length
    tubelet: tuple[int, int, int] = (2, 16, 16)  # (tt, ph, pw)
    in_chans: int = 3
    embed_dim: int = 768
    depth: int = 12
    num_heads: int = 12
    mlp_ratio: float = 4.0
    pos_embed: str = "sincos"  # "sincos" (fixed) | "learned"
    causal_time: bool = False  # token at t' attends only to tokens at t'' <= t'
    drop_path: float = 0.0  # max stochastic depth rate, linear over depth (timm)
    qkv_bias: bool = True
    final_norm: bool = True  # LayerNorm after the last block; False for a converted VideoMAE (its norm is in its head)
    norm_eps: float = 1e-6  # of every LayerNorm; a converted VideoMAE keeps its own (1e-12)

    def __post_init__(self) -> None:
        # JSON round trips turn tuples into lists; store tuples so configs compare equal.
        object.__setattr__(self, "img_size", size_hw(self.img_size))
        object.__setattr__(self, "tubelet", tuple(int(v) for v in self.tubelet))
        if len(self.tubelet) != 3:
            raise ValueError(f"tubelet must be (tt, ph, pw), got {self.tubelet}")
        if self.pos_embed not in ("sincos", "learned"):
            raise ValueError(f"pos_embed must be 'sincos' or 'learned', got {self.pos_embed!r}")
        if self.embed_dim % self.num_heads:
            raise ValueError(f"embed_dim {self.embed_dim} must be divisible by num_heads {self.num_heads}")


class VideoViT(nn.Module):
    """Encoder API: ``forward_features(x (B,C,T,H,W), keep (B,K)|None) -> (B, N|K, D)``,
    ``forward(x) -> (B, D)`` (mean of the tokens), ``grid_size``, ``tubelet``, ``embed_dim``."""

    def __init__(self, config: VideoViTConfig):
        super().__init__()
        self.config = c = config
        self.embed_dim = c.embed_dim
        self.tubelet = c.tubelet
        self.patch_embed = nn.Conv3d(c.in_chans, c.embed_dim, kernel_size=c.tubelet, stride=c.tubelet)
        self.pos_embed: nn.Parameter | None = None
        if c.pos_embed == "learned":
            self._pos_grid = self.grid_size(c.num_frames, *c.img_size)
            n = self._pos_grid[0] * self._pos_grid[1] * self._pos_grid[2]
            self.pos_embed = nn.Parameter(torch.zeros(1, n, c.embed_dim))
        rates = torch.linspace(0, c.drop_path, c.depth).tolist()
        self.blocks = nn.ModuleList(Block(c.embed_dim, c.num_heads, c.mlp_ratio, c.qkv_bias, r, c.norm_eps)
                                    for r in rates)
        self.norm = nn.LayerNorm(c.embed_dim, eps=c.norm_eps) if c.final_norm else nn.Identity()
        self._init_weights()

    def _init_weights(self) -> None:
        init_transformer(self, self.config.depth)
        # Patch embedding initialised like a Linear on the flattened tubelet (MAE).
        w = self.patch_embed.weight
        nn.init.xavier_uniform_(w.view(w.shape[0], -1))
        nn.init.zeros_(self.patch_embed.bias)
        if self.pos_embed is not None:
            nn.init.trunc_normal_(self.pos_embed, std=0.02)

    def grid_size(self, T: int, H: int, W: int) -> tuple[int, int, int]:
        """(T, H, W) pixels -> (T', H', W') tokens; each must divide by the tubelet."""
        tt, ph, pw = self.tubelet
        if T % tt or H % ph or W % pw:
            raise ValueError(f"clip (T={T}, H={H}, W={W}) is not divisible by tubelet {self.tubelet}")
        return T // tt, H // ph, W // pw

    def _pos(self, grid: tuple[int, int, int], x: torch.Tensor) -> torch.Tensor:
        """Position embedding for a grid -> (1, N, D) float32 on x's device: added to bf16 patch tokens under
        autocast it keeps the residual stream in float32, as a learned (float32) table does."""
        if self.pos_embed is None:
            return sincos_3d_on(self.embed_dim, grid, x.device, torch.float32)[None]
        if grid == self._pos_grid:
            return self.pos_embed
        D = self.embed_dim
        table = self.pos_embed.reshape(1, *self._pos_grid, D).permute(0, 4, 1, 2, 3)  # (1, N, D) -> (1, D, T', H', W')
        table = F.interpolate(table, size=grid, mode="trilinear", align_corners=False)
        return table.flatten(2).transpose(1, 2)  # (1, D, T', H', W') -> (1, N, D)

    def forward_features(self, x: torch.Tensor, keep: torch.Tensor | None = None) -> torch.Tensor:
        """(B, C, T, H, W) normalized float, keep (B, K) token indices or None -> (B, N or K, D)."""
        if x.ndim != 5 or x.shape[1] != self.config.in_chans:
            raise ValueError(f"expected (B, {self.config.in_chans}, T, H, W) input, got {tuple(x.shape)}")
        grid = self.grid_size(*x.shape[2:])
        x = self.patch_embed(x).flatten(2).transpose(1, 2)  # (B, D, T', H', W') -> (B, N, D)
        x = x + self._pos(grid, x)
        token_ids = torch.arange(x.shape[1], device=x.device)
        if keep is not None:
            if keep.ndim != 2 or keep.shape[0] != x.shape[0]:
                raise ValueError(f"keep must be (B={x.shape[0]}, K) token indices, got {tuple(keep.shape)}")
            x = torch.gather(x, 1, keep[..., None].expand(-1, -1, x.shape[-1]))  # (B, N, D) -> (B, K, D)
            token_ids = keep
        mask = causal_time_mask(time_index(token_ids, grid)) if self.config.causal_time else None
        for block in self.blocks:
            x = block(x, mask)
        return self.norm(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, T, H, W) -> (B, D): mean over all tokens, for probes."""
        return self.forward_features(x).mean(dim=1)


def _build(config: VideoViTConfig, overrides: dict) -> VideoViT:
    return VideoViT(apply_overrides(config, overrides))


# tiny: sized so the quickstart trains on 2 CPU cores in minutes (64 px, 8x8 patches).
@register_encoder("vit_tiny")
def vit_tiny(**overrides) -> VideoViT:
    cfg = VideoViTConfig(img_size=64, num_frames=16, tubelet=(2, 8, 8), embed_dim=192, depth=4, num_heads=3)
    return _build(cfg, overrides)


@register_encoder("vit_small")
def vit_small(**overrides) -> VideoViT:
    return _build(VideoViTConfig(embed_dim=384, depth=12, num_heads=6), overrides)


@register_encoder("vit_base")
def vit_base(**overrides) -> VideoViT:
    return _build(VideoViTConfig(embed_dim=768, depth=12, num_heads=12), overrides)


@register_encoder("vit_large")
def vit_large(**overrides) -> VideoViT:
    return _build(VideoViTConfig(embed_dim=1024, depth=24, num_heads=16), overrides)
