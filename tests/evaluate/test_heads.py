"""attentive.py and finetune.py: shapes, layer-wise lr decay, and that real Lightning training learns."""

from __future__ import annotations

import numpy as np
import torch

from ssl_video.evaluate.attentive import AttentiveProbe, fit_attentive_probe
from ssl_video.evaluate.finetune import EncoderHead, encoder_layers, fit_encoder_head, layer_decay_param_groups
from ssl_video.evaluate.probes import metrics
from ssl_video.evaluate.training import TrainBudget, predict
from ssl_video.models import get_encoder


def test_attentive_probe_shape_and_learns_a_token_it_must_find():
    assert AttentiveProbe(32, 5)(torch.randn(2, 7, 32)).shape == (2, 5)
    # The class is written into one random token out of 16; the mean over tokens dilutes it.
    rng = np.random.default_rng(0)
    n, k, d = 240, 16, 32
    y = rng.integers(0, 2, n)
    tokens = rng.normal(0, 1, (n, k, d)).astype(np.float16)
    where = rng.integers(0, k, n)
    tokens[np.arange(n), where, :4] = (np.where(y == 1, 3.0, -3.0)[:, None]).astype(np.float16)
    tokens[np.arange(n), where, 4:8] = 3.0  # a marker so attention can find the informative token
    train, val, test = np.arange(0, 160), np.arange(160, 190), np.arange(190, n)
    budget = TrainBudget(max_epochs=15, batch_size=32, lr=3e-3, patience=5)
    module = fit_attentive_probe(tokens, y, train, "classification", 2, val_idx=val, budget=budget, seed=0)
    assert metrics(y[test], predict(module, tokens, test), "classification")["accuracy"] > 0.9


def test_layer_decay_groups_cover_every_parameter_once():
    model = EncoderHead(get_encoder("vit_tiny", depth=2, embed_dim=32, num_heads=2), 3, mean=(0.5,) * 3, std=(0.2,) * 3)
    assert len(encoder_layers(model.encoder)) == 2 + 2  # patch embed (+pos), 2 blocks, final norm
    groups = layer_decay_param_groups(model, 1.0, 0.05, decay=0.5)
    ids = [id(p) for g in groups for p in g["params"]]
    assert sorted(ids) == sorted(id(p) for p in model.parameters()) and len(ids) == len(set(ids))
    lrs = {id(p): g["lr"] for g in groups for p in g["params"]}
    assert lrs[id(model.head.weight)] == 1.0
    assert lrs[id(next(model.encoder.blocks[1].parameters()))] == 0.5 ** 2
    assert lrs[id(model.encoder.patch_embed.weight)] == 0.5 ** 4
    assert all(g["weight_decay"] == 0.0 for g in groups if g["params"][0].dim() < 2)


def test_finetune_regression_on_uint8_clips_learns_brightness():
    # Regression target = mean brightness of a clip; a tiny ViT fine-tuned for a few steps fits it.
    rng = np.random.default_rng(0)
    level = rng.uniform(0, 1, 96)
    clips = (level[:, None, None, None, None] * 200 + rng.uniform(0, 40, (96, 3, 4, 16, 16))).astype(np.uint8)
    encoder = get_encoder("vit_tiny", depth=1, embed_dim=32, num_heads=2, img_size=16, num_frames=4, tubelet=(2, 8, 8))
    budget = TrainBudget(max_epochs=25, batch_size=16, lr=3e-3, patience=25, layer_decay=0.9)
    module = fit_encoder_head(encoder, clips, level * 100, np.arange(64), "regression", 1, mean=(0.5,) * 3,
                              std=(0.25,) * 3, val_idx=np.arange(64, 80), budget=budget, seed=0)
    pred = predict(module, clips, np.arange(80, 96))
    assert pred.shape == (16,)
    assert metrics(level[80:] * 100, pred, "regression")["r2"] > 0.5
