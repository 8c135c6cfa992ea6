"""``ssl-video shadow``: a candidate model next to the deployed one, where they disagree
(see ``ssl_video.engine.shadow``).

    ssl-video shadow --deployed runs/v1/weights --candidate runs/v2/weights --data data/drive \\
        --labels data/drive/labels.csv --target lane_change --out runs/shadow
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from ssl_video.commands.mine import add_model_args, clip_overrides
from ssl_video.data.manifest import load_windows
from ssl_video.data.windows import load_sliding_windows
from ssl_video.engine import shadow as shadow_module
from ssl_video.engine.clips import load_model
from ssl_video.engine.shadow import markdown_summary, shadow
from ssl_video.errors import UserError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ssl-video shadow", description=shadow_module.__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--deployed", required=True, help="the model in production (.ckpt, weights, or name)")
    parser.add_argument("--candidate", required=True, help="the model that may replace it")
    parser.add_argument("--data", required=True, help="folder or manifest of the windows to compare on")
    parser.add_argument("--labels", required=True, help="manifest CSV with the target column (probe training)")
    parser.add_argument("--target", required=True, help="label column")
    parser.add_argument("--out", required=True)
    parser.add_argument("--task", choices=("auto", "classification", "regression"), default="auto")
    parser.add_argument("--holdout", type=float, default=0.3,
                        help="labeled fraction held out by sequence when --data overlaps --labels")
    parser.add_argument("--tolerance", type=float,
                        help="numeric targets: |difference| that counts as a disagreement (default 0.1 std)")
    parser.add_argument("--top", type=int, default=50, help="disagreements listed in the CSV")
    parser.add_argument("--window-s", type=float,
                        help="cut a folder into windows of this many seconds (default: one clip)")
    parser.add_argument("--sheet-rows", type=int, default=8)
    add_model_args(parser)
    return parser


def cli_main(argv: Sequence[str]) -> int:
    args = build_parser().parse_args(list(argv))
    if not 0 < args.holdout < 1:
        raise UserError(f"--holdout is the labeled fraction held out, between 0 and 1 (exclusive); got {args.holdout}")
    overrides = clip_overrides(args)
    deployed = load_model(args.deployed, clip_overrides=overrides)
    candidate = load_model(args.candidate, clip_overrides=overrides)
    compare, infos = load_sliding_windows(args.data, window_s=args.window_s, stride_s=None,
                                          spec=[deployed.spec, candidate.spec])
    labeled, lab_index = load_windows(args.labels)
    infos = {**lab_index.by_path(), **infos}
    summary = shadow(deployed, candidate, labeled, compare, infos, args.target, args.out, task=args.task,
                     holdout=args.holdout, tolerance=args.tolerance, top=args.top, sheet_rows=args.sheet_rows,
                     seed=args.seed, batch_size=args.batch_size, num_workers=args.num_workers,
                     cache_dir=args.cache_dir)
    print(markdown_summary(summary, args.deployed, args.candidate, args.target))
    for name in ("summary.json", "summary.md", "disagreements.csv", "disagreements.png", "per_class.png"):
        if (Path(args.out) / name).exists():
            print(f"  {Path(args.out) / name}")
    return 0
