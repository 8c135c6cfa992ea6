"""Frozen clip embeddings, computed once per (encoder, data, clip spec) and cached on disk.

Two caches under ``cache_dir`` (default ``$SSL_VIDEO_HOME/evaluate``), both ``.npy`` files
written atomically (``ssl_video._io.atomic_path``) under a file lock:

- ``clips-<key>.npy``: every window's deterministic (centred) clip, ``(N, C, T, H, W)`` uint8,
  key = sha256 of the windows (video path, size, mtime, start/end) and the clip fields. Feature
  extraction, fine-tuning and the scratch baseline all read clips from here (as a memmap), so
  each clip is decoded once per evaluation, not once per seed and fraction. With ``segments=K``
  (a window longer than one clip, read whole: TSN's segments, V-JEPA's ``num_segments``) a row
  holds the window's K evenly spaced clips concatenated in time, ``(N, C, K * T, H, W)``; every
  consumer runs the encoder on each clip (:func:`split_segments`) and joins what it computed.
- ``features-<key>-{pooled,temporal,tokens}.npy``: ``(N, D)`` float32 mean-pooled features (a foreign
  encoder's, ``ssl_video.hub.foreign``: pooled as its model's head reads them),
  ``(N, T' * 2D)`` float32 per-time-step mean and std over space (:func:`temporal_pool`) and
  ``(N, K, D)`` float16 patch tokens (average-pooled on the token grid to at most
  ``max_tokens``), key = clips key + sha256 of the encoder's weights + normalization. With
  segments, the clips' tokens are joined in time first (a ``(K * T', H', W')`` grid).

:func:`pixel_features` is the baseline without a model: downsampled frames, their
differences and the differences' magnitudes.

Windows whose clip failed to decode (or is shorter than one clip) have ``ok[i] = False``.

    enc = load_eval_encoder("runs/quickstart/last.ckpt")
    clips = decode_clips(windows, infos, spec)
    feats = extract_features(enc, clips, mean=enc.mean, std=enc.std)
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from filelock import FileLock
from torch import nn

from ssl_video._io import atomic_path
from ssl_video.data.datasets import eval_loader
from ssl_video.data.transforms import normalize_clip
from ssl_video.errors import UserError
from ssl_video.hub.foreign import ForeignEncoder, is_foreign_architecture, random_foreign_encoder
from ssl_video.models import default_device, get_encoder, list_encoders
from ssl_video.paths import ssl_video_home
from ssl_video.spec import ClipSpec

log = logging.getLogger(__name__)


@dataclass
class EvalEncoder:
    """An encoder to evaluate and the clips it was trained on (``spec``: the checkpoint's or weights'
    preprocessing record; the default ClipSpec for a bare architecture name)."""

    encoder: nn.Module
    architecture: str
    args: dict[str, Any]
    spec: ClipSpec = field(default_factory=ClipSpec)
    source: str = ""
    pretrained: bool = True

    @property
    def mean(self) -> tuple[float, ...]:
        return self.spec.mean

    @property
    def std(self) -> tuple[float, ...]:
        return self.spec.std

    def fingerprint(self) -> str:
        """sha256 of architecture, args and every weight tensor (the features cache key)."""
        h = hashlib.sha256(json.dumps([self.architecture, self.args], sort_keys=True, default=str).encode())
        for name, tensor in sorted(self.encoder.state_dict().items()):
            h.update(name.encode())
            h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
        return h.hexdigest()


def load_eval_encoder(source: str | Path, *, args: dict[str, Any] | None = None) -> EvalEncoder:
    """The one place evaluation loads an encoder.

    ``source``: a registered architecture name (randomly initialised from seed 0, so reproducible;
    ``args`` override its config), or anything ``ssl_video.hub.load_encoder_with_config`` loads: a
    ``.ckpt`` from ``ssl-video fit``, an exported weights folder / ``.safetensors``, a URL, a weights name.
    """
    source = str(source)
    if source in list_encoders() and not Path(source).exists():
        encoder = _seeded_encoder(source, args or {}, seed=0)
        return EvalEncoder(encoder, source, dict(args or {}), ClipSpec(), source, pretrained=False)
    from ssl_video.hub import load_encoder_with_config

    encoder, config = load_encoder_with_config(source, **(args or {}))
    return EvalEncoder(encoder, config["architecture"], {**config["args"], **(args or {})},
                       ClipSpec.from_dict(config.get("preprocessing")), source, pretrained=True)


def _seeded_encoder(architecture: str, args: dict[str, Any], seed: int) -> torch.nn.Module:
    """Random weights that depend only on ``seed``, whatever ran before; the global generator is left alone."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return get_encoder(architecture, **args)


def random_encoder(like: EvalEncoder, seed: int = 0) -> EvalEncoder:
    """Same architecture and preprocessing as ``like``, randomly initialised (the "random" baseline)."""
    if is_foreign_architecture(like.architecture):  # a public model's own init
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            encoder = random_foreign_encoder({"architecture": like.architecture, "args": like.args,
                                              "source": like.source})
    else:
        encoder = _seeded_encoder(like.architecture, like.args, seed)
    return dataclasses.replace(like, encoder=encoder, source=f"random {like.architecture} (seed {seed})",
                               pretrained=False)


@dataclass
class Clips:
    """Decoded clips of every window: ``array`` (N, C, segments * T, H, W) uint8 (memmap), ``ok`` (N,) bool."""

    key: str
    array: np.ndarray
    ok: np.ndarray
    segments: int = 1  # clips per window, concatenated in time (see the module doc)


def split_segments(video: torch.Tensor, segments: int) -> torch.Tensor:
    """(B, C, K * T, H, W) -> (B * K, C, T, H, W): each window's K clips as their own rows, window-major."""
    if segments == 1:
        return video
    B, C, KT, H, W = video.shape
    if KT % segments:
        raise ValueError(f"{KT} frames do not split into {segments} clips")
    x = video.reshape(B, C, segments, KT // segments, H, W)  # (B, C, K, T, H, W)
    return x.transpose(1, 2).reshape(B * segments, C, KT // segments, H, W)  # (B, K, C, T, H, W) -> (B*K, ...)


def digest(payload: Any) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:24]


def _window_key(window, info) -> list:
    stat = os.stat(window.video)
    return [window.video, stat.st_size, stat.st_mtime, window.start_s, window.end_s, info.fps, info.frames]


def evaluate_cache_dir(cache_dir: str | Path | None) -> Path:
    path = Path(cache_dir) if cache_dir else ssl_video_home() / "evaluate"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _save_atomic(path: Path, array: np.ndarray) -> None:
    with atomic_path(path) as tmp:  # keeps the .npy suffix, so np.save adds none
        np.save(tmp, array)


def _decode_into(path: Path, windows, infos, spec: ClipSpec, num_workers: int, batch_size: int, backend: str,
                 segments: int = 1) -> np.ndarray:
    """Write every window's eval clips (``segments`` evenly spaced ones, in time order) into a new .npy at
    ``path``; -> ok (N,) bool, True where every clip of the window decoded."""
    loader = eval_loader(windows, infos, spec, batch_size=batch_size, num_workers=num_workers, backend=backend,
                         clips_per_video=segments)
    T = spec.num_frames
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint8, shape=(len(windows), 3, segments * T, *spec.size))
    done = np.zeros(len(windows), dtype=np.int64)
    for batch in loader:
        video = batch["video"].numpy()  # (B, C, T, H, W) uint8
        for row, window, index in zip(video, batch["window"].tolist(), batch["index"].tolist()):
            j = index % segments  # the clip's place in its window
            out[window, :, j * T : (j + 1) * T] = row
            done[window] += 1
    out.flush()
    ok = done == segments
    log.info("decoded %d of %d windows (%d failed or shorter than one clip)", ok.sum(), len(ok), (~ok).sum())
    return ok


def decode_clips(windows, infos, spec: ClipSpec, *, cache_dir: str | Path | None = None, num_workers: int = 2,
                 batch_size: int = 16, backend: str = "auto", segments: int = 1) -> Clips:
    """Decode each window's centred clip (or ``segments`` evenly spaced clips) once into
    ``cache_dir/clips-<key>.npy`` (see module doc)."""
    if segments < 1:
        raise ValueError(f"segments must be >= 1, got {segments}")
    cache_dir = evaluate_cache_dir(cache_dir)
    key = digest([[_window_key(w, infos[w.video]) for w in windows], spec.clip_fields(),
                  *([segments] if segments > 1 else [])])
    clips_path, ok_path = cache_dir / f"clips-{key}.npy", cache_dir / f"clips-{key}-ok.npy"
    with FileLock(str(clips_path) + ".lock"):
        if clips_path.exists() and ok_path.exists():
            log.info("reusing cached clips %s", clips_path.name)
        else:
            with atomic_path(clips_path) as tmp:
                ok = _decode_into(tmp, windows, infos, spec, num_workers, batch_size, backend, segments)
            _save_atomic(ok_path, ok)
    return Clips(key, np.load(clips_path, mmap_mode="r"), np.load(ok_path), segments)


def pool_tokens(tokens: torch.Tensor, grid: tuple[int, int, int], max_tokens: int) -> torch.Tensor:
    """(B, N, D) tokens on a (T', H', W') grid -> (B, K, D), K <= max_tokens, by average pooling
    the largest grid axes (halving) until the grid is small enough."""
    target = list(grid)
    while target[0] * target[1] * target[2] > max_tokens:
        axis = int(np.argmax(target))
        target[axis] = max(1, (target[axis] + 1) // 2)
    if tuple(target) == tuple(grid):
        return tokens
    B, N, D = tokens.shape
    x = tokens.transpose(1, 2).reshape(B, D, *grid)  # (B, N, D) -> (B, D, T', H', W')
    x = F.adaptive_avg_pool3d(x, target)  # (B, D, t, h, w)
    return x.flatten(2).transpose(1, 2)  # (B, D, t, h, w) -> (B, K, D)


def temporal_pool(tokens: torch.Tensor, grid: tuple[int, int, int]) -> torch.Tensor:
    """(B, N, D) tokens on a (T', H', W') grid -> (B, T' * 2D): per time step, the mean and the std
    over space, concatenated. Mean pooling over time erases motion; this keeps its order."""
    B, N, D = tokens.shape
    x = tokens.reshape(B, grid[0], grid[1] * grid[2], D)  # (B, N, D) -> (B, T', H'W', D); tokens are T'-major
    std = x.std(2, unbiased=False) if x.shape[2] > 1 else torch.zeros_like(x[:, :, 0])
    return torch.cat([x.mean(2), std], dim=-1).flatten(1)  # (B, T', 2D) -> (B, T' * 2D)


@dataclass
class Features:
    pooled: np.ndarray  # (N, D) float32, mean over all tokens (a foreign encoder: its own pooling)
    temporal: np.ndarray  # (N, T' * 2D) float32, per-time-step mean and std over space (temporal_pool)
    tokens: np.ndarray | None  # (N, K, D) float16, or None when not asked for


@torch.no_grad()
def embed(encoder: nn.Module, video: torch.Tensor, mean, std, *, max_tokens: int = 256, tokens: bool = False,
          segments: int = 1):
    """One batch through a frozen encoder: video (B, C, T, H, W) uint8 on the encoder's device ->
    (pooled (B, D), temporal (B, T' * 2D), tokens (B, K, D) or None), float32 on that device.

    With ``segments`` > 1, video is (B, C, segments * T, H, W): each clip is encoded on its own and the
    window's tokens are joined in time, a (segments * T', H', W') grid."""
    return embed_normalized(encoder, normalize_clip(video, mean, std), max_tokens=max_tokens, tokens=tokens,
                            segments=segments)


@torch.no_grad()
def embed_normalized(encoder: nn.Module, video: torch.Tensor, *, max_tokens: int = 256, tokens: bool = False,
                     segments: int = 1):
    """:func:`embed` of a clip already normalized: float (B, C, segments * T, H, W) -> the same three."""
    clips = split_segments(video, segments)  # (B * segments, C, T, H, W)
    t, h, w = encoder.grid_size(*clips.shape[2:])
    with torch.autocast("cuda", dtype=torch.bfloat16, enabled=video.is_cuda):
        if isinstance(encoder, ForeignEncoder):  # pooled as the model's head reads it (a class token, ...)
            feats, pooled = (out.float() for out in encoder.forward_tokens_and_pooled(clips))  # (B*s, N, D), (B*s, D)
            pooled = pooled.reshape(video.shape[0], segments, -1).mean(1)  # (B * segments, D) -> (B, D)
        else:
            feats, pooled = encoder.forward_features(clips).float(), None  # (B * segments, N, D)
    feats = feats.reshape(video.shape[0], -1, feats.shape[-1])  # (B, segments * N, D), time-major
    grid = (segments * t, h, w)
    pooled = feats.mean(1) if pooled is None else pooled
    return pooled, temporal_pool(feats, grid), pool_tokens(feats, grid, max_tokens) if tokens else None


@torch.no_grad()
def extract_features(enc: EvalEncoder, clips: Clips, *, mean=None, std=None, tokens: bool = False,
                     max_tokens: int = 256, batch_size: int = 16, device: str | None = None,
                     cache_dir: str | Path | None = None) -> Features:
    """Frozen features of every clip (rows of failed clips are zeros; see ``clips.ok``).

    Cached by (clips, encoder weights, normalization, max_tokens): every seed, fraction and
    probe of an evaluation reuses one extraction.
    """
    if not clips.ok.any():
        raise UserError(f"none of the {len(clips.ok)} windows has a clip: each is broken or shorter than one clip; "
                        f"`ssl-video data index` on the data lists unusable files and their reasons")
    mean, std = tuple(mean or enc.mean), tuple(std or enc.std)
    device = default_device(device)
    cache_dir = evaluate_cache_dir(cache_dir)
    key = digest([clips.key, enc.fingerprint(), mean, std, max_tokens])
    paths = {name: cache_dir / f"features-{key}-{name}.npy" for name in ("pooled", "temporal", "tokens")}
    if paths["pooled"].exists() and paths["temporal"].exists() and (not tokens or paths["tokens"].exists()):
        log.info("reusing cached features %s", paths["pooled"].name)
        return Features(np.load(paths["pooled"]), np.load(paths["temporal"]),
                        np.load(paths["tokens"], mmap_mode="r") if tokens else None)

    encoder = enc.encoder.to(device).eval()
    rows = np.flatnonzero(clips.ok)
    pending = []
    for start in range(0, len(rows), batch_size):
        idx = rows[start : start + batch_size]
        video = torch.from_numpy(np.ascontiguousarray(clips.array[idx])).to(device, non_blocking=True)
        pending.append((idx, embed(encoder, video, mean, std, max_tokens=max_tokens, tokens=tokens,
                                   segments=clips.segments)))
    arrays: dict[str, np.ndarray] = {}
    for idx, batch in pending:  # device -> host after the loop, not per step
        for name, value in zip(("pooled", "temporal", "tokens"), batch):
            if value is None:
                continue
            if name not in arrays:
                dtype = np.float16 if name == "tokens" else np.float32
                arrays[name] = np.zeros((len(clips.array), *value.shape[1:]), dtype=dtype)
            arrays[name][idx] = value.cpu().numpy()
    for name, array in arrays.items():
        _save_atomic(paths[name], array)
    return Features(arrays["pooled"], arrays["temporal"], arrays.get("tokens"))


PIXELS_SIZE = 8  # side of the downsampled frame of the pixels baseline


def pixel_features(clips: Clips, *, size: int = PIXELS_SIZE, batch_size: int = 64) -> np.ndarray:
    """The "no model at all" baseline: raw pixels of each clip -> (N, F) float32 features.

    Every frame of the clip (C, T, H, W), scaled to [0, 1], is area-averaged to ``size`` x ``size``
    (aspect ratio not kept); the features are, per time step, the frames (T x C x size x size),
    the differences of consecutive frames (T-1 x C x size x size) and their magnitudes
    |difference| (T-1 x C x size x size), concatenated. The linear probe standardizes them. A
    label that a linear model can read from where things are and how much and which way they
    changed is within reach of this row; an encoder's features must beat it to be worth having.
    With segments, each clip of a window gets these features and the window's are concatenated (no
    difference across the jump between two clips). Rows of failed clips are zeros (see ``clips.ok``).
    """
    K = clips.segments
    n, (C, KT, _, _) = len(clips.array), clips.array.shape[1:]
    T = KT // K
    out = np.zeros((n, K * (3 * T - 2) * C * size * size), dtype=np.float32)
    rows = np.flatnonzero(clips.ok)
    for start in range(0, len(rows), batch_size):
        idx = rows[start : start + batch_size]
        video = torch.from_numpy(np.ascontiguousarray(clips.array[idx])).float() / 255  # (B, C, K*T, H, W)
        video = split_segments(video, K)  # (B*K, C, T, H, W)
        small = F.adaptive_avg_pool3d(video, (T, size, size))  # (B*K, C, T, s, s)
        diff = small[:, :, 1:] - small[:, :, :-1]  # (B*K, C, T-1, s, s)
        feats = torch.cat([small.flatten(1), diff.flatten(1), diff.abs().flatten(1)], dim=1)  # (B*K, F)
        out[idx] = feats.reshape(len(idx), -1).numpy()  # (B, K*F), the window's clips in time order
    return out
