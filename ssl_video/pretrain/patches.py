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


def unpatchify(patches: torch.Tensor, tubelet: tuple[int, int, int], grid: tuple[int, int, int],
               channels: int) -> torch.Tensor:
    """(B, N, tt*ph*pw*C) with N = T'H'W' -> (B, C, T, H, W); the inverse of ``patchify``."""
    B, N, P = patches.shape
    tt, ph, pw = tubelet
    Tg, Hg, Wg = grid
    if N != Tg * Hg * Wg or P != tt * ph * pw * channels:
        raise ValueError(f"patches {tuple(patches.shape)} do not match "
                         f"grid {tuple(grid)} x tubelet {tuple(tubelet)} x {channels} channels")
    x = patches.reshape(B, Tg, Hg, Wg, tt, ph, pw, channels)  # (B, T', H', W', tt, ph, pw, C)
    x = x.permute(0, 7, 1, 4, 2, 5, 3, 6)  # -> (B, C, T', tt, H', ph, W', pw)
    return x.reshape(B, channels, Tg * tt, Hg * ph, Wg * pw)  # -> (B, C, T, H, W)


def future_split(grid: tuple[int, int, int], context_frames: int, tubelet_t: int,
                 device=None) -> tuple[torch.Tensor, torch.Tensor]:
    """Token ids of the context and future parts of a clip's (T', H', W') grid -> ((Nc,), (Nf,)).

    The first ``context_frames`` frames are the context. Tubelets must not straddle the
    boundary, or a context token would see future pixels.
    """
    if context_frames % tubelet_t:
        raise ValueError(f"context={context_frames} frames must be a multiple of the tubelet's time size {tubelet_t}")
    Tg, Hg, Wg = grid
    t_context = context_frames // tubelet_t
    if not 0 < t_context < Tg:
        raise ValueError(f"context={context_frames} frames leaves no context or no future "
                         f"in a clip of {Tg * tubelet_t} frames")
    n_context, n = t_context * Hg * Wg, Tg * Hg * Wg
    return torch.arange(n_context, device=device), torch.arange(n_context, n, device=device)


def gather_tokens(x: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
    """(B, N, D) with ids (K,) or (B, K) -> (B, K, D)."""
    if ids.ndim == 1:
        return x[:, ids]  # (B, N, D) -> (B, K, D)
    return torch.gather(x, 1, ids[..., None].expand(-1, -1, x.shape[-1]))  # (B, N, D) -> (B, K, D)


def ids_to(ids: torch.Tensor, device=None) -> torch.Tensor:
    """Token ids drawn on the host -> ``device``, without a host sync on CUDA (through pinned memory, non-blocking;
    a plain copy from pageable memory waits for the GPU's queued work)."""
    if device is None:
        return ids
    device = torch.device(device)
    if device.type == "cuda":
        return ids.pin_memory().to(device, non_blocking=True)
    return ids.to(device)


def context_block_split(batch: int, grid: tuple[int, int, int], context_frames: int, tubelet_t: int, ratio: float,
                        generator: torch.Generator, device=None) -> tuple[torch.Tensor, torch.Tensor]:
    """Like ``future_split``, but a random spatial block of ~``ratio`` of each context frame's area is hidden too
    (the same block at every context time step, so it cannot be copied from a neighbouring frame): V-JEPA's
    multi-block mask with the future as one more block -> ((B, Nc), (B, Nt)) token ids, each row sorted.

    The targets are the block's context tokens plus every future token; the encoder sees the rest.

        >>> ctx, tgt = context_block_split(2, (4, 4, 4), 4, 2, 0.25, torch.Generator().manual_seed(0))
        >>> ctx.shape, tgt.shape   # 2 context steps x (16 - 4) visible; 2 x 4 hidden + 2 x 16 future
        (torch.Size([2, 24]), torch.Size([2, 40]))
    """
    ctx_ids, fut_ids = future_split(grid, context_frames, tubelet_t)
    _, Hg, Wg = grid
    t_context = context_frames // tubelet_t
    bh = min(Hg, max(1, round(ratio**0.5 * Hg)))
    bw = min(Wg, max(1, round(ratio * Hg * Wg / bh)))
    if bh * bw >= Hg * Wg:
        raise ValueError(f"context mask ratio {ratio} hides the whole {Hg}x{Wg} frame; use a ratio below 1")
    top = torch.randint(0, Hg - bh + 1, (batch,), generator=generator)
    left = torch.randint(0, Wg - bw + 1, (batch,), generator=generator)
    rows, cols = torch.arange(Hg), torch.arange(Wg)
    inside = (((rows[None, :, None] >= top[:, None, None]) & (rows[None, :, None] < (top + bh)[:, None, None]))
              & ((cols[None, None, :] >= left[:, None, None]) & (cols[None, None, :] < (left + bw)[:, None, None])))
    inside = inside.flatten(1).repeat(1, t_context)  # (B, H'W') -> (B, t_context H'W'), same block at every step
    order = torch.argsort(inside.to(torch.int8), dim=1, stable=True)  # visible ids first, then hidden, each sorted
    n_hidden = bh * bw * t_context
    visible, hidden = ctx_ids[order[:, : ctx_ids.numel() - n_hidden]], ctx_ids[order[:, ctx_ids.numel() - n_hidden:]]
    targets = torch.cat([hidden, fut_ids[None].expand(batch, -1)], dim=1)
    return ids_to(visible, device), ids_to(targets, device)
