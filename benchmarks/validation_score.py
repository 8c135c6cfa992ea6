"""The score that chooses which built-in weights ship, from an ``ssl-video probe`` report.

    ssl-video probe --encoder drive-future-vit-tiny --compare cand=runs/cand/weights --data runs/valworld/labels.csv \
        --target speed_bucket lane_change --modes pixels,linear,temporal --fractions 0.1 1 --seeds 3
    python benchmarks/validation_score.py runs/probe/report.json

Per encoder (the main one is ``main``, each ``--compare NAME`` is ``NAME``): for every (target, fraction), the
mean over probe seeds of the target's primary metric (balanced accuracy for a classification) for each frozen
read-out (``--readouts``, default linear and temporal), the best read-out kept; the score is the mean of those
cells. Prints each method's mean ± std per fraction (as in report.md), then one ``score NAME: S  cells [...]``
line per encoder. Random-weights rows (``linear-random``) are printed, not scored.
The rule BENCHMARKS.md uses: write down before the run that a candidate ships iff its score beats the shipped
weights' score in the same report, on drives that neither trained nor chose anything.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def scores(report: dict, readouts: tuple[str, ...] = ("linear", "temporal")) -> dict[str, tuple[float, list[float]]]:
    """Encoder name -> (score, its cells in (target, fraction) order), from the report's ``summary`` (the per-seed
    means ``ssl_video.evaluate.report.summarize`` wrote) on each target's primary metric (``findings``)."""
    cells: dict[str, list[float]] = {}
    for target, by_method in sorted(report["summary"].items()):
        metric = report["findings"][target]["primary_metric"]
        fractions = sorted({f for m in by_method.values() for f in m}, key=float)
        encoders: dict[str, list[str]] = {}
        for method in by_method:
            base, _, encoder = method.partition("@")
            if base in readouts:
                encoders.setdefault(encoder or "main", []).append(method)
        for encoder, methods in encoders.items():
            cells.setdefault(encoder, []).extend(
                max(by_method[m][f][metric]["mean"] for m in methods if f in by_method[m])
                for f in fractions if any(f in by_method[m] for m in methods))
    return {encoder: (sum(c) / len(c), c) for encoder, c in cells.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report", type=Path, help="report.json written by `ssl-video probe`")
    parser.add_argument("--readouts", nargs="+", default=["linear", "temporal"],
                        help="frozen read-outs that compete per cell")
    args = parser.parse_args(argv)
    if not args.report.is_file():
        raise SystemExit(f"report not found: {args.report} "
                         "(pass the report.json that `ssl-video probe --out DIR` wrote)")
    report = json.loads(args.report.read_text())
    for target, by_method in sorted(report["summary"].items()):
        metric = report["findings"][target]["primary_metric"]
        for method, by_fraction in by_method.items():
            print(target, method, " ".join(f"{f}={s[metric]['mean']:.3f}±{s[metric]['std']:.3f}"
                                           for f, s in sorted(by_fraction.items(), key=lambda kv: float(kv[0]))))
    for encoder, (score, best) in scores(report, tuple(args.readouts)).items():
        print(f"score {encoder}: {score:.3f}  cells {[round(b, 3) for b in best]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
