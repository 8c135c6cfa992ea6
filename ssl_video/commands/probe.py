"""``ssl-video probe`` (label-efficiency report) and ``ssl-video finetune`` (one fraction, one seed).

    ssl-video probe --encoder runs/quickstart/weights --data data/drive/labels.csv \\
        --target speed_bucket --target lane_change --modes linear,scratch --out runs/probe --save-heads runs/heads
    ssl-video finetune --encoder runs/quickstart/last.ckpt --data data/drive/labels.csv \\
        --target lane_change --fraction 0.1 --out runs/finetune

The options are the fields of :class:`~ssl_video.evaluate.config.ProbeConfig` (``commands.options``), with
their help and defaults, and ``--threads``; only what finetune runs (one target, fraction, seed, --scratch) is here.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
from collections.abc import Iterator, Sequence
from pathlib import Path

from ssl_video.commands.options import add_dataclass_arguments, add_threads_argument, apply_threads, dataclass_from_args
from ssl_video.evaluate.config import ProbeConfig

log = logging.getLogger(__name__)

# What `ssl-video finetune` shares with `probe`: the encoder, data, clips, splits, its budget, the runtime. Named
# (not the fields left out) so that a new ProbeConfig field becomes a finetune option only once finetune uses it.
FINETUNE_FIELDS = {"encoder", "encoder_args", "data", "out", "task", "fps", "context", "future", "size", "mean", "std",
                   "clips_per_window", "test_size", "split_seed", "val_size", "finetune_budget", "batch_size",
                   "num_workers", "cache_dir"}


@contextlib.contextmanager
def _runtime(args: argparse.Namespace) -> Iterator[None]:
    apply_threads(args)
    # One Trainer per (target, method, fraction, seed): Lightning's per-Trainer banners drown the results.
    banners = logging.getLogger("pytorch_lightning.utilities.rank_zero")
    level = banners.level
    banners.setLevel(logging.WARNING)
    try:
        yield
    finally:
        banners.setLevel(level)


def probe_main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="ssl-video probe",
        description="Label-efficiency report: frozen probes, fine-tuning and from-scratch baselines on the same "
                    "by-sequence splits; writes OUT/report.json, OUT/report.md and OUT/label_efficiency.png.")
    add_dataclass_arguments(parser, ProbeConfig)
    add_threads_argument(parser)
    args = parser.parse_args(list(argv) if argv is not None else None)
    cfg = dataclass_from_args(ProbeConfig, args)
    from ssl_video.evaluate.label_efficiency import run_label_efficiency

    with _runtime(args):
        report = run_label_efficiency(cfg)
    out = Path(cfg.out)
    print(f"wrote {out / 'report.json'}, {out / 'report.md'}, {out / 'label_efficiency.png'} "
          f"({report['meta']['seconds']} s)")
    if cfg.save_heads:
        print(f"saved heads under {cfg.save_heads}/<target>/<fraction> (`ssl-video predict --model ...`)")
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
            print(f"  {target}: WARNING {w['method']} is worse at {w['more']} than at {w['fraction']} "
                  f"by {w['drop']:.3f}")
    return 0


def finetune_main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="ssl-video finetune",
        description="Fine-tune an encoder + head on one label fraction (or train it from scratch with --scratch), "
                    "evaluate on the fixed held-out split; writes OUT/metrics.json and OUT/model.safetensors "
                    "(`ssl-video predict --model OUT` and ssl_video.load_classifier use it).")
    add_dataclass_arguments(parser, ProbeConfig, only=FINETUNE_FIELDS)
    one = parser.add_argument_group("what runs")
    one.add_argument("--target", dest="one_target", metavar="TARGET", required=True, help="label column")
    one.add_argument("--fraction", type=float, default=1.0, help="label fraction of the train split (default: 1.0)")
    one.add_argument("--seed", type=int, default=0, help="seed of the fraction and the training (default: 0)")
    one.add_argument("--scratch", action="store_true", help="same architecture, randomly initialised")
    add_threads_argument(parser)
    args = parser.parse_args(list(argv) if argv is not None else None)
    mode = "scratch" if args.scratch else "finetune"
    cfg = dataclass_from_args(ProbeConfig, args, targets=[args.one_target], fractions=(args.fraction,), seeds=1,
                              modes=(mode,))
    from ssl_video.evaluate.finetune import save_finetuned
    from ssl_video.evaluate.label_efficiency import make_run, prepare, split_target

    target = cfg.targets[0]
    with _runtime(args):
        prep = prepare(cfg)
        split = split_target(cfg, prep, target)
        run = make_run(cfg, prep, split, args.fraction, args.seed)
        metrics, module = run.train_encoder(mode, prep.enc)
    spec = prep.spec.replace(mean=prep.mean, std=prep.std)
    info = {"target": target, "mode": mode, "fraction": args.fraction, "seed": args.seed,
            "n_train": len(run.sub), "n_test": len(run.test), "metrics": metrics, "task": split.info.task,
            "classes": split.info.classes, "encoder": prep.enc.source, "architecture": prep.enc.architecture,
            "args": prep.enc.args, "preprocessing": spec.to_dict(), "clips_per_window": prep.clips.segments}
    save_finetuned(module, info, cfg.out)
    print(f"{target} {mode} fraction={args.fraction:g} seed={args.seed}: {metrics} -> {cfg.out}")
    return 0
