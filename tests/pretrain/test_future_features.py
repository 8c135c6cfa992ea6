from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from ssl_video.errors import UserError
from ssl_video.pretrain.objectives import FuturePixels, Masked, ObjectiveConfigError
from ssl_video.pretrain.objectives.future_features import FutureFeatures, future_feature_loss


def test_shapes_gradients_and_no_gradient_to_the_ema_target(tiny_encoder, clip):
    obj = FutureFeatures(predictor_dim=24, predictor_depth=1)
    obj.attach(tiny_encoder)
    out = obj(tiny_encoder, clip, context=4, generator=torch.Generator())
    assert out.loss.shape == () and out.features.shape == (2, 32, 48)
    out.loss.backward()
    assert tiny_encoder.patch_embed.weight.grad.abs().sum() > 0
    assert obj.predictor.head.weight.grad.abs().sum() > 0
    assert all(p.grad is None and not p.requires_grad for p in obj.target_encoder.parameters())


def test_ema_step_moves_target_toward_online(tiny_encoder):
    obj = FutureFeatures(momentum_start=0.9, momentum_end=1.0)
    obj.attach(tiny_encoder)
    before = obj.target_encoder.patch_embed.weight.clone()
    with torch.no_grad():
        tiny_encoder.patch_embed.weight.add_(1.0)
    obj.after_optimizer_step(tiny_encoder, progress=0.0)  # momentum 0.9
    torch.testing.assert_close(obj.target_encoder.patch_embed.weight, before + 0.1)
    obj.after_optimizer_step(tiny_encoder, progress=1.0)  # momentum 1.0: frozen
    torch.testing.assert_close(obj.target_encoder.patch_embed.weight, before + 0.1)


def test_target_is_layer_normed_future_of_the_target_encoder(tiny_encoder, clip):
    obj = FutureFeatures(loss="smooth_l1", predictor_dim=24, predictor_depth=1)
    obj.attach(tiny_encoder)
    out = obj(tiny_encoder, clip, context=4, generator=torch.Generator())
    with torch.no_grad():
        feats = tiny_encoder.forward_features(clip[:, :, :8])  # target == online at init
        target = F.layer_norm(feats[:, 32:], (48,))
        ctx = tiny_encoder.forward_features(clip, keep=torch.arange(32).expand(2, -1))
        pred = obj.predictor(ctx, torch.arange(32), torch.arange(32, 64), (4, 4, 4))
    torch.testing.assert_close(out.loss, F.smooth_l1_loss(pred, target), rtol=1e-5, atol=1e-6)


def test_loss_matches_reference():
    pred, target = torch.randn(2, 5, 8), torch.randn(2, 5, 8) * 3
    assert future_feature_loss(pred, target, "l1").item() == pytest.approx((pred - target).abs().mean().item(),
                                                                           rel=1e-6)
    d = (pred - target).abs()
    ref = torch.where(d < 1, 0.5 * d**2, d - 0.5).mean()
    assert future_feature_loss(pred, target, "smooth_l1").item() == pytest.approx(ref.item(), rel=1e-6)


def test_bad_arguments_and_shapes():
    with pytest.raises(ValueError, match="loss"):
        FutureFeatures(loss="l2")
    with pytest.raises(ValueError, match="momentum"):
        FutureFeatures(momentum_start=0.999, momentum_end=0.99)
    with pytest.raises(ValueError, match=r"\(1, 2, 3\).*\(1, 2, 4\)"):
        future_feature_loss(torch.zeros(1, 2, 3), torch.zeros(1, 2, 4))


def test_context_mask_predicts_a_hidden_context_block_with_the_future(tiny_encoder, clip):
    obj = FutureFeatures(predictor_dim=24, predictor_depth=1, context_mask=0.25)
    obj.attach(tiny_encoder)
    out = obj(tiny_encoder, clip, context=4, generator=torch.Generator().manual_seed(0))
    assert out.features.shape == (2, 32 - 2 * 4, 48)  # 4 of 16 spatial positions hidden at both context steps
    out.loss.backward()
    assert tiny_encoder.patch_embed.weight.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="context_mask"):
        FutureFeatures(context_mask=1.0)


@pytest.mark.parametrize("build, key", [
    (lambda: FutureFeatures(context_mask=1.5), "context_mask"),
    (lambda: FutureFeatures(loss="l3"), "loss"),
    (lambda: FutureFeatures(momentum_start=0.9, momentum_end=0.5), "momentum_start"),
    (lambda: FutureFeatures(predictor_dim=10, predictor_heads=3), "predictor_dim"),
    (lambda: FuturePixels(weight=0), "weight"),
    (lambda: FuturePixels(predictor_dim=10, predictor_heads=3), "predictor_dim"),
    (lambda: Masked(mask_ratio=1.0), "mask_ratio"),
])
def test_bad_objective_arguments_are_user_errors_naming_the_key(build, key):
    """``ssl-video fit`` turns them into one line naming model.objectives[i].init_args.<key> (tests/test_cli_errors)."""
    with pytest.raises(ObjectiveConfigError, match=rf"^\w+: init_args\.{key} ") as error:
        build()
    assert isinstance(error.value, UserError) and error.value.key == key


def test_the_ema_target_stays_in_eval_mode_so_its_targets_do_not_drop_paths(clip):
    from ssl_video.models import get_encoder

    encoder = get_encoder("vit_tiny", img_size=32, num_frames=8, tubelet=(2, 8, 8), embed_dim=48, depth=2,
                          num_heads=3, drop_path=0.5)
    obj = FutureFeatures(predictor_dim=24, predictor_depth=1)
    obj.attach(encoder)
    obj.train()  # what Lightning does to every submodule at the start of fitting
    assert obj.predictor.training and not any(m.training for m in obj.target_encoder.modules())
    with torch.no_grad():
        torch.testing.assert_close(obj.target_encoder.forward_features(clip), obj.target_encoder.forward_features(clip))
