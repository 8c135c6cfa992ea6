"""``ssl-video probe`` (label-efficiency report) and ``ssl-video finetune`` (one fraction, one seed).

    ssl-video probe --encoder runs/quickstart/weights --data data/drive/labels.csv \\
        --target speed_bucket --target turn_next --modes linear,scratch --out runs/probe
    ssl-video finetune --encoder runs/quickstart/last.ckpt --data data/drive/labels.csv \\
        --target turn_next --fraction 0.1 --out runs/finetune
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path

from ssl_video.errors import UserError
from ssl_video.evaluate.attentive import AttentiveConfig
from ssl_video.evaluate.finetune import CEILING_BUDGET, FINETUNE_BUDGET
from ssl_video.evaluate.training import TrainBudget

log = logging.getLogger(__name__)


def _pairs(items: list[str], flag: str) -> dict[str, str]:
    """["a=x", "b=y"] -> {"a": "x", "b": "y"}; a malformed item is a user error."""
    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name or not value:
            raise UserError(f"{flag} {item!r}: expected NAME=VALUE, e.g. builtin=drive-future-vit-tiny")
        out[name] = value
    return out


def _common(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("encoder and data")
    g.add_argument("--encoder", required=True,
                   help="a .ckpt from `ssl-video fit`, an exported weights dir/.safetensors, or an architecture "
                        "name (randomly initialised, e.g. vit_tiny)")
    g.add_argument("--encoder-args", type=json.loads, default={},
                   help='JSON overrides of the architecture config, e.g. \'{"depth": 2}\'')
    g.add_argument("--data", required=True, help="folder of videos or manifest CSV with label columns")
    g.add_argument("--task", choices=("auto", "classification", "regression"), default="auto",
                   help="auto: numbers (unless a few integers) are regression, anything else classes")
    g.add_argument("--out", required=True, type=Path, help="output folder")
    c = parser.add_argument_group("clips (default: what the checkpoint recorded)")
    c.add_argument("--fps", type=float)
    c.add_argument("--context", type=int, help="context frames")
    c.add_argument("--future", type=int, help="future frames (the encoder sees context + future frames)")
    c.add_argument("--size", type=int, nargs="+", metavar="PX", help="H [W] decode size")
    c.add_argument("--mean", type=float, nargs=3)
    c.add_argument("--std", type=float, nargs=3)
    c.add_argument("--clips-per-window", type=int, default=1, metavar="K",
                   help="read K evenly spaced clips of each labeled window, for windows longer than one clip (a "
                        "label about the whole window): probes see the clips' tokens joined in time, fine-tuning "
                        "averages their features, the pixels row concatenates them (default: %(default)s, the "
                        "centred clip)")
    s = parser.add_argument_group("splits")
    s.add_argument("--test-size", type=float, default=0.2, help="held-out share of clips, split by sequence")
    s.add_argument("--split-seed", type=int, default=0, help="seed of the fixed test split")
    s.add_argument("--val-size", type=float, default=0.2,
                   help="share of a label fraction carved (by sequence) for early stopping")
    t = parser.add_argument_group("training budgets (small by default so CPU runs finish in minutes)")
    b = FINETUNE_BUDGET
    t.add_argument("--finetune-epochs", type=int, default=b.max_epochs)
    t.add_argument("--finetune-steps", type=int, default=b.max_steps, help="-1: no step limit")
    t.add_argument("--finetune-lr", type=float, default=b.lr)
    t.add_argument("--finetune-batch-size", type=int, default=b.batch_size)
    t.add_argument("--layer-decay", type=float, default=b.layer_decay)
    t.add_argument("--patience", type=int, default=b.patience, help="early-stopping patience (epochs)")
    r = parser.add_argument_group("runtime")
    r.add_argument("--batch-size", type=int, default=16, help="feature extraction / decoding batch size")
    r.add_argument("--num-workers", type=int, default=min(2, os.cpu_count() or 1), help="decoding workers")
    r.add_argument("--cache-dir", help="clip and feature cache (default $SSL_VIDEO_HOME/evaluate)")
    r.add_argument("--threads", type=int, default=None,
                   help="torch CPU threads (default: torch's own, one per core; lower it on a machine shared "
                        "with other jobs, where oversubscribed threads are several times slower)")


def _config(args: argparse.Namespace, **extra):
    import torch

    from ssl_video.evaluate.label_efficiency import ProbeConfig

    if args.threads is not None:
        torch.set_num_threads(args.threads)
    # One Trainer per (target, method, fraction, seed): Lightning's per-Trainer banners drown the results.
    logging.getLogger("pytorch_lightning.utilities.rank_zero").setLevel(logging.WARNING)

    size = None if args.size is None else (tuple(args.size) * 2)[:2]
    finetune = TrainBudget(max_epochs=args.finetune_epochs, max_steps=args.finetune_steps, lr=args.finetune_lr,
                           batch_size=args.finetune_batch_size, layer_decay=args.layer_decay, patience=args.patience,
                           weight_decay=FINETUNE_BUDGET.weight_decay)
    return ProbeConfig(
        encoder=args.encoder, encoder_args=args.encoder_args, data=args.data, out=args.out, task=args.task,
        fps=args.fps, context=args.context, future=args.future, size=size,
        mean=tuple(args.mean) if args.mean else None, std=tuple(args.std) if args.std else None,
        clips_per_window=args.clips_per_window,
        test_size=args.test_size, split_seed=args.split_seed, val_size=args.val_size, finetune_budget=finetune,
        batch_size=args.batch_size, num_workers=args.num_workers, cache_dir=args.cache_dir, **extra,
    )


def probe_main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="ssl-video probe",
        description="Label-efficiency report: frozen probes, fine-tuning and from-scratch baselines on the same "
                    "by-sequence splits; writes OUT/report.json, OUT/report.md and OUT/label_efficiency.png.")
    _common(parser)
    parser.add_argument("--target", action="extend", nargs="+", required=True, help="label column(s) to evaluate")
    parser.add_argument("--fractions", type=float, nargs="+", default=[0.01, 0.1, 1.0])
    parser.add_argument("--seeds", type=int, default=3, help="seeds 0..N-1 (label fractions, heads, training)")
    parser.add_argument("--trained-seeds", type=int, default=None,
                        help="seeds of the finetune and scratch modes (default: --seeds); each costs minutes on a CPU")
    parser.add_argument("--modes", default="pixels,linear,temporal,knn,attentive",
                        help="comma list of: pixels (linear probe on raw downsampled frames and frame differences, no "
                             "model), linear (mean-pooled features), temporal (per-time-step mean and std of the "
                             "tokens), knn, attentive (V-JEPA 2 attentive probe, lr x wd grid), finetune, scratch "
                             "(same architecture from random weights, same budget as finetune), ceiling (scratch "
                             "to convergence on 100%% of the labels, cached) (default: %(default)s)")
    parser.add_argument("--no-random", action="store_true",
                        help="skip the frozen probes on a randomly initialised encoder of the same architecture")
    parser.add_argument("--compare", nargs="+", default=[], metavar="NAME=ENCODER",
                        help="more encoders (same sources as --encoder, e.g. builtin=drive-future-vit-tiny) whose "
                             "frozen probes join the report as <mode>@NAME rows; same clips as --encoder")
    parser.add_argument("--knn-k", type=int, default=20)
    parser.add_argument("--pixels-size", type=int, default=8, help="frame side of the pixels baseline")
    a = parser.add_argument_group("attentive probe (trained as a grid, the best on the validation split is reported)")
    d = AttentiveConfig()
    a.add_argument("--max-tokens", type=int, default=256, help="patch tokens kept (average-pooled on the token grid)")
    a.add_argument("--attentive-epochs", type=int, default=d.epochs)
    a.add_argument("--attentive-min-steps", type=int, default=d.min_steps,
                   help="train at least this many steps when the fraction has a validation split (more epochs on "
                        "a few labels; 0: epochs only)")
    a.add_argument("--attentive-lrs", type=float, nargs="+", default=list(d.lrs))
    a.add_argument("--attentive-wds", type=float, nargs="+", default=list(d.weight_decays))
    a.add_argument("--attentive-depth", type=int, default=d.depth,
                   help="blocks: depth-1 self-attention blocks over the tokens, then the cross-attention block "
                        "(V-JEPA 2 uses 4)")
    a.add_argument("--attentive-queries", type=int, default=d.num_queries)
    parser.add_argument("--ceiling-epochs", type=int, default=CEILING_BUDGET.max_epochs,
                        help="epoch cap of the ceiling (early stopping decides before)")
    args = parser.parse_args(list(argv) if argv is not None else None)
    from ssl_video.evaluate.label_efficiency import run_label_efficiency

    modes = tuple(m.strip() for m in args.modes.split(",") if m.strip())
    attentive = AttentiveConfig(depth=args.attentive_depth, num_queries=args.attentive_queries,
                                lrs=tuple(args.attentive_lrs), weight_decays=tuple(args.attentive_wds),
                                epochs=args.attentive_epochs, min_steps=args.attentive_min_steps)
    cfg = _config(args, targets=list(dict.fromkeys(args.target)), fractions=tuple(args.fractions), seeds=args.seeds,
                  modes=modes, trained_seeds=args.trained_seeds, random_baseline=not args.no_random,
                  compare=_pairs(args.compare, "--compare"), knn_k=args.knn_k, max_tokens=args.max_tokens,
                  attentive=attentive, pixels_size=args.pixels_size,
                  ceiling_budget=dataclasses.replace(CEILING_BUDGET, max_epochs=args.ceiling_epochs))
    report = run_label_efficiency(cfg)
    print(f"wrote {args.out / 'report.json'}, {args.out / 'report.md'}, {args.out / 'label_efficiency.png'} "
          f"({report['meta']['seconds']} s)")
    for target, found in report["findings"].items():
        for method, where in found["matches_scratch_full"].items():
            print(f"  {target}: {method} matches scratch@100%: {where}")
        for method, b in found["beats_random"].items():
            print(f"  {target}: {method} beats random-encoder {method} at every fraction: "
                  f"{'yes' if b['every_fraction'] else 'NO (not at ' + ', '.join(b['not_at']) + ')'}")
        for frac, m in found["margin"].items():
            print(f"  {target} @ {frac}: best pretrained {m['pretrained']} {m['pretrained_mean']:.3f} vs best baseline "
                  f"{m['baseline']} {m['baseline_mean']:.3f} ({m['margin']:+.3f})")
        for w in found["more_labels_worse"]:
            print(f"  {target}: WARNING {w['method']} is worse at {w['more']} than at {w['fraction']} by {w['drop']:.3f}")
    return 0


def finetune_main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="ssl-video finetune",
        description="Fine-tune an encoder + head on one label fraction (or train it from scratch with --scratch), "
                    "evaluate on the fixed held-out split; writes OUT/metrics.json and OUT/model.safetensors.")
    _common(parser)
    parser.add_argument("--target", required=True, help="label column")
    parser.add_argument("--fraction", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--scratch", action="store_true", help="same architecture, randomly initialised")
    args = parser.parse_args(list(argv) if argv is not None else None)
    from ssl_video.evaluate.finetune import save_finetuned
    from ssl_video.evaluate.label_efficiency import make_run, prepare, split_target

    mode = "scratch" if args.scratch else "finetune"
    cfg = _config(args, targets=[args.target], fractions=(args.fraction,), seeds=1, modes=(mode,))
    prep = prepare(cfg)
    split = split_target(cfg, prep, args.target)
    run = make_run(cfg, prep, split, args.fraction, args.seed)
    metrics, module = run.train_encoder(mode, prep.enc)
    info = {"target": args.target, "mode": mode, "fraction": args.fraction, "seed": args.seed,
            "n_train": len(run.sub), "n_test": len(run.test), "metrics": metrics, "task": split.info.task,
            "classes": split.info.classes, "encoder": prep.enc.source, "architecture": prep.enc.architecture,
            "args": prep.enc.args, "clip": {**dataclasses.asdict(prep.spec), "clips_per_window": prep.clips.segments},
            "normalize": {"mean": list(prep.mean), "std": list(prep.std)}}
    save_finetuned(module, info, args.out)
    print(f"{args.target} {mode} fraction={args.fraction:g} seed={args.seed}: {metrics} -> {args.out}")
    return 0
