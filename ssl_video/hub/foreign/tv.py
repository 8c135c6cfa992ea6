"""torchvision video classifiers as frozen ssl_video encoders: R3D / MC3 / R(2+1)D, MViT v1/v2, Video Swin.

Sources: ``torchvision:mvit_v2_s.KINETICS400_V1`` (a weights enum member; ``torchvision:mvit_v2_s`` is its
``DEFAULT``), fetched from torchvision's URL with ``torch.hub`` into ``$TORCH_HOME`` (hash-prefix checked, read
with ``weights_only=True``, offline once cached), or ``torchvision:r3d_18@/path/state_dict.pt`` (the
architecture plus a local state dict: ``.pt`` / ``.pth`` read with ``weights_only=True``, or ``.safetensors``).
The number of classes is read from the head's weight, so a fine-tuned head loads too (strict).

The model runs its own ``forward``; hooks take the tokens from the trunk's last output and the pooled feature
from the input of the classification head (Tran et al. CVPR 2018; Fan et al. ICCV 2021 / Li et al. CVPR 2022;
Liu et al. CVPR 2022; torchvision.models.video). Preprocessing is the weights' own: ``weights.transforms()``
crop size, mean and std, and the clip length and frame rate their accuracy was measured with (``clip_len``,
``frame_rate`` in ``weights.meta["_docs"]``); a local state dict gets the architecture's ``DEFAULT`` weights'.
"""

from __future__ import annotations

import re
import urllib.error
from dataclasses import dataclass
from itertools import chain
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file
from torch.func import functional_call
from torchvision import models as tvm

from ssl_video.errors import MissingInput, UserError
from ssl_video.hub.download import RETRY_HINT, DownloadError
from ssl_video.hub.foreign.base import ForeignEncoder, check_clip, preprocessing, refuse_other_clip
from ssl_video.hub.format import WeightsFormatError, read_checkpoint, remap_state_dict_keys

PREFIX = "torchvision:"


@dataclass(frozen=True)
class Layout:
    """Where a family keeps its tokens (a module's output) and its pooled feature (its head's input)."""

    tokens: str  # "layer4": (B, D, T', H', W'); "norm" of swin: (B, T', H', W', D); of mvit: (B, 1 + N, D)
    head: str
    kind: str  # "conv" | "swin" | "mvit"


CONV, SWIN, MVIT = Layout("layer4", "fc", "conv"), Layout("norm", "head", "swin"), Layout("norm", "head", "mvit")
ARCHS = {"r3d_18": CONV, "mc3_18": CONV, "r2plus1d_18": CONV, "mvit_v1_b": MVIT, "mvit_v2_s": MVIT,
         "swin3d_t": SWIN, "swin3d_s": SWIN, "swin3d_b": SWIN}


class TorchvisionEncoder(ForeignEncoder):
    """tokens: R3D / MC3 / R(2+1)D ``layer4`` output, Swin3D the output of its final ``norm``, MViT that of its
    final ``norm`` without the class token, as (B, T'H'W', D); pooled: the head's input (R(2+1)D and Swin3D:
    the global average of those tokens; MViT: the class token). The token grid comes from running the model
    on meta tensors once per clip shape (no compute). MViT reads clips of exactly its built size."""

    def __init__(self, model: torch.nn.Module, arch: str):
        self.layout = ARCHS[arch]
        head = model.get_submodule(self.layout.head)
        super().__init__(model, (head[-1] if isinstance(head, torch.nn.Sequential) else head).in_features)
        self.arch = arch
        self.clip = None
        if self.layout.kind == "mvit":  # positions are built for one clip: (T', H', W') times conv_proj's stride
            pos, stride = model.pos_encoding, model.conv_proj.stride
            (h, w), t = pos.spatial_size, pos.temporal_size
            self.clip = (t * stride[0], h * stride[1], w * stride[2])
        self._grids: dict[tuple[int, int, int], tuple[int, int, int]] = {}

    def _run(self, x: torch.Tensor, params: dict[str, torch.Tensor] | None = None) -> dict[str, Any]:
        caught: dict[str, Any] = {}
        hooks = [self.model.get_submodule(self.layout.tokens).register_forward_hook(
                     lambda m, args, out: caught.__setitem__("tokens", out)),
                 self.model.get_submodule(self.layout.head).register_forward_pre_hook(
                     lambda m, args: caught.__setitem__("pooled", args[0]))]
        if self.layout.kind == "mvit":  # each block returns (x, thw): the last one's thw is the token grid
            last = self.model.blocks[-1]
            hooks.append(last.register_forward_hook(lambda m, args, out: caught.__setitem__("thw", out[1])))
        try:
            self.model(x) if params is None else functional_call(self.model, params, (x,))
        finally:
            for hook in hooks:
                hook.remove()
        return caught

    def _tokens(self, caught: dict[str, Any]) -> tuple[torch.Tensor, tuple[int, int, int]]:
        out = caught["tokens"]
        if self.layout.kind == "conv":
            return out.flatten(2).transpose(1, 2), tuple(out.shape[2:])  # (B, D, T', H', W') -> (B, N, D)
        if self.layout.kind == "swin":
            return out.flatten(1, 3), tuple(out.shape[1:4])  # (B, T', H', W', D) -> (B, N, D)
        return out[:, 1:], tuple(caught["thw"])  # (B, 1 + N, D) -> (B, N, D), class token dropped

    def grid_size(self, T: int, H: int, W: int) -> tuple[int, int, int]:
        if self.clip is not None and (T, H, W) != self.clip:
            raise ValueError(f"{self.arch} reads clips of exactly (T, H, W) = {self.clip}, got {(T, H, W)}")
        if (T, H, W) not in self._grids:
            named = chain(self.model.named_parameters(), self.model.named_buffers())
            params = {name: torch.empty_like(t, device="meta") for name, t in named}
            caught = self._run(torch.empty(1, 3, T, H, W, device="meta"), params)
            self._grids[(T, H, W)] = tuple(int(v) for v in self._tokens(caught)[1])
        return self._grids[(T, H, W)]

    def forward_tokens_and_pooled(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        check_clip(x, self)
        caught = self._run(x)
        return self._tokens(caught)[0], caught["pooled"]


def parse(source: str) -> tuple[str, str | None, str | None]:
    """``torchvision:ARCH[.WEIGHTS]`` or ``torchvision:ARCH@PATH`` -> (arch, weights name, path)."""
    head, _, path = source[len(PREFIX):].partition("@")
    arch, _, weights = head.partition(".")
    if arch == "s3d":
        raise UserError(f"{source}: s3d's head pools 2x7x7 windows through a 1x1 convolution, so it has no pooled "
                        f"feature to read; use r2plus1d_18, mvit_v2_s or swin3d_t")
    if arch not in ARCHS:
        raise UserError(f"{source}: unknown torchvision video model {arch!r}; supported: {', '.join(ARCHS)}")
    if path and weights:
        raise UserError(f"{source}: give weights by name (ARCH.WEIGHTS) or a file (ARCH@PATH), not both")
    return arch, weights or None, path or None


def _weights(arch: str, name: str | None, source: str) -> tvm.WeightsEnum:
    enum = tvm.get_model_weights(arch)
    if name is None:
        return enum.DEFAULT
    if name not in enum.__members__:
        raise UserError(f"{source}: {arch} has no weights {name!r}; choose from {', '.join(enum.__members__)}")
    return enum[name]


def read_state_dict(path: Path, source: str) -> dict[str, torch.Tensor]:
    """A local state dict (safetensors, or a pickle read with weights_only=True; ``{"model": ...}`` /
    ``{"state_dict": ...}`` wrappers and ``module.`` prefixes undone)."""
    if not path.is_file():
        raise MissingInput(f"{source}: no such file {path}")
    try:
        state = load_file(str(path)) if path.suffix == ".safetensors" else read_checkpoint(path)
    except (SafetensorError, OSError) as e:
        raise WeightsFormatError(f"{source}: {path} is not a readable weights file ({e})") from None
    if not isinstance(state, dict):
        raise WeightsFormatError(f"{source}: {path} holds a {type(state).__name__}, not a state dict")
    for key in ("model", "state_dict"):
        if isinstance(state.get(key), dict):
            state = state[key]
    return remap_state_dict_keys(state)


def fetch(weights: tvm.WeightsEnum, progress: bool = True) -> dict[str, torch.Tensor]:
    """torchvision's weights file, hash-prefix checked, cached in $TORCH_HOME; never unpickles objects."""
    try:
        return torch.hub.load_state_dict_from_url(weights.url, map_location="cpu", progress=progress, check_hash=True,
                                                  weights_only=True)
    except (urllib.error.URLError, OSError) as e:
        raise DownloadError(f"download of {weights.url} failed: {e}; {RETRY_HINT}") from e
    except RuntimeError as e:  # torch.hub's "invalid hash value": a cut-off or changed file
        raise DownloadError(f"download of {weights.url} is not the file torchvision expects ({e}); delete it from "
                            f"$TORCH_HOME/hub/checkpoints and {RETRY_HINT}") from e


def clip_record(weights: tvm.WeightsEnum, options: dict[str, Any]) -> dict[str, Any]:
    """The preprocessing record of a weights enum member (module docstring)."""
    transform, docs = weights.transforms(), str(weights.meta.get("_docs", ""))
    frames = re.search(r"clip_len=(\d+)", docs)
    fps = re.search(r"frame_rate=([\d.]+)", docs)
    resize_size = [int(v) for v in transform.resize_size]  # [S]: the short side; [HS, WS]: a squash
    return preprocessing(fps=float(fps.group(1)) if fps else 15.0,
                         frames=int(frames.group(1)) if frames else int(weights.meta.get("min_temporal_size", 16)),
                         size=transform.crop_size, mean=transform.mean, std=transform.std, options=options,
                         zoom=resize_size[0] if len(resize_size) == 1 else resize_size)


def _build(arch: str, num_classes: int) -> TorchvisionEncoder:
    return TorchvisionEncoder(tvm.get_model(arch, weights=None, num_classes=num_classes), arch)


def load(source: str, body: str, options: dict[str, Any], progress: bool = True
         ) -> tuple[TorchvisionEncoder, dict[str, Any]]:
    """``body`` (the source without options) -> (encoder in eval mode, config dict)."""
    arch, name, path = parse(body)
    weights = _weights(arch, name, source)
    state = read_state_dict(Path(path).expanduser(), source) if path else fetch(weights, progress)
    head = f"{ARCHS[arch].head}{'.1' if ARCHS[arch].kind == 'mvit' else ''}.weight"
    if head not in state:
        raise WeightsFormatError(f"{source}: not a {arch} state dict (no {head!r})")
    encoder = _build(arch, int(state[head].shape[0]))
    try:
        encoder.model.load_state_dict(state, strict=True)
    except RuntimeError as e:
        raise WeightsFormatError(f"{source}: weights do not fit torchvision {arch}: {e}") from None
    record = clip_record(weights, options)
    if encoder.clip is not None:
        refuse_other_clip(source, record, encoder.clip[0], encoder.clip[1:], "its positions are built for one clip")
    args = {"num_classes": int(state[head].shape[0]), "weights": None if path else weights.name}
    return encoder.eval(), {"architecture": f"torchvision:{arch}", "args": args, "preprocessing": record,
                            "source": source}


def build_random(config: dict[str, Any]) -> TorchvisionEncoder:
    """The architecture of a loaded config dict with fresh (torchvision) weights; seed it outside."""
    return _build(config["architecture"].removeprefix(PREFIX), int(config["args"]["num_classes"]))
