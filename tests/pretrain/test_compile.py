"""`compile: true` must compile what training calls (forward_features and the predictors),
not just `encoder.__call__`."""

from __future__ import annotations

import functools

import torch
from torch._dynamo.utils import counters

import ssl_video.models.compile as compile_module
from ssl_video.pretrain.module import VideoPretrainer
from ssl_video.pretrain.objectives.future_features import FutureFeatures
from ssl_video.pretrain.objectives.future_pixels import FuturePixels

TINY = {"img_size": 32, "num_frames": 4, "tubelet": [2, 8, 8], "embed_dim": 48, "depth": 1, "num_heads": 3}


def test_configure_model_compiles_encoders_ema_target_and_predictors(monkeypatch):
    # the "eager" backend runs dynamo's graph capture without inductor's slow CPU code generation
    monkeypatch.setattr(compile_module.torch, "compile", functools.partial(torch.compile, backend="eager"))
    objectives = [FuturePixels(predictor_dim=24, predictor_depth=1),
                  FutureFeatures(predictor_dim=24, predictor_depth=1)]
    model = VideoPretrainer(encoder_args=TINY, objectives=objectives, context=2, future=2, size=32, compile=True)
    keys = list(model.state_dict())
    video = torch.randn(2, 3, 4, 32, 32)
    eager = model.encoder.forward_features(video)
    torch._dynamo.reset()
    counters.clear()
    model.configure_model()
    model.configure_model()  # Lightning may call it again: no double wrapping
    compiled = model.encoder.forward_features(video)
    model.objectives[1].target_encoder.forward_features(video)
    assert counters["stats"]["unique_graphs"] >= 1  # dynamo captured a graph: something was compiled
    assert "forward_features" in vars(model.encoder)
    assert "forward_features" in vars(model.objectives[1].target_encoder)
    assert model.objectives[1].target_encoder.forward_features is not model.encoder.forward_features
    torch.testing.assert_close(compiled, eager)
    for objective in model.objectives:
        assert objective.predictor._compiled_call_impl is not None
    assert list(model.state_dict()) == keys  # checkpoints are the same with and without compile


def test_compiled_training_step_matches_eager(monkeypatch):
    # one forward + backward of both objectives through the compiled encoder and predictors
    monkeypatch.setattr(compile_module.torch, "compile", functools.partial(torch.compile, backend="eager"))
    video = torch.randn(2, 3, 4, 32, 32)
    results = []
    for compiled in (False, True):
        torch.manual_seed(0)
        objectives = [FuturePixels(predictor_dim=24, predictor_depth=1),
                      FutureFeatures(predictor_dim=24, predictor_depth=1)]
        model = VideoPretrainer(encoder_args=TINY, objectives=objectives, context=2, future=2, size=32,
                                compile=compiled)
        torch._dynamo.reset()
        counters.clear()
        model.configure_model()
        names = set(compile_module.compile_modules(model)) if compiled else set()  # idempotent: compiles nothing more
        loss = sum(o(model.encoder, video, 2, torch.Generator().manual_seed(0)).loss for o in model.objectives)
        loss.backward()
        if compiled:
            assert names == set()
            assert counters["stats"]["unique_graphs"] >= 3  # online encoder, EMA target, predictors
        results.append((loss.detach(), model.encoder.patch_embed.weight.grad.clone()))
    torch.testing.assert_close(results[1], results[0])
