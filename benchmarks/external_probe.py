"""Run the external-footage protocol on a source built by ``benchmarks/external_drives.py`` and print its table.

The protocol: ``ssl-video probe`` (frozen probes pixels, linear, temporal, attentive; random-weights
rows; 3 seeds; 10 % and 100 % of the labels; test split fixed and by drive) on ``speed_bucket`` and
``turn_ahead``; then per target and fraction the best frozen probe of each encoder against the pixels
row (no model) and the best random-weights row (balanced accuracy, mean ± std over seeds).

Needs only ssl_video itself (the simulators are needed to build the data, not to probe it).

    OMP_NUM_THREADS=1 nice -n 10 python benchmarks/external_probe.py \\
        --data runs/external/carracing/labels.csv --out runs/external/probe_carracing
    # more encoders as extra rows: --compare mine=runs/my_pretrain/weights
    # only re-print the table of a finished run: --table-only

It runs (the equivalent shell command is printed first):

    ssl-video probe --encoder drive-future-vit-tiny --data DATA --target speed_bucket turn_ahead \\
        --modes pixels,linear,temporal,attentive --seeds 3 --fractions 0.1 1.0 --threads 1 --num-workers 1 --out OUT
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shlex
import subprocess
import sys
from pathlib import Path

PRETRAINED = ("linear", "temporal", "knn", "attentive")
METRIC = {"classification": "balanced_accuracy", "regression": "r2"}


def _cell(values: list[float]) -> tuple[float, float]:
    mean = sum(values) / len(values)
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1)) if len(values) > 1 else 0.0
    return mean, std


def table(report_path: Path, encoder: str = "encoder") -> str:
    """Markdown: rows = pixels / each encoder's best frozen probe / random weights; columns = target x fraction."""
    report = json.loads(report_path.read_text())
    targets = report["targets"]
    grouped: dict[tuple[str, str, float], list[float]] = {}
    for r in report["results"]:
        metric = METRIC[targets[r["target"]]["task"]]
        grouped.setdefault((r["target"], r["method"], float(r["fraction"])), []).append(float(r["metrics"][metric]))
    fractions = sorted({f for _, _, f in grouped})
    # row name -> predicate on method names
    encoders = {encoder: lambda m: m in PRETRAINED}
    for name in sorted({m.split("@", 1)[1] for _, m, _ in grouped if "@" in m}):
        encoders[name] = lambda m, n=name: "@" in m and m.split("@", 1)[1] == n and m.split("@", 1)[0] in PRETRAINED
    rows = {"pixels row (no model)": lambda m: m == "pixels", **encoders,
            "random weights": lambda m: m.endswith("-random")}
    columns = [(t, f) for t in targets for f in fractions]
    head = "| encoder | " + " | ".join(f"{t} {f * 100:g} %" for t, f in columns) + " |"
    lines = [head, "|---" * (len(columns) + 1) + "|"]
    for name, pick in rows.items():
        cells = []
        for t, f in columns:
            best = None
            for (tt, m, ff), values in grouped.items():
                if tt == t and ff == f and pick(m):
                    mean, std = _cell(values)
                    if best is None or mean > best[0]:
                        best = (mean, std, m, len(values))
            cells.append("–" if best is None else f"{best[0]:.2f} ± {best[1]:.2f} ({best[2]}, n={best[3]})")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    metric_names = sorted({METRIC[i["task"]] for i in targets.values()})
    sizes = {t: i.get("split_sizes") for t, i in targets.items()}
    lines.append(f"\nmetric: {', '.join(metric_names)}; mean ± std over seeds; best frozen probe per row; "
                 f"splits: {json.dumps(sizes)}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, help="labels.csv written by external_drives.py")
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--encoder", default="drive-future-vit-tiny")
    parser.add_argument("--compare", nargs="*", default=[], metavar="NAME=ENCODER")
    parser.add_argument("--target", nargs="+", default=["speed_bucket", "turn_ahead"])
    parser.add_argument("--modes", default="pixels,linear,temporal,attentive")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--fractions", nargs="+", default=["0.1", "1.0"])
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1: the machine is shared)")
    parser.add_argument("--num-workers", type=int, default=1, help="decoding workers")
    parser.add_argument("--table-only", action="store_true", help="print the table of an existing OUT/report.json")
    parser.add_argument("extra", nargs=argparse.REMAINDER, help="after --: more ssl-video probe arguments")
    args = parser.parse_args(argv)
    report = args.out / "report.json"
    if not args.table_only:
        if not Path(args.data).exists():
            print(f"error: {args.data} does not exist; build it with benchmarks/external_drives.py", file=sys.stderr)
            return 2
        cmd = ["ssl-video", "probe", "--encoder", args.encoder, "--data", str(args.data), "--target", *args.target,
               "--modes", args.modes, "--seeds", str(args.seeds), "--fractions", *args.fractions,
               "--threads", str(args.threads), "--num-workers", str(args.num_workers), "--out", str(args.out)]
        if args.compare:
            cmd += ["--compare", *args.compare]
        cmd += [a for a in args.extra if a != "--"]
        print("$ " + shlex.join(cmd), flush=True)
        env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", str(args.threads))}
        rc = subprocess.call(cmd, env=env)
        if rc:
            return rc
    if not report.exists():
        print(f"error: no {report}", file=sys.stderr)
        return 2
    print(table(report, encoder=args.encoder))
    return 0


if __name__ == "__main__":
    sys.exit(main())
