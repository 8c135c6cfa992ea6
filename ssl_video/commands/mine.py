"""``ssl-video mine``: rank unlabeled clip windows by how worth labeling they are (see ``ssl_video.engine.mining``).

    ssl-video mine --encoder drive-future-vit-tiny --data data/drive --out runs/mine --top 32 --by mixed
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from ssl_video.data.manifest import load_windows
from ssl_video.data.windows import load_sliding_windows
from ssl_video.engine import mining
from ssl_video.engine.clips import load_model
from ssl_video.engine.mining import MINE_STRATEGIES, mine
from ssl_video.errors import UserError
from ssl_video.spec import size_hw


def add_model_args(parser: argparse.ArgumentParser) -> None:
    """Clip options shared by mine and shadow (None = what the checkpoint / weights say)."""
    parser.add_argument("--context", type=int, help="context frames (default: from the checkpoint)")
    parser.add_argument("--future", type=int, help="future frames (default: from the checkpoint)")
    parser.add_argument("--fps", type=float, help="clip frame rate (default: from the checkpoint)")
    parser.add_argument("--size", type=int, nargs="+", help="decode size H [W] (default: from the checkpoint)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--num-workers", type=int, default=0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cache-dir", help="decoded clips and features, reused by later runs on the same windows "
                        "(default $SSL_VIDEO_HOME/evaluate, as ssl-video probe)")


def clip_overrides(args: argparse.Namespace) -> dict:
    """The clip options that are set, as ``ClipSpec`` fields (which checks them); batch options checked here."""
    if args.batch_size < 1 or args.num_workers < 0:
        raise UserError(f"need --batch-size >= 1 and --num-workers >= 0, got {args.batch_size} and {args.num_workers}")
    size = None if args.size is None else size_hw(args.size)
    return {"context": args.context, "future": args.future, "fps": args.fps, "size": size}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ssl-video mine", description=mining.__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--encoder", required=True,
                        help=".ckpt from ssl-video fit, exported weights, or a weights name")
    parser.add_argument("--data", required=True, help="folder of videos or manifest CSV of unlabeled windows")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--top", type=int, default=16, help="how many windows to pick (default 16)")
    parser.add_argument("--by", choices=MINE_STRATEGIES, default="mixed")
    parser.add_argument("--labels", help="manifest CSV of already labeled windows (uncertainty; kept away from)")
    parser.add_argument("--target", help="label column of --labels for --by uncertainty")
    parser.add_argument("--window-s", type=float,
                        help="cut videos into windows of this many seconds (default: one clip)")
    parser.add_argument("--stride-s", type=float, help="step between windows (default: --window-s, no overlap)")
    parser.add_argument("--sheet-rows", type=int, default=8, help="clips per contact sheet")
    add_model_args(parser)
    return parser


def cli_main(argv: Sequence[str]) -> int:
    args = build_parser().parse_args(list(argv))
    if args.top < 1:
        raise UserError("--top must be >= 1")
    model = load_model(args.encoder, clip_overrides=clip_overrides(args))
    windows, infos = load_sliding_windows(args.data, window_s=args.window_s, stride_s=args.stride_s,
                                         spec=model.spec)
    labeled = None
    if args.labels:
        labeled, lab_index = load_windows(args.labels)
        infos = {**lab_index.by_path(), **infos}
    result = mine(model, windows, infos, args.out, by=args.by, top=args.top, labeled=labeled, target=args.target,
                  seed=args.seed, batch_size=args.batch_size, num_workers=args.num_workers,
                  sheet_rows=args.sheet_rows, progress=True, cache_dir=args.cache_dir)
    print(f"ranked {len(result.picks)} of {len(result.windows)} windows by {args.by}")
    for name in ("ranking.csv", "scores.csv", "top_clips.png", "random_clips.png"):
        print(f"  {Path(args.out) / name}")
    return 0
