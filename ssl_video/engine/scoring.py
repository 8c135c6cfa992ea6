"""Scores that decide which unlabeled clips to label next (pure NumPy, no model).

Three signals, one per strategy of ``ssl-video mine``:

- **surprise**: a pretrained future predictor's error on a window, made comparable across
  drives by :func:`normalize_surprise` (log error centred per drive sequence, minus what the
  amount of motion (copy-last error) explains, in robust z units);
- **uncertainty**: entropy or margin of a probe's class probabilities
  (:func:`entropy_score`, :func:`margin_score`), the classic active-learning signal [0];
- **diversity**: k-center greedy in embedding space (:func:`k_center_greedy`), the
  core-set selection of Sener & Savarese [1], which covers the data instead of picking
  forty copies of one event.

:func:`mixed_selection` combines them: the most surprising candidates, thinned by
k-center greedy so the batch covers different events.

[0] Settles, "Active Learning Literature Survey", 2009.
[1] Sener & Savarese, "Active Learning for CNNs: A Core-Set Approach", ICLR 2018.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

# Below this many windows a sequence's own median/MAD are too noisy; its windows are
# scored against the statistics of all windows instead.
MIN_WINDOWS_PER_SEQUENCE = 5
_EPS = 1e-8


def pairwise_sq_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Squared Euclidean distances (Na, D), (Nb, D) -> (Na, Nb), clipped at 0."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    d = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T
    return np.maximum(d, 0.0)


def k_center_greedy(
    embeddings: np.ndarray,
    k: int,
    *,
    already_selected: Sequence[int] | np.ndarray = (),
    candidates: Sequence[int] | np.ndarray | None = None,
    first: int | None = None,
) -> np.ndarray:
    """Greedy k-center: repeatedly take the candidate farthest from everything selected so far.

    Args:
        embeddings: (N, D) float features of all windows (labeled and unlabeled).
        k: how many new indices to return (fewer if there are fewer candidates).
        already_selected: indices that are labeled already; new picks keep away from them.
        candidates: indices allowed to be picked (default: all not already selected).
        first: the first pick when nothing is selected yet (default: the candidate farthest
            from the candidates' mean, which is deterministic and avoids starting in the bulk).

    Returns:
        (k,) int64 indices into ``embeddings``, in pick order. The covering radius of
        ``already_selected + result`` is at most twice the optimal one (Gonzalez, 1985).
    """
    x = np.asarray(embeddings, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"embeddings must be (N, D), got shape {x.shape}")
    if k < 0:
        raise ValueError(f"k must be >= 0, got {k}")
    selected = np.asarray(already_selected, dtype=np.int64).reshape(-1)
    if candidates is None:
        pool = np.setdiff1d(np.arange(len(x)), selected)
    else:
        pool = np.setdiff1d(np.asarray(candidates, dtype=np.int64).reshape(-1), selected)
    k = min(k, len(pool))
    if k == 0:
        return np.zeros(0, dtype=np.int64)
    xp = x[pool]  # (P, D)
    picks: list[int] = []
    if len(selected):
        min_d = pairwise_sq_distances(xp, x[selected]).min(1)  # (P,)
    else:
        if first is None:
            start = int(np.argmax(pairwise_sq_distances(xp, xp.mean(0, keepdims=True))[:, 0]))
        else:
            where = np.flatnonzero(pool == first)
            if not len(where):
                raise ValueError(f"first={first} is not among the candidates")
            start = int(where[0])
        picks.append(start)
        min_d = pairwise_sq_distances(xp, xp[start : start + 1])[:, 0]
    while len(picks) < k:
        min_d[picks] = -1.0  # never pick twice (duplicates have distance 0 and stay pickable)
        j = int(np.argmax(min_d))
        picks.append(j)
        min_d = np.minimum(min_d, pairwise_sq_distances(xp, xp[j : j + 1])[:, 0])
    return pool[np.asarray(picks, dtype=np.int64)]


def covering_radius(embeddings: np.ndarray, centers: Sequence[int] | np.ndarray) -> float:
    """Largest distance from any point to its nearest center (what k-center minimises)."""
    x = np.asarray(embeddings, dtype=np.float64)
    centers = np.asarray(centers, dtype=np.int64)
    if not len(centers):
        return float("inf")
    return float(np.sqrt(pairwise_sq_distances(x, x[centers]).min(1).max()))


def _robust_scale(values: np.ndarray) -> float:
    """1.4826 * median absolute deviation (the std for Gaussian data), falling back to the std."""
    scale = 1.4826 * float(np.median(np.abs(values - np.median(values))))
    if scale < 1e-6:
        scale = float(values.std())
    return max(scale, 1e-6)


def _center_per_sequence(values: np.ndarray, sequences: np.ndarray, min_windows: int) -> np.ndarray:
    """Subtract each sequence's median (sequences shorter than ``min_windows``: the pooled median of those)."""
    out = np.empty_like(values)
    small = np.zeros(len(values), dtype=bool)
    for seq in np.unique(sequences):
        idx = np.flatnonzero(sequences == seq)
        if len(idx) < min_windows:
            small[idx] = True
        else:
            out[idx] = values[idx] - np.median(values[idx])
    if small.any():
        out[small] = values[small] - np.median(values[small])
    return out


def normalize_surprise(
    errors: np.ndarray,
    sequences: Sequence[str],
    *,
    baseline: np.ndarray | None = None,
    min_windows: int = MIN_WINDOWS_PER_SEQUENCE,
) -> np.ndarray:
    """Turn raw future-prediction errors into comparable surprise scores.

    Raw error mostly measures how hard a drive looks overall (night, rain, texture) and how
    much a scene moves (a fast highway stretch has a large pixel error everywhere). Neither
    is "the model did not expect this". So, in log space (a multiplicative scale becomes an offset):

    1. each sequence (drive) is centred on its own median, with at least ``min_windows``
       windows (shorter ones share one pooled median): a long uniform stretch scores ~0
       however large its raw error is, and every drive contributes its own outliers;
    2. with a ``baseline`` (e.g. the copy-last-frame error of the same window, i.e. how much
       the scene changes), the part of the log error that the log baseline explains linearly
       is removed, with the slope fitted across windows and clipped to [0, 1]: a window is
       surprising when its error is high *for its amount of motion*. The slope is fitted
       rather than fixed at 1 (a plain ratio), because real events (a cut-in) are both big
       changes and badly predicted, and a ratio would hide them;
    3. the result is divided by its pooled robust spread (1.4826 MAD) and centred at 0.

    Args:
        errors: (N,) non-negative prediction errors, one per window.
        sequences: (N,) drive id per window.
        baseline: optional (N,) non-negative baseline errors for the same windows.

    Returns:
        (N,) float64 scores; higher = more surprising (~ standard normal units). Invariant to
        multiplying one sequence's errors (or baselines) by a constant.
    """
    errors = np.asarray(errors, dtype=np.float64).reshape(-1)
    sequences = np.asarray(list(sequences), dtype=object)
    if len(sequences) != len(errors):
        raise ValueError(f"errors has {len(errors)} entries but sequences has {len(sequences)}")
    if not np.all(np.isfinite(errors)) or np.any(errors < 0):
        raise ValueError("errors must be finite and non-negative")
    if len(errors) == 0:
        return errors
    residual = _center_per_sequence(np.log(errors + _EPS), sequences, min_windows)
    if baseline is not None:
        baseline = np.asarray(baseline, dtype=np.float64).reshape(-1)
        if baseline.shape != errors.shape:
            raise ValueError(f"baseline shape {baseline.shape} != errors shape {errors.shape}")
        if not np.all(np.isfinite(baseline)) or np.any(baseline < 0):
            raise ValueError("baseline must be finite and non-negative")
        motion = _center_per_sequence(np.log(baseline + _EPS), sequences, min_windows)
        var = float(motion @ motion)
        slope = float(np.clip(residual @ motion / var, 0.0, 1.0)) if var > 1e-12 else 0.0
        residual = residual - slope * motion
    return (residual - np.median(residual)) / _robust_scale(residual)


def entropy_score(probs: np.ndarray) -> np.ndarray:
    """Predictive entropy (N, C) -> (N,) in [0, 1] (divided by log C); higher = less certain."""
    p = np.clip(np.asarray(probs, dtype=np.float64), 1e-12, 1.0)
    if p.ndim != 2 or p.shape[1] < 2:
        raise ValueError(f"probs must be (N, C) with C >= 2, got shape {p.shape}")
    return -(p * np.log(p)).sum(1) / np.log(p.shape[1])


def margin_score(probs: np.ndarray) -> np.ndarray:
    """1 - (top1 - top2) of (N, C) probabilities -> (N,) in [0, 1]; higher = less certain."""
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] < 2:
        raise ValueError(f"probs must be (N, C) with C >= 2, got shape {p.shape}")
    top2 = np.sort(p, axis=1)[:, -2:]
    return 1.0 - (top2[:, 1] - top2[:, 0])


def top_k(scores: np.ndarray, k: int, *, exclude: Sequence[int] | np.ndarray = ()) -> np.ndarray:
    """Indices of the k highest scores (ties broken by lower index), skipping ``exclude``."""
    scores = np.asarray(scores, dtype=np.float64)
    order = np.lexsort((np.arange(len(scores)), -scores))
    if len(exclude):
        order = order[~np.isin(order, np.asarray(exclude, dtype=np.int64))]
    return order[:k].astype(np.int64)


def mixed_selection(
    scores: np.ndarray,
    embeddings: np.ndarray,
    k: int,
    *,
    already_selected: Sequence[int] | np.ndarray = (),
    candidate_factor: int = 4,
) -> np.ndarray:
    """Surprise first, then diversity: k-center greedy over the top ``candidate_factor * k`` scores.

    The candidate pool keeps the batch on informative windows; k-center greedy inside it
    (keeping away from ``already_selected``) drops near-duplicates of one event. The first
    pick is the top-scoring candidate when nothing is labeled yet. Returns (k,) indices.
    """
    if candidate_factor < 1:
        raise ValueError(f"candidate_factor must be >= 1, got {candidate_factor}")
    pool = top_k(scores, candidate_factor * k, exclude=already_selected)
    if not len(pool):
        return pool
    first = None if len(np.asarray(already_selected)) else int(pool[0])
    return k_center_greedy(embeddings, k, already_selected=already_selected, candidates=pool, first=first)


STRATEGIES = ("surprise", "uncertainty", "diversity", "mixed", "random")


def select_windows(
    by: str,
    k: int,
    *,
    embeddings: np.ndarray,
    already_selected: Sequence[int] | np.ndarray = (),
    surprise: np.ndarray | None = None,
    probs: np.ndarray | None = None,
    candidate_factor: int = 4,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Pick the next ``k`` windows to label with one strategy -> (indices (k,), scores (k,)).

    embeddings: (N, D) for every window, labeled ones included (``already_selected``).
    surprise: (N,) normalized surprise (``surprise`` / ``mixed``).
    probs: (N, C) probe probabilities (``uncertainty``; ranked by entropy).
    The score returned is the strategy's own: surprise z, entropy, distance to the nearest
    selected window (diversity, mixed uses surprise), or 0 for random.
    """
    if by not in STRATEGIES:
        raise ValueError(f"unknown strategy {by!r}; choose one of {STRATEGIES}")
    n = len(embeddings)
    selected = np.asarray(already_selected, dtype=np.int64).reshape(-1)
    if by in ("surprise", "mixed") and (surprise is None or len(surprise) != n):
        raise ValueError(f"--by {by} needs one surprise score per window")
    if by == "uncertainty" and (probs is None or len(probs) != n):
        raise ValueError("--by uncertainty needs probe probabilities for every window (give --labels)")
    if by == "random":
        pool = np.setdiff1d(np.arange(n), selected)
        picks = np.random.default_rng(seed).permutation(pool)[:k]
        return picks, np.zeros(len(picks))
    if by == "surprise":
        picks = top_k(surprise, k, exclude=selected)
        return picks, np.asarray(surprise, dtype=np.float64)[picks]
    if by == "uncertainty":
        entropy = entropy_score(probs)
        picks = top_k(entropy, k, exclude=selected)
        return picks, entropy[picks]
    if by == "mixed":
        picks = mixed_selection(surprise, embeddings, k, already_selected=selected, candidate_factor=candidate_factor)
        return picks, np.asarray(surprise, dtype=np.float64)[picks]
    picks = k_center_greedy(embeddings, k, already_selected=selected)
    # distance of each pick to everything chosen before it (its "coverage gain")
    x = np.asarray(embeddings, dtype=np.float64)
    gains = []
    for i, j in enumerate(picks):
        before = np.concatenate([selected, picks[:i]])
        gains.append(np.sqrt(pairwise_sq_distances(x[j : j + 1], x[before]).min()) if len(before) else np.inf)
    return picks, np.asarray(gains)
