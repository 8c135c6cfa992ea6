"""Raw surprise signals for a batch of clips: how badly the future was predicted, and a baseline.

Two sources, chosen by what the encoder comes with:

- a pretraining checkpoint's own objectives (future pixels / future features), through the
  pretrainer's per-sample future error (see ``mining.py``);
- any plain encoder: **linear dynamics residual**. Each clip is split into its context and
  future frames, both halves are embedded with the encoder ``(B, D)``, and a ridge regression
  fitted *across all mined windows* predicts the future embedding from the context one.
  The out-of-fold residual is what the dataset's typical dynamics do not explain (a cut-in,
  a sudden brake), in the encoder's own feature space. Folds are grouped by sequence so a
  drive cannot explain itself.

The baseline for :func:`ssl_video.engine.scoring.normalize_surprise` is the copy-last error
(predict that nothing moves): in pixels, :func:`copy_last_error`; in features, the squared
distance between the context and future embeddings. Dividing by it removes the part of the
error that is just "this scene moves a lot".
"""

from __future__ import annotations

import logging

import numpy as np
import torch
from torch import nn

from ssl_video.errors import UserError
from ssl_video.pretrain.metrics import copy_last_frame

log = logging.getLogger(__name__)


def split_context_future(video: torch.Tensor, context: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, C, T, H, W) -> ((B, C, context, H, W), (B, C, T - context, H, W))."""
    if video.ndim != 5:
        raise ValueError(f"expected (B, C, T, H, W), got {tuple(video.shape)}")
    if not 0 < context < video.shape[2]:
        raise ValueError(f"context={context} leaves no context or no future in a clip of {video.shape[2]} frames")
    return video[:, :, :context], video[:, :, context:]


def copy_last_error(video: torch.Tensor, context: int) -> torch.Tensor:
    """Mean squared error of "the last context frame stays" on the future frames.

    video: (B, C, T, H, W) float (normalized) -> (B,) float.
    """
    _, future = split_context_future(video, context)  # checks the layout and that both halves exist
    return (future - copy_last_frame(video, context)).pow(2).flatten(1).mean(1)


@torch.no_grad()
def half_embeddings(encoder: nn.Module, video: torch.Tensor, context: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Embed the context and future halves separately: (B, C, T, H, W) float -> ((B, D), (B, D)).

    The encoder must accept clips of ``context`` and ``T - context`` frames (sincos ViTs and
    the conv encoders do); a clear error says so otherwise.
    """
    ctx, fut = split_context_future(video, context)
    try:
        return encoder(ctx), encoder(fut)
    except (RuntimeError, ValueError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise UserError(
            f"the encoder cannot embed the {ctx.shape[2]}-frame context and {fut.shape[2]}-frame future halves "
            f"separately ({first}); use a pretraining checkpoint with a future predictor for --by surprise/mixed, "
            f"or --by diversity"
        ) from err


def linear_dynamics_error(
    context_emb: np.ndarray,
    future_emb: np.ndarray,
    groups: np.ndarray | None = None,
    *,
    alpha: float = 10.0,
    folds: int = 5,
) -> tuple[np.ndarray, np.ndarray]:
    """Out-of-fold ridge residual and copy-last baseline in feature space.

    Args:
        context_emb, future_emb: (N, D) embeddings of each window's context and future halves.
        groups: (N,) sequence ids; folds never split a sequence when there are enough of them.
        alpha: ridge strength on standardized features.

    Returns:
        (error (N,), baseline (N,)): mean squared residual of the predicted future embedding,
        and mean squared distance between context and future embeddings (copy-last).
        Both in units of the standardized future features.
    """
    from sklearn.linear_model import Ridge
    from sklearn.model_selection import GroupKFold, KFold

    xc = np.asarray(context_emb, dtype=np.float64)
    xf = np.asarray(future_emb, dtype=np.float64)
    if xc.shape != xf.shape or xc.ndim != 2:
        raise ValueError(f"context {xc.shape} and future {xf.shape} embeddings must both be (N, D)")
    n = len(xc)
    if n < 4:
        raise UserError(f"--by surprise/mixed with a plain encoder (linear dynamics) needs at least 4 windows to fit "
                        f"out of fold, got {n}; give --data more or longer videos (or a smaller --stride-s), or use "
                        "--by diversity")
    # one scale for both halves, so copy-last and residual errors share units
    mean, std = xf.mean(0), xf.std(0) + 1e-6
    xc, xf = (xc - mean) / std, (xf - mean) / std
    if groups is not None and len(np.unique(groups)) >= 2:
        splitter = GroupKFold(min(folds, len(np.unique(groups))))
        splits = splitter.split(xc, xf, groups)
    else:
        splits = KFold(min(folds, n), shuffle=True, random_state=0).split(xc)
    pred = np.empty_like(xf)
    for train, test in splits:
        pred[test] = Ridge(alpha=alpha).fit(xc[train], xf[train]).predict(xc[test])
    error = ((pred - xf) ** 2).mean(1)
    baseline = ((xc - xf) ** 2).mean(1)
    return error, baseline

