import numpy as np
import pytest
import torch

from ssl_video.engine import surprise
from ssl_video.models.registry import get_encoder


def test_copy_last_error_is_zero_for_a_still_scene_and_grows_with_change():
    still = torch.rand(2, 3, 1, 8, 8).expand(-1, -1, 6, -1, -1)  # (B, C, T, H, W)
    assert torch.allclose(surprise.copy_last_error(still, 3), torch.zeros(2))
    moving = still.clone()
    moving[1, :, 4:] += 1.0
    err = surprise.copy_last_error(moving, 3)
    assert err[0] == 0 and err[1] == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="no future"):
        surprise.copy_last_error(still, 6)


def test_half_embeddings_shapes():
    torch.manual_seed(0)
    encoder = get_encoder("vit_tiny", embed_dim=32, depth=1, num_heads=2, img_size=16, tubelet=(2, 8, 8)).eval()
    ctx, fut = surprise.half_embeddings(encoder, torch.randn(3, 3, 8, 16, 16), context=4)
    assert ctx.shape == fut.shape == (3, 32)


def test_linear_dynamics_error_finds_the_window_the_dynamics_do_not_explain():
    rng = np.random.default_rng(0)
    ctx = rng.normal(size=(120, 6))
    fut = ctx @ rng.normal(size=(6, 6)) * 0.5 + 0.05 * rng.normal(size=(120, 6))
    fut[37] += 3.0  # a cut-in: the future is not what the context implies
    groups = np.repeat(np.arange(6), 20)
    err, base = surprise.linear_dynamics_error(ctx, fut, groups)
    assert err.shape == base.shape == (120,)
    assert int(np.argmax(err)) == 37
    assert np.median(err) < 0.2 * np.median(base)  # the ridge explains the usual dynamics, copy-last does not
    with pytest.raises(ValueError, match="at least 4"):
        surprise.linear_dynamics_error(ctx[:3], fut[:3])
