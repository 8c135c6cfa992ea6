"""The exported weights format: ``model.safetensors`` + ``config.json``, and export from a checkpoint.

``config.json`` (also embedded in the safetensors header under ``ssl_video_config``, so a
single downloaded file is self-contained and its sha256 covers the config too)::

    {"format_version": 1,
     "architecture": "vit_tiny",                  # a registered encoder name, nothing else is built
     "args": {...},                                # its config fields: get_encoder(architecture, **args)
     "preprocessing": {"fps", "size": [H, W], "resize", "mean", "std", "context", "future"},  # ClipSpec
     "training": {"data", "steps", "objectives", "probe_metrics", ...},
     "ssl_video_version": "0.1.0"}

Weights exported with the objectives (``ssl-video weights export --objectives``) also hold the
pretraining objectives' tensors (predictors, heads, EMA targets) under ``objectives.<i>.``
keys, described by ``training.objectives``; encoders ignore them, continued pretraining
(``model.init_objectives``) starts from them.

Safetensors stores raw tensors only, so loading it never runs code (unlike pickle).
Lightning checkpoints are read with ``torch.load(weights_only=True)``, which refuses any
pickled object other than tensors and plain containers.
"""

from __future__ import annotations

import json
import logging
import pickle
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from ssl_video import __version__
from ssl_video._io import atomic_path, atomic_write_text
from ssl_video.errors import UserError
from ssl_video.models import get_encoder, list_encoders
from ssl_video.spec import ClipSpec

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
METADATA_KEY = "ssl_video_config"
CHECKPOINT_KEYS = ("architecture", "args", "format_version")  # config keys an export takes from the checkpoint
OBJECTIVES_PREFIX = "objectives."  # keys of the pretraining objectives' tensors, next to the encoder's


class WeightsFormatError(UserError):
    """A weights file or checkpoint that cannot be used; the message names the file. A :class:`UserError` (so a
    ``ValueError``): ``ssl-video`` prints it as one line and exits 2."""


def remap_state_dict_keys(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Undo the renaming done by wrappers: drop leading ``module.`` (DDP / DataParallel) and every
    ``_orig_mod`` segment (torch.compile). Other keys pass through unchanged.

    >>> list(remap_state_dict_keys({"module._orig_mod.blocks.0.attn.qkv.weight": torch.zeros(1)}))
    ['blocks.0.attn.qkv.weight']
    """
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        parts = [p for p in key.split(".") if p != "_orig_mod"]
        while parts and parts[0] == "module":
            parts = parts[1:]
        new = ".".join(parts)
        if new in out:
            raise WeightsFormatError(f"state dict keys collide after remapping: {key!r} -> {new!r}")
        out[new] = value
    return out


def save_exported(state: Mapping[str, torch.Tensor], config: Mapping[str, Any], out_dir: str | Path) -> Path:
    """Write ``out_dir/model.safetensors`` and ``out_dir/config.json`` atomically; returns the safetensors path.

    Re-exporting into a folder never pairs new weights with an old ``config.json``: the old one is removed first,
    and until the new one is written readers take the config from the weights' own header.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    text = json.dumps(config, indent=2, sort_keys=True)
    tensors = {k: v.detach().cpu().contiguous() for k, v in state.items()}
    (out / CONFIG_FILE).unlink(missing_ok=True)
    with atomic_path(out / WEIGHTS_FILE) as tmp:
        save_file(tensors, str(tmp), metadata={METADATA_KEY: text})
    atomic_write_text(out / CONFIG_FILE, text + "\n")
    return out / WEIGHTS_FILE


def check_config(config: Any, source: str | Path) -> dict[str, Any]:
    """Validate the parts of a config that decide what gets built; refuse anything but a registered architecture."""
    if not isinstance(config, dict):
        raise WeightsFormatError(f"{source}: config must be a JSON object, got {type(config).__name__}")
    for key in ("architecture", "args"):
        if key not in config:
            raise WeightsFormatError(f"{source}: config has no {key!r} key")
    if config["architecture"] not in list_encoders():
        raise WeightsFormatError(f"{source}: architecture {config['architecture']!r} is not a registered encoder "
                                 f"(registered: {list_encoders()})")
    if not isinstance(config["args"], dict):
        raise WeightsFormatError(f"{source}: config 'args' must be an object")
    return config


def read_safetensors(path: str | Path, config_path: str | Path | None = None) -> tuple[dict[str, torch.Tensor], dict]:
    """-> (state dict, config) from a safetensors file; config from ``config_path`` if given, else its header."""
    path = Path(path)
    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            metadata = f.metadata() or {}
            state = {k: f.get_tensor(k) for k in f.keys()}
    except (SafetensorError, OSError, ValueError) as e:  # e.g. a pickle renamed to .safetensors
        raise WeightsFormatError(f"{path}: not a readable safetensors file ({e}); download or export it again (a "
                                 "cut-off copy, or another format renamed to .safetensors?)") from e
    if config_path is not None:
        try:
            text = Path(config_path).read_text()
        except (OSError, UnicodeDecodeError) as e:
            raise WeightsFormatError(f"{config_path}: cannot read the weights' config ({e})") from e
    elif METADATA_KEY in metadata:
        text = metadata[METADATA_KEY]
    else:
        raise WeightsFormatError(f"{path}: no {CONFIG_FILE} next to it and no {METADATA_KEY!r} in its header")
    try:
        config = json.loads(text)
    except json.JSONDecodeError as e:
        raise WeightsFormatError(f"{config_path or path}: config is not valid JSON ({e})") from e
    return state, check_config(config, config_path or path)


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """``torch.load(weights_only=True)``: refuses pickles that would build arbitrary objects or run code."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, SafetensorError, RuntimeError, AttributeError, EOFError) as e:
        raise WeightsFormatError(f"{path}: refused to load (only tensors and plain containers are allowed "
                                 f"with weights_only=True): {e}") from e


def checkpoint_to_exported(ckpt: Mapping[str, Any], source: str | Path, prefix: str = "encoder.",
                           objectives: bool = False) -> tuple[dict, dict]:
    """Lightning checkpoint (checkpoint contract) -> (encoder state dict, config without 'training' extras).

    ``objectives``: also the objectives' tensors, under their ``objectives.<i>.`` keys.
    """
    for key in ("ssl_video", "state_dict"):
        if key not in ckpt:
            raise WeightsFormatError(f"{source}: not an ssl_video checkpoint (no {key!r} entry)")
    meta = ckpt["ssl_video"]
    state = {k[len(prefix):]: v for k, v in ckpt["state_dict"].items() if k.startswith(prefix)}
    if not state:
        raise WeightsFormatError(f"{source}: no state_dict keys start with {prefix!r}")
    state = remap_state_dict_keys(state)
    if objectives:
        heads = {k: v for k, v in ckpt["state_dict"].items() if k.startswith(OBJECTIVES_PREFIX)}
        state.update(remap_state_dict_keys(heads))
    config = {
        "format_version": FORMAT_VERSION,
        "architecture": meta["encoder"]["name"],
        "args": dict(meta["encoder"]["args"]),
        "preprocessing": ClipSpec.from_checkpoint(meta).to_dict(),
        "training": {"objectives": meta.get("objectives", []), "steps": ckpt.get("global_step"),
                     "epochs": ckpt.get("epoch"), "source_checkpoint": Path(source).name},
        "ssl_video_version": __version__,
    }
    if "data" in meta:
        config["training"]["data"] = meta["data"]
    if meta.get("init_encoder"):
        config["training"]["init_encoder"] = meta["init_encoder"]
    return state, check_config(config, source)


def split_objectives(state: Mapping[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """-> (encoder state, objectives' state with the ``objectives.`` prefix removed: keys ``<i>.<name>``)."""
    encoder, objectives = {}, {}
    for key, value in state.items():
        if key.startswith(OBJECTIVES_PREFIX):
            objectives[key[len(OBJECTIVES_PREFIX):]] = value
        else:
            encoder[key] = value
    return encoder, objectives


def build_encoder(state: Mapping[str, torch.Tensor], config: Mapping[str, Any], source: str | Path,
                  **overrides: Any) -> torch.nn.Module:
    """Instantiate the registered architecture and load ``state`` (objectives' keys aside) with strict=True."""
    encoder = get_encoder(config["architecture"], **{**config["args"], **overrides})
    try:
        encoder.load_state_dict(remap_state_dict_keys(split_objectives(state)[0]), strict=True)
    except RuntimeError as e:
        raise WeightsFormatError(f"{source}: weights do not fit {config['architecture']} {config['args']}: {e}") from e
    return encoder


def export_weights(ckpt_path: str | Path, out_dir: str | Path, extra: Mapping[str, Any] | None = None,
                   *, prefix: str = "encoder.", objectives: bool = False) -> Path:
    """Lightning checkpoint -> ``out_dir/{model.safetensors, config.json}``; returns ``out_dir``.

    ``extra`` is merged into the config one level deep, e.g.
    ``{"training": {"probe_metrics": {...}, "data": "drive_world"}}``; it cannot change the
    architecture. The export is checked by loading it into a fresh encoder (strict). ``objectives``: the file
    also holds the pretraining objectives' tensors, so that continued pretraining can start from them
    (``model.init_objectives``).
    """
    state, config = checkpoint_to_exported(read_checkpoint(ckpt_path), ckpt_path, prefix, objectives)
    for key, value in (extra or {}).items():
        if key in CHECKPOINT_KEYS:
            raise UserError(f"extra may not set {key!r}: it comes from the checkpoint; remove {key!r} from the extra "
                            f"config (ssl-video weights export --extra FILE)")
        if isinstance(value, Mapping) and isinstance(config.get(key), dict):
            config[key].update(value)
        else:
            config[key] = value
    build_encoder(state, config, ckpt_path)
    path = save_exported(state, config, out_dir)
    log.info("exported %s (%s) to %s", ckpt_path, config["architecture"], path)
    return path.parent
