"""How well a label can be read from the car's own state in each window: a guide to what a clip can give.

A probe on the simulator state that the clip shows of the ego car (at every frame of the window: speed,
heading and position relative to the last frame, and on highway the lane and the offset in it) instead of
on features of the clip. Same windows, same fixed test split by drive, same label fractions and seeds,
same linear probe as ``ssl-video probe``, plus a gradient-boosted tree on the same state (no linear limit).
A label that this reader cannot get right is not in the clip's view of the ego: on highway the controller
starts a lane change at a random time, so the turn in the second after a window is partly unforeseeable.
(The clip also shows the traffic, which the state leaves out, so this is a guide, not a proof.)

    python benchmarks/state_ceiling.py --data runs/external/highway/labels.csv --target turn_ahead speed_bucket

Needs only ssl_video, numpy and scikit-learn, and the ``drive_*.npz`` that ``external_drives.py`` writes
next to labels.csv. Prints a table: balanced accuracy, mean ± std over seeds, per fraction.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier

from ssl_video.data.datasets import encode_labels
from ssl_video.data.splits import label_fraction, split_by_sequence
from ssl_video.evaluate.probes import fit_linear_probe, score

RELATIVE = ("x", "y", "heading")  # positions and heading: relative to the window's last frame
SKIP = ("t", "fps", "crashed", "speed_target")  # time, and what the clip does not show


def window_state(state: dict[str, np.ndarray], first: int, stop: int) -> np.ndarray:
    """The ego state over frames [first, stop) as one flat vector (frame-major)."""
    columns = []
    for key in sorted(state):
        if key in SKIP or state[key].ndim != 1:
            continue
        values = state[key][first:stop].astype(np.float64)
        if key == "heading":
            values = np.unwrap(values)
        if key in RELATIVE:
            values = values - values[-1]
        columns.append(values)
    return np.concatenate(columns)


def load(data: Path) -> tuple[list[dict], np.ndarray]:
    """labels.csv rows and their (N, F) state features."""
    with open(data, newline="") as handle:
        rows = list(csv.DictReader(handle))
    states: dict[str, dict[str, np.ndarray]] = {}
    features = []
    for r in rows:
        name = Path(r["video"]).stem
        if name not in states:
            with np.load(data.parent / f"{name}.npz") as npz:
                states[name] = {k: npz[k] for k in npz.files}
        fps = float(states[name]["fps"])
        first, stop = round(float(r["start_s"]) * fps), round(float(r["end_s"]) * fps)
        features.append(window_state(states[name], first, stop))
    return rows, np.stack(features)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, type=Path, help="labels.csv written by external_drives.py")
    parser.add_argument("--target", nargs="+", default=["turn_ahead", "speed_bucket"])
    parser.add_argument("--fractions", nargs="+", type=float, default=[0.1, 1.0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--test-size", type=float, default=0.2, help="as ssl-video probe's --test-size")
    parser.add_argument("--split-seed", type=int, default=0, help="as ssl-video probe's --split-seed")
    args = parser.parse_args(argv)
    if not args.data.exists():
        print(f"error: {args.data} does not exist; build it with benchmarks/external_drives.py", file=sys.stderr)
        return 2
    rows, X = load(args.data)
    if missing := [t for t in args.target if t not in rows[0]]:
        print(f"error: {args.data} has no column {', '.join(missing)}; run external_drives.py again to rewrite it",
              file=sys.stderr)
        return 2
    sequences = np.asarray([r["sequence"] for r in rows], dtype=object)
    print(f"{len(rows)} windows, {len(set(sequences))} drives, {X.shape[1]} state values per window")
    print("| target | reader | " + " | ".join(f"{f * 100:g} %" for f in args.fractions) + " |")
    print("|---|---|" + "---|" * len(args.fractions))
    tested: dict[str, list[str]] = {}
    for target in args.target:
        y, classes, _ = encode_labels([r[target] for r in rows], "classification", column=target)
        parts = split_by_sequence(sequences, labels=y, test_size=args.test_size, val_size=0.0, seed=args.split_seed)
        train, test = np.sort(np.concatenate([parts["train"], parts["val"]])), parts["test"]
        cells: dict[str, list[str]] = {"linear probe": [], "boosted trees": []}
        for fraction in args.fractions:
            found: dict[str, list[float]] = {name: [] for name in cells}
            for seed in range(args.seeds):
                sub = label_fraction(train, y, sequences, fraction, seed)
                model = fit_linear_probe(X[sub], y[sub], "classification", groups=sequences[sub], seed=seed)
                found["linear probe"].append(score(model, X[test], y[test], "classification")["balanced_accuracy"])
                trees = HistGradientBoostingClassifier(class_weight="balanced", random_state=seed).fit(X[sub], y[sub])
                found["boosted trees"].append(score(trees, X[test], y[test], "classification")["balanced_accuracy"])
            for name, values in found.items():
                std = np.std(values, ddof=1) if len(values) > 1 else 0.0
                cells[name].append(f"{np.mean(values):.2f} ± {std:.2f}")
        for name, values in cells.items():
            print(f"| {target} | {name} on the ego state | " + " | ".join(values) + " |")
        tested[target] = sorted(set(sequences[test].tolist()))
    for target, drives in tested.items():
        print(f"test drives of {target}: {' '.join(drives)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
