"""Pixels <-> tubelet patches and the context/future token split shared by the objectives.

A clip (B, C, T, H, W) with tubelet (tt, ph, pw) becomes N = T'H'W' patches in (t', h', w')
raster order, the same order the encoders use for their tokens, each flattened as
(tt, ph, pw, C) voxels as in VideoMAE [0] (``videos_patch`` in run_mae_pretraining.py).

[0] https://github.com/MCG-NJU/VideoMAE (engine_for_pretraining.py)
"""

from __future__ import annotations

import torch


def patchify(video: torch.Tensor, tubelet: tuple[int, int, int]) -> torch.Tensor:
    """(B, C, T, H, W) -> (B, N, tt*ph*pw*C) with N = T'H'W' in raster order."""
    B, C, T, H, W = video.shape
    tt, ph, pw = tubelet
    if T % tt or H % ph or W % pw:
        raise ValueError(f"clip (T={T}, H={H}, W={W}) is not divisible by tubelet {tuple(tubelet)}")
    x = video.reshape(B, C, T // tt, tt, H // ph, ph, W // pw, pw)  # (B, C, T', tt, H', ph, W', pw)
    x = x.permute(0, 2, 4, 6, 3, 5, 7, 1)  # -> (B, T', H', W', tt, ph, pw, C)
    return x.reshape(B, (T // tt) * (H // ph) * (W // pw), tt * ph * pw * C)  # -> (B, N, P)


def unpatchify(patches: torch.Tensor, tubelet: tuple[int, int, int], grid: tuple[int, int, int], channels: int) -> torch.Tensor:
    """(B, N, tt*ph*pw*C) with N = T'H'W' -> (B, C, T, H, W); the inverse of ``patchify``."""
    B, N, P = patches.shape
    tt, ph, pw = tubelet
    Tg, Hg, Wg = grid
    if N != Tg * Hg * Wg or P != tt * ph * pw * channels:
        raise ValueError(f"patches {tuple(patches.shape)} do not match grid {tuple(grid)} x tubelet {tuple(tubelet)} x {channels} channels")
    x = patches.reshape(B, Tg, Hg, Wg, tt, ph, pw, channels)  # (B, T', H', W', tt, ph, pw, C)
    x = x.permute(0, 7, 1, 4, 2, 5, 3, 6)  # -> (B, C, T', tt, H', ph, W', pw)
    return x.reshape(B, channels, Tg * tt, Hg * ph, Wg * pw)  # -> (B, C, T, H, W)


def future_split(grid: tuple[int, int, int], context_frames: int, tubelet_t: int, device=None) -> tuple[torch.Tensor, torch.Tensor]:
    """Token ids of the context and future parts of a clip's (T', H', W') grid -> ((Nc,), (Nf,)).

    The first ``context_frames`` frames are the context. Tubelets must not straddle the
    boundary, or a context token would see future pixels.
    """
    if context_frames % tubelet_t:
        raise ValueError(f"context={context_frames} frames must be a multiple of the tubelet's time size {tubelet_t}")
    Tg, Hg, Wg = grid
    t_context = context_frames // tubelet_t
    if not 0 < t_context < Tg:
        raise ValueError(f"context={context_frames} frames leaves no context or no future in a clip of {Tg * tubelet_t} frames")
    n_context, n = t_context * Hg * Wg, Tg * Hg * Wg
    return torch.arange(n_context, device=device), torch.arange(n_context, n, device=device)


def gather_tokens(x: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
    """(B, N, D) with ids (K,) or (B, K) -> (B, K, D)."""
    if ids.ndim == 1:
        return x[:, ids]  # (B, N, D) -> (B, K, D)
    return torch.gather(x, 1, ids[..., None].expand(-1, -1, x.shape[-1]))  # (B, N, D) -> (B, K, D)
