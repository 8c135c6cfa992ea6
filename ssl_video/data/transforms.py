"""Clip augmentations (torchvision.transforms.v2) and the one place clips become float.

Clips stay ``uint8`` from the decoder to the device: datasets yield ``(C, T, H, W)`` uint8,
batches are ``(B, C, T, H, W)`` uint8, and :func:`normalize_clip` turns them into normalized
float on the device, once. Augmentations draw one set of parameters per clip and apply it to
every frame (a crop that jumped between frames would be motion the model has to predict).

    >>> aug = ClipAugment(size=(112, 112), hflip=False)          # flip off: left/right labels
    >>> clip = aug(clip_uint8, generator=torch.Generator().manual_seed(0))   # (C, T, 112, 112) uint8
    >>> x = normalize_clip(batch["video"].to("cuda"))            # (B, C, T, H, W) float32
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import torch
from torchvision import tv_tensors
from torchvision.transforms import v2

from ssl_video.spec import IMAGENET_MEAN, IMAGENET_STD, size_hw


def normalize_clip(
    video: torch.Tensor, mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD
) -> torch.Tensor:
    """uint8 ``(B, C, T, H, W)`` (or one clip ``(C, T, H, W)``) -> float32 ``(video / 255 - mean) / std``.

    Runs on the tensor's device; call it after moving the uint8 batch to the accelerator.
    """
    if video.dtype != torch.uint8:
        raise TypeError(f"normalize_clip expects a uint8 clip, got {video.dtype} (normalize exactly once)")
    if video.dim() not in (4, 5):
        raise ValueError(f"normalize_clip expects (B, C, T, H, W) or (C, T, H, W), got shape {tuple(video.shape)}")
    channels = video.shape[-4]
    if len(mean) != channels or len(std) != channels:
        raise ValueError(f"mean/std have {len(mean)}/{len(std)} entries but the clip has {channels} channels")
    mean_t = _channel_stats(tuple(float(m) for m in mean), video.device)
    std_t = _channel_stats(tuple(float(s) for s in std), video.device)
    # (B, C, T, H, W) - (C, 1, 1, 1): broadcasting over batch, time and space.
    return (video.float().div_(255.0) - mean_t).div_(std_t)


@functools.lru_cache(maxsize=32)
def _channel_stats(values: tuple[float, ...], device: torch.device) -> torch.Tensor:
    """(C, 1, 1, 1) float32 on ``device``, copied there once: a copy from pageable host memory in every step would
    wait for the GPU's queued work (a host sync)."""
    return torch.tensor(values, dtype=torch.float32, device=device).view(len(values), 1, 1, 1)


class ClipAugment:
    """Random resized crop, optional horizontal flip and color jitter; same parameters for all frames.

    Args:
        size: output (H, W) or a single int for square clips.
        scale: crop area range as a fraction of the frame (as in ``v2.RandomResizedCrop``).
        ratio: crop aspect ratio range.
        hflip: flip half of the clips left/right. Turn off when labels depend on the side
            (left turn / right turn, lane changes).
        color_jitter: brightness/contrast/saturation strength (0 = off).

    Call with a ``(C, T, H, W)`` uint8 clip and an explicit ``torch.Generator``; the result is
    ``(C, T, size_h, size_w)`` uint8. The generator, not the global RNG, decides the parameters.
    """

    def __init__(
        self,
        size: int | tuple[int, int],
        scale: tuple[float, float] = (0.5, 1.0),
        ratio: tuple[float, float] = (3 / 4, 4 / 3),
        hflip: bool = True,
        color_jitter: float = 0.0,
    ):
        self.size = size_hw(size)
        if not 0 < scale[0] <= scale[1] <= 1:
            raise ValueError(f"scale must satisfy 0 < min <= max <= 1, got {scale}")
        if color_jitter < 0:
            raise ValueError(f"color_jitter must be >= 0, got {color_jitter}")
        steps: list[v2.Transform] = [v2.RandomResizedCrop(self.size, scale=scale, ratio=ratio, antialias=True)]
        if hflip:
            steps.append(v2.RandomHorizontalFlip(p=0.5))
        if color_jitter > 0:
            steps.append(v2.ColorJitter(brightness=color_jitter, contrast=color_jitter, saturation=color_jitter))
        self.hflip = hflip
        self.transform = v2.Compose(steps)

    def __call__(self, video: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        if video.dim() != 4 or video.dtype != torch.uint8:
            raise ValueError(f"ClipAugment expects a (C, T, H, W) uint8 clip, got {tuple(video.shape)} {video.dtype}")
        # v2 treats T as a batch of frames sharing parameters
        frames = tv_tensors.Video(video.permute(1, 0, 2, 3))  # (C, T, H, W) -> (T, C, H, W)
        if generator is None:
            out = self.transform(frames)
        else:
            # torchvision draws from the global RNG; seed a private copy of it from `generator`
            # so workers and epochs stay reproducible and the caller's global state is untouched.
            seed = int(torch.randint(0, 2**62, (), generator=generator))
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                out = self.transform(frames)
        return out.as_subclass(torch.Tensor).permute(1, 0, 2, 3).contiguous()  # (T, C, h, w) -> (C, T, h, w)

    def __repr__(self) -> str:
        return f"ClipAugment({self.transform})"
