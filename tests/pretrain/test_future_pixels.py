from __future__ import annotations

import pytest
import torch

from ssl_video.pretrain.objectives.future_pixels import (
    FuturePixels,
    future_pixel_loss,
    future_pixel_target,
    last_tubelet_patches,
)
from ssl_video.pretrain.patches import patchify


def test_shapes_and_gradients(tiny_encoder, clip):
    obj = FuturePixels(target="pixels", predictor_dim=24, predictor_depth=1)
    obj.attach(tiny_encoder)
    out = obj(tiny_encoder, clip, context=4, generator=torch.Generator())
    assert out.loss.shape == () and out.features.shape == (2, 32, 48) and out.future.shape == (2, 3, 4, 32, 32)
    torch.testing.assert_close(out.copy_last_loss, ((clip[:, :, 4:] - clip[:, :, 3:4]) ** 2).mean())
    out.loss.backward()
    assert tiny_encoder.patch_embed.weight.grad.abs().sum() > 0
    assert obj.predictor.head.weight.grad.abs().sum() > 0


def test_residual_target_starts_as_copy_last_frame(tiny_encoder, clip):
    obj = FuturePixels(target="residual", predictor_dim=24, predictor_depth=1)
    obj.attach(tiny_encoder)
    out = obj(tiny_encoder, clip, context=4, generator=torch.Generator())
    torch.testing.assert_close(out.future, clip[:, :, 3:4].expand(-1, -1, 4, -1, -1))
    # the loss is then the MSE of the copy-last baseline
    torch.testing.assert_close(out.loss, ((clip[:, :, 4:] - clip[:, :, 3:4]) ** 2).mean())
    torch.testing.assert_close(out.copy_last_loss, out.loss)
    out.loss.backward()
    assert obj.predictor.head.weight.grad.abs().sum() > 0


def test_loss_matches_reference_loop():
    torch.manual_seed(1)
    video = torch.randn(1, 3, 4, 8, 8)
    pred = torch.randn(1, 4, 2 * 4 * 4 * 3)
    target = future_pixel_target(video, 2, (2, 4, 4), "residual")
    ref, n = 0.0, 0
    for i, (h, w) in enumerate([(0, 0), (0, 1), (1, 0), (1, 1)]):
        cube = video[0, :, 2:4, 4 * h : 4 * h + 4, 4 * w : 4 * w + 4] - video[0, :, 1:2, 4 * h : 4 * h + 4, 4 * w : 4 * w + 4]
        p = pred[0, i].view(2, 4, 4, 3).permute(3, 0, 1, 2)  # (tt, ph, pw, C) -> (C, tt, ph, pw)
        ref += ((p - cube) ** 2).sum().item()
        n += cube.numel()
    assert future_pixel_loss(pred, target).item() == pytest.approx(ref / n, rel=1e-5)


def test_bad_arguments_and_shapes():
    with pytest.raises(ValueError, match="target"):
        FuturePixels(target="flow")
    with pytest.raises(ValueError, match="weight"):
        FuturePixels(weight=0)
    with pytest.raises(ValueError, match=r"\(2, 3, 4\).*\(2, 3, 5\)"):
        future_pixel_loss(torch.zeros(2, 3, 4), torch.zeros(2, 3, 5))


def test_last_patch_skip_starts_at_copy_last_and_learns(tiny_encoder, clip):
    obj = FuturePixels(target="residual", last_patch_skip=True, predictor_dim=24, predictor_depth=1)
    obj.attach(tiny_encoder)
    out = obj(tiny_encoder, clip, context=4, generator=torch.Generator())
    torch.testing.assert_close(out.future, clip[:, :, 3:4].expand(-1, -1, 4, -1, -1))
    out.loss.backward()
    assert obj.skip.weight.grad.abs().sum() > 0


def test_last_tubelet_patches_repeat_the_last_context_tubelet():
    video = torch.randn(1, 3, 8, 16, 16)
    patches = last_tubelet_patches(video, 4, (2, 8, 8), (4, 2, 2))
    assert patches.shape == (1, 2 * 4, 2 * 8 * 8 * 3)
    torch.testing.assert_close(patches[:, :4], patchify(video[:, :, 2:4], (2, 8, 8)))
    torch.testing.assert_close(patches[:, 4:], patches[:, :4])


def test_describe_rebuilds_the_objective():
    obj = FuturePixels(weight=0.5, target="pixels", predictor_dim=24, predictor_heads=4, last_patch_skip=True)
    entry = obj.describe()
    assert entry["name"] == "future_pixels" and entry["class_path"].endswith("future_pixels.FuturePixels")
    assert FuturePixels(**entry["init_args"]).describe() == entry


def test_zero_head_gives_the_encoder_no_gradient_at_the_start_and_zero_head_false_does(tiny_encoder, clip):
    """The trap behind 400 steps at copy-last PSNR without last_patch_skip: a zero head passes no gradient back."""
    grads = {}
    for zero_head in (True, False):
        torch.manual_seed(0)
        obj = FuturePixels(predictor_dim=24, predictor_depth=1, zero_head=zero_head)
        obj.attach(tiny_encoder)
        tiny_encoder.zero_grad()
        obj(tiny_encoder, clip, context=4, generator=torch.Generator()).loss.backward()
        grads[zero_head] = tiny_encoder.patch_embed.weight.grad.abs().sum().item()
    assert grads[True] == 0 and grads[False] > 0


def test_latent_copy_starts_each_future_query_from_the_last_context_token_at_its_place(tiny_encoder, clip):
    from ssl_video.pretrain.objectives.future_pixels import last_context_tokens
    from ssl_video.pretrain.patches import future_split

    grid = tiny_encoder.grid_size(*clip.shape[2:])  # (4, 4, 4) with the (2, 8, 8) tubelet on 8x32x32
    ctx_ids, fut_ids = future_split(grid, 4, tiny_encoder.tubelet[0])
    features = torch.randn(2, len(ctx_ids), 5)
    copied = last_context_tokens(features, grid, 2)
    assert copied.shape == (2, len(fut_ids), 5)
    hw = grid[1] * grid[2]
    for k, fid in enumerate(fut_ids.tolist()):  # same (h, w), last context time slice
        assert torch.equal(copied[:, k], features[:, (2 - 1) * hw + fid % hw])
    obj = FuturePixels(target="pixels", latent_copy=True, predictor_dim=24, predictor_depth=1)
    obj.attach(tiny_encoder)
    plain = FuturePixels(target="pixels", predictor_dim=24, predictor_depth=1)
    plain.attach(tiny_encoder)
    plain.load_state_dict(obj.state_dict())  # same weights, one lever: the queries' start
    out, ref = obj(tiny_encoder, clip, context=4, generator=torch.Generator()), plain(tiny_encoder, clip, 4, torch.Generator())
    assert not torch.allclose(out.future, ref.future)
    out.loss.backward()  # the copy is a path from the encoder's last tokens to every future query
    assert tiny_encoder.patch_embed.weight.grad.abs().sum() > 0
    assert FuturePixels(**obj.describe()["init_args"]).init_args["latent_copy"] is True
    with pytest.raises(ValueError, match="target_init"):
        obj.predictor(features[..., :1].expand(-1, -1, 48), ctx_ids, fut_ids, grid, target_init=copied[:, :3, :1])
