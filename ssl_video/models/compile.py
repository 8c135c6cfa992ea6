"""torch.compile for encoders: compile what the training and evaluation code actually call.

Objectives and probes call ``encoder.forward_features(...)``, not ``encoder(...)``, so
``nn.Module.compile()`` (which only wraps ``__call__``) would compile nothing. Here the bound
``forward_features`` of every encoder in a module tree (the online encoder and e.g. the EMA
target encoder of future_features) is replaced by its compiled version, as an instance
attribute: parameters, ``state_dict`` keys and checkpoints are unchanged.
"""

from __future__ import annotations

import torch
from torch import nn

from ssl_video.models.conv3d import Conv3dEncoder
from ssl_video.models.vit import VideoViT

ENCODER_TYPES = (VideoViT, Conv3dEncoder)


def compile_encoders(root: nn.Module, **compile_kwargs) -> list[str]:
    """Compile ``forward_features`` of every encoder inside ``root`` (``root`` itself included).

    Call it after the objectives have made their copies of the encoder (a deep copy of a
    compiled encoder would keep calling the original's compiled method). Returns the names of
    the compiled modules (``""`` for ``root``). ``compile_kwargs`` go to ``torch.compile``.
    """
    names = []
    for name, module in root.named_modules():
        if isinstance(module, ENCODER_TYPES) and "forward_features" not in vars(module):
            module.forward_features = torch.compile(module.forward_features, **compile_kwargs)
            names.append(name)
    return names
