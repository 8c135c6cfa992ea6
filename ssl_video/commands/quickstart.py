"""``ssl-video quickstart``: the whole idea in one command, on the built-in driving world.

    ssl-video quickstart --out runs/quickstart

1. renders the built-in driving data (skipped when ``OUT/data/labels.csv`` exists),
2. pretrains the quickstart model (``configs/pretrain/quickstart.yaml``) to predict the future,
3. exports its weights (``OUT/weights``: ``model.safetensors`` + ``config.json``),
4. runs the label-efficiency report for the time-dependent labels (``OUT/probe``), comparing three
   encoders: the one just pretrained, the package's built-in weights (``<mode>@builtin`` rows) and
   random weights, next to the no-model pixels row,
5. prints where everything is.

Each step is the same code path as its own subcommand (``data make-drive``, ``fit``,
``weights export``, ``probe``), so what the quickstart shows is what a user gets.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ssl_video.errors import MissingInput, UserError

logger = logging.getLogger(__name__)

# ssl_video/configs links to the top-level configs/ and ships in the wheel as package data.
QUICKSTART_CONFIG = Path(__file__).resolve().parents[1] / "configs" / "pretrain" / "quickstart.yaml"
# Labels a model can read from motion. The default modes (the linear probe on pooled and on per-time-step tokens,
# next to pixels and from-scratch training) keep the whole run near 10 minutes on 2 cores; add ``attentive`` to
# --modes for the attentive probe (several times the report's time).
QUICKSTART_MODES = "pixels,linear,temporal,scratch"
QUICKSTART_TARGETS = ("speed_bucket", "lane_change")


def _parse(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="ssl-video quickstart", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("runs/quickstart"),
                        help="output folder (default: %(default)s)")
    parser.add_argument("--data", type=Path, default=None, help="use this drive data folder instead of OUT/data")
    parser.add_argument("--minutes", type=float, default=30.0, help="minutes of built-in driving video to render")
    parser.add_argument("--config", type=Path, default=QUICKSTART_CONFIG,
                        help="pretraining config (default: quickstart.yaml)")
    parser.add_argument("--max-steps", type=int, default=None, help="override the config's trainer.max_steps")
    parser.add_argument("--targets", nargs="+", default=list(QUICKSTART_TARGETS),
                        help="label columns to probe (default: %(default)s)")
    parser.add_argument("--seeds", type=int, default=3, help="probe seeds (default: %(default)s)")
    parser.add_argument("--trained-seeds", type=int, default=1,
                        help="seeds of the from-scratch rows, minutes each on a CPU (default: %(default)s)")
    parser.add_argument("--modes", default=QUICKSTART_MODES,
                        help="probe modes (default: %(default)s; see `ssl-video probe --help`)")
    parser.add_argument("--fractions", nargs="+", type=float, default=[0.01, 0.1, 1.0])
    parser.add_argument("--seed", type=int, default=0, help="seed for data and pretraining")
    parser.add_argument("--compare", nargs="*", default=None, metavar="NAME=ENCODER",
                        help="encoders to compare with the one just pretrained (default: the built-in weights, "
                             "builtin=<name> for each; none: --compare with no value)")
    parser.add_argument(
        "--small", action="store_true", help="a few-minute smoke run: 6 minutes of video, 60 steps, 1 probe seed"
    )
    return parser.parse_args(list(argv))


def _builtin_compare(preprocessing: Mapping[str, Any]) -> list[str]:
    """``--compare`` items for the weights shipped in the package that read the same clips (size, fps, context,
    future) as an exported encoder's ``preprocessing``: ``builtin=<name>`` (``builtin-<name>=<name>`` if several)."""
    from ssl_video.hub.registry import builtin_weights
    keys = ("context", "future", "fps", "size")  # what `probe --compare` checks (label_efficiency.clip_spec)
    entries = []
    for e in builtin_weights():
        if all(e.config.get("preprocessing", {}).get(k) == preprocessing.get(k) for k in keys):
            entries.append(e)
        else:
            print(f"  not comparing the built-in weights {e.name}: they read other clips than this encoder", flush=True)
    return [f"builtin={e.name}" if len(entries) == 1 else f"builtin-{e.name}={e.name}" for e in entries]


def _step(number: int, text: str) -> float:
    print(f"\n[{number}/4] {text}", flush=True)
    return time.perf_counter()


def cli_main(argv: Sequence[str]) -> int:
    args = _parse(argv)
    if args.small:
        args.minutes, args.seeds = min(args.minutes, 6.0), 1
        args.max_steps = args.max_steps or 60
    out = args.out.resolve()
    data_dir = (args.data or out / "data").resolve()
    if not args.config.is_file():
        raise MissingInput(f"--config {args.config}: pretraining config not found; pass --config PATH to a YAML "
                           "file such as configs/pretrain/quickstart.yaml")
    started = time.perf_counter()

    t = _step(1, f"built-in driving data -> {data_dir}")
    others = [] if args.data is None or (data_dir / "labels.csv").is_file() or not data_dir.is_dir() else [
        p for p in sorted(data_dir.iterdir()) if not re.fullmatch(r"drive_\d+\.mp4|\..*", p.name)]
    if others:  # --data is where the built-in world is rendered, never a folder of the user's footage
        raise UserError(f"--data {data_dir}: holds {others[0].name} and no labels.csv; the quickstart renders the "
                        f"built-in world there: give an empty or new folder (your own footage goes to `ssl-video fit "
                        f"--data.data` and `ssl-video probe --data`, README 'Your own footage')")
    if (data_dir / "labels.csv").is_file():
        print(f"  found {data_dir / 'labels.csv'}; not regenerating", flush=True)
    else:
        from ssl_video.data.drive_world import make_drive_dataset

        make_drive_dataset(data_dir, minutes=args.minutes, seed=args.seed, progress=True)
    print(f"  done in {time.perf_counter() - t:.0f} s", flush=True)

    t = _step(2, f"pretraining {args.config.name} -> {out / 'pretrain'}")
    from ssl_video.commands.fit import main as fit_main

    fit_args = [
        "fit",
        "--config", str(args.config),
        "--data.data", str(data_dir / "labels.csv"),
        "--trainer.default_root_dir", str(out / "pretrain"),
        "--seed_everything", str(args.seed),
    ]  # fmt: skip
    if args.max_steps is not None:
        fit_args += ["--trainer.max_steps", str(args.max_steps)]
    fit_main(fit_args)
    checkpoint = out / "pretrain" / "checkpoints" / "last.ckpt"  # ssl-video fit's fixed checkpoint folder
    if not checkpoint.is_file():
        raise FileNotFoundError(f"pretraining wrote no {checkpoint}")
    print(f"  checkpoint {checkpoint} ({time.perf_counter() - t:.0f} s)", flush=True)

    t = _step(3, f"exporting weights -> {out / 'weights'}")
    from ssl_video.hub import export_weights

    weights_dir = export_weights(checkpoint, out / "weights")
    print(f"  done in {time.perf_counter() - t:.0f} s", flush=True)

    t = _step(4, f"label-efficiency report for {', '.join(args.targets)} -> {out / 'probe'}")
    from ssl_video.commands.probe import probe_main

    probe_args = ["--encoder", str(weights_dir), "--data", str(data_dir / "labels.csv"), "--out", str(out / "probe")]
    for target in args.targets:
        probe_args += ["--target", target]
    probe_args += ["--modes", args.modes, "--seeds", str(args.seeds), "--trained-seeds",
                   str(min(args.trained_seeds, args.seeds)), "--fractions", *map(str, args.fractions)]
    compare = args.compare if args.compare is not None else _builtin_compare(
        json.loads((weights_dir / "config.json").read_text())["preprocessing"])
    if compare:
        probe_args += ["--compare", *compare]
    probe_main(probe_args)
    print(f"  done in {time.perf_counter() - t:.0f} s", flush=True)

    print(f"\nquickstart finished in {(time.perf_counter() - started) / 60:.1f} min. Results:")
    print(f"  data         {data_dir}")
    print(f"  pretraining  {out / 'pretrain'}  (tensorboard --logdir {out / 'pretrain'})")
    print(f"  checkpoint   {checkpoint}")
    print(f"  weights      {weights_dir}")
    print(f"  report       {out / 'probe' / 'report.md'}")
    print(f"  plot         {out / 'probe' / 'label_efficiency.png'}")
    report_md = out / "probe" / "report.md"
    if report_md.is_file():
        print("\n" + report_md.read_text())
    return 0

