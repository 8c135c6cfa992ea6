"""The preprocessing record: what one clip is and how an encoder expects it.

One frozen dataclass, :class:`ClipSpec`, holds every fact a clip needs on its way from a video
file to an encoder: ``context`` + ``future`` frames sampled at ``fps``, decoded at ``size`` =
(H, W) with the ``resize`` rule, then normalized with ``mean`` / ``std``. Training writes it into
the checkpoint, export into ``config.json`` (its ``"preprocessing"`` object), and evaluation,
mining and embedding read clips from it, so the three can never disagree.

    >>> spec = ClipSpec(context=4, future=4, fps=10.0, size=(64, 64))
    >>> ClipSpec.from_dict(spec.to_dict()) == spec
    True
    >>> ClipSpec.from_dict({"fps": 10, "size": 64, "context": 4, "future": 4}).size   # older configs
    (64, 64)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ssl_video.errors import UserError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# "squash": resize each frame to (H, W) whatever its aspect ratio (what every file up to 0.1 was trained with);
# "short_side_crop": resize the short side to fit, keeping the aspect ratio, then take the centred (H, W) crop.
# Public models' processors resize larger than the crop, so the crop keeps the frame's centre; two parametrized
# forms say how: "short_side_crop:S" resizes the short side to S pixels (aspect kept), "squash_crop:HSxWS" squashes
# to HS x WS, and each then takes the centred (H, W) crop (V-JEPA 2: short side 292, crop 256; R3D: 128x171, 112).
RESIZE_MODES = ("squash", "short_side_crop")


def parse_resize(resize: str) -> tuple[str, int | tuple[int, int] | None]:
    """A ``resize`` rule -> (mode, its size: None, the short side S, or (HS, WS)); a UserError when it is none."""
    mode, sep, arg = str(resize).partition(":")
    try:
        if not sep and mode in RESIZE_MODES:
            return mode, None
        if mode == "short_side_crop" and int(arg) > 0:
            return mode, int(arg)
        if mode == "squash_crop":
            height, width = (int(v) for v in arg.split("x"))
            if height > 0 and width > 0:
                return mode, (height, width)
    except ValueError:
        pass
    raise UserError(f"resize must be one of {RESIZE_MODES}, short_side_crop:S or squash_crop:HxW (positive pixels), "
                    f"got {resize!r}")
# The fields that decide a clip's pixels; mean / std only normalize them, per encoder, after decoding.
CLIP_FIELDS = ("context", "future", "fps", "size", "resize")


def size_hw(size: int | Sequence[int]) -> tuple[int, int]:
    """``size`` as given in a config (an int for a square, or [H, W]) -> (H, W) ints."""
    if isinstance(size, (int, float)):
        return int(size), int(size)
    values = tuple(int(v) for v in size)
    if len(values) == 1:
        return values[0], values[0]
    if len(values) != 2:
        raise UserError(f"size must be an int or (H, W), got {list(size)}")
    return values


@dataclass(frozen=True)
class ClipSpec:
    """``context`` + ``future`` frames at ``fps``, decoded at ``size`` = (H, W) by ``resize``, normalized
    with ``mean`` / ``std`` (per channel, on 0-1 pixel values)."""

    context: int = 8
    future: int = 8
    fps: float = 10.0
    size: tuple[int, int] = (128, 128)
    resize: str = "squash"
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD

    def __post_init__(self) -> None:
        if self.context < 1 or self.future < 0:
            raise UserError(f"ClipSpec needs context >= 1 and future >= 0, got {self.context}, {self.future}")
        if not self.fps > 0:
            raise UserError(f"ClipSpec.fps must be > 0, got {self.fps}")
        size = size_hw(self.size)
        if min(size) <= 0:
            raise UserError(f"ClipSpec.size must be (H, W) with positive entries, got {self.size}")
        parse_resize(self.resize)
        mean, std = tuple(float(v) for v in self.mean), tuple(float(v) for v in self.std)
        if len(mean) != len(std) or not all(s > 0 for s in std):
            raise UserError(f"ClipSpec mean/std need one entry per channel and std > 0, got {mean} / {std}")
        object.__setattr__(self, "size", size)
        object.__setattr__(self, "fps", float(self.fps))
        object.__setattr__(self, "mean", mean)
        object.__setattr__(self, "std", std)

    @property
    def num_frames(self) -> int:
        return self.context + self.future

    @property
    def duration_s(self) -> float:
        """Seconds covered by the clip, first frame time to last frame time plus one frame period."""
        return self.num_frames / self.fps

    @property
    def span_s(self) -> float:
        """Seconds from the first frame's time to the last frame's time."""
        return (self.num_frames - 1) / self.fps

    def replace(self, **changes: Any) -> ClipSpec:
        """A copy with ``changes``; ``None`` values keep the current field (command-line options left unset)."""
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})

    def clip_fields(self) -> dict[str, Any]:
        """The :data:`CLIP_FIELDS`: what two encoders must share to read the same decoded clips."""
        return {name: getattr(self, name) for name in CLIP_FIELDS}

    def to_dict(self) -> dict[str, Any]:
        """The ``"preprocessing"`` object of an exported ``config.json`` (JSON types only)."""
        return {"fps": self.fps, "size": list(self.size), "context": self.context, "future": self.future,
                "resize": self.resize, "mean": list(self.mean), "std": list(self.std)}

    @classmethod
    def from_dict(cls, record: Mapping[str, Any] | None, **overrides: Any) -> ClipSpec:
        """Read a ``"preprocessing"`` object, from any version (``size`` as an int, no ``resize``, no mean/std:
        the defaults above are what those versions used); ``overrides`` that are not None win."""
        names = {f.name for f in dataclasses.fields(cls)}
        fields = {k: v for k, v in dict(record or {}).items() if k in names and v is not None}
        fields.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**fields)

    @classmethod
    def from_checkpoint(cls, meta: Mapping[str, Any]) -> ClipSpec:
        """From a checkpoint's ``checkpoint["ssl_video"]`` entry: ``preprocessing``, or the older ``clip`` +
        ``normalize`` pair."""
        if "preprocessing" in meta:
            return cls.from_dict(meta["preprocessing"])
        return cls.from_dict({**meta["clip"], **meta.get("normalize", {})})
