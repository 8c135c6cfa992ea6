from __future__ import annotations

import numpy as np
import pytest

from ssl_video.data.splits import label_fraction, split_by_sequence


def _drives(n_seq=40, per_seq=5, n_classes=4, seed=0):
    """Windows grouped by drive; each drive mostly one class (like labeled drive segments)."""
    rng = np.random.default_rng(seed)
    sequences, labels = [], []
    for s in range(n_seq):
        major = s % n_classes
        for _ in range(per_seq):
            sequences.append(f"drive{s:03d}")
            labels.append(major if rng.random() < 0.8 else int(rng.integers(n_classes)))
    return np.array(sequences, dtype=object), np.array(labels)


def _seqs(sequences, idx):
    return set(sequences[idx].tolist())


@pytest.mark.parametrize("use_labels", [True, False])
def test_split_disjoint_by_sequence_and_covers_all(use_labels):
    sequences, labels = _drives()
    parts = split_by_sequence(sequences, labels=labels if use_labels else None, seed=3)
    all_idx = np.concatenate([parts["train"], parts["val"], parts["test"]])
    assert sorted(all_idx.tolist()) == list(range(len(sequences)))
    assert not _seqs(sequences, parts["train"]) & _seqs(sequences, parts["test"])
    assert not _seqs(sequences, parts["train"]) & _seqs(sequences, parts["val"])
    assert not _seqs(sequences, parts["val"]) & _seqs(sequences, parts["test"])
    n = len(sequences)
    assert 0.1 * n <= len(parts["test"]) <= 0.3 * n
    assert 0.03 * n <= len(parts["val"]) <= 0.2 * n


def test_split_deterministic_per_seed_and_stratified():
    sequences, labels = _drives()
    a = split_by_sequence(sequences, labels=labels, seed=1)
    b = split_by_sequence(sequences, labels=labels, seed=1)
    c = split_by_sequence(sequences, labels=labels, seed=2)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not np.array_equal(a["test"], c["test"])
    assert set(labels[a["test"]].tolist()) == set(range(4))  # every class in test


@pytest.mark.parametrize("per_class", [(10, 6, 4), (18, 2)])
def test_split_puts_every_class_on_both_sides_when_the_drives_allow_it(per_class, caplog):
    """One label per drive, rare classes in few drives: the first fold alone would often leave a class out of the
    test split, which balanced accuracy then never scores."""
    labels = np.repeat(np.arange(len(per_class)), per_class).repeat(3)
    sequences = np.array([f"drive{i // 3:02d}" for i in range(len(labels))], dtype=object)
    for seed in range(20):
        parts = split_by_sequence(sequences, labels=labels, test_size=0.2, val_size=0.0, seed=seed)
        assert set(labels[parts["test"]].tolist()) == set(labels[parts["train"]].tolist()) == set(labels.tolist())
        assert not _seqs(sequences, parts["train"]) & _seqs(sequences, parts["test"])
    one_drive = np.where(np.arange(len(labels)) < 3, 9, labels)  # class 9 lives in one drive only
    with caplog.at_level("WARNING"):
        split_by_sequence(sequences, labels=one_drive, test_size=0.2, val_size=0.0, seed=0)
    assert "held-out part has no 9 (" in caplog.text  # only the class that cannot be on both sides


def test_split_regression_and_single_sequence():
    sequences, _ = _drives(n_seq=10)
    target = np.linspace(0, 1, len(sequences))  # float -> no stratification
    parts = split_by_sequence(sequences, labels=target, seed=0)
    assert not _seqs(sequences, parts["train"]) & _seqs(sequences, parts["test"])
    one = split_by_sequence(["a"] * 6, seed=0)
    assert one["train"].tolist() == list(range(6)) and len(one["val"]) == len(one["test"]) == 0


def test_label_fraction_nested_stratified_deterministic():
    sequences, labels = _drives(n_seq=200, per_seq=5)
    train = split_by_sequence(sequences, labels=labels, seed=0)["train"]
    subsets = {f: label_fraction(train, labels, sequences, f, seed=0) for f in (0.01, 0.1, 1.0)}
    assert set(subsets[0.01]) <= set(subsets[0.1]) <= set(subsets[1.0]) == set(train.tolist())
    for f in (0.01, 0.1):
        assert len(subsets[f]) >= np.ceil(f * len(train))
        assert set(labels[subsets[f]].tolist()) == set(labels[train].tolist())  # every class present
    assert len(subsets[0.1]) <= np.ceil(0.1 * len(train)) + 4
    # Stratified: class shares at 10% close to those of the training split.
    share_all = np.bincount(labels[train], minlength=4) / len(train)
    share_10 = np.bincount(labels[subsets[0.1]], minlength=4) / len(subsets[0.1])
    assert np.abs(share_all - share_10).max() < 0.1
    # By sequence: whole drives except at most one.
    chosen = subsets[0.1]
    partial = [s for s in _seqs(sequences, chosen) if not set(np.flatnonzero(sequences == s)) <= set(chosen.tolist())]
    assert len(partial) <= 1 + 4  # the cut drive, plus drives of the per-class extras
    again = label_fraction(train, labels, sequences, 0.1, seed=0)
    other = label_fraction(train, labels, sequences, 0.1, seed=1)
    assert np.array_equal(again, subsets[0.1]) and not np.array_equal(other, subsets[0.1])


def test_label_fraction_one_long_drive_and_regression():
    sequences = np.array(["only"] * 300, dtype=object)
    got = label_fraction(np.arange(300), None, sequences, 0.1, seed=0)
    assert len(got) == 30  # cut inside the single drive rather than taking all of it
    target = np.random.default_rng(0).normal(size=300)
    sequences = np.array([f"d{i // 10}" for i in range(300)], dtype=object)
    got = label_fraction(np.arange(300), target, sequences, 0.1, seed=0)
    assert len(got) == 30 and len(_seqs(sequences, got)) == 3
    with pytest.raises(ValueError, match="fraction"):
        label_fraction(np.arange(3), None, sequences[:3], 0.0, seed=0)
