from __future__ import annotations

import pytest
import torch

from ssl_video.models import encoder_config, get_encoder, list_encoders, register_encoder

# Tiny overrides per family so every registered encoder runs on CPU in a fraction of a second.
TINY_VIT = dict(embed_dim=48, depth=1, num_heads=3, tubelet=(2, 8, 8))


def test_expected_names():
    assert {"vit_tiny", "vit_small", "vit_base", "vit_large", "r3d_18", "r2plus1d_18"} <= set(list_encoders())


@pytest.mark.parametrize("name", list_encoders())
def test_every_encoder_follows_the_api(name):
    overrides = TINY_VIT if name.startswith("vit") else {}
    enc = get_encoder(name, **overrides).eval()
    x = torch.randn(2, 3, 8, 32, 32)
    t, h, w = enc.grid_size(8, 32, 32)
    tokens = enc.forward_features(x)
    assert tokens.shape == (2, t * h * w, enc.embed_dim)
    assert enc(x).shape == (2, enc.embed_dim)
    assert len(enc.tubelet) == 3
    rebuilt_name, args = encoder_config(enc)
    assert rebuilt_name == name
    rebuilt = get_encoder(rebuilt_name, **args)
    rebuilt.load_state_dict(enc.state_dict(), strict=True)
    torch.testing.assert_close(rebuilt.eval()(x), enc(x))


def test_full_size_configs():
    # The documented sizes, built with one block to stay cheap.
    sizes = {"vit_small": (384, 12, 6), "vit_base": (768, 12, 12), "vit_large": (1024, 24, 16)}  # (dim, depth, heads)
    for name, (dim, _depth, heads) in sizes.items():
        enc = get_encoder(name, depth=1)
        assert (enc.config.embed_dim, enc.config.num_heads, enc.config.tubelet) == (dim, heads, (2, 16, 16))


def test_unknown_name_and_field():
    with pytest.raises(ValueError, match="registered encoders"):
        get_encoder("vit_gigantic")
    with pytest.raises(ValueError, match="valid fields.*embed_dim"):
        get_encoder("vit_tiny", width=3)


def test_duplicate_registration_raises():
    with pytest.raises(ValueError, match="already registered"):

        @register_encoder("vit_tiny")
        def another(**overrides):
            raise AssertionError("never called")


def test_encoder_config_refuses_unregistered_module():
    with pytest.raises(ValueError, match="registered builder"):
        encoder_config(torch.nn.Linear(2, 2))
