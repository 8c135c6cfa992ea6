"""Hugging Face ``transformers`` video models as frozen ssl_video encoders: V-JEPA 2, VideoMAE, TimeSformer.

Sources: a folder written by ``save_pretrained`` (``config.json`` with a ``model_type`` and safetensors
weights), or ``hf://org/repo[@revision]``, fetched with ``huggingface_hub.snapshot_download`` into the
Hugging Face cache (only the JSON configs and safetensors files; offline once cached). Weights are
read from safetensors only: a repo that holds nothing but a pickled ``pytorch_model.bin`` is refused.

Preprocessing comes from the model's own files: frames and size from ``config.json`` (``num_frames`` /
``image_size``; V-JEPA 2: ``frames_per_clip`` / ``crop_size``), mean/std (and ``num_frames`` / ``fps`` when
present) from the processor's ``video_preprocessor_config.json`` / ``preprocessor_config.json``, else
ImageNet's. No config records the sampling rate, so the family's training rate is the default fps:
VideoMAE 7.5 (16 frames, stride 4 at 30 fps on Kinetics [1]), TimeSformer 0.9375 (8 frames, 1 in 32
at 30 fps [2]), V-JEPA 2 4.0 (``data.fps`` of its pretraining configs [3]).

[1] Tong et al., "VideoMAE", NeurIPS 2022. [2] Bertasius et al., "Is Space-Time Attention All You Need
for Video Understanding?", ICML 2021. [3] Assran et al., "V-JEPA 2", 2025,
https://github.com/facebookresearch/vjepa2 (configs/train/vitl16/pretrain-256px-16f.yaml).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ssl_video.errors import UserError
from ssl_video.hub.download import DownloadError
from ssl_video.hub.foreign.base import ForeignEncoder, check_clip, preprocessing, refuse_other_clip, require
from ssl_video.hub.format import WeightsFormatError
from ssl_video.spec import IMAGENET_MEAN, IMAGENET_STD

PREFIX = "hf://"
CONFIG = "config.json"
PROCESSOR_FILES = ("video_preprocessor_config.json", "preprocessor_config.json")
SNAPSHOT_FILES = [CONFIG, *PROCESSOR_FILES, "*.safetensors", "*.safetensors.index.json"]


def _pair(value: Any) -> tuple[int, int]:
    return (int(value), int(value)) if isinstance(value, int) else (int(value[0]), int(value[1]))


def _zoom(kind: str, processor: dict[str, Any], crop: tuple[int, int]) -> int | tuple[int, int] | None:
    """The processor's resize before its centre crop: ``size.shortest_edge`` (the short side) or ``size.height`` /
    ``width`` (a squash). Without a processor file, V-JEPA 2's processor resizes the short side to crop * 256 / 224
    (292 for 256) and the others resize it to the crop."""
    size = processor.get("size")
    if isinstance(size, dict) and size.get("shortest_edge"):
        return int(size["shortest_edge"])
    if isinstance(size, dict) and size.get("height") and size.get("width"):
        return int(size["height"]), int(size["width"])
    return int(min(crop) * 256 / 224) if kind == "vjepa2" else None


class VideoMAEEncoder(ForeignEncoder):
    """``VideoMAEModel``: tokens = ``last_hidden_state`` on the (T/tubelet, H/p, W/p) grid; pooled = their mean.
    (The base model has no pooling: with ``use_mean_pooling`` the ``fc_norm`` sits in the classification head,
    which is not loaded.) Reads clips of exactly ``num_frames`` x ``image_size``: its position table is fixed."""

    def __init__(self, model: torch.nn.Module):
        c = model.config
        super().__init__(model, c.hidden_size)
        self.clip = (c.num_frames, *_pair(c.image_size))
        self.cell = (c.tubelet_size, *_pair(c.patch_size))

    def grid_size(self, T: int, H: int, W: int) -> tuple[int, int, int]:
        if (T, H, W) != self.clip:
            raise ValueError(f"VideoMAE reads clips of exactly (T, H, W) = {self.clip} (a fixed position table), "
                             f"got {(T, H, W)}")
        return T // self.cell[0], H // self.cell[1], W // self.cell[2]

    def forward_tokens_and_pooled(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        check_clip(x, self)
        tokens = self.model(pixel_values=x.transpose(1, 2)).last_hidden_state  # (B, T, C, H, W) in -> (B, N, D)
        return tokens, tokens.mean(1)


class VJEPA2Encoder(ForeignEncoder):
    """``VJEPA2Model`` (encoder only, ``skip_predictor=True``): tokens = ``last_hidden_state`` (after its final
    LayerNorm) on the (T/tubelet, H/p, W/p) grid; pooled = their mean (the attentive pooler belongs to the
    classification model). Any clip length that the tubelet divides; frames of exactly ``crop_size``, since the
    3-D RoPE reads rows and columns from a ``crop_size`` grid."""

    def __init__(self, model: torch.nn.Module):
        c = model.config
        super().__init__(model, c.hidden_size)
        self.size = (c.crop_size, c.crop_size)
        self.cell = (c.tubelet_size, c.patch_size, c.patch_size)

    def grid_size(self, T: int, H: int, W: int) -> tuple[int, int, int]:
        if (H, W) != self.size or T % self.cell[0]:
            raise ValueError(f"V-JEPA 2 reads frames of exactly {self.size} and a multiple of {self.cell[0]} frames, "
                             f"got {(T, H, W)}")
        return T // self.cell[0], H // self.cell[1], W // self.cell[2]

    def forward_tokens_and_pooled(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        check_clip(x, self)
        out = self.model(pixel_values_videos=x.transpose(1, 2), skip_predictor=True)  # (B, T, C, H, W) in
        tokens = out.last_hidden_state  # (B, N, D)
        return tokens, tokens.mean(1)


class TimesformerEncoder(ForeignEncoder):
    """``TimesformerModel``: tokens = the patch tokens of ``last_hidden_state`` (after its final LayerNorm),
    reordered from the model's (h, w, t) to time-major (t, h, w); pooled = the [CLS] token, which
    ``TimesformerForVideoClassification`` feeds its classifier. Reads clips of exactly ``num_frames`` x
    ``image_size`` (its layers take both from the config)."""

    def __init__(self, model: torch.nn.Module):
        c = model.config
        super().__init__(model, c.hidden_size)
        self.clip = (c.num_frames, c.image_size, c.image_size)
        self.patch = c.patch_size

    def grid_size(self, T: int, H: int, W: int) -> tuple[int, int, int]:
        if (T, H, W) != self.clip:
            raise ValueError(f"TimeSformer reads clips of exactly (T, H, W) = {self.clip}, got {(T, H, W)}")
        return T, H // self.patch, W // self.patch

    def forward_tokens_and_pooled(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        t, h, w = check_clip(x, self)
        out = self.model(pixel_values=x.transpose(1, 2)).last_hidden_state  # (B, 1 + h*w*t, D): [CLS, (h, w, t)]
        B, _, D = out.shape
        tokens = out[:, 1:].reshape(B, h, w, t, D).permute(0, 3, 1, 2, 4)  # (B, h, w, t, D) -> (B, t, h, w, D)
        return tokens.reshape(B, t * h * w, D), out[:, 0]


@dataclass(frozen=True)
class Family:
    model_class: str
    config_class: str
    adapter: type[ForeignEncoder]
    fps: float  # default sampling rate (module docstring)
    frames_key: str
    size_key: str
    optional: tuple[str, ...] = ()  # weights the files may lack: parts of the model the encoder does not use


FAMILIES = {
    "videomae": Family("VideoMAEModel", "VideoMAEConfig", VideoMAEEncoder, 7.5, "num_frames", "image_size"),
    "vjepa2": Family("VJEPA2Model", "VJEPA2Config", VJEPA2Encoder, 4.0, "frames_per_clip", "crop_size",
                     ("predictor.",)),
    "timesformer": Family("TimesformerModel", "TimesformerConfig", TimesformerEncoder, 0.9375, "num_frames",
                          "image_size"),
}


def parse_repo(source: str) -> tuple[str, str | None] | None:
    """``hf://org/repo[@revision]`` -> (repo id, revision); None for anything else (``hf://org/repo/file`` is one
    ssl_video weights file, see ``ssl_video.hub.download``)."""
    if not source.startswith(PREFIX):
        return None
    repo, _, revision = source[len(PREFIX):].partition("@")
    parts = repo.strip("/").split("/")
    if len(parts) != 2 or not all(parts):
        return None
    return "/".join(parts), revision or None


def snapshot(source: str) -> Path:
    """Fetch ``hf://org/repo[@revision]``'s configs and safetensors into the Hugging Face cache -> the local folder.

    ``HF_ENDPOINT`` is read here (``huggingface_hub`` reads it once, at import). Offline, the cached snapshot of the
    revision is used."""
    repo, revision = parse_repo(source) or (None, None)
    if repo is None:
        raise UserError(f"{source}: expected hf://org/repo or hf://org/repo@revision")
    hub = require("huggingface_hub", source)
    errors = require("huggingface_hub.errors", source)
    try:
        path = hub.snapshot_download(repo, revision=revision, allow_patterns=SNAPSHOT_FILES,
                                     endpoint=os.environ.get("HF_ENDPOINT"))
    except (errors.RepositoryNotFoundError, errors.RevisionNotFoundError) as e:
        raise UserError(f"{source}: no such repository or revision on the Hub ({type(e).__name__})") from None
    except errors.LocalEntryNotFoundError as e:
        raise DownloadError(f"{source}: the Hub cannot be reached and nothing is cached ({e}); connect to the "
                            "network (or set HF_ENDPOINT to a mirror) and run it again") from e
    return Path(path)


def read_json(path: Path) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise UserError(f"{path}: not a readable JSON file ({e})") from None
    if not isinstance(value, dict):
        raise UserError(f"{path}: expected a JSON object")
    return value


def model_type(folder: Path) -> str | None:
    """The ``model_type`` of a transformers folder's config.json; None when the folder has none."""
    path = folder / CONFIG
    if not path.is_file():
        return None
    value = read_json(path).get("model_type")  # a transformers config; ssl_video's own has none
    return value if isinstance(value, str) else None


def check_weights(folder: Path, source: str) -> None:
    if any(folder.glob("*.safetensors")) or any(folder.glob("*.safetensors.index.json")):
        return
    pickled = sorted(p.name for p in folder.glob("*.bin"))
    why = f"it holds only {', '.join(pickled)} (a pickle, never loaded)" if pickled else "it holds no weights"
    raise UserError(f"{source}: no safetensors weights: {why}; save the model with save_pretrained() (safetensors "
                    f"is its default) or pick a revision that has model.safetensors (hf://org/repo@refs/pr/N)")


def _processor(folder: Path) -> dict[str, Any]:
    for name in PROCESSOR_FILES:
        if (folder / name).is_file():
            return read_json(folder / name)
    return {}


def _family(kind: str | None, source: str) -> Family:
    if kind is None:
        raise UserError(f"{source}: config.json has no transformers model_type (ssl_video's own weights on the Hub "
                        f"load as hf://org/repo/model.safetensors)")
    if kind not in FAMILIES:
        raise UserError(f"{source}: model_type {kind!r} is not a supported video model; supported: "
                        f"{', '.join(sorted(FAMILIES))}")
    return FAMILIES[kind]


def _wrap(kind: str, model: torch.nn.Module, source: str) -> ForeignEncoder:
    if kind == "timesformer" and model.config.attention_type == "space_only":
        raise UserError(f"{source}: TimeSformer with attention_type='space_only' encodes each frame on its own; "
                        f"use a divided_space_time or joint_space_time model")
    return FAMILIES[kind].adapter(model.float()).eval()


def load_folder(folder: Path, source: str, options: dict[str, Any]) -> tuple[ForeignEncoder, dict[str, Any]]:
    """A ``save_pretrained`` folder -> (encoder in eval mode, config dict in the exported config's shape)."""
    kind = model_type(folder)
    family = _family(kind, source)
    check_weights(folder, source)
    transformers = require("transformers", source)
    model, info = getattr(transformers, family.model_class).from_pretrained(
        str(folder), use_safetensors=True, local_files_only=True, output_loading_info=True)
    # from_pretrained fills weights the files lack with random values; only V-JEPA 2's predictor may be absent
    # (classification checkpoints have none, and the encoder does not use it)
    missing = [k for k in info.get("missing_keys", []) if not k.startswith(family.optional)]
    if missing:
        raise WeightsFormatError(f"{source}: the safetensors files lack {len(missing)} of the model's weights "
                                 f"(e.g. {sorted(missing)[0]}); they would be random: save the whole model again")
    encoder = _wrap(kind, model, source)
    c, proc = model.config, _processor(folder)  # the processor's keys are optional: .get
    size, frames = _pair(getattr(c, family.size_key)), getattr(c, family.frames_key)
    record = preprocessing(fps=proc.get("fps") or family.fps, frames=proc.get("num_frames") or frames, size=size,
                           mean=proc.get("image_mean") or IMAGENET_MEAN, std=proc.get("image_std") or IMAGENET_STD,
                           options=options, zoom=_zoom(kind, proc, size))
    if kind == "vjepa2":
        refuse_other_clip(source, record, None, size, "its RoPE grid is crop_size")
        if record["context"] % c.tubelet_size:
            raise UserError(f"{source}: frames must be a multiple of the tubelet ({c.tubelet_size})")
    else:
        refuse_other_clip(source, record, frames, size, "its positions are fixed")
    config = {"architecture": f"hf:{kind}", "args": c.to_dict(), "preprocessing": record, "source": source}
    return encoder, config


def build_random(config: dict[str, Any], source: str) -> ForeignEncoder:
    """The architecture of a loaded config dict with fresh weights (the transformers init); seed it outside."""
    kind = config["architecture"].removeprefix("hf:")
    family = _family(kind, source)
    transformers = require("transformers", source)
    model_config = getattr(transformers, family.config_class).from_dict(dict(config["args"]))
    return _wrap(kind, getattr(transformers, family.model_class)(model_config), source)
