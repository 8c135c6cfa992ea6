"""Foreign encoders: public video models behind the ssl_video encoder API, as frozen feature extractors.

Sources, as users type them (options after ``?`` change the clip, see ``base``):

- a ``transformers`` ``save_pretrained`` folder (``config.json`` with ``model_type`` vjepa2 / videomae /
  timesformer, safetensors weights) or ``hf://org/repo[@revision]`` (``hf``);
- ``torchvision:ARCH[.WEIGHTS]`` or ``torchvision:ARCH@state_dict.pt`` (``tv``).

Each loads as ``(encoder, config)``: ``config`` has the exported config's shape, ``{"architecture":
"hf:videomae" | "torchvision:mvit_v2_s" | ..., "args", "preprocessing": {"fps", "size", "context", "future": 0,
"mean", "std", "resize"}, "source"}``. A VideoMAE also converts to ssl_video's VideoViT (``convert``), to
continue pretraining it.

    >>> encoder, config = load_foreign_encoder("hf://facebook/vjepa2-vitl-fpc64-256?frames=16")
    >>> encoder, config = load_foreign_encoder("torchvision:mvit_v2_s.KINETICS400_V1")
    >>> tokens, pooled = encoder.forward_tokens_and_pooled(clips)   # (B, N, D), (B, D)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ssl_video.errors import MissingInput, UserError
from ssl_video.hub.foreign import convert, hf, tv
from ssl_video.hub.foreign.base import ForeignEncoder, split_options

__all__ = ["ForeignEncoder", "is_foreign", "is_foreign_architecture", "load_foreign_encoder", "random_foreign_encoder",
           "to_videovit"]
ARCHITECTURE_PREFIXES = ("hf:", tv.PREFIX)  # config["architecture"] of a foreign encoder: "hf:videomae", ...


def is_foreign(source: str | Path) -> bool:
    """Cheap (no download, no optional import): ``torchvision:...``, ``hf://org/repo[@rev]`` or a folder whose
    config.json names a ``transformers`` ``model_type``. ``hf://org/repo/file`` stays one ssl_video weights file."""
    try:
        text = split_options(str(source))[0]
        if text.startswith(tv.PREFIX) or hf.parse_repo(text) is not None:
            return True
        return Path(text).is_dir() and hf.model_type(Path(text)) is not None
    except (UserError, OSError):  # a broken source is the ssl_video loader's to report
        return False


def is_foreign_architecture(architecture: str) -> bool:
    """Whether a config's ``architecture`` names a foreign model (``hf:videomae``, ``torchvision:r3d_18``)."""
    return architecture.startswith(ARCHITECTURE_PREFIXES)


def load_foreign_encoder(source: str | Path, *, progress: bool = True) -> tuple[ForeignEncoder, dict[str, Any]]:
    """-> (encoder in eval mode on the CPU, config dict); see the module docstring."""
    source = str(source)
    text, options = split_options(source)
    if text.startswith(tv.PREFIX):
        return tv.load(source, text, options, progress)
    folder = hf.snapshot(text) if hf.parse_repo(text) is not None else Path(text)
    if not folder.is_dir():
        raise MissingInput(f"{source}: no such folder")
    return hf.load_folder(folder, source, options)


def random_foreign_encoder(config: dict[str, Any]) -> ForeignEncoder:
    """The architecture of ``config`` (from ``load_foreign_encoder``) with fresh weights, in eval mode: the
    random-weights baseline. Seed the global generator (``torch.random.fork_rng``) around it."""
    if config["architecture"].startswith(tv.PREFIX):
        return tv.build_random(config).eval()
    return hf.build_random(config, config["source"]).eval()


def to_videovit(source: str | Path) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """A VideoMAE folder or ``hf://`` repo -> (VideoViTConfig args, VideoViT state dict), to continue pretraining
    it (``convert``); other families are refused with the reason."""
    text, options = split_options(str(source))
    if options:
        raise UserError(f"{source}: clip options ({', '.join(options)}) do not apply to a conversion; drop them")
    if text.startswith(tv.PREFIX):
        raise UserError(f"{source}: torchvision models do not convert to VideoViT (only VideoMAE does); "
                        f"compare it as a frozen encoder instead (ssl-video probe --compare)")
    return convert.convert_videomae(text)
