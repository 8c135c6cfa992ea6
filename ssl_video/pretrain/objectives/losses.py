"""Pure loss functions shared by the objectives."""

from __future__ import annotations

import torch


def patch_mse(pred: torch.Tensor, target: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Mean squared error over patches and voxels: (B, K, P), (B, K, P) -> scalar, or (B,) per clip with
    ``reduction="none"``; computed in float32."""
    if pred.shape != target.shape:
        raise ValueError(f"prediction {tuple(pred.shape)} and target {tuple(target.shape)} differ in shape")
    per_clip = (pred.float() - target.float()).pow(2).mean(dim=(1, 2))  # (B, K, P) -> (B,)
    return per_clip if reduction == "none" else per_clip.mean()


def normalize_patches(patches: torch.Tensor, channels: int, eps: float = 1e-6) -> torch.Tensor:
    """(B, K, tt*ph*pw*C) -> same, each patch's voxels normalised to mean 0 / std 1 per channel (VideoMAE norm_pix)."""
    B, K, P = patches.shape
    x = patches.reshape(B, K, P // channels, channels).float()  # (B, K, P) -> (B, K, V, C)
    x = (x - x.mean(dim=2, keepdim=True)) / (x.var(dim=2, unbiased=True, keepdim=True).sqrt() + eps)
    return x.reshape(B, K, P)
