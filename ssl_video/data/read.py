"""From a video file to what an encoder takes, driven by the preprocessing record of the weights.

:func:`read_clip` decodes one clip (or one per start time) exactly as training, evaluation and
mining do (:class:`~ssl_video.spec.ClipSpec`: frames sampled at ``fps`` from ``start_s``, resized
to ``size`` by ``resize``, normalized with ``mean`` / ``std``), so features computed on a file
match the features the library computes on the same window.

    >>> encoder, config = ssl_video.load_encoder_with_config("drive-future-vit-tiny")
    >>> clip = ssl_video.read_clip("drive.mp4", 3.0, config)   # (1, C, T, H, W) float32, normalized
    >>> features = encoder(clip)                                # (1, D)
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ssl_video.data.decode import open_video, run_with_timeout
from ssl_video.data.sampling import clip_frame_indices
from ssl_video.data.transforms import normalize_clip
from ssl_video.errors import MissingInput, UserError
from ssl_video.spec import ClipSpec

_EPS = 1e-6


def clip_spec_of(preprocessing: ClipSpec | Mapping[str, Any] | str | Path) -> ClipSpec:
    """The :class:`ClipSpec` in ``preprocessing``: a ClipSpec, the config dict of
    ``ssl_video.load_encoder_with_config`` (its ``"preprocessing"`` object), a preprocessing record
    itself, or an exported weights folder / its ``config.json``."""
    if isinstance(preprocessing, ClipSpec):
        return preprocessing
    if isinstance(preprocessing, Mapping):
        if "preprocessing" in preprocessing:
            return ClipSpec.from_dict(preprocessing["preprocessing"])
        if "fps" in preprocessing and "size" in preprocessing:
            return ClipSpec.from_dict(preprocessing)
        raise UserError(f"read_clip: the dict has no 'preprocessing' object (keys: {sorted(preprocessing)}); pass the "
                        f"config of ssl_video.load_encoder_with_config(...) or a ClipSpec")
    if isinstance(preprocessing, (str, Path)):
        config = Path(preprocessing)
        config = config / "config.json" if config.is_dir() else config
        if config.name == "config.json" and config.is_file():
            return clip_spec_of(json.loads(config.read_text()))
        raise UserError(f"read_clip: {str(preprocessing)!r} is not an exported weights folder; for a weights name, "
                        f"load it first: encoder, config = ssl_video.load_encoder_with_config({str(preprocessing)!r}), "
                        f"then read_clip(path, start_s, config)")
    raise UserError(f"read_clip: preprocessing must be a ClipSpec or a config dict, got {type(preprocessing).__name__}")


def read_clip(path: str | Path, start_s: float | Sequence[float],
              preprocessing: ClipSpec | Mapping[str, Any] | str | Path, *, normalize: bool = True,
              backend: str = "auto", timeout_s: float | None = 60.0, **overrides: Any) -> torch.Tensor:
    """The clip of ``path`` that starts at ``start_s`` seconds, as ``encoder(...)`` takes it.

    Args:
        path: a video file.
        start_s: the time of the clip's first frame; a sequence of times gives one clip per time.
        preprocessing: how the encoder wants its clips (see :func:`clip_spec_of`): the config of
            ``ssl_video.load_encoder_with_config``, an exported weights folder, or a ClipSpec.
        normalize: True -> float32 normalized with the record's mean / std (ready for the encoder);
            False -> the uint8 pixels (normalize later with ``ssl_video.data.transforms.normalize_clip``).
        backend, timeout_s: decoder choice and the bound on one decode (see ``ssl_video.data.decode``).
        overrides: ClipSpec fields that replace the record's, e.g. ``resize="short_side_crop"``.

    Returns ``(B, C, T, H, W)``, B = number of start times (1 for a number), T = context + future frames.
    A clip that does not fit in the video raises a ``UserError`` naming the file and the last start that fits.
    """
    spec = clip_spec_of(preprocessing).replace(**overrides)
    starts = [float(start_s)] if np.ndim(start_s) == 0 else [float(s) for s in start_s]
    if not starts:
        raise UserError("read_clip: start_s is an empty list; give at least one start time")
    if not Path(path).is_file():
        raise MissingInput(f"{path}: no such video file")

    def decode() -> np.ndarray:
        with open_video(path, size=spec.size, backend=backend, resize=spec.resize) as reader:
            last_start = (reader.num_frames - 1) / reader.fps - spec.span_s
            for start in starts:
                if not -_EPS <= start <= last_start + _EPS:
                    raise UserError(f"{path}: a clip of {spec.span_s:.3g} s (last frame time - first) cannot start at "
                                    f"{start:g} s in this {reader.num_frames / reader.fps:.3g} s video; "
                                    f"start between 0 and {max(last_start, 0.0):.3f} s")
            indices = [clip_frame_indices(s, spec, reader.fps, reader.num_frames) for s in starts]
            frames = reader.get_frames(np.concatenate(indices))  # (B * T, H, W, C)
        return frames.reshape(len(starts), spec.num_frames, *frames.shape[1:])  # (B, T, H, W, C)

    frames = run_with_timeout(decode, timeout_s, str(path))
    video = torch.from_numpy(frames).permute(0, 4, 1, 2, 3).contiguous()  # (B, T, H, W, C) -> (B, C, T, H, W)
    return normalize_clip(video, spec.mean, spec.std) if normalize else video
