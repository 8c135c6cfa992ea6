"""Transformer building blocks shared by the video ViT and the predictor.

Pre-norm blocks as in ViT [0] / timm [1]; attention goes through
``F.scaled_dot_product_attention`` so flash / memory-efficient kernels are used where the
device has them. Fixed 3D sine-cosine position embeddings follow MAE [2] and V-JEPA's
``get_3d_sincos_pos_embed(uniform_power=True)`` [3]: each of the (t, h, w) axes gets the
same number of channels.

[0] Dosovitskiy et al., "An Image is Worth 16x16 Words", ICLR 2021.
[1] https://github.com/huggingface/pytorch-image-models (timm/models/vision_transformer.py)
[2] He et al., "Masked Autoencoders Are Scalable Vision Learners", CVPR 2022.
[3] https://github.com/facebookresearch/jepa (src/models/utils/pos_embs.py)
"""

from __future__ import annotations

import functools
import math

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.ops import stochastic_depth


def sincos_1d(dim: int, positions: torch.Tensor) -> torch.Tensor:
    """(L,) positions -> (L, dim) embedding, ``dim`` even: [sin(p w_k), cos(p w_k)]."""
    if dim % 2:
        raise ValueError(f"sincos_1d needs an even dim, got {dim}")
    omega = 1.0 / 10000 ** (torch.arange(dim // 2, dtype=torch.float64, device=positions.device) / (dim / 2.0))
    angles = positions.to(torch.float64)[:, None] * omega[None, :]  # (L, dim/2)
    return torch.cat([angles.sin(), angles.cos()], dim=1).float()


@functools.lru_cache(maxsize=64)
def sincos_3d(dim: int, grid: tuple[int, int, int]) -> torch.Tensor:
    """Fixed position embedding for a (T', H', W') token grid -> (T'H'W', dim), raster order.

    Each axis gets ``2 * (dim // 6)`` channels; the few left over (when dim is not a
    multiple of 6) are zero. Computed for any grid, so other resolutions and clip lengths
    work without interpolation. Cached on CPU; callers move it to their device.
    """
    return _sincos_3d(dim, grid)


def _sincos_3d(dim: int, grid: tuple[int, int, int], device: torch.device | None = None) -> torch.Tensor:
    t, h, w = grid
    axis_dim = 2 * (dim // 6)
    if axis_dim == 0:
        raise ValueError(f"sincos_3d needs dim >= 6, got {dim}")
    gt, gh, gw = torch.meshgrid(*(torch.arange(n, device=device) for n in (t, h, w)), indexing="ij")
    emb = torch.cat([sincos_1d(axis_dim, g.reshape(-1)) for g in (gt, gh, gw)], dim=1)  # (N, 3*axis_dim)
    return F.pad(emb, (0, dim - emb.shape[1]))  # (N, dim)


def sincos_3d_on(dim: int, grid: tuple[int, int, int], device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """:func:`sincos_3d` on ``device`` in ``dtype``, cached there: (T'H'W', dim), read-only.

    One host-to-device copy per (grid, device, dtype) instead of one per forward: a plain copy from
    pageable host memory waits for the GPU to finish its queued work, a host sync in every step.
    Under ``torch.compile`` (which would trace through the cache) the table is computed inside the
    graph, on ``device``: a few fused elementwise ops, and no host-to-device copy in the step.
    """
    if torch.compiler.is_compiling():
        return _sincos_3d(dim, tuple(int(g) for g in grid), torch.device(device)).to(dtype)
    return _sincos_on(dim, tuple(int(g) for g in grid), torch.device(device), dtype)


@functools.lru_cache(maxsize=64)
def _sincos_on(dim: int, grid: tuple[int, int, int], device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    return sincos_3d(dim, grid).to(device=device, dtype=dtype)


def time_index(token_ids: torch.Tensor, grid: tuple[int, int, int]) -> torch.Tensor:
    """Raster token index -> its time index t' (same shape)."""
    return torch.div(token_ids, grid[1] * grid[2], rounding_mode="floor")


def causal_time_mask(t_index: torch.Tensor) -> torch.Tensor:
    """Boolean SDPA mask from token time indices: True where query i may attend key j (t_j <= t_i).

    (N,) -> (1, 1, N, N); (B, K) -> (B, 1, K, K). Every token sees itself, so no row is empty.
    """
    if t_index.ndim == 1:
        t_index = t_index[None]
    return (t_index[:, None, :] <= t_index[:, :, None])[:, None]  # (B, 1, Nq, Nk)


class Attention(nn.Module):
    """Multi-head self-attention through SDPA. (B, N, D) -> (B, N, D)."""

    def __init__(self, dim: int, num_heads: int, qkv_bias: bool = True):
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"embed dim {dim} is not divisible by num_heads {num_heads}")
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, attn_mask: torch.Tensor | None = None) -> torch.Tensor:
        B, N, D = x.shape
        qkv = self.qkv(x).view(B, N, 3, self.num_heads, D // self.num_heads)  # (B, N, 3, h, hd)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # 3 x (B, h, N, hd)
        x = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask)  # (B, h, N, hd)
        return self.proj(x.transpose(1, 2).reshape(B, N, D))  # (B, h, N, hd) -> (B, N, D)


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    """Pre-norm transformer block with stochastic depth. (B, N, D) -> (B, N, D)."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float = 4.0, qkv_bias: bool = True, drop_path: float = 0.0,
                 norm_eps: float = 1e-6):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=norm_eps)
        self.attn = Attention(dim, num_heads, qkv_bias)
        self.norm2 = nn.LayerNorm(dim, eps=norm_eps)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))
        self.drop_path = drop_path

    def forward(self, x: torch.Tensor, attn_mask: torch.Tensor | None = None) -> torch.Tensor:
        x = x + stochastic_depth(self.attn(self.norm1(x), attn_mask), self.drop_path, "row", self.training)
        return x + stochastic_depth(self.mlp(self.norm2(x)), self.drop_path, "row", self.training)


def init_transformer(module: nn.Module, depth: int) -> None:
    """Init as ViT/timm: Linear ~ trunc_normal(0.02), bias 0, LayerNorm (1, 0); the residual
    projections (attn.proj, mlp.fc2) get std 0.02 / sqrt(2 * depth) as in GPT-2 / nanoGPT,
    so the residual stream's variance does not grow with depth."""
    for m in module.modules():
        if isinstance(m, nn.Linear):
            nn.init.trunc_normal_(m.weight, std=0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.LayerNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
    for m in module.modules():
        if isinstance(m, Block):
            for proj in (m.attn.proj, m.mlp.fc2):
                nn.init.trunc_normal_(proj.weight, std=0.02 / math.sqrt(2 * depth))
