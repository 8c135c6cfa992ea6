"""Frozen-feature probes with scikit-learn: linear (logistic / ridge) and k-nearest-neighbours.

The linear probe follows the standard protocol of self-supervised evaluation (e.g. SimCLR,
Chen et al. 2020; DINO, Caron et al. 2021): standardize features, fit an L2-regularized
linear model, choose the regularization by cross-validation on the *training fraction only*.
Folds are grouped by sequence so that clips of one drive never sit on both sides of a fold.

    X: (N, D) float features, y: (N,) int class ids or float targets
    (labels encoded by ``ssl_video.data.datasets.encode_labels``)
    model = fit_linear_probe(X[train], y[train], "classification", groups=sequences[train])
    metrics = score(model, X[test], y[test], "classification")
"""

from __future__ import annotations

import logging
import warnings

import numpy as np
from sklearn.base import BaseEstimator, clone
from sklearn.exceptions import FitFailedWarning
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import accuracy_score, balanced_accuracy_score, mean_absolute_error, r2_score
from sklearn.model_selection import GridSearchCV, GroupKFold, KFold, StratifiedGroupKFold, StratifiedKFold
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from ssl_video.errors import UserError
from ssl_video.evaluate.report import PRIMARY_METRIC

log = logging.getLogger(__name__)

C_GRID = (1e-3, 1e-2, 1e-1, 1.0, 10.0)  # inverse L2 strength of LogisticRegression
ALPHA_GRID = (1e-1, 1.0, 10.0, 100.0, 1000.0)  # Ridge L2 strength
MAX_FOLDS = 3  # 5 values x 3 folds: each probe is 15 small fits plus the refit
# These fits are small (N x D up to ~10^4 x 10^3); multi-threaded BLAS on a shared CPU made
# them 20x slower (oversubscription), one thread is fast everywhere.
BLAS_THREADS = 1


def metrics(y_true: np.ndarray, y_pred: np.ndarray, task: str) -> dict[str, float]:
    """accuracy + balanced_accuracy (classification) or mae + r2 (regression)."""
    if task == "classification":
        # Balanced accuracy is the mean recall over the classes present in y_true, which is what a small validation
        # split carved by drive (the attentive probe's, at 1-10 % of the labels) should be scored on; sklearn warns
        # each time a prediction names a class that split lacks (thousands of lines per report).
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="y_pred contains classes not in y_true", category=UserWarning)
            balanced = balanced_accuracy_score(y_true, y_pred)
        return {"accuracy": float(accuracy_score(y_true, y_pred)), "balanced_accuracy": float(balanced)}
    return {"mae": float(mean_absolute_error(y_true, y_pred)), "r2": float(r2_score(y_true, y_pred))}


def primary_scores(y_true: np.ndarray, preds: np.ndarray, task: str) -> np.ndarray:
    """:func:`metrics`' primary metric of each row of ``preds`` (G, N) against ``y_true`` (N,), as scikit-learn
    defines it (balanced accuracy: the mean recall over the classes in ``y_true``; R², here in float64), in one
    vectorized pass: the attentive probe scores every grid point after every epoch, where sklearn's input checks
    cost a fifth of the training time."""
    y_true, preds = np.asarray(y_true), np.atleast_2d(np.asarray(preds))
    if task == "classification":
        return np.mean([(preds[:, y_true == c] == c).mean(1) for c in np.unique(y_true)], axis=0)
    y_true, preds = y_true.astype(np.float64), preds.astype(np.float64)
    ss_res, ss_tot = ((y_true - preds) ** 2).sum(1), ((y_true - y_true.mean()) ** 2).sum()
    if ss_tot == 0:  # sklearn's force_finite: a perfect fit of a constant is 1, anything else 0
        return np.where(ss_res == 0, 1.0, 0.0)
    return 1 - ss_res / ss_tot


def target_scale(y: np.ndarray) -> tuple[float, float]:
    """(mean, std) that a regression head's targets are standardized with (std 1 for a constant target)."""
    y = np.asarray(y, dtype=np.float64)
    return float(y.mean()), float(y.std()) or 1.0


def class_weights(y: np.ndarray, n_classes: int) -> np.ndarray:
    """Balanced class weights ``n / (k * count)`` (scikit-learn's "balanced") for classes 0..n_classes-1
    over the k classes present in ``y``; 1.0 for absent classes. Balanced accuracy is the metric,
    so the loss weighs classes as the metric does: a class with one labeled drive is not ignored."""
    counts = np.bincount(np.asarray(y, dtype=np.int64), minlength=n_classes).astype(np.float64)
    present = counts > 0
    weights = np.ones(n_classes)
    weights[present] = counts.sum() / (present.sum() * counts[present])
    return weights


def grouped_folds(y: np.ndarray, task: str, groups: np.ndarray | None, seed: int):
    """A CV splitter by ``groups`` (drives) with as many folds as the data allows, at most ``MAX_FOLDS``; each
    fold trains on every class. None when fewer than 2 folds are possible."""
    n_groups = len(np.unique(groups)) if groups is not None else len(y)
    n_splits = min(MAX_FOLDS, n_groups, len(y))
    if task == "classification":
        n_splits = min(n_splits, int(np.unique(y, return_counts=True)[1].min()))  # every fold sees every class
        if groups is not None:
            # ... and trains on every class: a class whose clips all come from one drive would be missing
            # from the training folds whenever that drive is held out, and CV would score noise.
            n_splits = min(n_splits, min(len(np.unique(groups[y == c])) for c in np.unique(y)))
    if n_splits < 2:
        return None
    if task == "classification":
        if groups is not None:
            return StratifiedGroupKFold(n_splits, shuffle=True, random_state=seed)
        return StratifiedKFold(n_splits, shuffle=True, random_state=seed)
    return GroupKFold(n_splits) if groups is not None else KFold(n_splits, shuffle=True, random_state=seed)


@threadpool_limits.wrap(limits=BLAS_THREADS, user_api="blas")
def _fit_cv(model: BaseEstimator, grid: dict, X, y, task, groups, seed) -> BaseEstimator:
    cv = grouped_folds(y, task, groups, seed)
    if task == "classification" and len(np.unique(y)) < 2:
        raise UserError("the training fraction holds a single class; a probe needs at least two")
    if cv is None:
        log.info("too few samples/groups for cross-validation (%d samples); using default regularization", len(y))
        return model.fit(X, y)
    select = "balanced_accuracy" if task == "classification" else "neg_mean_absolute_error"
    primary = PRIMARY_METRIC[task]  # cv_score's metric (also a scikit-learn scorer's name), scored on the same fits
    search = GridSearchCV(model, grid, cv=cv, scoring=list(dict.fromkeys((select, primary))), error_score=np.nan,
                          refit=False)
    with warnings.catch_warnings():
        # Grouped folds of a small fraction can miss a class; those fits score NaN and are ignored.
        warnings.simplefilter("ignore", FitFailedWarning)
        warnings.simplefilter("ignore", UserWarning)
        search.fit(X, y, groups=groups)
    results = search.cv_results_
    scores = np.nan_to_num(results[f"mean_test_{select}"], nan=-np.inf)
    if not np.isfinite(scores).any():
        return model.fit(X, y)
    best = int(np.argmax(scores))
    model = model.set_params(**results["params"][best]).fit(X, y)
    model.cv_score_ = float(results[f"mean_test_{primary}"][best])  # cv_score's answer, without refitting the folds
    return model


def fit_linear_probe(
    X: np.ndarray, y: np.ndarray, task: str, *, groups: np.ndarray | None = None, seed: int = 0
) -> BaseEstimator:
    """StandardScaler + LogisticRegression (classification) or Ridge (regression), the L2
    strength chosen by (group-)k-fold CV on (X, y). X: (N, D); y: (N,)."""
    if task == "classification":
        # class_weight="balanced": the report's metric is balanced accuracy, and a small label fraction
        # often holds one drive of a class next to several of another (a class would be lost otherwise).
        model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, class_weight="balanced",
                                                                   random_state=seed))
        grid = {"logisticregression__C": list(C_GRID)}
    else:
        model = make_pipeline(StandardScaler(), Ridge())
        grid = {"ridge__alpha": list(ALPHA_GRID)}
    return _fit_cv(model, grid, X, y, task, groups, seed)


def fit_knn_probe(X: np.ndarray, y: np.ndarray, task: str, *, k: int = 20) -> BaseEstimator:
    """StandardScaler + cosine k-NN (distance-weighted), k capped at the number of samples."""
    k = max(1, min(k, len(y)))
    cls = KNeighborsClassifier if task == "classification" else KNeighborsRegressor
    return make_pipeline(StandardScaler(), cls(n_neighbors=k, weights="distance", metric="cosine")).fit(X, y)


@threadpool_limits.wrap(limits=BLAS_THREADS, user_api="blas")
def cv_score(model: BaseEstimator, X: np.ndarray, y: np.ndarray, task: str, *, groups: np.ndarray,
             seed: int = 0) -> float | None:
    """Mean balanced accuracy (classification) or R² (regression) of ``model``'s settings, refitted on each of
    :func:`grouped_folds` of (X, y) and scored on its held-out drives; None when fewer than 2 folds are possible.

    A probe of :func:`fit_linear_probe` answers with the score its search kept for the chosen setting (the same
    folds, fits and metric, no refit): pass the (X, y, groups, seed) it was fitted with."""
    cv = grouped_folds(y, task, groups, seed)
    if cv is None:
        return None
    if hasattr(model, "cv_score_"):
        return model.cv_score_
    primary = PRIMARY_METRIC[task]
    scores = []
    for train, val in cv.split(X, y, groups):
        fold = clone(model)
        last = fold[-1] if hasattr(fold, "steps") else fold
        if getattr(last, "n_neighbors", 0) > len(train):  # k-NN: k capped at the fold's clips, as fit_knn_probe does
            last.set_params(n_neighbors=len(train))
        scores.append(metrics(y[val], fold.fit(X[train], y[train]).predict(X[val]), task)[primary])
    return float(np.mean(scores))


@threadpool_limits.wrap(limits=BLAS_THREADS, user_api="blas")
def score(model: BaseEstimator, X: np.ndarray, y: np.ndarray, task: str) -> dict[str, float]:
    """Metrics of a fitted probe on (X, y)."""
    return metrics(y, model.predict(X), task)
