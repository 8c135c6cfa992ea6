"""Label efficiency: every method on the same splits, per target, fraction and seed -> one report.

Protocol (the V-JEPA / VideoMAE low-shot evaluation, with the splits made by drive):

1. One fixed held-out test split by sequence (``split_by_sequence(seed=split_seed)``, per
   target so it can be stratified); everything else is the train split.
2. For each seed, nested stratified label fractions of the train split
   (``label_fraction(train, labels, sequences, fraction, seed)``). Every method sees exactly
   these indices, so rows of the report differ only by method.
3. Frozen probes (linear, temporal, knn, attentive) on features extracted once per encoder
   (cached); the same probes on a randomly initialised encoder of the same architecture
   ("-random" rows); fine-tuning and training from scratch (same architecture, same budget),
   with early stopping on a validation split carved by sequence from the same fraction.
4. Baselines that need no pretraining: ``pixels`` (a linear probe on downsampled frames,
   their differences and the differences' magnitudes, :func:`~ssl_video.evaluate.features.pixel_features`)
   and ``ceiling`` (the architecture trained from scratch on 100 % of the labels with a budget
   large enough to converge, early-stopped on a by-sequence validation split; once per
   (data, target, architecture), cached), which says how high a label can go at all.

    report = run_label_efficiency(ProbeConfig(encoder="runs/quickstart/weights",
                                              data="data/drive/labels.csv", targets=["lane_change"], out="runs/probe"))
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from ssl_video._io import atomic_write_json
from ssl_video.data.datasets import encode_labels
from ssl_video.data.manifest import load_windows
from ssl_video.data.splits import label_fraction, split_by_sequence
from ssl_video.errors import UserError
from ssl_video.evaluate.attentive import select_attentive
from ssl_video.evaluate.config import FROZEN, ProbeConfig
from ssl_video.evaluate.features import (
    EvalEncoder,
    decode_clips,
    digest,
    evaluate_cache_dir,
    extract_features,
    load_eval_encoder,
    pixel_features,
    random_encoder,
)
from ssl_video.evaluate.finetune import fit_encoder_head
from ssl_video.evaluate.heads import save_head
from ssl_video.evaluate.probes import cv_score, fit_knn_probe, fit_linear_probe, metrics, score
from ssl_video.evaluate.report import Result, TargetInfo, fraction_key, write_report
from ssl_video.evaluate.training import predict
from ssl_video.hub.foreign import is_foreign_architecture
from ssl_video.hub.registry import find_weights
from ssl_video.spec import ClipSpec

log = logging.getLogger(__name__)

# ProbeConfig, MODES and FROZEN live in evaluate/config.py (one declaration, also the command's options).


def clip_spec(cfg: ProbeConfig, enc: EvalEncoder) -> ClipSpec:
    """The encoder's record (ClipSpec defaults for a bare architecture name) with the command-line clip and
    normalization options that are set."""
    return enc.spec.replace(context=cfg.context, future=cfg.future, fps=cfg.fps, size=cfg.size,
                            mean=cfg.mean or None, std=cfg.std or None)


def compared_spec(cfg: ProbeConfig, enc: EvalEncoder) -> ClipSpec:
    """The clips a ``--compare`` encoder reads: a foreign encoder's own record (the options of its source change
    it), an ssl_video encoder's with the command-line options, as the main encoder's."""
    return enc.spec if is_foreign_architecture(enc.architecture) else clip_spec(cfg, enc)


def _labels(windows, target: str, task: str) -> tuple[np.ndarray, np.ndarray, list[str] | None, str]:
    """-> (has_label (N,) bool, encoded labels (N,) (garbage where missing), classes, task)."""
    has = np.array([target in w.labels for w in windows], dtype=bool)
    if not has.any():
        columns = sorted({c for w in windows for c in w.labels})
        raise UserError(f"no window has a {target!r} label; label columns: {', '.join(columns) or 'none'}")
    encoded, classes, task = encode_labels([w.labels[target] for w, h in zip(windows, has) if h], task, column=target)
    full = np.zeros(len(windows), dtype=encoded.dtype)
    full[has] = encoded
    return has, full, classes, task


def carve_val(sub: np.ndarray, labels: np.ndarray, sequences: np.ndarray, task: str, size: float, seed: int):
    """Split a label fraction by sequence into (train, val) for early stopping (val may be empty)."""
    parts = split_by_sequence(sequences[sub], labels=labels[sub] if task == "classification" else None,
                              test_size=0.0, val_size=size, seed=seed)
    return sub[np.concatenate([parts["train"], parts["test"]])], sub[parts["val"]]


@dataclass
class Prepared:
    """What every method shares: the encoder, clip spec, windows and their decoded clips."""

    enc: EvalEncoder
    spec: ClipSpec
    mean: tuple[float, ...]
    std: tuple[float, ...]
    windows: list
    clips: Any  # features.Clips
    sequences: np.ndarray
    compared: dict[str, EvalEncoder] = field(default_factory=dict)  # --compare name -> encoder
    compared_clips: dict[str, Any] = field(default_factory=dict)  # --compare name -> its own clips, same windows
    ok: np.ndarray | None = None  # (N,) windows whose clips decoded for every encoder (None: clips.ok)


def prepare(cfg: ProbeConfig) -> Prepared:
    """Load the encoder and windows, decode (or reuse cached) clips."""
    enc = load_eval_encoder(cfg.encoder, args=cfg.encoder_args)
    spec = clip_spec(cfg, enc)
    compared = {name: load_eval_encoder(source) for name, source in cfg.compare.items()}  # before minutes of decoding
    windows, index = load_windows(cfg.data)
    if not windows:
        first = f"; e.g. {index.skipped[0].path}: {index.skipped[0].reason}" if index.skipped else ""
        raise UserError(f"{cfg.data}: no usable windows ({len(index.skipped)} videos skipped{first}); "
                        f"`ssl-video data index {cfg.data}` lists every file with its reason")
    columns = {c for w in windows for c in w.labels}
    missing = [t for t in cfg.targets if t not in columns]
    if missing:  # before minutes of decoding
        raise UserError(f"{cfg.data}: no label column {', '.join(map(repr, missing))}; label columns: "
                        f"{', '.join(sorted(columns)) or 'none'}")
    clips = decode_clips(windows, index.by_path(), spec, cache_dir=cfg.cache_dir, num_workers=cfg.num_workers,
                         batch_size=cfg.batch_size, segments=cfg.clips_per_window)
    ok, compared_clips = clips.ok.copy(), {}
    for name, other in compared.items():  # each its own clips of the same windows; shared when they are the same
        own = compared_spec(cfg, other)
        compared_clips[name] = clips if own.clip_fields() == spec.clip_fields() else decode_clips(
            windows, index.by_path(), own, cache_dir=cfg.cache_dir, num_workers=cfg.num_workers,
            batch_size=cfg.batch_size, segments=cfg.clips_per_window)
        if dropped := int((ok & ~compared_clips[name].ok).sum()):
            log.warning("--compare %s reads %s: %d window(s) without such a clip are left out of every row", name,
                        own.clip_fields(), dropped)
        ok &= compared_clips[name].ok
    sequences = np.asarray([w.sequence or w.video for w in windows], dtype=object)
    return Prepared(enc, spec, spec.mean, spec.std, windows, clips, sequences, compared, compared_clips, ok)


@dataclass
class TargetSplit:
    """One target's encoded labels and its fixed (train, test) split by sequence."""

    info: TargetInfo
    labels: np.ndarray  # (N,) over all windows; only train/test rows are meaningful
    train: np.ndarray
    test: np.ndarray


def split_target(cfg: ProbeConfig, prep: Prepared, target: str) -> TargetSplit:
    """The fixed held-out test split (by sequence, ``split_seed``) and the train split for ``target``."""
    has, labels, classes, task = _labels(prep.windows, target, cfg.task)
    usable = np.flatnonzero(has & (prep.clips.ok if prep.ok is None else prep.ok))
    parts = split_by_sequence(prep.sequences[usable], labels=labels[usable] if task == "classification" else None,
                              test_size=cfg.test_size, val_size=0.0, seed=cfg.split_seed)
    train, test = usable[np.concatenate([parts["train"], parts["val"]])], usable[parts["test"]]
    if len(test) == 0 or len(train) == 0:
        raise UserError(f"{target}: need clips of at least 2 sequences to hold out a test split "
                         f"({len(usable)} usable clips)")
    info = TargetInfo(task, classes, len(usable), {"train": len(train), "test": len(test)},
                      sorted(set(prep.sequences[test].tolist())))
    return TargetSplit(info, labels, np.sort(train), test)


@dataclass
class _Run:
    """One (target, seed, fraction): the labeled subset ``sub`` and the fixed ``test`` indices."""

    cfg: ProbeConfig
    task: str
    labels: np.ndarray
    sequences: np.ndarray
    sub: np.ndarray
    test: np.ndarray
    seed: int
    outputs: int
    clips: np.ndarray  # (N, C, segments * T, H, W) uint8 memmap, for fine-tuning and scratch
    mean: tuple[float, ...]
    std: tuple[float, ...]
    segments: int = 1  # clips per window in ``clips``

    def subset_id(self) -> str:
        return hashlib.sha1(np.asarray(self.sub, dtype=np.int64).tobytes()).hexdigest()[:12]

    def linear(self, X: np.ndarray) -> dict[str, float]:
        """Linear probe on features X (N, F) of the labeled subset, scored on the test split."""
        model = fit_linear_probe(X[self.sub], self.labels[self.sub], self.task, groups=self.sequences[self.sub],
                                 seed=self.seed)
        return score(model, X[self.test], self.labels[self.test], self.task)

    def fit_frozen(self, mode: str, feats):
        """-> (the probe ``mode`` fitted on the labeled subset, the features it reads: (N, F) or tokens (N, K, D))."""
        y, sub = self.labels, self.sub
        if mode == "attentive":  # lr, wd and epoch chosen by K-fold over the labeled drives
            grid = select_attentive(feats.tokens, y, sub, self.sequences, self.task, self.outputs,
                                    cfg=self.cfg.attentive, seed=self.seed)
            return grid, feats.tokens
        X = feats.temporal if mode == "temporal" else feats.pooled
        if mode == "knn":
            return fit_knn_probe(X[sub], y[sub], self.task, k=self.cfg.knn_k), X
        return fit_linear_probe(X[sub], y[sub], self.task, groups=self.sequences[sub], seed=self.seed), X

    def frozen(self, mode: str, feats) -> tuple[dict[str, float], Any]:
        """-> (test metrics, the fitted probe) of a frozen probe."""
        probe, X = self.fit_frozen(mode, feats)
        if mode == "attentive":
            return metrics(self.labels[self.test], probe.predict(X, self.test), self.task), probe
        return score(probe, X[self.test], self.labels[self.test], self.task), probe

    def validation_score(self, mode: str, probe, feats) -> float | None:
        """The probe's score on validation folds of the labeled drives (None when they cannot form 2 folds)."""
        if mode == "attentive":
            return probe.selection["val_score"]
        X = (feats.temporal if mode == "temporal" else feats.pooled)[self.sub]
        return cv_score(probe, X, self.labels[self.sub], self.task, groups=self.sequences[self.sub], seed=self.seed)

    def trained(self, mode: str, enc: EvalEncoder) -> dict[str, float]:
        return self.train_encoder(mode, enc)[0]

    def train_encoder(self, mode: str, enc: EvalEncoder):
        """-> (test metrics, trained SupervisedModule)."""
        # Fine-tune a copy of the encoder, or train the same architecture from scratch (same budget;
        # no layer-wise decay from scratch: there is nothing pretrained to preserve). The ceiling
        # is scratch with a budget large enough to converge.
        budget = self.cfg.ceiling_budget if mode == "ceiling" else self.cfg.finetune_budget
        if mode == "finetune":
            encoder = copy.deepcopy(enc.encoder).cpu()
        else:
            encoder = random_encoder(enc, seed=self.seed).encoder
            budget = dataclasses.replace(budget, layer_decay=1.0)
        train, val = carve_val(self.sub, self.labels, self.sequences, self.task, self.cfg.val_size, self.seed)
        module = fit_encoder_head(encoder, self.clips, self.labels, train, self.task, self.outputs, mean=self.mean,
                                  std=self.std, val_idx=val, budget=budget, seed=self.seed, segments=self.segments)
        return metrics(self.labels[self.test], predict(module, self.clips, self.test), self.task), module


def make_run(cfg: ProbeConfig, prep: Prepared, split: TargetSplit, fraction: float, seed: int) -> _Run:
    sub = label_fraction(split.train, split.labels, prep.sequences, fraction, seed)
    outputs = len(split.info.classes) if split.info.classes else 1
    return _Run(cfg, split.info.task, split.labels, prep.sequences, sub, split.test, seed, outputs,
                prep.clips.array, prep.mean, prep.std, prep.clips.segments)


def ceiling(cfg: ProbeConfig, prep: Prepared, split: TargetSplit) -> tuple[dict[str, float], float, int]:
    """The ``ceiling`` row: -> (test metrics, seconds, n_train). Trained once per (clips, target, its split and
    both sides' labels, architecture, budget, normalization) and cached as JSON next to the features."""
    key = digest([prep.clips.key, split.labels[split.train].tolist(), split.train.tolist(), split.test.tolist(),
                  split.labels[split.test].tolist(), split.info.classes, split.info.task, prep.enc.architecture,
                  prep.enc.args, dataclasses.asdict(cfg.ceiling_budget), prep.mean, prep.std, cfg.val_size])
    path = evaluate_cache_dir(cfg.cache_dir) / f"ceiling-{key}.json"
    if path.exists():
        cached = json.loads(path.read_text())
        log.info("reusing the cached ceiling %s", path.name)
        return cached["metrics"], cached["seconds"], cached["n_train"]
    start = time.perf_counter()
    run = make_run(cfg, prep, split, 1.0, 0)
    found = run.trained("ceiling", prep.enc)
    seconds = round(time.perf_counter() - start, 1)
    atomic_write_json(path, {"metrics": found, "seconds": seconds, "n_train": len(run.sub)}, indent=None)
    return found, seconds, len(run.sub)


def run_label_efficiency(cfg: ProbeConfig) -> dict[str, Any]:
    """Run every (target, mode, fraction, seed) and write the report; returns report.json's dict."""
    t0 = time.perf_counter()
    prep = prepare(cfg)
    log.info("clips ready: %d windows, %s, %.1f s", len(prep.windows), prep.spec, time.perf_counter() - t0)
    frozen = [m for m in cfg.modes if m in FROZEN]
    encoders = {"": (prep.enc, prep.mean, prep.std, prep.clips)}
    if frozen and cfg.random_baseline and prep.enc.pretrained:
        encoders["-random"] = (random_encoder(prep.enc, seed=cfg.split_seed), prep.mean, prep.std, prep.clips)
    for name, other in prep.compared.items() if frozen else ():
        own = compared_spec(cfg, other)  # its own clips, normalized as this encoder expects
        encoders[f"@{name}"] = (other, own.mean, own.std, prep.compared_clips[name])
    features = {
        suffix: extract_features(e, clips, mean=mean, std=std, tokens="attentive" in frozen,
                                 max_tokens=cfg.max_tokens, batch_size=cfg.batch_size, cache_dir=cfg.cache_dir)
        for suffix, (e, mean, std, clips) in (encoders.items() if frozen else [])
    }
    pixels = pixel_features(prep.clips, size=cfg.pixels_size) if "pixels" in cfg.modes else None
    log.info("features ready (%d encoder(s)), %.1f s", len(features), time.perf_counter() - t0)

    results: list[Result] = []
    targets: dict[str, TargetInfo] = {}
    trained_seeds = cfg.trained_seeds or cfg.seeds

    def runs(mode: str, seed: int) -> list[str]:
        """Encoder suffixes to run ``mode`` with at ``seed`` (empty: not at this seed)."""
        if mode in FROZEN:
            return list(features)
        return [""] if mode != "ceiling" and (mode == "pixels" or seed < trained_seeds) else []

    per_target = sum(len(runs(m, s)) for m in cfg.modes for s in range(cfg.seeds)) * len(cfg.fractions)
    total = len(cfg.targets) * (per_target + ("ceiling" in cfg.modes))
    # one bar over all runs (an ETA: trained modes take seconds to minutes each, frozen probes
    # milliseconds); log lines go through the bar. Hidden when stderr is not a terminal.
    with logging_redirect_tqdm(), tqdm(total=total, desc="probe runs", unit="run", disable=None) as bar:
        for target in cfg.targets:
            split = split_target(cfg, prep, target)
            targets[target] = split.info
            if "ceiling" in cfg.modes:
                bar.set_postfix_str(f"{target} ceiling")
                m, seconds, n_train = ceiling(cfg, prep, split)
                results.append(Result(target, "ceiling", 1.0, 0, m, n_train, seconds))
                log.info("%s ceiling n=%d: %s (%.0f s)", target, n_train, {k: round(v, 4) for k, v in m.items()},
                         seconds)
                bar.update()
            for seed in range(cfg.seeds):
                for fraction in cfg.fractions:
                    run = make_run(cfg, prep, split, fraction, seed)
                    fitted: dict[str, tuple[Any, dict[str, float]]] = {}
                    for mode in cfg.modes:
                        for suffix in runs(mode, seed):
                            bar.set_postfix_str(f"{target} {mode}{suffix} {fraction:g} seed {seed}")
                            start = time.perf_counter()
                            if mode in FROZEN:
                                m, probe = run.frozen(mode, features[suffix])
                                if cfg.save_heads and suffix == "" and seed == 0:
                                    fitted[mode] = (probe, m)
                            elif mode == "pixels":
                                m = run.linear(pixels)
                            else:
                                m = run.trained(mode, prep.enc)
                            results.append(Result(target, mode + suffix, fraction, seed, m, len(run.sub),
                                                  time.perf_counter() - start, run.subset_id()))
                            log.info("%s %s%s fraction=%g seed=%d n=%d: %s", target, mode, suffix, fraction, seed,
                                     len(run.sub), {k: round(v, 4) for k, v in m.items()})
                            bar.update()
                    if fitted:
                        save_best_head(cfg, prep, target, split, run, fitted, features[""], fraction)
    meta = {
        "encoder": prep.enc.source,
        **({"compared": dict(cfg.compare)} if cfg.compare else {}),
        **({"compared_clips": {name: compared_spec(cfg, other).to_dict() for name, other in prep.compared.items()}}
           if cfg.compare else {}),
        "architecture": f"{prep.enc.architecture} {prep.enc.args}",
        "pretrained": prep.enc.pretrained,
        "data": str(cfg.data),
        "clip": {**dataclasses.asdict(prep.spec), "clips_per_window": prep.clips.segments},
        "normalize": {"mean": list(prep.mean), "std": list(prep.std)},
        "seeds": cfg.seeds if trained_seeds == cfg.seeds else f"{cfg.seeds} (finetune/scratch: {trained_seeds})",
        "split": f"test {cfg.test_size:g} of the clips, by sequence (split seed {cfg.split_seed}); "
                 f"nested label fractions of the rest",
        "budgets": {"attentive": dataclasses.asdict(cfg.attentive),
                    "finetune/scratch": dataclasses.asdict(cfg.finetune_budget),
                    "ceiling": dataclasses.asdict(cfg.ceiling_budget)},
        "seconds": round(time.perf_counter() - t0, 1),
        "seconds_per_method": seconds_per_method(results),
    }
    report = write_report(cfg.out, results, targets, meta)
    log.info("wrote %s/report.{json,md} and label_efficiency.png in %.1f s", cfg.out, time.perf_counter() - t0)
    return report


HEAD_ORDER = ("linear", "temporal", "attentive", "knn")  # the saved head when no validation folds are possible


def save_best_head(cfg: ProbeConfig, prep: Prepared, target: str, split: TargetSplit, run: _Run, fitted: dict, feats,
                   fraction: float) -> Path:
    """Keep the frozen probe of ``fitted`` (mode -> (probe, test metrics)) with the best validation score (mean
    over grouped folds of the labeled drives, :meth:`_Run.validation_score`; never the test split) as
    ``cfg.save_heads/<target>/<fraction>``. When the labeled drives cannot form two folds, no probe has a score
    and the first mode of ``HEAD_ORDER`` that ran is kept."""
    scores = {mode: run.validation_score(mode, probe, feats) for mode, (probe, _) in fitted.items()}
    scored = {mode: s for mode, s in scores.items() if s is not None}
    mode = max(scored, key=scored.get) if scored else next(m for m in HEAD_ORDER if m in fitted)
    probe, test_metrics = fitted[mode]
    spans = [w.end_s - w.start_s for w in prep.windows if w.end_s is not None]
    source = Path(cfg.encoder)
    entry = None if source.exists() else find_weights(str(cfg.encoder))  # a name: pinned to the version it meant
    info = {
        "target": target, "task": run.task, "classes": split.info.classes, "fraction": fraction,
        "seed": run.seed, "n_train": len(run.sub),
        "encoder": {"source": entry.full_name if entry else cfg.encoder,
                    "path": str(source.resolve()) if source.exists() else None,
                    "encoder_args": cfg.encoder_args, "fingerprint": prep.enc.fingerprint(),
                    "architecture": prep.enc.architecture},
        "preprocessing": prep.spec.replace(mean=prep.mean, std=prep.std).to_dict(),
        "clips_per_window": prep.clips.segments, "max_tokens": cfg.max_tokens,
        "window_s": float(np.median(spans)) if spans else None,
        "chosen_by": "validation folds" if scored else f"fixed order {', '.join(HEAD_ORDER)} (too few drives to fold)",
        "validation": scores, "test_metrics": test_metrics,
    }
    out = Path(cfg.save_heads) / target / fraction_key(fraction)
    train = (feats.pooled[run.sub], run.labels[run.sub]) if mode == "knn" else None  # k-NN keeps its neighbours
    save_head(out, mode, probe, info, train=train)
    log.info("saved the %s head of %s @ %g to %s (%s)", mode, target, fraction, out, info["chosen_by"])
    return out


def seconds_per_method(results: list[Result]) -> dict[str, float]:
    """Total seconds each method (row) took over all targets, fractions and seeds."""
    out: dict[str, float] = {}
    for r in results:
        out[r.method] = round(out.get(r.method, 0.0) + r.seconds, 1)
    return out
