from __future__ import annotations

import pytest
import torch

from ssl_video.models import get_encoder


@pytest.fixture
def tiny_encoder():
    """A 2-block, 48-wide ViT on 2x8x8 tubelets: 8 frames of 32x32 give a (4, 4, 4) token grid."""
    return get_encoder("vit_tiny", embed_dim=48, depth=2, num_heads=3, img_size=32, num_frames=8)


@pytest.fixture
def clip():
    """(B=2, C=3, T=8, H=32, W=32) normalized float clip."""
    return torch.randn(2, 3, 8, 32, 32)
