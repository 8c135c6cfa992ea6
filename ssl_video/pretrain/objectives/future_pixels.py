"""Future-frame prediction in pixel space: see the first frames, predict the patches of the rest.

The encoder encodes the context tokens only (``keep`` = the context token ids, so position
embeddings are those of the full clip); a light transformer predictor with one mask token
per future position outputs each future tubelet's voxels; MSE on the future only. Pixel
decoders on masked tokens follow VideoMAE [0]; predicting future frames from past ones is
the classic video-prediction setup (e.g. [1]).

Target: the future in normalized pixel units, either as is (``target="pixels"``) or, by
default, as the residual to the last context frame (``target="residual"``, output head
initialised to zero unless ``zero_head=False``). With the residual target the untrained model *is* the
copy-last-frame baseline and training only has to learn what moves, which is what lets
a tiny CPU model beat that baseline within minutes. ``last_patch_skip`` adds a linear map
(zero-initialised) from the last context tubelet's pixels at the same place to the
prediction: a learned local filter (extrapolate motion inside a patch, smooth away rain
that cannot be predicted) that trains in a few steps and leaves the cross-patch motion to
the encoder and predictor. It sees only context pixels, so the metric stays honest. We do not use VideoMAE's per-patch
normalised targets here: the mean/std of a future patch is unknown at prediction time, so
predictions could not be turned back into pixels honestly for PSNR/SSIM (``masked`` does
use them).

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
from ssl_video.pretrain.objectives.base import Objective, ObjectiveOutput
from ssl_video.pretrain.patches import future_split, patchify, unpatchify

TARGETS = ("residual", "pixels")


def future_pixel_target(video: torch.Tensor, context: int, tubelet: tuple[int, int, int], target: str) -> torch.Tensor:
    """(B, C, T, H, W) normalized clip -> (B, N_future, tt*ph*pw*C) regression target of its future frames."""
    future = video[:, :, context:]
    if target == "residual":
        future = future - video[:, :, context - 1 : context]  # minus the last context frame, broadcast over time
    return patchify(future, tubelet)


def future_pixel_loss(pred: torch.Tensor, target: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Mean squared error over all future patches and voxels: (B, K, P), (B, K, P) -> scalar, or (B,) per clip with reduction="none"."""
    if pred.shape != target.shape:
        raise ValueError(f"prediction {tuple(pred.shape)} and target {tuple(target.shape)} differ in shape")
    per_clip = (pred.float() - target.float()).pow(2).mean(dim=(1, 2))  # (B, K, P) -> (B,)
    return per_clip if reduction == "none" else per_clip.mean()


def future_pixels_from_prediction(pred: torch.Tensor, video: torch.Tensor, context: int, tubelet: tuple[int, int, int],
                                  grid: tuple[int, int, int], target: str) -> torch.Tensor:
    """Predicted patches (B, N_future, P) -> future frames (B, C, T_future, H, W) in normalized pixel space."""
    C = video.shape[1]
    future_grid = (grid[0] - context // tubelet[0], grid[1], grid[2])
    frames = unpatchify(pred.to(video.dtype), tubelet, future_grid, C)  # (B, Nf, P) -> (B, C, Tf, H, W)
    if target == "residual":
        frames = frames + video[:, :, context - 1 : context]
    return frames


def last_context_tokens(tokens: torch.Tensor, grid: tuple[int, int, int], context_slices: int) -> torch.Tensor:
    """Context tokens (B, Nc, D) in raster order (or only their last time slice) -> the last time slice's token at
    each future token's place (B, Nf, D); the copy behind ``latent_copy`` and ``last_patch_skip``."""
    per_slice = grid[1] * grid[2]
    return tokens[:, -per_slice:].repeat(1, grid[0] - context_slices, 1)


def last_tubelet_patches(video: torch.Tensor, context: int, tubelet: tuple[int, int, int], grid: tuple[int, int, int]) -> torch.Tensor:
    """The last context tubelet's patch at each future token's spatial position: (B, C, T, H, W) -> (B, N_future, P)."""
    tt = tubelet[0]
    last = patchify(video[:, :, context - tt : context], tubelet)  # (B, H'W', P)
    return last_context_tokens(last, grid, context // tt)  # -> (B, T_future' H'W', P), raster order


class FuturePixels(Objective):
    """Predict the future frames' pixels from the context frames. forward -> ObjectiveOutput(loss, features, future)."""

    name = "future_pixels"

    def __init__(self, weight: float = 1.0, target: str = "residual", predictor_dim: int = 192,
                 predictor_depth: int = 2, predictor_heads: int = 3, last_patch_skip: bool = False,
                 zero_head: bool = True, latent_copy: bool = False):
        super().__init__(weight)
        if target not in TARGETS:
            raise ValueError(f"future_pixels: target must be one of {TARGETS}, got {target!r}")
        if predictor_dim % predictor_heads:
            raise ValueError(f"future_pixels: predictor_dim {predictor_dim} must be divisible by predictor_heads {predictor_heads}")
        self.target, self.latent_copy = target, latent_copy
        self.init_args.update(target=target, predictor_dim=predictor_dim, predictor_depth=predictor_depth,
                              predictor_heads=predictor_heads, last_patch_skip=last_patch_skip, zero_head=zero_head,
                              latent_copy=latent_copy)
        self.skip: nn.Linear | None = None
        self.predictor_args = dict(dim=predictor_dim, depth=predictor_depth, num_heads=predictor_heads)
        self.predictor: Predictor | None = None

    def attach(self, encoder: nn.Module) -> None:
        tt, ph, pw = encoder.tubelet
        channels = encoder.patch_embed.in_channels if hasattr(encoder, "patch_embed") else 3
        voxels = tt * ph * pw * channels
        self.predictor = Predictor(encoder.embed_dim, voxels, **self.predictor_args)
        if self.init_args["last_patch_skip"]:
            self.skip = nn.Linear(voxels, voxels)
            nn.init.zeros_(self.skip.weight)
            nn.init.zeros_(self.skip.bias)
        if self.target == "residual" and self.init_args["zero_head"]:
            # Start as the copy-last-frame baseline: the residual prediction is exactly 0. The encoder then gets no
            # gradient until the head grows, and without last_patch_skip it may never grow (measured: 400 steps at
            # copy-last PSNR); zero_head=False keeps the small random head so the encoder learns from step 0.
            nn.init.zeros_(self.predictor.head.weight)
            nn.init.zeros_(self.predictor.head.bias)

    def forward(self, encoder: nn.Module, video: torch.Tensor, context: int, generator: torch.Generator) -> ObjectiveOutput:
        if self.predictor is None:
            raise RuntimeError("future_pixels: call attach(encoder) before forward")
        grid = encoder.grid_size(*video.shape[2:])
        ctx_ids, fut_ids = future_split(grid, context, encoder.tubelet[0], device=video.device)
        keep = ctx_ids[None].expand(video.shape[0], -1)  # (B, Nc)
        features = encoder.forward_features(video, keep=keep)  # (B, C, T, H, W) -> (B, Nc, D)
        init = last_context_tokens(features, grid, context // encoder.tubelet[0]) if self.latent_copy else None
        pred = self.predictor(features, ctx_ids, fut_ids, grid, target_init=init)  # -> (B, Nf, P)
        if self.skip is not None:
            pred = pred + self.skip(last_tubelet_patches(video, context, encoder.tubelet, grid))
        target = future_pixel_target(video, context, encoder.tubelet, self.target)
        per_sample = future_pixel_loss(pred, target, reduction="none")
        future = future_pixels_from_prediction(pred.detach(), video, context, encoder.tubelet, grid, self.target)
        copy_last = video[:, :, context - 1 : context].expand_as(video[:, :, context:])  # (B, C, Tf, H, W)
        baseline = future_pixel_loss(future_pixel_target(torch.cat([video[:, :, :context], copy_last], 2), context,
                                                         encoder.tubelet, self.target), target)
        return ObjectiveOutput(loss=per_sample.mean(), per_sample=per_sample.detach(), features=features.detach(),
                               future=future, copy_last_loss=baseline.detach())
