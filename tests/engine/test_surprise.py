import numpy as np
import pytest
import torch

from ssl_video.engine import surprise
from ssl_video.errors import UserError
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
    with pytest.raises(UserError, match="at least 4 windows .* got 3; give --data more"):
        surprise.linear_dynamics_error(ctx[:3], fut[:3])


def test_an_encoder_that_cannot_embed_the_halves_is_a_user_error():
    def whole_clips_only(video):
        raise RuntimeError("expected 8 frames\nmore detail")

    with pytest.raises(UserError, match=r"4-frame context .*\(expected 8 frames\); use a pretraining checkpoint"):
        surprise.half_embeddings(whole_clips_only, torch.zeros(1, 3, 8, 4, 4), context=4)


def test_no_decodable_clip_is_a_user_error_naming_the_videos(monkeypatch):
    from types import SimpleNamespace

    import ssl_video.evaluate.features as features
    from ssl_video.engine.clips import run_windows

    monkeypatch.setattr(features, "decode_clips", lambda windows, *a, **k: SimpleNamespace(ok=np.zeros(len(windows))))
    windows = [SimpleNamespace(video=f"drive_{i}.mp4") for i in range(5)]
    with pytest.raises(UserError, match=r"from 5 windows of drive_0.mp4, drive_1.mp4, drive_2.mp4 and 2 more .*"
                                        r"`ssl-video data index`"):
        run_windows(SimpleNamespace(spec=None), windows, {})
