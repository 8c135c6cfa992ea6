from __future__ import annotations

import pytest
import torch

from ssl_video.models import VideoViT, VideoViTConfig, get_encoder, sincos_3d
from ssl_video.models.layers import sincos_3d_on

TINY = dict(img_size=32, num_frames=4, tubelet=(2, 8, 8), embed_dim=48, depth=2, num_heads=3)


def tiny(**kw) -> VideoViT:
    return VideoViT(VideoViTConfig(**{**TINY, **kw}))


def test_shapes_and_grid():
    enc = tiny()
    x = torch.randn(2, 3, 4, 32, 32)
    assert enc.grid_size(4, 32, 32) == (2, 4, 4)
    assert enc.forward_features(x).shape == (2, 32, 48)
    assert enc(x).shape == (2, 48)
    assert enc.tubelet == (2, 8, 8) and enc.embed_dim == 48


def test_other_resolution_and_clip_length_with_sincos():
    enc = tiny()
    out = enc.forward_features(torch.randn(1, 3, 8, 24, 40))
    assert out.shape == (1, 4 * 3 * 5, 48)


def test_indivisible_input_and_wrong_channels_raise():
    enc = tiny()
    with pytest.raises(ValueError, match="not divisible"):
        enc.forward_features(torch.randn(1, 3, 4, 30, 32))
    with pytest.raises(ValueError, match=r"\(B, 3, T, H, W\)"):
        enc.forward_features(torch.randn(1, 1, 4, 32, 32))


def test_keep_selects_tokens():
    enc = tiny().eval()
    x = torch.randn(2, 3, 4, 32, 32)
    keep = torch.tensor([[0, 5, 9], [3, 4, 31]])
    out = enc.forward_features(x, keep=keep)
    assert out.shape == (2, 3, 48)
    # A model without blocks is per-token, so keep must equal selecting from the full output.
    flat = tiny(depth=0).eval()
    full = flat.forward_features(x)
    torch.testing.assert_close(flat.forward_features(x, keep=keep),
                               torch.gather(full, 1, keep[..., None].expand(-1, -1, 48)))


def _grad_of_first_time_step(enc: VideoViT, keep: torch.Tensor | None = None) -> torch.Tensor:
    x = torch.randn(1, 3, 6, 16, 16, requires_grad=True)
    out = enc.forward_features(x, keep=keep)  # grid (3, 2, 2): 4 tokens per time step
    n_early = 4 if keep is None else int((keep[0] < 4).sum())
    out[:, :n_early].sum().backward()
    return x.grad


def test_causal_time_blocks_the_future():
    grad = _grad_of_first_time_step(tiny(causal_time=True))
    assert grad[:, :, 2:].abs().max() == 0  # frames of t' >= 1 do not influence t' = 0 tokens
    assert grad[:, :, :2].abs().max() > 0
    grad = _grad_of_first_time_step(tiny(causal_time=False))
    assert grad[:, :, 2:].abs().max() > 0  # the same check fails without the mask


def test_causal_mask_follows_kept_tokens():
    keep = torch.tensor([[1, 2, 6, 11]])  # t' = 0, 0, 1, 2
    grad = _grad_of_first_time_step(tiny(causal_time=True), keep=keep)
    assert grad[:, :, 2:].abs().max() == 0
    grad = _grad_of_first_time_step(tiny(causal_time=False), keep=keep)
    assert grad[:, :, 2:].abs().max() > 0


def test_learned_pos_embed_interpolates_to_other_grid():
    enc = tiny(pos_embed="learned")
    assert enc.pos_embed.shape == (1, 32, 48)
    x = torch.randn(1, 3, 8, 48, 32)
    out = enc.forward_features(x)
    assert out.shape == (1, 4 * 6 * 4, 48)
    out.sum().backward()
    assert enc.pos_embed.grad.abs().sum() > 0
    pos = enc._pos((2, 4, 4), x)
    assert pos is enc.pos_embed  # native grid: the table itself


def test_sincos_3d_distinct_positions():
    pos = sincos_3d(48, (2, 3, 4))
    assert pos.shape == (24, 48)
    assert torch.cdist(pos, pos).add(torch.eye(24) * 10).min() > 1e-3


def test_sincos_on_a_device_is_made_once_per_grid_device_and_dtype():
    a = sincos_3d_on(48, (2, 3, 4), torch.device("cpu"), torch.bfloat16)
    assert a.dtype == torch.bfloat16 and torch.equal(a, sincos_3d(48, (2, 3, 4)).bfloat16())
    assert sincos_3d_on(48, [2, 3, 4], "cpu", torch.bfloat16) is a  # same entry: no copy per forward
    assert sincos_3d_on(48, (2, 3, 4), "cpu", torch.float32) is not a
    enc = tiny()
    x = torch.zeros(1, 8, 96)
    assert enc._pos((2, 4, 4), x).data_ptr() == enc._pos((2, 4, 4), x).data_ptr()  # a view of one cached tensor


@pytest.mark.parametrize("pos_embed", ["sincos", "learned"])
def test_residual_stream_stays_float32_under_bf16_autocast(pos_embed):
    """The position table is added in float32 (as timm / V-JEPA add theirs), so bf16 matmuls do not put every
    block's residual sum in bf16."""
    enc, dtypes = tiny(pos_embed=pos_embed), []
    for block in enc.blocks:
        block.register_forward_hook(lambda module, args, out: dtypes.append(out.dtype))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        enc.forward_features(torch.randn(1, 3, 4, 32, 32))
    assert dtypes == [torch.float32] * len(enc.blocks)


def test_init_is_explicit():
    enc = tiny(depth=8, embed_dim=96)
    w = enc.blocks[0].attn.qkv.weight
    assert abs(w.std().item() - 0.02) < 0.003
    assert enc.blocks[0].mlp.fc2.weight.std().item() < 0.02 / 3  # 0.02 / sqrt(2 * depth)


def test_config_from_json_lists_equals_tuples():
    cfg = VideoViTConfig(img_size=[32, 48], tubelet=[2, 8, 8])
    assert cfg.tubelet == (2, 8, 8) and cfg.img_size == (32, 48)
    with pytest.raises(ValueError, match="pos_embed"):
        VideoViTConfig(pos_embed="rope")


def test_drop_path_trains_and_eval_is_deterministic():
    enc = tiny(drop_path=0.5)
    x = torch.randn(4, 3, 4, 32, 32)
    enc.eval()
    torch.testing.assert_close(enc(x), enc(x))
    enc.train()
    assert not torch.allclose(enc(x), enc.eval()(x))


def test_vit_tiny_runs_quickstart_clip():
    enc = get_encoder("vit_tiny", depth=1)
    assert enc(torch.randn(1, 3, 16, 64, 64)).shape == (1, 192)
