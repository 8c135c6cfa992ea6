"""Future-frame prediction in pixel space: see the first frames, predict the patches of the rest.

The encoder encodes the context tokens only (``keep`` = the context token ids, so position
embeddings are those of the full clip); a light transformer predictor with one query per
future position outputs each future tubelet's voxels; MSE on the future only. Pixel decoders
on masked tokens follow VideoMAE [0]; predicting future frames from past ones is the classic
video-prediction setup (e.g. [1]).

The target is the future frames themselves in normalized pixel units: nothing but the
encoder carries the last frame to the predictor, so the encoder has to learn it. With
``latent_copy`` each future query starts from the encoder's last context token at its place
(a copy in the encoder's space, not in pixels), so the predictor need not first learn where
to look; this is what lets a tiny CPU model's features read speed within 1,000 steps
(BENCHMARKS.md, "Latent copy"). The defaults are the built-in weights' recipe. With ``norm_pix``
the target is VideoMAE's per-patch normalised voxels (each future patch to mean 0 / std 1 per
channel): faint detail, such as lane dashes on a flat road, weighs as much as a bright car. The
mean/std of a future patch is unknown at prediction time, so its predictions cannot be turned
back into pixels: no predicted frames (``future`` is None: no PSNR/SSIM or prediction pictures),
and the copy-last baseline is measured in the same normalised units.

[0] Tong et al., "VideoMAE", NeurIPS 2022, https://github.com/MCG-NJU/VideoMAE
[1] Srivastava et al., "Unsupervised Learning of Video Representations using LSTMs", ICML 2015.

    >>> from ssl_video.models import get_encoder
    >>> enc = get_encoder("vit_tiny", tubelet=(2, 8, 8)); obj = FuturePixels(); obj.attach(enc)
    >>> out = obj(enc, torch.randn(2, 3, 8, 32, 32), context=4, generator=torch.Generator())
    >>> out.future.shape
    torch.Size([2, 3, 4, 32, 32])
"""

from __future__ import annotations

import torch
from torch import nn

from ssl_video.models.predictor import Predictor
from ssl_video.pretrain.metrics import copy_last_frame
from ssl_video.pretrain.objectives.base import Objective, ObjectiveConfigError, ObjectiveOutput
from ssl_video.pretrain.objectives.losses import normalize_patches, patch_mse
from ssl_video.pretrain.patches import future_split, patchify, unpatchify


def future_pixel_target(video: torch.Tensor, context: int, tubelet: tuple[int, int, int]) -> torch.Tensor:
    """(B, C, T, H, W) normalized clip -> (B, N_future, tt*ph*pw*C) regression target: its future frames' patches."""
    return patchify(video[:, :, context:], tubelet)


def future_pixels_from_prediction(pred: torch.Tensor, video: torch.Tensor, context: int, tubelet: tuple[int, int, int],
                                  grid: tuple[int, int, int]) -> torch.Tensor:
    """Predicted patches (B, N_future, P) -> future frames (B, C, T_future, H, W) in normalized pixel space."""
    future_grid = (grid[0] - context // tubelet[0], grid[1], grid[2])
    return unpatchify(pred.to(video.dtype), tubelet, future_grid, video.shape[1])  # (B, Nf, P) -> (B, C, Tf, H, W)


def last_context_tokens(tokens: torch.Tensor, grid: tuple[int, int, int], context_slices: int) -> torch.Tensor:
    """Context tokens (B, Nc, D) in raster order (or only their last time slice) -> the last time slice's token at
    each future token's place (B, Nf, D); the copy behind ``latent_copy``."""
    per_slice = grid[1] * grid[2]
    return tokens[:, -per_slice:].repeat(1, grid[0] - context_slices, 1)


class FuturePixels(Objective):
    """Predict the future frames' pixels from the context frames. forward -> ObjectiveOutput(loss, features, future)."""

    name = "future_pixels"

    def __init__(self, weight: float = 1.0, predictor_dim: int = 128, predictor_depth: int = 2,
                 predictor_heads: int = 4, latent_copy: bool = True, norm_pix: bool = False):
        super().__init__(weight)
        if predictor_dim % predictor_heads:
            raise ObjectiveConfigError(self.name, "predictor_dim", f"{predictor_dim} must be divisible by "
                                       f"init_args.predictor_heads {predictor_heads}")
        self.latent_copy, self.norm_pix = latent_copy, norm_pix
        self.init_args.update(predictor_dim=predictor_dim, predictor_depth=predictor_depth,
                              predictor_heads=predictor_heads, latent_copy=latent_copy, norm_pix=norm_pix)
        self.predictor_args = dict(dim=predictor_dim, depth=predictor_depth, num_heads=predictor_heads)
        self.predictor: Predictor | None = None

    def attach(self, encoder: nn.Module) -> None:
        tt, ph, pw = encoder.tubelet
        channels = encoder.patch_embed.in_channels if hasattr(encoder, "patch_embed") else 3
        self.predictor = Predictor(encoder.embed_dim, tt * ph * pw * channels, **self.predictor_args)

    def forward(self, encoder: nn.Module, video: torch.Tensor, context: int,
                generator: torch.Generator) -> ObjectiveOutput:
        """video (B, C, T, H, W) normalized -> loss, features (B, Nc, D), future (B, C, T - context, H, W)."""
        if self.predictor is None:
            raise RuntimeError("future_pixels: call attach(encoder) before forward")
        grid = encoder.grid_size(*video.shape[2:])
        ctx_ids, fut_ids = future_split(grid, context, encoder.tubelet[0], device=video.device)
        keep = ctx_ids[None].expand(video.shape[0], -1)  # (B, Nc)
        features = encoder.forward_features(video, keep=keep)  # (B, C, T, H, W) -> (B, Nc, D)
        init = last_context_tokens(features, grid, context // encoder.tubelet[0]) if self.latent_copy else None
        pred = self.predictor(features, ctx_ids, fut_ids, grid, target_init=init)  # -> (B, Nf, P)
        target = future_pixel_target(video, context, encoder.tubelet)
        copy_last = patchify(copy_last_frame(video, context), encoder.tubelet)  # (B, C, Tf, H, W) -> (B, Nf, P)
        if self.norm_pix:
            target, copy_last = (normalize_patches(x, video.shape[1]) for x in (target, copy_last))
        per_sample = patch_mse(pred, target, reduction="none")
        future = None if self.norm_pix else future_pixels_from_prediction(pred.detach(), video, context,
                                                                          encoder.tubelet, grid)
        baseline = patch_mse(copy_last, target)
        return ObjectiveOutput(loss=per_sample.mean(), per_sample=per_sample.detach(), features=features.detach(),
                               future=future, copy_last_loss=baseline.detach())
