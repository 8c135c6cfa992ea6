"""Future-feature prediction (V-JEPA style): regress what an EMA target encoder sees in the future.

The online encoder encodes the context tokens; a narrow transformer predictor takes them
plus one learned mask token per future position and regresses the target encoder's
features of the future tokens. The target encoder is an exponential moving average of the
online one (no gradient), encodes the whole clip, and its features are layer-normalised
before the loss, as in V-JEPA [0] (``F.layer_norm(h, (h.size(-1),))`` in src/train.py).
Instead of V-JEPA's random spatio-temporal masks, the "mask" is the future: the clip's
last frames; with ``context_mask`` > 0 a spatial block of the context is hidden too and
predicted with the future (V-JEPA's multi-block mask, the future as one of the blocks).
Collapse shows up as falling ``train/feat_std`` / ``train/eff_rank``.

[0] Bardes et al., "Revisiting Feature Prediction for Learning Visual Representations from
    Video" (V-JEPA), 2024, https://github.com/facebookresearch/jepa

    >>> from ssl_video.models import get_encoder
    >>> enc = get_encoder("vit_tiny", tubelet=(2, 8, 8)); obj = FutureFeatures(); obj.attach(enc)
    >>> obj(enc, torch.randn(2, 3, 8, 32, 32), context=4, generator=torch.Generator()).loss.shape
    torch.Size([])
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from ssl_video.models.predictor import Predictor
from ssl_video.pretrain.ema import cosine_momentum, ema_update_
from ssl_video.pretrain.objectives.base import Objective, ObjectiveConfigError, ObjectiveOutput
from ssl_video.pretrain.patches import context_block_split, future_split, gather_tokens

LOSSES = ("l1", "smooth_l1")


def future_feature_loss(pred: torch.Tensor, target: torch.Tensor, kind: str = "l1",
                        reduction: str = "mean") -> torch.Tensor:
    """Mean L1 / smooth-L1 (beta 1) between predicted and target features: (B, K, D), (B, K, D) -> scalar,
    or (B,) per clip with reduction="none"."""
    if pred.shape != target.shape:
        raise ValueError(f"prediction {tuple(pred.shape)} and target {tuple(target.shape)} differ in shape")
    if kind == "l1":
        elementwise = F.l1_loss(pred.float(), target.float(), reduction="none")
    elif kind == "smooth_l1":
        elementwise = F.smooth_l1_loss(pred.float(), target.float(), reduction="none", beta=1.0)
    else:
        raise ValueError(f"loss must be one of {LOSSES}, got {kind!r}")
    per_clip = elementwise.mean(dim=(1, 2))  # (B, K, D) -> (B,)
    return per_clip if reduction == "none" else per_clip.mean()


class FutureFeatures(Objective):
    """Predict the EMA target encoder's features of the future tokens. forward -> ObjectiveOutput(loss, features)."""

    name = "future_features"

    def __init__(self, weight: float = 1.0, loss: str = "l1", momentum_start: float = 0.996, momentum_end: float = 1.0,
                 predictor_dim: int = 192, predictor_depth: int = 2, predictor_heads: int = 3,
                 context_mask: float = 0.0):
        super().__init__(weight)
        if not 0.0 <= context_mask < 1.0:
            raise ObjectiveConfigError(self.name, "context_mask", f"must be in [0, 1), got {context_mask} "
                                       "(0 = no context masking)")
        if loss not in LOSSES:
            raise ObjectiveConfigError(self.name, "loss", f"must be one of {LOSSES}, got {loss!r}")
        if not 0.0 <= momentum_start <= momentum_end <= 1.0:
            raise ObjectiveConfigError(self.name, "momentum_start", "must satisfy 0 <= momentum_start <= momentum_end "
                                       f"<= 1, got {momentum_start} and momentum_end {momentum_end}")
        if predictor_dim % predictor_heads:
            raise ObjectiveConfigError(self.name, "predictor_dim", f"{predictor_dim} must be divisible by "
                                       f"init_args.predictor_heads {predictor_heads}")
        self.loss_kind = loss
        self.init_args.update(loss=loss, momentum_start=momentum_start, momentum_end=momentum_end,
                              predictor_dim=predictor_dim, predictor_depth=predictor_depth,
                              predictor_heads=predictor_heads, context_mask=context_mask)
        self.context_mask = context_mask
        self.momentum_start, self.momentum_end = momentum_start, momentum_end
        self.predictor_args = dict(dim=predictor_dim, depth=predictor_depth, num_heads=predictor_heads)
        self.predictor: Predictor | None = None
        self.target_encoder: nn.Module | None = None

    def attach(self, encoder: nn.Module) -> None:
        self.predictor = Predictor(encoder.embed_dim, encoder.embed_dim, **self.predictor_args)
        self.target_encoder = copy.deepcopy(encoder).requires_grad_(False).eval()

    def train(self, mode: bool = True) -> FutureFeatures:
        """The EMA target encoder stays in eval mode (no drop path): its targets are the same for the same clip."""
        super().train(mode)
        if self.target_encoder is not None:
            self.target_encoder.eval()
        return self

    def forward(self, encoder: nn.Module, video: torch.Tensor, context: int,
                generator: torch.Generator) -> ObjectiveOutput:
        if self.predictor is None or self.target_encoder is None:
            raise RuntimeError("future_features: call attach(encoder) before forward")
        grid = encoder.grid_size(*video.shape[2:])
        B = video.shape[0]
        if self.context_mask:  # a context block joins the future as targets: ids (B, Nc), (B, Nt)
            ctx_ids, fut_ids = context_block_split(B, grid, context, encoder.tubelet[0], self.context_mask, generator,
                                                   device=video.device)
        else:
            ctx_ids, fut_ids = future_split(grid, context, encoder.tubelet[0], device=video.device)
        with torch.no_grad():
            target = gather_tokens(self.target_encoder.forward_features(video), fut_ids)  # (B, N, D) -> (B, Nt, D)
            target = F.layer_norm(target.float(), (target.shape[-1],))
        keep = ctx_ids if ctx_ids.ndim == 2 else ctx_ids[None].expand(B, -1)
        features = encoder.forward_features(video, keep=keep)  # -> (B, Nc, D)
        pred = self.predictor(features, ctx_ids, fut_ids, grid)  # -> (B, Nf, D)
        per_sample = future_feature_loss(pred, target, self.loss_kind, reduction="none")
        return ObjectiveOutput(loss=per_sample.mean(), per_sample=per_sample.detach(), features=features.detach())

    def after_optimizer_step(self, encoder: nn.Module, progress: float) -> None:
        ema_update_(self.target_encoder, encoder, cosine_momentum(progress, self.momentum_start, self.momentum_end))
