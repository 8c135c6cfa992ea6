"""Can a label of the built-in driving world be read from one frame, or does it need motion?

For every label of ``ssl-video data make-drive`` this trains a logistic regression (split by
drive, 5-fold GroupKFold) on pixels of a SINGLE frame (the window's last frame) and on MOTION
features (the same frame plus frame differences over the window), and prints both accuracies
next to chance (the majority class) and the class counts.

    python benchmarks/drive_world_labels.py                      # generates 30 min at 128x128 in a temp dir
    python benchmarks/drive_world_labels.py --data /tmp/drive    # reuse a dataset
    python benchmarks/drive_world_labels.py --seed 1             # another world

Features (pixels are average-pooled to ``--pool`` x ``--pool``, colour kept):
    single: the last frame of the window
    motion: last frame, (last - first) frame, the mean |frame(t) - frame(t-1)| over the window, and the
            mean horizontal image motion per cell (Lucas-Kanade from the frame differences: signed, so a
            linear model can tell leftward from rightward motion, which |differences| cannot)
"""

from __future__ import annotations

import argparse
import collections
import csv
import tempfile
import time
from pathlib import Path

import av
import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from ssl_video.data.drive_world import LABEL_COLUMNS, make_drive_dataset

CLASS_LABELS = [c for c in LABEL_COLUMNS if c != "speed_kmh"]


def _pool(frames: np.ndarray, out: int) -> np.ndarray:
    """(T, H, W, C) uint8 -> (T, out, out, C) float32 by block averaging (H, W multiples of out)."""
    t, h, w, c = frames.shape
    return frames.reshape(t, out, h // out, out, w // out, c).mean(axis=(2, 4), dtype=np.float32) / 255.0


def horizontal_flow(frames: np.ndarray, out: int) -> np.ndarray:
    """Mean horizontal image motion (pixels/frame, + = rightwards) per cell of an out x out grid.

    The least-squares (Lucas-Kanade) estimate from frame differences and horizontal gradients of
    the grey image, over all consecutive frame pairs of (T, H, W, C) uint8 frames: a signed motion
    feature (a frame difference alone says *that* something moved, not which way).
    """
    grey = frames.mean(axis=-1, dtype=np.float32)
    gx = np.zeros_like(grey)
    gx[:, :, 1:-1] = (grey[:, :, 2:] - grey[:, :, :-2]) / 2
    gx = (gx[1:] + gx[:-1]) / 2
    gt = np.diff(grey, axis=0)
    t, h, w = gt.shape

    def cells(a: np.ndarray) -> np.ndarray:  # (T, H, W) -> (out, out) sums over time and each cell
        return a.reshape(t, out, h // out, out, w // out).sum(axis=(0, 2, 4))

    return (-cells(gx * gt) / (cells(gx * gx) + 1.0)).ravel()


def window_features(data: Path, pool: int) -> tuple[np.ndarray, np.ndarray, list[dict]]:
    """(single, motion) feature matrices and the CSV rows, one per window."""
    with open(data / "labels.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    by_video = collections.defaultdict(list)
    for row in rows:
        by_video[row["video"]].append(row)
    single, motion, ordered = [], [], []
    for video, video_rows in by_video.items():
        with av.open(str(data / video)) as container:
            stream = container.streams.video[0]
            fps = float(stream.average_rate)
            frames = np.stack([f.to_ndarray(format="rgb24") for f in container.decode(stream)])
        small = _pool(frames, pool)
        for row in video_rows:
            a, b = round(float(row["start_s"]) * fps), round(float(row["end_s"]) * fps)
            clip = small[a:b]
            last = clip[-1].ravel()
            flicker = np.abs(np.diff(_pool(frames[a:b], pool), axis=0)).mean(axis=0).ravel()
            single.append(last)
            flow = horizontal_flow(frames[a:b], pool)
            motion.append(np.concatenate([last, (clip[-1] - clip[0]).ravel(), flicker, flow]))
            ordered.append(row)
    return np.stack(single), np.stack(motion), ordered


def grouped_accuracy(x: np.ndarray, y: np.ndarray, groups: np.ndarray, folds: int = 5) -> float:
    """Mean test accuracy over GroupKFold splits (no drive in both train and test)."""
    scores = []
    for train, test in GroupKFold(n_splits=folds).split(x, y, groups):
        model = make_pipeline(StandardScaler(), LogisticRegression(C=0.01, max_iter=3000))
        model.fit(x[train], y[train])
        scores.append(float((model.predict(x[test]) == y[test]).mean()))
    return float(np.mean(scores))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=None, help="dataset folder (default: generate one)")
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0, help="world seed of the generated dataset")
    parser.add_argument("--pool", type=int, default=16, help="pooled frame size for the features")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = args.data
        if data is None:
            begin, begin_cpu = time.perf_counter(), time.process_time()
            data = make_drive_dataset(Path(tmp) / "drive", minutes=args.minutes, size=args.size, seed=args.seed).parent
            wall, cpu = time.perf_counter() - begin, time.process_time() - begin_cpu
            frames = args.minutes * 60 * 10
            print(f"generated {args.minutes:g} min at {args.size}px, 10 fps: {wall:.1f} s wall, {cpu:.1f} s CPU "
                  f"(one process, one thread: {frames / cpu:.0f} frames/s per core incl. H.264 encoding)")
        single, motion, rows = window_features(data, args.pool)
    groups = np.array([r["sequence"] for r in rows])
    print(f"{len(rows)} windows from {len(set(groups))} drives; logistic regression, 5-fold split by drive\n")
    print("| label | classes (counts) | chance | single frame | motion |")
    print("|---|---|---|---|---|")
    for label in CLASS_LABELS:
        y = np.array([r[label] for r in rows])
        counts = collections.Counter(y.tolist())
        chance = max(counts.values()) / len(y)
        acc_single = grouped_accuracy(single, y, groups)
        acc_motion = grouped_accuracy(motion, y, groups)
        classes = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
        print(f"| {label} | {classes} | {chance:.2f} | {acc_single:.2f} | {acc_motion:.2f} |")


if __name__ == "__main__":
    main()
