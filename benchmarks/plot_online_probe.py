"""Plot the online probe's curves (probe/<target>/<method> against step) from an `ssl-video fit` CSV log.

    python benchmarks/plot_online_probe.py runs/online/csv/version_0/metrics.csv benchmarks/figures/online_probe.png
    python benchmarks/plot_online_probe.py runs/b/csv/version_0/metrics.csv runs/b/csv/version_1/metrics.csv out.png

A run resumed with ``--ckpt_path`` logs to a new ``version_N``: give them all, in order; a dashed line marks
where each resume starts.
"""

from __future__ import annotations

import argparse
import csv
from collections import defaultdict

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("metrics", nargs="+", help="csv/version_N/metrics.csv of the run (and of its resumes)")
    parser.add_argument("png")
    args = parser.parse_args(argv)
    curves: dict[str, list[tuple[int, float]]] = defaultdict(list)
    seconds, resumes = [], []
    for i, path in enumerate(args.metrics):
        with open(path, newline="") as handle:
            rows = list(csv.DictReader(handle))
        if i and rows:
            resumes.append(min(int(row["step"]) for row in rows))
        for row in rows:
            for key, value in row.items():
                if key.startswith("probe/") and value:
                    if key == "probe/seconds":
                        seconds.append(float(value))
                    else:
                        curves[key].append((int(row["step"]), float(value)))
    targets = sorted({k.split("/")[1] for k in curves})
    fig, axes = plt.subplots(1, len(targets), figsize=(5 * len(targets), 3.6), squeeze=False)
    for ax, target in zip(axes[0], targets):
        for key in sorted(k for k in curves if k.split("/")[1] == target):
            steps, values = zip(*sorted(curves[key]))
            ax.plot(steps, values, marker="o", label=key.split("/")[2])
        for step in resumes:
            ax.axvline(step, color="gray", linestyle="--", linewidth=1)
        ax.set_title(f"online probe: {target}")
        ax.set_xlabel("pretraining step")
        ax.set_ylabel("held-out balanced accuracy")
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(args.png, dpi=110)
    print(f"wrote {args.png}; probes took {sum(seconds):.0f} s in all ({len(seconds)} probes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
