"""What every foreign encoder shares: the encoder API, source options and the preprocessing record.

A foreign encoder wraps a public video model (Hugging Face ``transformers``, torchvision) so that it
looks like an ssl_video encoder: normalized float clips ``(B, C, T, H, W)`` in, ``forward_features``
-> ``(B, N, D)`` tokens on a ``(T', H', W')`` grid (raster order, time-major), ``forward`` -> ``(B, D)``
pooled as the model's own classification head reads it, ``embed_dim`` and ``grid_size``.

A source may end in options that change how clips are read, URL-style:
``hf://facebook/vjepa2-vitl-fpc64-256?frames=16`` or ``torchvision:r3d_18@sd.pt?frames=8&size=112&fps=10``
(``fps``, ``frames``, ``size`` = ``S`` or ``HxW``). A model that only reads one clip shape refuses
options that change it.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Sequence
from types import ModuleType
from typing import Any

import torch
from torch import nn

from ssl_video.errors import UserError
from ssl_video.spec import ClipSpec

OPTIONS = ("fps", "frames", "size")
_OPTIONS_RE = re.compile(r"[a-z_]+=[^&=]*(&[a-z_]+=[^&=]*)*")
RESIZE = "short_side_crop"  # resize the short side (to the crop size, or the processor's), then centre-crop (H, W)
EXTRA = 'pip install "ssl_video[hf]"'


class ForeignEncoder(nn.Module):
    """The ssl_video encoder API over ``model``; subclasses implement ``forward_tokens_and_pooled``
    and ``grid_size``. ``keep`` (token dropping for pretraining) is not supported."""

    def __init__(self, model: nn.Module, embed_dim: int):
        super().__init__()
        self.model = model
        self.embed_dim = int(embed_dim)

    def forward_tokens_and_pooled(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, C, T, H, W) normalized float -> (tokens (B, N, D), pooled (B, D)) from one forward pass."""
        raise NotImplementedError

    def grid_size(self, T: int, H: int, W: int) -> tuple[int, int, int]:
        """(T, H, W) pixels -> the (T', H', W') token grid; ValueError for a clip the model cannot read."""
        raise NotImplementedError

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, T, H, W) -> (B, N, D) tokens, N = T'H'W'."""
        return self.forward_tokens_and_pooled(x)[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, T, H, W) -> (B, D): what the model's head reads (see the subclass)."""
        return self.forward_tokens_and_pooled(x)[1]


def check_clip(x: torch.Tensor, encoder: ForeignEncoder) -> tuple[int, int, int]:
    """Refuse anything but (B, 3, T, H, W) of a shape the encoder reads; -> its token grid."""
    if x.ndim != 5 or x.shape[1] != 3:
        raise ValueError(f"expected (B, 3, T, H, W) input, got {tuple(x.shape)}")
    return encoder.grid_size(*x.shape[2:])


def require(module: str, source: str) -> ModuleType:
    """Import an optional dependency, or say in one line which extra brings it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise UserError(f"{source}: loading it needs {module}, which comes with the optional extra: {EXTRA}") from None


def split_options(source: str) -> tuple[str, dict[str, Any]]:
    """``'SOURCE?frames=16&size=160x224&fps=4'`` -> ``('SOURCE', {"frames": 16, "size": [160, 224], "fps": 4.0})``."""
    base, sep, query = source.rpartition("?")
    if not sep or not _OPTIONS_RE.fullmatch(query):
        return source, {}
    options: dict[str, Any] = {}
    for pair in query.split("&"):
        key, _, value = pair.partition("=")
        if key not in OPTIONS:
            raise UserError(f"{source}: unknown option {key!r}; options: {', '.join(OPTIONS)}")
        try:
            if key == "fps":
                options[key] = float(value)
            elif key == "frames":
                options[key] = int(value)
            else:
                h, _, w = value.lower().partition("x")
                options[key] = [int(h), int(w or h)]
        except ValueError:
            raise UserError(f"{source}: bad value {value!r} for {key} (fps=4, frames=16, size=224 or 160x224)"
                            ) from None
    if options.get("fps", 1.0) <= 0 or options.get("frames", 1) < 1 or min(options.get("size", [1])) < 1:
        raise UserError(f"{source}: fps, frames and size must be positive")
    return base, options


def preprocessing(*, fps: float, frames: int, size: Sequence[int], mean: Sequence[float], std: Sequence[float],
                  options: dict[str, Any], zoom: int | Sequence[int] | None = None) -> dict[str, Any]:
    """The config.json "preprocessing" record (``ClipSpec.to_dict``); a foreign encoder sees the whole clip
    (future = 0), frames resized first, then centre-cropped to ``size``, as the model's processor does: ``zoom`` is
    its resize size (an int: the short side; (HS, WS): a squash; None: the short side fits the crop). ``options``
    replace fps, frames, size; a new size keeps the processor's zoom ratio."""
    crop = tuple(int(v) for v in options.get("size", size))
    ratio = (crop[0] / size[0], crop[1] / size[1])
    if zoom is None:
        resize = RESIZE
    elif isinstance(zoom, int):
        short = round(zoom * min(crop) / min(size))
        resize = RESIZE if short <= min(crop) else f"{RESIZE}:{short}"
    else:
        resize = f"squash_crop:{round(zoom[0] * ratio[0])}x{round(zoom[1] * ratio[1])}"
    spec = ClipSpec(context=int(options.get("frames", frames)), future=0, fps=float(options.get("fps", fps)),
                    size=crop, resize=resize, mean=tuple(mean), std=tuple(std))
    return spec.to_dict()


def refuse_other_clip(source: str, record: dict[str, Any], frames: int | None, size: Sequence[int] | None,
                      why: str) -> None:
    """A model that reads one clip shape only: refuse options that ask for another."""
    if frames is not None and record["context"] != frames:
        raise UserError(f"{source}: this model reads clips of exactly {frames} frames ({why}); drop frames=")
    if size is not None and list(record["size"]) != list(size):
        raise UserError(f"{source}: this model reads frames of exactly {list(size)} pixels ({why}); drop size=")
