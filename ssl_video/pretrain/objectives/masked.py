"""VideoMAE-style masked video modelling with tube masking, as a baseline objective.

A random ``mask_ratio`` of the spatial positions is hidden at every time step (a "tube",
so the model cannot copy a patch from the neighbouring frame); the encoder sees only the
visible tokens, and a light predictor reconstructs the hidden tubelets' pixels, normalised
per patch and channel (``norm_pix``) as in VideoMAE [0] (engine_for_pretraining.py). MSE
on the masked tokens only. Masks are index tensors drawn from an explicit generator.

[0] Tong et al., "VideoMAE: Masked Autoencoders are Data-Efficient Learners for
    Self-Supervised Video Pre-Training", NeurIPS 2022, https://github.com/MCG-NJU/VideoMAE

    >>> g = torch.Generator().manual_seed(0)
    >>> visible, masked = tube_mask(2, (4, 4, 4), 0.75, g)
    >>> visible.shape, masked.shape
    (torch.Size([2, 16]), torch.Size([2, 48]))
"""

from __future__ import annotations

import torch
from torch import nn

from ssl_video.models.predictor import Predictor
from ssl_video.pretrain.objectives.base import Objective, ObjectiveConfigError, ObjectiveOutput
from ssl_video.pretrain.objectives.losses import normalize_patches, patch_mse
from ssl_video.pretrain.patches import gather_tokens, ids_to, patchify


def tube_mask(batch: int, grid: tuple[int, int, int], ratio: float,
              generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Token ids of visible and masked tokens, the same spatial mask at every t' -> ((B, Kv), (B, Km)), sorted."""
    Tg, Hg, Wg = grid
    spatial = Hg * Wg
    n_masked = int(round(ratio * spatial))
    if not 0 < n_masked < spatial:
        raise ValueError(f"mask ratio {ratio} hides {n_masked} of {spatial} spatial positions; need at least one "
                         f"hidden and one visible")
    order = torch.rand(batch, spatial, generator=generator).argsort(dim=1)  # random permutation per clip
    spatial_ids = order[:, :n_masked].sort(dim=1).values, order[:, n_masked:].sort(dim=1).values  # (B, Sm), (B, Sv)
    offsets = torch.arange(Tg) * spatial  # one copy of the spatial mask per time step
    # (B, T', S) -> (B, T'S)
    masked, visible = ((offsets[None, :, None] + s[:, None, :]).flatten(1) for s in spatial_ids)
    return visible, masked


class Masked(Objective):
    """Reconstruct tube-masked tubelets from the visible ones. forward -> ObjectiveOutput(loss, features)."""

    name = "masked"

    def __init__(self, weight: float = 1.0, mask_ratio: float = 0.9, norm_pix: bool = True, predictor_dim: int = 192,
                 predictor_depth: int = 2, predictor_heads: int = 3):
        super().__init__(weight)
        if not 0.0 < mask_ratio < 1.0:
            raise ObjectiveConfigError(self.name, "mask_ratio",
                                       f"must be in (0, 1), got {mask_ratio} (VideoMAE uses 0.75-0.9)")
        if predictor_dim % predictor_heads:
            raise ObjectiveConfigError(self.name, "predictor_dim", f"{predictor_dim} must be divisible by "
                                       f"init_args.predictor_heads {predictor_heads}")
        self.mask_ratio, self.norm_pix = mask_ratio, norm_pix
        self.init_args.update(mask_ratio=mask_ratio, norm_pix=norm_pix, predictor_dim=predictor_dim,
                              predictor_depth=predictor_depth, predictor_heads=predictor_heads)
        self.predictor_args = dict(dim=predictor_dim, depth=predictor_depth, num_heads=predictor_heads)
        self.predictor: Predictor | None = None

    def attach(self, encoder: nn.Module) -> None:
        tt, ph, pw = encoder.tubelet
        channels = encoder.patch_embed.in_channels if hasattr(encoder, "patch_embed") else 3
        self.predictor = Predictor(encoder.embed_dim, tt * ph * pw * channels, **self.predictor_args)

    def forward(self, encoder: nn.Module, video: torch.Tensor, context: int,
                generator: torch.Generator) -> ObjectiveOutput:
        if self.predictor is None:
            raise RuntimeError("masked: call attach(encoder) before forward")
        grid = encoder.grid_size(*video.shape[2:])
        ids = tube_mask(video.shape[0], grid, self.mask_ratio, generator)
        visible, masked = (ids_to(i, video.device) for i in ids)  # (B, Kv), (B, Km)
        features = encoder.forward_features(video, keep=visible)  # (B, C, T, H, W) -> (B, Kv, D)
        pred = self.predictor(features, visible, masked, grid)  # -> (B, Km, P)
        target = gather_tokens(patchify(video, encoder.tubelet), masked)  # (B, N, P) -> (B, Km, P)
        if self.norm_pix:
            target = normalize_patches(target, video.shape[1])
        per_sample = patch_mse(pred, target, reduction="none")  # on the masked tokens only
        return ObjectiveOutput(loss=per_sample.mean(), per_sample=per_sample.detach(), features=features.detach())
