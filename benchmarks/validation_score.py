"""The score that chooses which built-in weights ship, from an ``ssl-video probe`` report.

    ssl-video probe --encoder drive-future-vit-tiny --compare cand=runs/cand/weights --data runs/valworld/labels.csv \
        --target speed_bucket lead_closing --modes pixels,linear,temporal --fractions 0.1 1 --seeds 3
    python benchmarks/validation_score.py runs/probe/report.json

Per encoder (the main one is ``main``, each ``--compare NAME`` is ``NAME``): for every (target, fraction), the
mean balanced accuracy over probe seeds of each frozen read-out (``--readouts``, default linear and temporal), the
best read-out kept; the score is the mean of those cells. Prints one line per method with mean ± std per cell, then
one ``score NAME: S  cells [...]`` line per encoder. Random-weights rows (``linear-random``) are printed, not scored.
The rule BENCHMARKS.md uses: write down before the run that a candidate ships iff its score beats the shipped
weights' score in the same report, on drives that neither trained nor chose anything.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path
from statistics import mean, pstdev


def cell_means(report: dict) -> dict[tuple[str, str, float], list[float]]:
    """(method, target, fraction) -> the per-seed balanced accuracies (or the first metric for regression)."""
    cells: dict[tuple[str, str, float], list[float]] = defaultdict(list)
    for r in report["results"]:
        m = r["metrics"]
        key = "balanced_accuracy" if "balanced_accuracy" in m else sorted(m)[0]
        cells[(r["method"], r["target"], float(r["fraction"]))].append(float(m[key]))
    return cells


def scores(report: dict, readouts: tuple[str, ...] = ("linear", "temporal")) -> dict[str, tuple[float, list[float]]]:
    """Encoder name -> (score, its cells in (target, fraction) order)."""
    cells = cell_means(report)
    targets = sorted({k[1] for k in cells})
    fractions = sorted({k[2] for k in cells})
    by_encoder: dict[str, list[str]] = defaultdict(list)
    for method in sorted({k[0] for k in cells}):
        base, _, encoder = method.partition("@")
        if base in readouts:
            by_encoder[encoder or "main"].append(method)
    out = {}
    for encoder, methods in by_encoder.items():
        best = [max(mean(cells[(m, t, f)]) for m in methods if (m, t, f) in cells)
                for t in targets for f in fractions if any((m, t, f) in cells for m in methods)]
        out[encoder] = (mean(best), best)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report", type=Path, help="report.json written by `ssl-video probe`")
    parser.add_argument("--readouts", nargs="+", default=["linear", "temporal"], help="frozen read-outs that compete per cell")
    args = parser.parse_args(argv)
    if not args.report.is_file():
        raise SystemExit(f"report not found: {args.report} (pass the report.json that `ssl-video probe --out DIR` wrote)")
    report = json.loads(args.report.read_text())
    cells = cell_means(report)
    for method in sorted({k[0] for k in cells}):
        print(method, " ".join(f"{t}@{f:g}={mean(v):.3f}±{pstdev(v):.3f}"
                               for (m, t, f), v in sorted(cells.items()) if m == method))
    for encoder, (score, best) in scores(report, tuple(args.readouts)).items():
        print(f"score {encoder}: {score:.3f}  cells {[round(b, 3) for b in best]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
