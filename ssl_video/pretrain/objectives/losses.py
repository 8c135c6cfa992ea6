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
