"""Train/val/test splits by sequence and nested label fractions, deterministic per seed.

Every split is made over *sequences* (drives): clips of one drive never sit on two sides,
because neighbouring clips of a drive are near-duplicates and would leak. Both functions
depend only on their inputs and the seed, so every method evaluated with the same data and
seed sees identical splits.

- :func:`split_by_sequence` uses scikit-learn's ``StratifiedGroupKFold`` for class labels
  (keeps class proportions where the groups allow it) and ``GroupShuffleSplit`` otherwise
  (regression targets, no labels, or too few groups to stratify). For class labels it takes the
  first candidate split with every class on both sides, and warns when there is none.
- :func:`label_fraction` ranks the training sequences once per seed and takes a prefix of
  that ranking, so the 1% subset is inside the 10% subset, which is inside 100%. The ranking
  interleaves sequences of each (majority) class in proportion, and puts one sequence of
  every class first, so small fractions still see every class. Whole sequences are taken in
  rank order; only the last one may be cut, so a fraction is exactly
  ``ceil(fraction * n_train)`` windows, plus the first-ranked example of any class the prefix
  misses (a fixed set, so nesting holds). Cutting the last sequence keeps the fraction exact
  (comparable across seeds and methods) when single drives are long.

    >>> parts = split_by_sequence(sequences, labels=labels, seed=0)
    >>> few = label_fraction(parts["train"], labels, sequences, fraction=0.01, seed=0)
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence

import numpy as np
from sklearn.model_selection import GroupShuffleSplit, StratifiedGroupKFold

log = logging.getLogger(__name__)


def _is_class_labels(labels: np.ndarray | None) -> bool:
    return labels is not None and not np.issubdtype(labels.dtype, np.floating)


CANDIDATE_SPLITS = 20  # unstratified splits tried for one that leaves no class out of either side


def _with_every_class(candidates, idx: np.ndarray, labels: np.ndarray | None):
    """The first (rest, part) of ``candidates`` whose both sides hold every class of ``labels[idx]`` (else the one
    missing fewest, with a warning naming the classes a side lacks): a side without a class scores or learns it as
    absent."""
    candidates = list(candidates)
    if not _is_class_labels(labels):
        return candidates[0]
    classes = set(np.unique(labels[idx]).tolist())

    def n_missing(split) -> int:
        return sum(len(classes - set(labels[idx[side]].tolist())) for side in split)

    rest, part = min(candidates, key=n_missing)  # min keeps the first of equals
    for side, members in (("held-out", part), ("remaining", rest)):
        if lacks := sorted(map(str, classes - set(labels[idx[members]].tolist()))):
            log.warning("no split by sequence puts every class on both sides: the %s part has no %s (each class "
                        "needs clips in two or more sequences)", side, ", ".join(lacks))
    return rest, part


def _split_off(idx: np.ndarray, groups: np.ndarray, labels: np.ndarray | None, size: float, seed: int):
    """Split ``idx`` into (rest, part) with about ``size`` of it in ``part``, by group; for class labels the
    first candidate split with every class on both sides."""
    n_groups = len(np.unique(groups[idx]))
    if size <= 0 or n_groups < 2:
        return idx, idx[:0]
    if _is_class_labels(labels):
        n_splits = min(n_groups, max(2, round(1 / size)))
        counts = np.unique(labels[idx], return_counts=True)[1]
        if counts.min() >= n_splits:  # StratifiedGroupKFold warns and degrades below this
            folds = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
            rest, part = _with_every_class(folds.split(idx, labels[idx], groups[idx]), idx, labels)
            return idx[rest], idx[part]
        log.info("too few examples per class to stratify %d folds; splitting by sequence without stratification",
                 n_splits)
    test_groups = max(1, min(n_groups - 1, round(size * n_groups)))
    tries = CANDIDATE_SPLITS if _is_class_labels(labels) else 1
    splitter = GroupShuffleSplit(n_splits=tries, test_size=test_groups, random_state=seed)
    rest, part = _with_every_class(splitter.split(idx, groups=groups[idx]), idx, labels)
    return idx[rest], idx[part]


def split_by_sequence(
    sequences: Sequence[str], *, labels: Sequence | np.ndarray | None = None,
    test_size: float = 0.2, val_size: float = 0.1, seed: int = 0,
) -> dict[str, np.ndarray]:
    """Index arrays ``{"train", "val", "test"}`` (sorted int64) with no sequence in two of them.

    ``test_size`` and ``val_size`` are fractions of all examples (approximate: whole sequences
    move). Integer or string labels are treated as classes and stratified where feasible;
    float labels (regression) are not stratified. With fewer than three sequences some
    splits are empty (logged).
    """
    if not (0 <= test_size < 1 and 0 <= val_size < 1 and test_size + val_size < 1):
        raise ValueError(f"need 0 <= test_size, val_size and test_size + val_size < 1, got {test_size}, {val_size}")
    groups = np.asarray(sequences, dtype=object)
    label_arr = None if labels is None else np.asarray(labels)
    if label_arr is not None and len(label_arr) != len(groups):
        raise ValueError(f"labels ({len(label_arr)}) and sequences ({len(groups)}) differ in length")
    idx = np.arange(len(groups))
    rest, test = _split_off(idx, groups, label_arr, test_size, seed)
    # val_size is a fraction of everything; of what is left after the test split it is larger.
    val_of_rest = val_size / (1 - test_size) if len(rest) < len(idx) else val_size
    train, val = _split_off(rest, groups, label_arr, val_of_rest, seed + 1)
    parts = {"train": np.sort(train), "val": np.sort(val), "test": np.sort(test)}
    for name, size in (("test", test_size), ("val", val_size)):
        if size > 0 and len(parts[name]) == 0:
            log.warning("%s split is empty: only %d sequence(s)", name, len(np.unique(groups)))
    return parts


def label_fraction(
    train_idx: Sequence[int] | np.ndarray, labels: Sequence | np.ndarray | None,
    sequences: Sequence[str], fraction: float, seed: int,
) -> np.ndarray:
    """The labeled subset (sorted int64 indices, a subset of ``train_idx``) for ``fraction``.

    Nested across fractions for one seed, stratified by class for class labels, at least one
    example per class when possible, chosen by whole sequences except possibly the last one
    (see the module docstring).
    """
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    train_idx = np.sort(np.asarray(train_idx, dtype=np.int64))
    if fraction == 1 or len(train_idx) == 0:
        return train_idx
    groups = np.asarray(sequences, dtype=object)[train_idx]
    label_arr = None if labels is None else np.asarray(labels)[train_idx]
    rng = np.random.default_rng(seed)
    names = sorted(set(groups.tolist()))
    perm = rng.permutation(len(names))  # random rank of each sequence
    members = {name: train_idx[groups == name] for name in names}

    if _is_class_labels(label_arr):
        # Each sequence counts for its most frequent class; within a class, sequences are spread
        # evenly over the ranking ((j + 0.5) / n), and the first of each class goes to the front.
        major = {}
        for name in names:
            values, counts = np.unique(label_arr[groups == name], return_counts=True)
            major[name] = values[np.argmax(counts)]
        by_class: dict = {}
        for k in np.argsort(perm, kind="stable"):
            by_class.setdefault(major[names[k]], []).append(names[k])
        keys = {}
        for members_of_class in by_class.values():
            n = len(members_of_class)
            for j, name in enumerate(members_of_class):
                keys[name] = -1.0 if j == 0 else (j + 0.5) / n
        rank = dict(zip(names, perm))
        order = sorted(names, key=lambda name: (keys[name], rank[name]))
    else:
        order = [names[k] for k in np.argsort(perm, kind="stable")]

    ranked = np.concatenate([members[name] for name in order])  # windows in rank order
    chosen = ranked[: math.ceil(fraction * len(train_idx))]
    if _is_class_labels(label_arr):
        # Add the first-ranked example of each class the prefix misses. That set does not depend
        # on the fraction, so the subsets stay nested.
        ranked_labels = np.asarray(labels)[ranked]
        _, first = np.unique(ranked_labels, return_index=True)
        chosen = np.union1d(chosen, ranked[first])
    chosen = np.sort(chosen).astype(np.int64)
    log.info("label fraction %.4g: %d of %d training examples from %d sequence(s)", fraction, len(chosen),
             len(train_idx), len(set(np.asarray(sequences, dtype=object)[chosen].tolist())))
    return chosen
