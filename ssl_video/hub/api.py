"""``load_encoder``: one call from a name, file, folder or URL to a ready encoder.

    >>> enc, config = load_encoder_with_config("runs/quickstart/weights")   # exported folder
    >>> enc = load_encoder("drive-future-tiny")                             # registered weights
    >>> enc = load_encoder("http://host/model.safetensors", sha256="...")   # plain URL
    >>> enc = load_encoder("hf://MCG-NJU/videomae-base")                    # a public video model (foreign)
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Any

import torch

from ssl_video.errors import UserError
from ssl_video.hub.download import download, is_url, resolve_url
from ssl_video.hub.foreign import is_foreign, load_foreign_encoder
from ssl_video.hub.format import (
    CONFIG_FILE,
    WEIGHTS_FILE,
    WeightsFormatError,
    build_encoder,
    checkpoint_to_exported,
    read_checkpoint,
    read_safetensors,
    split_objectives,
)
from ssl_video.hub.registry import fetch_weights, find_weights, weights_cache_dir, weights_names
from ssl_video.models import registry as models

log = logging.getLogger(__name__)
CHECKPOINT_SUFFIXES = (".ckpt", ".pt", ".pth")


def _read_local(path: Path, objectives: bool = False) -> tuple[dict, dict]:
    """Local folder / .safetensors / Lightning .ckpt -> (state dict, config); ``objectives``: a checkpoint's too."""
    if path.is_dir():
        if not (path / WEIGHTS_FILE).exists():
            raise WeightsFormatError(f"{path}: folder has no {WEIGHTS_FILE}")
        config = path / CONFIG_FILE
        return read_safetensors(path / WEIGHTS_FILE, config if config.exists() else None)
    if path.suffix in CHECKPOINT_SUFFIXES:
        return checkpoint_to_exported(read_checkpoint(path), path, objectives=objectives)
    sidecar = path.parent / CONFIG_FILE
    return read_safetensors(path, sidecar if path.name == WEIGHTS_FILE and sidecar.exists() else None)


def _fetch_url(url: str, sha256: str | None, progress: bool) -> Path:
    """Download a plain URL into the cache (keyed by the URL) and return the local file."""
    name = resolve_url(url).rstrip("/").rsplit("/", 1)[-1]
    if not name.endswith(".safetensors"):
        # Downloaded data is only ever parsed as safetensors, never unpickled.
        raise WeightsFormatError(f"{url}: only .safetensors files are loaded from URLs")
    key = hashlib.sha256(url.encode()).hexdigest()[:16]
    return download(url, weights_cache_dir() / "urls" / f"{key}-{name}", sha256=sha256, progress=progress)


def _read_source(source: str | Path, sha256: str | None, progress: bool, objectives: bool = False) -> tuple[dict, dict]:
    """Any source ``load_encoder`` takes -> (state dict, config), verified like a download."""
    text = str(source)
    if Path(text).exists():
        return _read_local(Path(text), objectives)
    if is_url(text):
        return read_safetensors(_fetch_url(text, sha256, progress))
    entry = find_weights(text)  # a registered name: name@N, or a bare name for its newest version
    if entry is not None:
        state, config = read_safetensors(fetch_weights(entry.full_name, progress=progress))
        if entry.config and entry.config.get("architecture") not in (None, config["architecture"]):
            raise WeightsFormatError(f"weights {text!r}: registry says {entry.config['architecture']}, "
                                     f"file says {config['architecture']}")
        return state, config
    raise UserError(f"{text!r} is neither an existing file/folder, a URL, nor a registered weights name "
                     f"(registered: {weights_names()})")


def load_objectives_state(source: str | Path, *, sha256: str | None = None,
                          progress: bool = True) -> tuple[dict[str, torch.Tensor], list[dict]]:
    """-> (the pretraining objectives' tensors, keyed ``<i>.<name>`` as in ``VideoPretrainer.objectives``, and
    their descriptions ``[{"name", "init_args", ...}]``) from an ``ssl-video fit`` checkpoint or weights exported
    with ``--objectives`` (the built-in weights are). Raises ``UserError`` when ``source`` holds none.
    """
    if sha256 is None and is_foreign(source):
        raise UserError(f"{source}: a public model holds no ssl_video pretraining objectives")
    state, config = _read_source(source, sha256, progress, objectives=True)
    objectives = split_objectives(state)[1]
    if not objectives:
        raise UserError(f"{source}: holds no pretraining objectives' weights (give the `ssl-video fit` checkpoint, "
                        f"or export with `ssl-video weights export CKPT OUT --objectives`)")
    return objectives, list(config.get("training", {}).get("objectives", []))


def load_encoder_with_config(source: str | Path, *, device: str | torch.device = "cpu", sha256: str | None = None,
                             progress: bool = True, **overrides: Any) -> tuple[torch.nn.Module, dict]:
    """-> (encoder in eval mode on ``device``, exported config dict with its ``preprocessing``).

    ``source``: an exported folder, a ``.safetensors`` file, a Lightning ``.ckpt``
    (``torch.load(weights_only=True)``), a URL (https/http/file/hf; safetensors only;
    checked against ``sha256`` when given) or a registered weights name. Only registered
    architectures are built; weights load with ``strict=True``. ``overrides`` change config
    fields that do not change the weights (e.g. ``drop_path`` for fine-tuning).

    A foreign source (``ssl_video.hub.foreign``: a ``transformers`` folder, ``hf://org/repo`` without a
    ``sha256``, ``torchvision:...``) loads that public model behind the encoder API, its config in the same shape.
    """
    if sha256 is None and is_foreign(source):
        if overrides:
            raise UserError(f"{source}: {sorted(overrides)} change ssl_video architectures only, not a foreign model")
        encoder, config = load_foreign_encoder(source, progress=progress)
        return encoder.to(device).eval(), config
    state, config = _read_source(source, sha256, progress)
    encoder = build_encoder(state, config, str(source), **overrides)
    return encoder.to(device).eval(), config


def load_encoder(source: str | Path, *, device: str | torch.device = "cpu", **kwargs: Any) -> torch.nn.Module:
    """Like ``load_encoder_with_config`` but returns only the encoder (eval mode)."""
    return load_encoder_with_config(source, device=device, **kwargs)[0]


def get_encoder(name: str, *, weights: str | Path | None = None, **overrides: Any) -> torch.nn.Module:
    """torchvision-style ``get_encoder("vit_tiny", weights="drive-future-vit-tiny")``: the registered architecture
    ``name``, with random weights when ``weights`` is None, else loaded from ``weights`` (anything
    :func:`load_encoder` takes; its architecture must be ``name``, ``overrides`` may only change fields that keep the
    weights' shapes, e.g. ``drop_path``). Returned in train mode, like any freshly built module."""
    if weights is None:
        return models.get_encoder(name, **overrides)
    encoder, config = load_encoder_with_config(weights, **overrides)
    if config["architecture"] != name:
        raise UserError(f"weights {weights!r} are for {config['architecture']!r}, not {name!r}")
    return encoder.train()
