"""``ssl-video embed``: one feature row per window of a folder or manifest (see ``ssl_video.evaluate.embed``).

    ssl-video embed --encoder drive-future-vit-tiny --data data/drive --out runs/embed
    ssl-video embed --encoder runs/quickstart/weights --data labels.csv --out runs/embed --tokens
    ssl-video embed --encoder drive-future-vit-tiny --data data/drive --out runs/embed --devices 2 --strategy ddp
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from ssl_video.errors import MissingInput
from ssl_video.spec import RESIZE_MODES


def _int_or_str(text: str) -> int | str:
    return int(text) if text.lstrip("-").isdigit() else text


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ssl-video embed", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="One feature row per window of a folder or manifest of videos (docs/embed.md).\n\n"
                    + __doc__.split("\n\n")[1])
    parser.add_argument("--encoder", required=True,
                        help="weights name (ssl-video weights list), exported weights folder, .ckpt, or an "
                             "architecture name (random weights)")
    parser.add_argument("--data", required=True, help="folder of videos or manifest CSV of windows")
    parser.add_argument("--out", required=True,
                        help="output folder: features.npy (N, D), index.csv, embed.json[, tokens.npy]")
    parser.add_argument("--window-s", type=float,
                        help="cut videos into windows of this many seconds (default: a folder into windows of one "
                             "clip, a manifest's rows as they are)")
    parser.add_argument("--stride-s", type=float, help="step between windows (default: --window-s, no overlap)")
    parser.add_argument("--tokens", action="store_true", help="also save the (N, K, D) tokens (float16)")
    parser.add_argument("--max-tokens", type=int, default=256, help="pool the tokens on their grid to at most K")
    parser.add_argument("--format", choices=("npy", "safetensors"), default="npy",
                        help="npy files, or one features.safetensors (tensors 'features'[, 'tokens'])")
    parser.add_argument("--resize", choices=RESIZE_MODES,
                        help="how frames reach the encoder's size (default: what the encoder was trained with)")
    parser.add_argument("--batch-size", type=int, default=16, help="clips per batch and device")
    parser.add_argument("--num-workers", type=int, default=2, help="decoding processes per device")
    parser.add_argument("--rows-per-part", type=int, default=1024,
                        help="windows per resumable part file (a killed run loses at most this many per process)")
    parser.add_argument("--devices", type=_int_or_str, default=1, help="Lightning devices: a number, or 'auto'")
    parser.add_argument("--strategy", default="auto", help="Lightning strategy, e.g. ddp to share across devices")
    parser.add_argument("--accelerator", default="auto", help="cpu, gpu or auto")
    parser.add_argument("--precision", default="32-true", help="Lightning precision, e.g. bf16-mixed on a GPU")
    parser.add_argument("--backend", default="auto", choices=("auto", "pyav", "decord"), help="video decoder")
    return parser


def cli_main(argv: Sequence[str]) -> int:
    args = build_parser().parse_args(list(argv))
    if not Path(args.data).exists():  # before torch and the encoder load: the error is the first thing printed
        raise MissingInput(f"--data {args.data}: no such folder or manifest CSV")
    from ssl_video.evaluate.embed import embed_windows  # after the checks: --help and errors do not pay for torch

    result = embed_windows(
        args.encoder, args.data, args.out, window_s=args.window_s, stride_s=args.stride_s,
        batch_size=args.batch_size, num_workers=args.num_workers, tokens=args.tokens, max_tokens=args.max_tokens,
        fmt=args.format, backend=args.backend, resize=args.resize, rows_per_part=args.rows_per_part,
        trainer_kwargs={"devices": args.devices, "strategy": args.strategy, "accelerator": args.accelerator,
                        "precision": args.precision})
    if result.main_process:
        print(f"embedded {result.rows} of {result.windows} windows into {result.out} "
              f"({result.skipped} shorter than one clip or undecodable)")
    return 0


if __name__ == "__main__":  # DDP relaunches `python -m ssl_video.commands.embed ...` once per extra process
    sys.exit(cli_main(sys.argv[1:]))
