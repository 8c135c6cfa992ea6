"""attentive.select_attentive: K-fold over the labeled drives, never a fold without a class, every labeled drive
in training; the whole grid on every labeled clip, voting, when the drives cannot hold every class."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ssl_video.evaluate import attentive
from ssl_video.evaluate.attentive import AttentiveConfig, select_attentive
from ssl_video.evaluate.probes import metrics

CFG = AttentiveConfig(lrs=(1e-2, 1e-3), weight_decays=(0.01,), epochs=12, min_steps=8, batch_size=16)


def _tokens(drives: int, per_drive: int, classes: int, *, one_class_per_drive: bool, seed: int = 0):
    """Tokens (N, 8, 16) with the class written into every token and a drive id into one (a confound)."""
    rng = np.random.default_rng(seed)
    n = drives * per_drive
    groups = np.repeat([f"d{d}" for d in range(drives)], per_drive)
    y = np.repeat(np.arange(drives) % classes, per_drive) if one_class_per_drive else rng.integers(0, classes, n)
    tokens = rng.normal(0, 1, (n, 8, 16)).astype(np.float16)
    tokens[:, :, :classes] += (2 * np.eye(classes)[y][:, None]).astype(np.float16)
    tokens[np.arange(n), 1, 4] += np.repeat(rng.normal(0, 1, drives), per_drive).astype(np.float16)
    return tokens, y, groups


@pytest.fixture
def calls(monkeypatch):
    """(train_idx, val_idx, the trained grid) of each fit_attentive_grid call."""
    seen = []
    fit = attentive.fit_attentive_grid

    def spy(tokens, labels, train_idx, *args, **kwargs):
        seen.append((np.asarray(train_idx), kwargs.get("val_idx"), fit(tokens, labels, train_idx, *args, **kwargs)))
        return seen[-1][2]

    monkeypatch.setattr(attentive, "fit_attentive_grid", spy)
    return seen


def test_folds_over_the_drives_choose_the_setting_and_their_probes_vote(calls):
    tokens, y, groups = _tokens(9, 12, 2, one_class_per_drive=False)
    labeled, test = np.arange(72), np.arange(72, 108)  # 6 labeled drives, 3 held out
    found = select_attentive(tokens, y, labeled, groups, "classification", 2, cfg=CFG, seed=0)
    assert found.selection["rule"] == "3-fold" and 0 <= found.selection["val_score"] <= 1
    (point,) = found.selection["points"]
    best = CFG.grid.index(point)  # the same grid point from every fold
    assert {grid.grid[g] for grid, g in found.members} == {point}
    assert found.selection["val_score"] == pytest.approx(np.mean([grid.val_scores[g] for grid, g in found.members]))
    assert len(calls) == len(found.members) == 3
    for train, val, _ in calls:  # by drive, every class on the training side, every labeled clip held out once
        assert not set(groups[train]) & set(groups[val]) and set(y[train]) == {0, 1}
    assert sorted(np.concatenate([val for _, val, _ in calls]).tolist()) == labeled.tolist()
    _check_voters(found, [fold for _, _, fold in calls], best, tokens, test)
    out = found.outputs(tokens, test)
    assert out.shape == (3, len(test), 2)
    np.testing.assert_array_equal(found.predict(tokens, test), out.softmax(-1).mean(0).argmax(-1).numpy())
    assert metrics(y[test], found.predict(tokens, test), "classification")["balanced_accuracy"] > 0.9
    again = select_attentive(tokens, y, labeled, groups, "classification", 2, cfg=CFG, seed=0)
    assert again.selection == found.selection
    np.testing.assert_array_equal(again.outputs(tokens, test).numpy(), out.numpy())


def test_drives_that_cannot_hold_every_class_train_the_grid_on_every_labeled_clip_and_it_votes(calls):
    tokens, y, groups = _tokens(6, 20, 3, one_class_per_drive=True)
    labeled, test = np.arange(60), np.arange(60, 120)  # 3 labeled drives, one per class
    found = select_attentive(tokens, y, labeled, groups, "classification", 3, cfg=CFG, seed=0)
    assert found.selection == {"rule": "grid average", "points": CFG.grid, "epochs": 12, "val_score": None}
    assert len(calls) == 1 and calls[0][0].tolist() == labeled.tolist() and calls[0][1] is None
    assert all(grid is calls[0][2] for grid, _ in found.members)  # the grid itself: all its probes vote
    assert [g for _, g in found.members] == list(range(len(CFG.grid)))
    assert set(found.predict(tokens, test).tolist()) == {0, 1, 2}  # no class is carved away from training


def test_regression_folds_by_drive_and_averages_targets_in_the_labels_units(calls):
    tokens, classes, groups = _tokens(6, 10, 2, one_class_per_drive=False)
    y = 50 + classes.astype(np.float32) * 2 + np.random.default_rng(1).normal(0, 0.1, len(classes)).astype(np.float32)
    found = select_attentive(tokens, y, np.arange(60), groups, "regression", 1, cfg=CFG, seed=0)
    assert found.selection["rule"] == "3-fold" and len(calls) == 3
    folds = [fold for _, _, fold in calls]
    assert len({fold.target_mean for fold in folds}) == 3  # each fold's own scale: a mix-up would show
    _check_voters(found, folds, CFG.grid.index(found.selection["points"][0]), tokens, np.arange(60))
    pred = found.predict(tokens, np.arange(60))
    assert pred.shape == (60,) and metrics(y, pred, "regression")["r2"] > 0.5


def _check_voters(found, folds, best, tokens, test):
    """The ensemble runs exactly the probe ``best`` of each fold's grid, in fold order, each in its fold's units,
    and votes as they do: the class of their mean probabilities, or their mean target."""
    (voters,) = {id(grid.model): grid.model for grid, _ in found.members}.values()
    assert voters.g == len(folds) and [g for _, g in found.members] == list(range(len(folds)))  # no other probe runs
    for (grid, m), fold in zip(found.members, folds):
        assert (grid.target_mean, grid.target_std) == (fold.target_mean, fold.target_std)
        assert (grid.val_scores[m], grid.val_losses[m]) == (fold.val_scores[best], fold.val_losses[best])
        for name, weight in fold.model.state_dict().items():
            assert torch.equal(voters.state_dict()[name][m], weight[best]), name
    kept = torch.stack([fold.outputs(tokens, test)[best] for fold in folds])  # (K, N, outputs)
    # the stacked grid's matmuls may round in another order than the fold's whole grid did: equal to float32 rounding
    np.testing.assert_allclose(found.outputs(tokens, test).numpy(), kept.numpy(), rtol=1e-5, atol=1e-6)
    if found.task == "classification":
        expected = kept.softmax(-1).mean(0).argmax(-1).numpy()
        np.testing.assert_array_equal(found.predict(tokens, test), expected)
    else:
        expected = np.mean([fold.decode(out) for fold, out in zip(folds, kept)], axis=0)
        np.testing.assert_allclose(found.predict(tokens, test), expected, rtol=1e-6)
