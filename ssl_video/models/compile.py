"""torch.compile for training: compile what the training and evaluation code actually call.

Objectives and probes call ``encoder.forward_features(...)``, not ``encoder(...)``, so
``nn.Module.compile()`` (which only wraps ``__call__``) would compile nothing of an encoder. Here the
bound ``forward_features`` of every encoder in a module tree (the online encoder and e.g. the EMA
target encoder of future_features) is replaced by its compiled version, as an instance
attribute, and every predictor (called as ``predictor(...)``) is compiled with
``nn.Module.compile()``. Parameters, ``state_dict`` keys and checkpoints are unchanged.

The losses and the masking stay eager: masks are drawn with a ``torch.Generator`` (a graph
break), and the losses are a few elementwise kernels next to the transformer blocks.
"""

from __future__ import annotations

import torch
from torch import nn

from ssl_video.models.conv3d import Conv3dEncoder
from ssl_video.models.predictor import Predictor
from ssl_video.models.vit import VideoViT

ENCODER_TYPES = (VideoViT, Conv3dEncoder)


def compile_modules(root: nn.Module, **compile_kwargs) -> list[str]:
    """Compile ``forward_features`` of every encoder and the forward of every predictor inside ``root``.

    Call it after the objectives have made their copies of the encoder (a deep copy of a
    compiled encoder would keep calling the original's compiled method). Idempotent. Returns
    what it compiled, e.g. ``["encoder.forward_features", "objectives.0.predictor"]`` (``root``
    itself is named ``""``). ``compile_kwargs`` go to ``torch.compile``.
    """
    names = []
    for name, module in root.named_modules():
        if isinstance(module, ENCODER_TYPES) and "forward_features" not in vars(module):
            module.forward_features = torch.compile(module.forward_features, **compile_kwargs)
            names.append(f"{name}.forward_features" if name else "forward_features")
        elif isinstance(module, Predictor) and getattr(module, "_compiled_call_impl", None) is None:
            module.compile(**compile_kwargs)
            names.append(name)
    return names


def default_device(device: str | None = None) -> str:
    """``device`` when given, else the GPU when torch sees one, else the CPU: where inference runs by default."""
    return device or ("cuda" if torch.cuda.is_available() else "cpu")
