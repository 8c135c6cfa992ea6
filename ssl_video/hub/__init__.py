"""Pretrained weights: export, registry, verified download and safe loading.

Exported weights are ``model.safetensors`` + ``config.json`` naming a registered encoder
architecture (see ``ssl_video.hub.format``); downloads are sha256-checked and atomic
(``ssl_video.hub.download``); named weights come from a registry users extend
(``ssl_video.hub.registry``). Nothing here unpickles downloaded data.

    ssl-video weights export runs/quickstart/checkpoints/last.ckpt runs/quickstart/weights
    >>> from ssl_video.hub import load_encoder
    >>> encoder = load_encoder("runs/quickstart/weights")
"""

from __future__ import annotations

from ssl_video.hub.api import get_encoder, load_encoder, load_encoder_with_config, load_objectives_state
from ssl_video.hub.download import ChecksumError, DownloadError, download, resolve_url, sha256_file
from ssl_video.hub.format import WeightsFormatError, export_weights, remap_state_dict_keys, save_exported
from ssl_video.hub.registry import (
    WeightsEntry,
    fetch_weights,
    find_weights,
    get_weights,
    list_weights,
    register_weights,
    unregister_weights,
    weights_cache_dir,
)

__all__ = [
    "ChecksumError",
    "DownloadError",
    "WeightsEntry",
    "WeightsFormatError",
    "download",
    "export_weights",
    "fetch_weights",
    "find_weights",
    "get_encoder",
    "get_weights",
    "list_weights",
    "load_encoder",
    "load_encoder_with_config",
    "load_objectives_state",
    "register_weights",
    "remap_state_dict_keys",
    "resolve_url",
    "save_exported",
    "sha256_file",
    "unregister_weights",
    "weights_cache_dir",
]
