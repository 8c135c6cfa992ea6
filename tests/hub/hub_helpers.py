"""Helpers shared by the hub tests (a module of its own: `conftest` is ambiguous across test folders)."""

from __future__ import annotations

from pathlib import Path

import torch

from ssl_video.models import encoder_config, get_encoder


def tiny_encoder(name: str = "vit_tiny") -> torch.nn.Module:
    torch.manual_seed(0)
    if name.startswith("vit"):
        return get_encoder(name, embed_dim=48, depth=1, num_heads=3)
    return get_encoder(name)


def make_checkpoint(path: Path, encoder: torch.nn.Module, *, key_prefix: str = "encoder.") -> Path:
    """A Lightning-style checkpoint following the checkpoint contract, saved with torch.save."""
    name, args = encoder_config(encoder)
    state = {key_prefix + k: v for k, v in encoder.state_dict().items()}
    state.update({"target_encoder." + k: v + 1 for k, v in encoder.state_dict().items()})  # EMA copy: not exported
    state["predictor.head.weight"] = torch.zeros(4, 4)
    ckpt = {
        "state_dict": state,
        "global_step": 123,
        "epoch": 2,
        "pytorch-lightning_version": "2.6.0",
        "hyper_parameters": {"lr": 1e-3, "encoder": name},
        "ssl_video": {
            "encoder": {"name": name, "args": args},
            "clip": {"context": 4, "future": 4, "fps": 10.0, "size": [32, 32]},
            "normalize": {"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]},
            "objectives": [{"name": "future_features", "weight": 1.0}],
        },
    }
    torch.save(ckpt, path)
    return path
