"""How the attentive probe chooses its setting on a label fraction: rules compared on the same splits and features.

    ssl-video data make-drive runs/valworld5 --minutes 30 --seed 5 --quiet
    python benchmarks/probe_selection.py --data runs/valworld5/labels.csv --targets time_of_day speed_bucket \\
        --fractions 0.01 0.1 --rules carve folds grid fixed:0.003:0 fixed:0.01:300

Rules: ``carve`` (one split carved by drive from the fraction picks each probe's epoch and the grid point: the
rule before K-fold), ``folds`` (``select_attentive``, the library's rule), and for fractions whose drives cannot
form folds: ``grid`` (the whole grid trained on every labeled clip, voting; the library's fallback) and
``fixed:LR:MIN_STEPS`` (one probe, the grid's smallest wd). ``ssl-video probe``'s splits, label fractions, seeds
and cached features; prints balanced accuracy (R² for regression) on the test split, mean over seeds. Run it
on validation drives, never on the drives you report on: it chooses a rule.
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import numpy as np
import torch

from ssl_video.evaluate.attentive import fit_attentive_grid, select_attentive
from ssl_video.evaluate.features import extract_features
from ssl_video.evaluate.label_efficiency import ProbeConfig, carve_val, make_run, prepare, split_target
from ssl_video.evaluate.probes import grouped_folds, metrics
from ssl_video.evaluate.report import PRIMARY_METRIC


def _predict(rule: str, run, tokens, cfg: ProbeConfig) -> np.ndarray:
    y, sub, task, c = run.labels, run.sub, run.task, cfg.attentive
    if rule == "carve":
        train, val = carve_val(sub, y, run.sequences, task, cfg.val_size, run.seed)
        grid = fit_attentive_grid(tokens, y, train, task, run.outputs, val_idx=val, cfg=c, seed=run.seed)
        return grid.predict(tokens, run.test)
    if rule == "folds":
        return select_attentive(tokens, y, sub, run.sequences, task, run.outputs, cfg=c, seed=run.seed).predict(
            tokens, run.test)
    one_drive = np.zeros(len(y), dtype=object)  # no folds: the library's fallback
    if rule == "grid":
        return select_attentive(tokens, y, sub, one_drive, task, run.outputs, cfg=c, seed=run.seed).predict(
            tokens, run.test)
    _, lr, min_steps = rule.split(":")
    fixed = dataclasses.replace(c, lrs=(float(lr),), weight_decays=(min(c.weight_decays),), min_steps=int(min_steps))
    grid = fit_attentive_grid(tokens, y, sub, task, run.outputs, cfg=fixed, seed=run.seed,
                              epochs=fixed.epochs_for(len(sub)))
    return grid.predict(tokens, run.test)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--encoder", default="drive-future-vit-tiny")
    parser.add_argument("--targets", nargs="+", default=["time_of_day", "speed_bucket", "lane_change"])
    parser.add_argument("--fractions", type=float, nargs="+", default=[0.01, 0.1])
    parser.add_argument("--rules", nargs="+", default=["carve", "folds", "grid"])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    cfg = ProbeConfig(encoder=args.encoder, data=args.data, targets=args.targets, out="", num_workers=1)
    prep = prepare(cfg)
    tokens = extract_features(prep.enc, prep.clips, mean=prep.mean, std=prep.std, tokens=True,
                              max_tokens=cfg.max_tokens).tokens
    print(f"| target | fraction | folds | {' | '.join(args.rules)} |")
    print(f"|---|---|---|{'---|' * len(args.rules)}")
    for target in args.targets:
        split = split_target(cfg, prep, target)
        for fraction in args.fractions:
            scores: dict[str, list[float]] = {rule: [] for rule in args.rules}
            seconds: dict[str, float] = dict.fromkeys(args.rules, 0.0)
            folds = []
            for seed in range(args.seeds):
                run = make_run(cfg, prep, split, fraction, seed)
                cv = grouped_folds(run.labels[run.sub], run.task, run.sequences[run.sub], seed)
                folds.append(str(cv.get_n_splits()) if cv is not None else "-")
                for rule in args.rules:
                    start = time.perf_counter()
                    pred = _predict(rule, run, tokens, cfg)
                    seconds[rule] += time.perf_counter() - start
                    found = metrics(run.labels[run.test], pred, run.task)
                    scores[rule].append(found[PRIMARY_METRIC[run.task]])
            cells = [f"{np.mean(s):.3f} ± {np.std(s, ddof=1) if len(s) > 1 else 0:.3f} ({seconds[r]:.0f} s)"
                     for r, s in scores.items()]
            print(f"| {target} | {fraction:g} | {','.join(folds)} | {' | '.join(cells)} |", flush=True)


if __name__ == "__main__":
    main()
