"""3D CNN encoders (torchvision ``r3d_18`` / ``r2plus1d_18``) behind the ViT encoder API.

Tran et al., "A Closer Look at Spatiotemporal Convolutions for Action Recognition",
CVPR 2018; torchvision.models.video.resnet. Built with ``weights=None``. Offered for probes
and fine-tuning (e.g. the from-scratch baseline), not for pretraining: every objective drops
or masks tokens (``keep``), which makes no sense for a convolution and is refused. The last
feature map (B, 512, T', H', W') is flattened to tokens (B, T'H'W', 512) and layer-normalised,
so probes treat both families alike.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torchvision.models import video as tv_video

from ssl_video.models.registry import apply_overrides, register_encoder

ARCHS = ("r3d_18", "r2plus1d_18")


@dataclass(frozen=True)
class Conv3dConfig:
    arch: str = "r3d_18"  # one of ARCHS
    in_chans: int = 3

    def __post_init__(self) -> None:
        if self.arch not in ARCHS:
            raise ValueError(f"arch must be one of {ARCHS}, got {self.arch!r}")


def _halve(n: int, times: int) -> int:
    """Output length after `times` stride-2, kernel-3 (or 7), 'same'-padded convs: ceil(n / 2) each."""
    for _ in range(times):
        n = (n - 1) // 2 + 1
    return n


class Conv3dEncoder(nn.Module):
    """Encoder API: ``forward_features(x (B,C,T,H,W)) -> (B, T'H'W', 512)``, ``forward(x) -> (B, 512)``."""

    embed_dim = 512
    # Stem halves H, W; layer2..4 halve T, H, W. Lengths round up (see grid_size).
    tubelet = (8, 16, 16)

    def __init__(self, config: Conv3dConfig):
        super().__init__()
        self.config = config
        net = getattr(tv_video, config.arch)(weights=None)
        if config.in_chans != 3:
            old = net.stem[0]
            net.stem[0] = nn.Conv3d(config.in_chans, old.out_channels, old.kernel_size, old.stride, old.padding,
                                    bias=False)
        self.stem, self.layer1, self.layer2 = net.stem, net.layer1, net.layer2
        self.layer3, self.layer4 = net.layer3, net.layer4
        self.norm = nn.LayerNorm(self.embed_dim, eps=1e-6)

    def grid_size(self, T: int, H: int, W: int) -> tuple[int, int, int]:
        """(T, H, W) pixels -> (T', H', W') = (ceil(T/8), ceil(H/16), ceil(W/16)) by repeated halving."""
        return _halve(T, 3), _halve(H, 4), _halve(W, 4)

    def forward_features(self, x: torch.Tensor, keep: torch.Tensor | None = None) -> torch.Tensor:
        """(B, C, T, H, W) normalized float -> (B, N, 512) tokens in (t', h', w') raster order."""
        if keep is not None:
            raise ValueError(f"{self.config.arch} is convolutional and cannot drop tokens: pass keep=None")
        if x.ndim != 5 or x.shape[1] != self.config.in_chans:
            raise ValueError(f"expected (B, {self.config.in_chans}, T, H, W) input, got {tuple(x.shape)}")
        x = self.layer4(self.layer3(self.layer2(self.layer1(self.stem(x)))))  # (B, 512, T', H', W')
        return self.norm(x.flatten(2).transpose(1, 2))  # (B, 512, T', H', W') -> (B, N, 512)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, T, H, W) -> (B, 512): mean over all tokens."""
        return self.forward_features(x).mean(dim=1)


@register_encoder("r3d_18")
def r3d_18(**overrides) -> Conv3dEncoder:
    return Conv3dEncoder(apply_overrides(Conv3dConfig(arch="r3d_18"), overrides))


@register_encoder("r2plus1d_18")
def r2plus1d_18(**overrides) -> Conv3dEncoder:
    return Conv3dEncoder(apply_overrides(Conv3dConfig(arch="r2plus1d_18"), overrides))
