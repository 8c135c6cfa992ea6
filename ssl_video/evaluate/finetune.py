"""Fine-tuning (pretrained encoder + linear head) and the from-scratch baseline (same
architecture randomly initialised, same budget), trained with Lightning.

Layer-wise learning-rate decay follows BEiT (Bao et al. 2022, Sec. 2.6) and MAE's fine-tuning
recipe (He et al. 2022; reference: facebookresearch/mae ``util/lr_decay.py``): the head and the
last layer get the full lr, layer l of L gets ``lr * decay ** (L + 1 - l)``, the embeddings the
smallest. Early stopping uses a validation split carved by sequence out of the *same* label
fraction, as a user with that many labels would have to.

    model = EncoderHead(encoder, outputs=3, mean=IMAGENET_MEAN, std=IMAGENET_STD)
    logits = model(video_uint8)     # (B, C, T, H, W) uint8 -> (B, 3)
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import save_file
from torch import nn

from ssl_video._io import atomic_path, atomic_write_text
from ssl_video.data.transforms import normalize_clip
from ssl_video.evaluate.features import split_segments
from ssl_video.evaluate.training import SupervisedModule, TrainBudget, fit_supervised
from ssl_video.optim import no_weight_decay, param_groups

# A step budget, small on purpose: every fraction gets at most 60 steps of 8 clips (many epochs
# of a 1% fraction, part of one at 100%), so CPU runs of the quickstart finish in minutes.
# Raise for real evaluations (e.g. --finetune-steps -1 --finetune-epochs 30 on a GPU).
FINETUNE_BUDGET = TrainBudget(max_epochs=1000, max_steps=60, batch_size=8, lr=5e-4, weight_decay=0.05, patience=3,
                              layer_decay=0.75)
# The ceiling: the architecture trained from scratch on 100 % of the labels until the by-sequence
# validation loss stops improving (8 epochs of patience, at most 40 epochs), so a label's headroom is known.
CEILING_BUDGET = TrainBudget(max_epochs=40, max_steps=-1, batch_size=16, lr=5e-4, weight_decay=0.05, patience=8,
                             layer_decay=1.0)


class EncoderHead(nn.Module):
    """Encoder (mean-pooled features) + LayerNorm + linear head on uint8 clips.

    With ``segments`` > 1 an input row is a window's clips concatenated in time, (C, segments * T, H, W)
    (``features.decode_clips(segments=...)``): each clip is encoded and their features averaged (TSN's consensus).
    """

    def __init__(self, encoder: nn.Module, outputs: int, *, mean: Sequence[float], std: Sequence[float],
                 segments: int = 1):
        super().__init__()
        self.encoder, self.mean, self.std, self.segments = encoder, tuple(mean), tuple(std), segments
        self.norm = nn.LayerNorm(encoder.embed_dim)
        self.head = nn.Linear(encoder.embed_dim, outputs)
        nn.init.trunc_normal_(self.head.weight, std=2e-5)  # near-zero head, as MAE fine-tuning
        nn.init.zeros_(self.head.bias)

    def forward(self, video: torch.Tensor) -> torch.Tensor:
        """(B, C, segments * T, H, W) uint8 -> (B, outputs)."""
        return self.normalized_forward(normalize_clip(video, self.mean, self.std))

    def normalized_forward(self, clip: torch.Tensor) -> torch.Tensor:
        """The same on a clip already normalized with ``mean`` / ``std`` (float; what ``heads.Classifier`` gets)."""
        clips = split_segments(clip, self.segments)  # (B * segments, C, T, H, W)
        features = self.encoder(clips).reshape(clip.shape[0], self.segments, -1).mean(1)  # (B, D)
        return self.head(self.norm(features))


def encoder_layers(encoder: nn.Module) -> list[list[nn.Parameter]]:
    """Encoder parameters by depth, input side first: direct parameters (pos-embed) with the first
    child; each entry of a ModuleList (ViT blocks) is its own layer; other children one layer each."""
    layers: list[list[nn.Parameter]] = [list(encoder.parameters(recurse=False))]
    for child in encoder.children():
        members = list(child) if isinstance(child, nn.ModuleList) else [child]
        layers.extend(list(m.parameters()) for m in members)
    if len(layers) > 1:  # fold the direct parameters into the first layer (the patch embedding)
        layers[1] = layers[0] + layers[1]
        layers = layers[1:]
    return [layer for layer in layers if layer]


def layer_decay_param_groups(model: EncoderHead, lr: float, weight_decay: float, decay: float) -> list[dict]:
    """AdamW groups: encoder layer l of L at ``lr * decay ** (L - l)``, head (and norm) at ``lr``;
    weight decay as ``ssl_video.optim.param_groups`` (dim >= 2, position tables excepted)."""
    layers = encoder_layers(model.encoder)
    head = [p for name, p in model.named_parameters() if not name.startswith("encoder.")]
    skip = no_weight_decay(model)
    return [group for depth, params in enumerate([*layers, head])
            for group in param_groups(params, weight_decay, no_decay=skip, lr=lr * decay ** (len(layers) - depth))]


def fit_encoder_head(
    encoder: nn.Module,
    clips,
    labels: np.ndarray,
    train_idx: np.ndarray,
    task: str,
    outputs: int,
    *,
    mean: Sequence[float],
    std: Sequence[float],
    val_idx: np.ndarray | None = None,
    budget: TrainBudget = FINETUNE_BUDGET,
    seed: int = 0,
    segments: int = 1,
) -> SupervisedModule:
    """Fine-tune ``encoder`` + a head on ``clips[train_idx]`` ((N, C, segments * T, H, W) uint8 array or memmap).

    Pass a freshly initialised encoder for the from-scratch baseline; the encoder is trained in place.
    """
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = EncoderHead(encoder, outputs, mean=mean, std=std, segments=segments)

    def groups(m, lr, wd):
        return layer_decay_param_groups(m, lr, wd, budget.layer_decay)

    return fit_supervised(model, clips, labels, train_idx, task, budget, val_idx=val_idx, param_groups=groups,
                          seed=seed, num_classes=outputs)


def save_finetuned(module: SupervisedModule, info: dict[str, Any], out_dir: str | Path) -> Path:
    """Write ``out_dir/model.safetensors`` (encoder + head weights; ``info`` in its header) and
    ``out_dir/metrics.json`` (``info``), atomically. Loading never runs code (safetensors)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()}
    text = json.dumps(info, indent=2, default=str)
    with atomic_path(out / "model.safetensors") as tmp:
        save_file(state, str(tmp), metadata={"ssl_video_finetune": text})
    atomic_write_text(out / "metrics.json", text + "\n")
    return out / "model.safetensors"
