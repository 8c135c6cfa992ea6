"""attentive.py and finetune.py: shapes, layer-wise lr decay, and that real Lightning training learns."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from ssl_video.errors import UserError
from ssl_video.evaluate.attentive import AttentiveConfig, AttentiveProbeGrid, _GridAdamW, fit_attentive_grid
from ssl_video.evaluate.finetune import EncoderHead, encoder_layers, fit_encoder_head, layer_decay_param_groups
from ssl_video.evaluate.probes import metrics
from ssl_video.evaluate.training import TrainBudget, predict
from ssl_video.models import get_encoder


def _reference_probe(grid: AttentiveProbeGrid, g: int, tokens: torch.Tensor) -> torch.Tensor:
    """Probe g of the grid computed the textbook way (V-JEPA's CrossAttentionBlock: project every token)."""
    B, K, D = tokens.shape
    h = grid.heads
    x = F.layer_norm(tokens, (D,))
    k = x @ grid.wk.weight[g] + grid.wk.bias[g]
    v = x @ grid.wv.weight[g] + grid.wv.bias[g]
    q = (grid.query[g] @ grid.wq.weight[g] + grid.wq.bias[g]).expand(B, -1, -1)  # (B, Q, D)
    split = lambda t: t.reshape(B, t.shape[1], h, D // h).transpose(1, 2)  # noqa: E731
    a = F.scaled_dot_product_attention(split(q), split(k), split(v)).transpose(1, 2).reshape(B, -1, D)
    out = grid.query[g] + a @ grid.proj.weight[g] + grid.proj.bias[g]
    mlp_in = F.layer_norm(out, (D,)) * grid.norm_mlp.weight[g] + grid.norm_mlp.bias[g]
    hidden = F.gelu(mlp_in @ grid.fc1.weight[g] + grid.fc1.bias[g])
    out = out + hidden @ grid.fc2.weight[g] + grid.fc2.bias[g]
    return out.mean(1) @ grid.head.weight[g] + grid.head.bias[g]


def test_attentive_grid_shapes_and_reassociated_attention_matches_the_textbook_block():
    torch.manual_seed(0)
    grid = AttentiveProbeGrid(3, 32, 5, AttentiveConfig(num_queries=2))
    for p in grid.parameters():  # away from the init so that every term matters
        p.data.add_(torch.randn_like(p) * 0.2)
    tokens = torch.randn(4, 7, 32)
    out = grid(tokens)
    assert out.shape == (3, 4, 5)
    for g in range(3):
        torch.testing.assert_close(out[g], _reference_probe(grid, g, tokens), rtol=1e-4, atol=1e-4)
    assert AttentiveProbeGrid(2, 32, 3, AttentiveConfig(depth=3))(tokens).shape == (2, 4, 3)


def test_grid_adamw_matches_torch_adamw_per_probe():
    torch.manual_seed(0)
    lrs, wds = torch.tensor([1e-2, 3e-3]), torch.tensor([0.1, 0.0])
    stacked = torch.nn.Parameter(torch.randn(2, 3, 4))
    bias = torch.nn.Parameter(torch.randn(2, 1, 4))
    refs = [(torch.nn.Parameter(stacked[g].detach().clone()), torch.nn.Parameter(bias[g].detach().clone()))
            for g in range(2)]
    opt = _GridAdamW([stacked, bias], [stacked], lrs, wds)
    ref_opts = [torch.optim.AdamW([{"params": [w], "weight_decay": float(wds[g])},
                                   {"params": [b], "weight_decay": 0.0}],
                                  lr=float(lrs[g])) for g, (w, b) in enumerate(refs)]
    for _ in range(5):
        grads = torch.randn(2, 3, 4), torch.randn(2, 1, 4)
        stacked.grad, bias.grad = grads[0].clone(), grads[1].clone()
        opt.step()
        for g, ((w, b), ref) in enumerate(zip(refs, ref_opts)):
            w.grad, b.grad = grads[0][g].clone(), grads[1][g].clone()
            ref.step()
    for g, (w, b) in enumerate(refs):
        torch.testing.assert_close(stacked[g], w, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(bias[g], b, rtol=1e-5, atol=1e-6)


def test_attentive_grid_learns_a_token_it_must_find_and_selects_on_validation():
    # The class is written into one random token out of 16; the mean over tokens dilutes it.
    rng = np.random.default_rng(0)
    n, k, d = 240, 16, 32
    y = rng.integers(0, 2, n)
    tokens = rng.normal(0, 1, (n, k, d)).astype(np.float16)
    where = rng.integers(0, k, n)
    tokens[np.arange(n), where, :4] = (np.where(y == 1, 3.0, -3.0)[:, None]).astype(np.float16)
    tokens[np.arange(n), where, 4:8] = 3.0  # a marker so attention can find the informative token
    train, val, test = np.arange(0, 160), np.arange(160, 190), np.arange(190, n)
    cfg = AttentiveConfig(lrs=(3e-3, 1e-6), weight_decays=(0.01,), epochs=30, batch_size=32)
    grid = fit_attentive_grid(tokens, y, train, "classification", 2, val_idx=val, cfg=cfg, seed=0)
    assert grid.best == 0 and grid.val_scores[0] > grid.val_scores[1]  # lr 1e-6 barely moves
    assert metrics(y[test], grid.predict(tokens, test), "classification")["accuracy"] > 0.9


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
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        module = fit_encoder_head(encoder, clips, level * 100, np.arange(64), "regression", 1, mean=(0.5,) * 3,
                                  std=(0.25,) * 3, val_idx=np.arange(64, 80), budget=budget, seed=0)
    assert not [w for w in caught if "LeafSpec" in str(w.message)]  # Lightning's use of a torch deprecation
    pred = predict(module, clips, np.arange(80, 96))
    assert pred.shape == (16,)
    assert metrics(level[80:] * 100, pred, "regression")["r2"] > 0.5


def test_attentive_probe_on_few_labels_trains_min_steps(monkeypatch):
    # 32 labeled clips are one step an epoch: 20 epochs would be 20 AdamW steps from a random init. With min_steps
    # the run has more epochs, the same warmup share and the cosine down to 0; it still learns and selects on val.
    # (That it reads what 20 steps cannot: tests/evaluate/test_sanity.py, on real mp4 files.)
    rng = np.random.default_rng(1)
    n, k, d = 160, 8, 32
    y = rng.integers(0, 3, n)
    tokens = rng.normal(0, 1, (n, k, d)).astype(np.float32)
    tokens[:, :, :3] += 1.5 * np.eye(3, dtype=np.float32)[y][:, None, :]
    train, val, test = np.arange(0, 32), np.arange(32, 48), np.arange(48, n)
    scales = []
    step = _GridAdamW.step
    monkeypatch.setattr(_GridAdamW, "step", lambda self, scale=1.0: (scales.append(scale), step(self, scale))[1])
    for min_steps, expected in ((0, 20), (10, 20), (300, 300)):
        scales.clear()
        cfg = AttentiveConfig(lrs=(1e-3, 1e-7), weight_decays=(0.01,), epochs=20, min_steps=min_steps)
        grid = fit_attentive_grid(tokens, y, train, "classification", 3, val_idx=val, cfg=cfg, seed=0)
        assert len(scales) == expected  # one step an epoch: max(epochs, min_steps) epochs
        warmup = expected // 10  # warmup_epochs / epochs of the run, stretched or not
        assert scales[0] < 1.0 and scales[warmup - 1] == 1.0 and scales[warmup + 1] < 1.0 and scales[-1] < 0.01
        assert grid.best == 0 and metrics(y[test], grid.predict(tokens, test), "classification")["accuracy"] > 0.85
    scales.clear()  # without a validation split nothing picks the best epoch: the epoch budget alone
    fit_attentive_grid(tokens, y, train, "classification", 3, cfg=AttentiveConfig(epochs=20, min_steps=300), seed=0)
    assert len(scales) == 20
    with pytest.raises(UserError, match="min_steps"):
        AttentiveConfig(min_steps=-1)
