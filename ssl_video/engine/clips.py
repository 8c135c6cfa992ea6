"""What ``mine`` and ``shadow`` share: load a model by reference, run it over windows.

A model reference is a pretraining checkpoint (``.ckpt``: the encoder *and* its future
predictors, so ``mine --by surprise`` can use the objective's own error), anything
``ssl_video.hub.load_encoder`` accepts (exported weights, a registered weights name), or a
bare registry architecture name such as ``vit_tiny`` (randomly initialised: a baseline).

One pass over the windows decodes one deterministic clip per window (centred,
``eval_clip_start``), normalizes it on the device and returns per-window arrays:
embeddings ``(N, D)``, and when asked the surprise ingredients.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ssl_video.data.sampling import ClipSpec
from ssl_video.data.transforms import IMAGENET_MEAN, IMAGENET_STD, normalize_clip
from ssl_video.engine import surprise

log = logging.getLogger(__name__)

# Objectives whose loss is a future-prediction error (``masked`` reconstructs the present).
FUTURE_OBJECTIVES = ("future_pixels", "future_features")


@dataclass
class LoadedModel:
    """An encoder ready for inference plus how it wants its clips."""

    encoder: nn.Module
    spec: ClipSpec
    mean: tuple[float, ...] = tuple(IMAGENET_MEAN)
    std: tuple[float, ...] = tuple(IMAGENET_STD)
    pretrainer: Any = None  # a VideoPretrainer when loaded from a .ckpt (carries the future predictors)
    source: str = ""

    @property
    def future_objectives(self) -> list[nn.Module]:
        if self.pretrainer is None:
            return []
        return [o for o in self.pretrainer.objectives if o.name in FUTURE_OBJECTIVES]


def clip_spec_from(meta: dict | None, overrides: dict[str, Any]) -> ClipSpec:
    """ClipSpec from a checkpoint/weights ``clip`` record, with CLI overrides (None = keep)."""
    fields = dict(meta or {})
    fields.update({k: v for k, v in overrides.items() if v is not None})
    if "size" in fields:
        size = fields["size"]
        fields["size"] = (int(size), int(size)) if isinstance(size, (int, float)) else tuple(int(s) for s in size)
    return ClipSpec(**{k: fields[k] for k in ("context", "future", "fps", "size") if k in fields})


def load_model(ref: str, *, clip_overrides: dict[str, Any] | None = None, device: str = "cpu") -> LoadedModel:
    """Resolve ``--encoder``: a ``.ckpt`` (with predictors), exported weights, or an architecture name."""
    from ssl_video.models.registry import get_encoder, list_encoders

    overrides = dict(clip_overrides or {})
    if ref in list_encoders() and not Path(ref).exists():
        log.warning("%s is an architecture name: using a randomly initialised encoder (a baseline, not a trained model)", ref)
        encoder = get_encoder(ref)
        return LoadedModel(encoder.eval().to(device), clip_spec_from(None, overrides), source=f"random {ref}")
    from ssl_video.hub.api import load_encoder_with_config

    encoder, config = load_encoder_with_config(ref, device=device, progress=True)
    pre = config.get("preprocessing", {})
    spec = clip_spec_from({k: pre[k] for k in ("context", "future", "fps", "size") if k in pre}, overrides)
    mean, std = tuple(pre.get("mean", IMAGENET_MEAN)), tuple(pre.get("std", IMAGENET_STD))
    pretrainer = _load_pretrainer(ref, device) if str(ref).endswith(".ckpt") else None
    if pretrainer is not None:
        encoder = pretrainer.encoder  # the same weights, inside the module that owns the predictors
    return LoadedModel(encoder.eval(), spec, mean, std, pretrainer=pretrainer, source=str(ref))


def _load_pretrainer(path: str, device: str):
    """The VideoPretrainer of a ``.ckpt`` (encoder + objective heads), or None if it cannot be rebuilt."""
    try:
        from ssl_video.pretrain.module import load_pretrainer
    except ImportError:
        log.warning("ssl_video.pretrain.module.load_pretrainer is not available: %s is used as a plain encoder", path)
        return None
    return load_pretrainer(path, map_location=device).eval()


@dataclass
class WindowPass:
    """Per-window outputs of one pass; rows follow ``index`` (windows whose clip failed are absent)."""

    index: np.ndarray  # (N,) positions in the input window list that decoded (short or broken ones are absent)
    embeddings: np.ndarray  # (N, D) mean-pooled encoder features of the whole clip
    copy_last: np.ndarray | None = None  # (N,) pixel copy-last error (normalized pixels)
    errors: dict[str, np.ndarray] = field(default_factory=dict)  # objective name -> (N,) per-sample loss
    context_emb: np.ndarray | None = None  # (N, D) context-half embeddings (plain-encoder surprise)
    future_emb: np.ndarray | None = None  # (N, D) future-half embeddings
    dropped: int = 0


def clip_loader(windows, infos, spec: ClipSpec, *, batch_size: int = 8, num_workers: int = 0):
    """A DataLoader of dict(video=(B, C, T, H, W) uint8, index=(B,)) over deterministic centred clips."""
    from ssl_video.data.datasets import ClipDataset, collate_clips

    dataset = ClipDataset(windows, infos, spec, mode="eval")
    return torch.utils.data.DataLoader(dataset, batch_size=batch_size, num_workers=num_workers,
                                       collate_fn=collate_clips, shuffle=False)


@torch.no_grad()
def run_windows(model: LoadedModel, windows, infos, *, with_surprise: bool = False, batch_size: int = 8,
                num_workers: int = 0, device: str = "cpu", progress: bool = False) -> WindowPass:
    """One pass over ``windows``: embeddings always; surprise ingredients when asked."""
    from tqdm.auto import tqdm

    context = model.spec.context
    objectives = [o.name for o in model.future_objectives] if with_surprise else []
    parts: dict[str, list] = {"index": [], "emb": [], "copy": [], "ctx": [], "fut": []}
    errors: dict[str, list] = {name: [] for name in objectives}
    dropped = 0
    loader = clip_loader(windows, infos, model.spec, batch_size=batch_size, num_workers=num_workers)
    for batch in tqdm(loader, desc="clips", disable=not progress):
        dropped += int(batch.get("dropped", 0))
        if batch["video"].shape[0] == 0:
            continue
        video = normalize_clip(batch["video"].to(device), model.mean, model.std)  # (B, C, T, H, W) float
        parts["index"].append(batch["window"].cpu())  # position in `windows`
        parts["emb"].append(model.encoder(video).float().cpu())  # (B, D)
        if not with_surprise:
            continue
        parts["copy"].append(surprise.copy_last_error(video, context).cpu())
        if objectives:
            per_sample = model.pretrainer.future_errors(batch["video"].to(device))  # {name: (B,)}
            for name in objectives:
                errors[name].append(per_sample[name].float().cpu())
        else:
            ctx, fut = surprise.half_embeddings(model.encoder, video, context)
            parts["ctx"].append(ctx.float().cpu())
            parts["fut"].append(fut.float().cpu())
    if not parts["index"]:
        raise ValueError(f"no clip could be decoded from {len(windows)} windows ({dropped} failed)")

    def cat(key):
        return torch.cat(parts[key]).numpy() if parts[key] else None

    return WindowPass(index=cat("index").astype(np.int64), embeddings=cat("emb"), copy_last=cat("copy"),
                      errors={k: torch.cat(v).numpy() for k, v in errors.items()},
                      context_emb=cat("ctx"), future_emb=cat("fut"), dropped=dropped)


def decode_clip(window, info, spec: ClipSpec) -> np.ndarray:
    """The deterministic clip of one window as (T, H, W, C) uint8 (for contact sheets)."""
    from ssl_video.data.datasets import ClipDataset

    item = ClipDataset([window], {window.video: info}, spec, mode="eval", short="clamp")[0]
    if item is None:
        raise ValueError(f"cannot decode a clip of {window.video} at {window.start_s}s")
    return item["video"].permute(1, 2, 3, 0).numpy()  # (C, T, H, W) -> (T, H, W, C)
