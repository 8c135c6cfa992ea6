from __future__ import annotations

import pytest
import torch

from ssl_video.models import get_encoder


@pytest.mark.parametrize("name", ["r3d_18", "r2plus1d_18"])
def test_tokens_and_grid_match_real_downsampling(name):
    enc = get_encoder(name).eval()
    for T, H, W in [(8, 32, 32), (5, 24, 40)]:
        out = enc.forward_features(torch.randn(1, 3, T, H, W))
        t, h, w = enc.grid_size(T, H, W)
        assert out.shape == (1, t * h * w, 512)
    assert enc.grid_size(8, 32, 32) == (1, 2, 2)
    assert enc.tubelet == (8, 16, 16) and enc.embed_dim == 512
    assert enc(torch.randn(2, 3, 8, 32, 32)).shape == (2, 512)


def test_keep_is_refused():
    enc = get_encoder("r3d_18")
    with pytest.raises(ValueError, match="keep=None"):
        enc.forward_features(torch.randn(1, 3, 8, 32, 32), keep=torch.zeros(1, 2, dtype=torch.long))


def test_in_chans_override():
    enc = get_encoder("r3d_18", in_chans=1)
    assert enc.forward_features(torch.randn(1, 1, 8, 32, 32)).shape == (1, 4, 512)
