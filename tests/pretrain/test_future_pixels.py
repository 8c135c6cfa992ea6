from __future__ import annotations

import pytest
import torch

from ssl_video.hub.registry import get_weights
from ssl_video.pretrain.objectives.future_pixels import FuturePixels, future_pixel_target, last_context_tokens
from ssl_video.pretrain.objectives.losses import normalize_patches
from ssl_video.pretrain.patches import future_split, patchify


def test_shapes_and_gradients_from_the_first_step(tiny_encoder, clip):
    obj = FuturePixels(predictor_dim=24, predictor_depth=1)
    obj.attach(tiny_encoder)
    out = obj(tiny_encoder, clip, context=4, generator=torch.Generator())
    assert out.loss.shape == () and out.features.shape == (2, 32, 48) and out.future.shape == (2, 3, 4, 32, 32)
    torch.testing.assert_close(out.copy_last_loss, ((clip[:, :, 4:] - clip[:, :, 3:4]) ** 2).mean())
    out.loss.backward()
    assert tiny_encoder.patch_embed.weight.grad.abs().sum() > 0  # no zero head: the encoder learns from step 0
    assert obj.predictor.head.weight.grad.abs().sum() > 0


def test_loss_is_the_mse_of_the_future_frames_and_future_turns_the_prediction_back_into_them(tiny_encoder, clip):
    obj = FuturePixels(predictor_dim=24, predictor_depth=1)
    obj.attach(tiny_encoder)
    out = obj(tiny_encoder, clip, context=4, generator=torch.Generator())
    torch.testing.assert_close(out.loss, ((out.future - clip[:, :, 4:]) ** 2).mean())
    assert future_pixel_target(clip, 4, (2, 8, 8)).shape == (2, 2 * 4 * 4, 2 * 8 * 8 * 3)


def test_defaults_are_the_builtin_weights_recipe():
    (record,) = get_weights("drive-future-vit-tiny").config["training"]["objectives"]
    recorded = {k: v for k, v in record["init_args"].items() if k not in ("target", "last_patch_skip", "zero_head")}
    assert (record["init_args"]["target"], record["init_args"]["last_patch_skip"]) == ("pixels", False)
    defaults = FuturePixels().describe()["init_args"]
    assert {k: defaults[k] for k in recorded} == recorded
    assert defaults.keys() - recorded.keys() == {"norm_pix"} and defaults["norm_pix"] is False  # added later, off


def test_norm_pix_regresses_each_future_patch_normalised_and_has_no_pixel_prediction(tiny_encoder, clip):
    obj = FuturePixels(predictor_dim=24, predictor_depth=1, norm_pix=True)
    obj.attach(tiny_encoder)
    out = obj(tiny_encoder, clip, context=4, generator=torch.Generator())
    target = normalize_patches(future_pixel_target(clip, 4, (2, 8, 8)), 3)
    pred = obj.predictor(out.features, *future_split((4, 4, 4), 4, 2, device=clip.device), (4, 4, 4),
                         target_init=last_context_tokens(out.features, (4, 4, 4), 2))
    torch.testing.assert_close(out.loss, ((pred - target) ** 2).mean())
    copy_last = normalize_patches(patchify(clip[:, :, 3:4].expand(-1, -1, 4, -1, -1), (2, 8, 8)), 3)
    torch.testing.assert_close(out.copy_last_loss, ((copy_last - target) ** 2).mean())
    assert out.future is None  # a normalised patch cannot be turned back into pixels
    out.loss.backward()
    assert tiny_encoder.patch_embed.weight.grad.abs().sum() > 0


def test_bad_arguments():
    with pytest.raises(ValueError, match="weight"):
        FuturePixels(weight=0)
    with pytest.raises(ValueError, match="divisible"):
        FuturePixels(predictor_dim=30, predictor_heads=4)
    with pytest.raises(TypeError, match="target"):  # the residual target is built by benchmarks/recipe_search.py only
        FuturePixels(target="residual")


def test_describe_rebuilds_the_objective():
    obj = FuturePixels(weight=0.5, predictor_dim=24, predictor_heads=4, latent_copy=False)
    entry = obj.describe()
    assert entry["name"] == "future_pixels" and entry["class_path"].endswith("future_pixels.FuturePixels")
    assert FuturePixels(**entry["init_args"]).describe() == entry


def test_latent_copy_starts_each_future_query_from_the_last_context_token_at_its_place(tiny_encoder, clip):
    grid = tiny_encoder.grid_size(*clip.shape[2:])  # (4, 4, 4) with the (2, 8, 8) tubelet on 8x32x32
    ctx_ids, fut_ids = future_split(grid, 4, tiny_encoder.tubelet[0])
    features = torch.randn(2, len(ctx_ids), 5)
    copied = last_context_tokens(features, grid, 2)
    assert copied.shape == (2, len(fut_ids), 5)
    hw = grid[1] * grid[2]
    for k, fid in enumerate(fut_ids.tolist()):  # same (h, w), last context time slice
        assert torch.equal(copied[:, k], features[:, (2 - 1) * hw + fid % hw])
    obj = FuturePixels(predictor_dim=24, predictor_depth=1)
    obj.attach(tiny_encoder)
    plain = FuturePixels(latent_copy=False, predictor_dim=24, predictor_depth=1)
    plain.attach(tiny_encoder)
    plain.load_state_dict(obj.state_dict())  # same weights, one lever: the queries' start
    out, ref = (o(tiny_encoder, clip, context=4, generator=torch.Generator()) for o in (obj, plain))
    assert not torch.allclose(out.future, ref.future)
    out.loss.backward()  # the copy is a path from the encoder's last tokens to every future query
    assert tiny_encoder.patch_embed.weight.grad.abs().sum() > 0
    assert FuturePixels(**obj.describe()["init_args"]).init_args["latent_copy"] is True
    with pytest.raises(ValueError, match="target_init"):
        obj.predictor(features[..., :1].expand(-1, -1, 48), ctx_ids, fut_ids, grid, target_init=copied[:, :3, :1])
