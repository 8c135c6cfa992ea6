"""ssl_video: self-supervised video pretraining that predicts the future of drive videos.

    >>> import ssl_video
    >>> encoder = ssl_video.load_encoder("runs/quickstart/weights")   # exported folder, .ckpt, URL or weights name
    >>> features = encoder(clips)   # normalized float (B, C, T, H, W) -> (B, D)

The top-level names are imported lazily, so ``ssl-video --help`` does not pay for torch.
"""

from __future__ import annotations

import importlib

__version__ = "0.2.0"

_LAZY = {
    "load_encoder": "ssl_video.hub",
    "load_encoder_with_config": "ssl_video.hub",
    "export_weights": "ssl_video.hub",
    "get_encoder": "ssl_video.hub",
    "list_encoders": "ssl_video.models",
    "load_classifier": "ssl_video.evaluate.heads",
    "read_clip": "ssl_video.data.read",
}
__all__ = ["__version__", *_LAZY]


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'ssl_video' has no attribute {name!r}")
