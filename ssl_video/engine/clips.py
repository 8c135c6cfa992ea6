"""What ``mine`` and ``shadow`` share: load a model by reference, run it over windows.

A model reference is a pretraining checkpoint (``.ckpt``: the encoder *and* its future
predictors, so ``mine --by surprise`` can use the objective's own error), anything
``ssl_video.hub.load_encoder`` accepts (exported weights, a registered weights name), or a
bare registry architecture name such as ``vit_tiny`` (randomly initialised: a baseline).

One pass over the windows takes one deterministic (centred) clip per window and its pooled
features from the evaluation cache (``ssl_video.evaluate.features``: decoded once, cached on
disk), and when asked computes the surprise ingredients on the same clips.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from ssl_video.data.transforms import normalize_clip
from ssl_video.engine import surprise
from ssl_video.errors import UserError
from ssl_video.models import default_device
from ssl_video.spec import ClipSpec

log = logging.getLogger(__name__)

# Objectives whose loss is a future-prediction error (``masked`` reconstructs the present).
FUTURE_OBJECTIVES = ("future_pixels", "future_features")


@dataclass
class LoadedModel:
    """An encoder ready for inference (``ssl_video.evaluate.features.EvalEncoder``) plus how it
    wants its clips, and the pretraining module with its future predictors when there is one."""

    enc: Any  # EvalEncoder
    spec: ClipSpec
    pretrainer: Any = None  # a VideoPretrainer (carries the future predictors): from a .ckpt or weights that hold them
    device: str = "cpu"  # where the encoder (and the pretrainer) run

    @property
    def encoder(self) -> nn.Module:
        return self.enc.encoder

    @property
    def mean(self) -> tuple[float, ...]:
        return self.enc.mean

    @property
    def std(self) -> tuple[float, ...]:
        return self.enc.std

    @property
    def source(self) -> str:
        return self.enc.source

    @property
    def future_objectives(self) -> list[str]:
        if self.pretrainer is None:
            return []
        return [o.name for o in self.pretrainer.objectives if o.name in FUTURE_OBJECTIVES]


def load_model(ref: str, *, clip_overrides: dict[str, Any] | None = None, device: str | None = None) -> LoadedModel:
    """Resolve ``--encoder``: a ``.ckpt`` (with predictors), exported weights (with predictors when exported with
    ``--objectives``, as the built-in weights are), a weights name, or an architecture name (random init), through
    ``ssl_video.evaluate.features.load_eval_encoder``; on ``device`` (default: the GPU when there is one)."""
    from ssl_video.evaluate.features import load_eval_encoder

    enc = load_eval_encoder(ref)
    if not enc.pretrained:
        log.warning("%s is an architecture name: using a randomly initialised encoder (a baseline, not a trained "
                    "model)", ref)
    device = default_device(device)
    enc.encoder.eval().to(device)
    spec = enc.spec.replace(**(clip_overrides or {}))  # the recorded clips; options that are set win
    try:
        enc.encoder.grid_size(spec.num_frames, *spec.size)
    except ValueError as error:
        raise UserError(f"{ref}: {error}; choose --size / --context / --future that it divides") from error
    pretrainer = _load_pretrainer(ref, device, checkpoint=str(ref).endswith(".ckpt")) if enc.pretrained else None
    changed = [f"--{k}" for k in ("context", "future", "fps", "size") if getattr(spec, k) != getattr(enc.spec, k)]
    if pretrainer is not None and changed:
        log.warning("%s: %s differ from the clips its predictors were trained on; surprise uses the encoder's own "
                    "features instead of the predictors' error", ref, " ".join(changed))
        pretrainer = None
    if pretrainer is not None:
        enc.encoder = pretrainer.encoder  # the same weights, inside the module that owns the predictors
    return LoadedModel(enc, spec, pretrainer, device)


def _load_pretrainer(ref: str, device: str, checkpoint: bool):
    """The VideoPretrainer (encoder + objective heads) of a ``.ckpt``, or of weights exported with their
    objectives (the built-in weights); None for weights without them."""
    from ssl_video.pretrain.module import load_pretrainer, pretrainer_from_weights

    if checkpoint:
        return load_pretrainer(ref, map_location=device).eval()
    return pretrainer_from_weights(ref, map_location=device)


@dataclass
class WindowPass:
    """Per-window outputs of one pass; rows follow ``index`` (windows whose clip failed are absent)."""

    index: np.ndarray  # (N,) positions in the input window list that decoded (short or broken ones are absent)
    embeddings: np.ndarray  # (N, D) mean-pooled encoder features of the whole clip
    clips: np.ndarray | None = None  # (len(windows), C, T, H, W) uint8 memmap of every window's clip (rows in index)
    copy_last: np.ndarray | None = None  # (N,) pixel copy-last error (normalized pixels)
    errors: dict[str, np.ndarray] = field(default_factory=dict)  # objective name -> (N,) per-sample loss
    context_emb: np.ndarray | None = None  # (N, D) context-half embeddings (plain-encoder surprise)
    future_emb: np.ndarray | None = None  # (N, D) future-half embeddings

    def clip(self, window_position: int) -> np.ndarray:
        """The clip of input window ``window_position`` as (T, H, W, C) uint8."""
        return np.asarray(self.clips[window_position]).transpose(1, 2, 3, 0)  # (C, T, H, W) -> (T, H, W, C)


@torch.no_grad()
def run_windows(model: LoadedModel, windows, infos, *, with_surprise: bool = False, batch_size: int = 16,
                num_workers: int = 0, progress: bool = False, cache_dir: str | None = None) -> WindowPass:
    """One pass over ``windows``: clips and pooled features through the evaluation cache
    (``decode_clips`` / ``extract_features``); the surprise ingredients when asked. On the model's device."""
    from tqdm.auto import tqdm

    from ssl_video.evaluate.features import decode_clips, extract_features

    clips = decode_clips(windows, infos, model.spec, num_workers=num_workers, batch_size=batch_size,
                         cache_dir=cache_dir)
    rows = np.flatnonzero(clips.ok)
    if not len(rows):
        videos = list(dict.fromkeys(str(w.video) for w in windows))
        shown = ", ".join(videos[:3]) + (f" and {len(videos) - 3} more" if len(videos) > 3 else "")
        raise UserError(f"no clip could be decoded from {len(windows)} windows of {shown} (broken or shorter than one "
                        f"clip); `ssl-video data index` on the data lists which files are usable and why not")
    if len(rows) < len(windows):
        log.warning("%d of %d windows have no clip (broken or shorter than one clip) and are skipped",
                    len(windows) - len(rows), len(windows))
    device = model.device
    feats = extract_features(model.enc, clips, batch_size=batch_size, device=device, cache_dir=cache_dir)
    run = WindowPass(index=rows, embeddings=feats.pooled[rows], clips=clips.array)
    if not with_surprise:
        return run
    context, names = model.spec.context, model.future_objectives
    parts: dict[str, list] = {"copy": [], "ctx": [], "fut": [], **{n: [] for n in names}}
    for start in tqdm(range(0, len(rows), batch_size), desc="surprise", disable=not progress):
        uint8 = torch.from_numpy(np.ascontiguousarray(clips.array[rows[start : start + batch_size]])).to(device)
        video = normalize_clip(uint8, model.mean, model.std)  # (B, C, T, H, W) uint8 -> float
        parts["copy"].append(surprise.copy_last_error(video, context))
        if names:
            per_sample = model.pretrainer.future_errors(uint8)  # {objective: (B,)}
            for name in names:
                parts[name].append(per_sample[name].float())
        else:
            ctx, fut = surprise.half_embeddings(model.encoder, video, context)
            parts["ctx"].append(ctx.float())
            parts["fut"].append(fut.float())
    cat = {k: torch.cat(v).cpu().numpy() for k, v in parts.items() if v}  # device -> host once, after the loop
    run.copy_last = cat["copy"]
    run.errors = {name: cat[name] for name in names}
    run.context_emb, run.future_emb = cat.get("ctx"), cat.get("fut")
    return run
