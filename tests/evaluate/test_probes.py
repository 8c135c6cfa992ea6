"""probes.py: task inference, linear/kNN probes on known-separable and known-random features."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.base import clone

from ssl_video.evaluate import probes
from ssl_video.evaluate.probes import (
    cv_score,
    fit_knn_probe,
    fit_linear_probe,
    grouped_folds,
    metrics,
    primary_scores,
    score,
)


def _data(rng, n=300, d=32, classes=3):
    centers = rng.normal(0, 3, (classes, d))
    y = rng.integers(0, classes, n)
    X = centers[y] + rng.normal(0, 1, (n, d))
    groups = np.arange(n) // 10  # 10 clips per "drive"
    return X, y, groups


@pytest.mark.parametrize("fit", [fit_linear_probe, fit_knn_probe])
def test_classification_probe_separable_vs_shuffled(fit):
    rng = np.random.default_rng(0)
    X, y, groups = _data(rng)
    kwargs = {"groups": groups[:200]} if fit is fit_linear_probe else {}
    model = fit(X[:200], y[:200], "classification", **kwargs)
    assert score(model, X[200:], y[200:], "classification")["balanced_accuracy"] > 0.9
    shuffled = rng.permutation(y[:200])
    model = fit(X[:200], shuffled, "classification", **kwargs)
    assert score(model, X[200:], y[200:], "classification")["balanced_accuracy"] < 0.6


def test_regression_probe_and_tiny_fraction():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(200, 16))
    y = X @ rng.normal(size=16) + rng.normal(0, 0.1, 200)
    model = fit_linear_probe(X[:150], y[:150], "regression", groups=np.arange(150) // 5)
    m = score(model, X[150:], y[150:], "regression")
    assert m["r2"] > 0.95 and m["mae"] < 0.5
    assert score(fit_knn_probe(X[:150], y[:150], "regression"), X[150:], y[150:], "regression")["r2"] > 0.2
    # 1% of labels: too few samples for CV still gives a fitted probe.
    Xc, yc, _ = _data(rng)
    model = fit_linear_probe(Xc[[0, 1, 2, 3]], np.array([0, 1, 2, 0]), "classification")
    assert set(model.predict(Xc)) <= {0, 1, 2}


def test_metrics_score_a_split_missing_a_predicted_class_quietly():
    # the attentive probe's validation split (carved by drive from a few labeled clips) may lack a class the
    # probe predicts: balanced accuracy is the mean recall over the classes present, without a warning per call
    y_true, y_pred = np.array([0, 0, 1, 1]), np.array([0, 2, 1, 1])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m = metrics(y_true, y_pred, "classification")
    assert m["balanced_accuracy"] == pytest.approx(0.75) and m["accuracy"] == pytest.approx(0.75)


def test_primary_scores_are_sklearns_metric_for_every_row():
    rng = np.random.default_rng(0)
    for n in (2, 7, 40):
        y = rng.integers(0, 3, n)
        preds = rng.integers(0, 4, (6, n))  # class 3 is absent from y_true: scored as sklearn does
        expected = [metrics(y, p, "classification")["balanced_accuracy"] for p in preds]
        assert primary_scores(y, preds, "classification").tolist() == expected
        y = rng.normal(10, 3, n).astype(np.float32)
        preds = rng.normal(10, 1, (6, n)).astype(np.float32)
        expected = [metrics(y, p, "regression")["r2"] for p in preds]
        np.testing.assert_allclose(primary_scores(y, preds, "regression"), expected, rtol=1e-5)
    constant = np.full(5, 2.0, np.float32)  # R² of a constant target: 1 for a perfect fit, else 0 (sklearn's)
    assert primary_scores(constant, np.stack([constant, constant + 1]), "regression").tolist() == [1.0, 0.0]


def test_cv_score_is_the_mean_held_out_score_over_drive_folds_or_none():
    rng = np.random.default_rng(0)
    X, y, groups = _data(rng, n=120)
    model = fit_knn_probe(X, y, "classification", k=5)
    found = cv_score(model, X, y, "classification", groups=groups, seed=0)
    folds = grouped_folds(y, "classification", groups, 0)
    expected = np.mean([metrics(y[v], fit_knn_probe(X[t], y[t], "classification", k=5).predict(X[v]),
                                "classification")["balanced_accuracy"] for t, v in folds.split(X, y, groups)])
    assert folds.get_n_splits() == 3 and found == pytest.approx(expected) and found > 0.9
    one_drive_per_class = np.repeat([0, 1, 2], 40)
    assert cv_score(model, X, one_drive_per_class, "classification", groups=one_drive_per_class, seed=0) is None
    wide = fit_knn_probe(X, y, "classification", k=100)  # k above a fold's clips is capped, as when fitting
    assert cv_score(wide, X, y, "classification", groups=groups, seed=0) is not None


@pytest.mark.parametrize("task", ["classification", "regression"])
def test_cv_score_of_a_linear_probe_is_its_searchs_score_for_the_chosen_setting(task, monkeypatch):
    rng = np.random.default_rng(0)
    X, y, groups = _data(rng, n=120)
    if task == "regression":
        y = X @ rng.normal(size=X.shape[1]) + rng.normal(0, 20, len(y))
    model = fit_linear_probe(X, y, task, groups=groups, seed=0)
    folds = grouped_folds(y, task, groups, 0)
    primary = "balanced_accuracy" if task == "classification" else "r2"  # not the search's MAE for regression
    refitted = np.mean([metrics(y[v], clone(model).fit(X[t], y[t]).predict(X[v]), task)[primary]
                        for t, v in folds.split(X, y, groups)])
    monkeypatch.setattr(probes, "clone", lambda _: pytest.fail("cv_score refitted a fold the search had scored"))
    assert cv_score(model, X, y, task, groups=groups, seed=0) == refitted  # the same fits: exactly equal
