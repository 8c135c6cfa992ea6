"""Online probe: frozen-feature probes of the encoder *while* it pretrains, logged as curves.

The loss of a self-supervised objective says little about the features (an objective that
a shortcut solves has a low loss and useless features); the V-JEPA 2 maintainers choose
checkpoints by probe, not by loss (facebookresearch/vjepa2 issue 56), and solo-learn and
lightly track online linear / kNN accuracy during pretraining. Every ``every_n_steps`` this
callback embeds a fixed subset of labeled clips with the current encoder (eval mode, no
grad), fits the linear probe (mean-pooled features) and the attentive probe (patch tokens,
a small lr grid) on the subset's training drives, and logs
``probe/<target>/<method>`` (balanced accuracy, or R² for a regression target) measured on
its held-out drives, to every logger (TensorBoard, CSV) and to ``trainer.callback_metrics``,
so ``ModelCheckpoint(monitor="probe/speed_bucket/attentive", mode="max")`` keeps the
best-by-probe checkpoint. Step 0 (the random initialisation) is probed too.

In a YAML config of ``ssl-video fit``:

    trainer:
      callbacks:
        - class_path: ssl_video.evaluate.online.OnlineProbe
          init_args: {data: data/drive/labels.csv, targets: [speed_bucket, lane_change], every_n_steps: 100}
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch

from ssl_video.data.datasets import encode_labels
from ssl_video.data.manifest import load_windows
from ssl_video.data.splits import split_by_sequence
from ssl_video.errors import UserError
from ssl_video.evaluate.attentive import AttentiveConfig, fit_attentive_grid
from ssl_video.evaluate.features import decode_clips, embed
from ssl_video.evaluate.label_efficiency import carve_val
from ssl_video.evaluate.probes import fit_linear_probe, metrics, score
from ssl_video.evaluate.report import PRIMARY_METRIC

log = logging.getLogger(__name__)

# A smaller grid and fewer epochs than the report's probe: the online probe runs many times per run.
ONLINE_ATTENTIVE = AttentiveConfig(lrs=(1e-2, 1e-3), weight_decays=(0.01,), epochs=30, min_steps=0)
METHODS = ("linear", "attentive")


@dataclass
class _Target:
    """One target on the subset: labels y over ``rows`` (subset clips that have the label) and
    indices into them: ``train`` (``fit`` + ``val``, by drive) and the held-out ``test`` drives."""

    y: np.ndarray
    task: str
    outputs: int
    groups: np.ndarray
    train: np.ndarray
    test: np.ndarray
    fit: np.ndarray
    val: np.ndarray
    rows: np.ndarray


class OnlineProbe(pl.Callback):
    """Probe the pretraining encoder every ``every_n_steps`` on a labeled manifest (see module doc).

    Args:
        data: manifest CSV (or folder) with the label columns; its clips are decoded once with the
            pretraining clip spec (context + future frames, fps, size) and cached.
        targets: label columns to probe.
        every_n_steps: training steps between probes (and at step 0).
        methods: any of ``linear``, ``attentive``.
        max_clips: the fixed subset's size (windows drawn once, with ``seed``).
        test_size: held-out share of the subset, split by sequence (drive).
        max_tokens: patch tokens kept for the attentive probe.
        batch_size: clips per encoder forward.
        cache_dir: decoded-clip cache (default ``$SSL_VIDEO_HOME/evaluate``).
    """

    def __init__(self, data: str | Path, targets: Sequence[str], every_n_steps: int = 100,
                 methods: Sequence[str] = METHODS, max_clips: int = 256, test_size: float = 0.3,
                 max_tokens: int = 64, batch_size: int = 32, seed: int = 0, cache_dir: str | None = None):
        if every_n_steps < 1 or max_clips < 4 or not 0 < test_size < 1:
            raise UserError(f"OnlineProbe needs every_n_steps >= 1, max_clips >= 4, 0 < test_size < 1; got "
                             f"{every_n_steps}, {max_clips}, {test_size}")
        unknown = sorted(set(methods) - set(METHODS))
        if unknown or not targets:
            raise UserError(f"OnlineProbe: unknown method(s) {unknown} (choose from {METHODS}) or no targets")
        self.data, self.targets, self.every = str(data), list(targets), every_n_steps
        self.methods, self.max_clips, self.test_size = tuple(methods), max_clips, test_size
        self.max_tokens, self.batch_size, self.seed, self.cache_dir = max_tokens, batch_size, seed, cache_dir
        self.history: list[dict[str, float]] = []  # one dict per probe: step, seconds, probe/... values
        self._clips = None
        self._probed_step: int | None = None

    def _prepare(self, pl_module: pl.LightningModule) -> None:
        """Decode the fixed subset once; encode each target's labels and its (train, test) split."""
        spec = pl_module.clip_spec  # the clips the module trains on (VideoPretrainer.clip_spec)
        windows, index = load_windows(self.data)
        if not windows:
            raise UserError(f"OnlineProbe: {self.data} has no usable windows ({len(index.skipped)} videos skipped)")
        rng = np.random.default_rng(self.seed)
        keep = np.sort(rng.choice(len(windows), min(self.max_clips, len(windows)), replace=False))
        windows = [windows[i] for i in keep]
        clips = decode_clips(windows, index.by_path(), spec, cache_dir=self.cache_dir, num_workers=0,
                             batch_size=self.batch_size)
        sequences = np.asarray([w.sequence or w.video for w in windows], dtype=object)
        self._targets = {}
        for target in self.targets:
            rows = np.flatnonzero(clips.ok & np.array([target in w.labels for w in windows]))
            if len(rows) == 0:
                raise UserError(f"OnlineProbe: no clip of {self.data} has a {target!r} label")
            y, classes, task = encode_labels([windows[i].labels[target] for i in rows], "auto", column=target)
            groups = sequences[rows]
            parts = split_by_sequence(groups, labels=y if task == "classification" else None,
                                      test_size=self.test_size, val_size=0.0, seed=self.seed)
            train, test = np.concatenate([parts["train"], parts["val"]]), parts["test"]
            if len(test) == 0 or len(train) == 0:
                raise UserError(f"OnlineProbe: {target} needs clips of at least 2 drives in {self.data}")
            fit, val = carve_val(train, y, groups, task, 0.2, self.seed)  # the attentive grid's selection split
            outputs = len(classes) if classes else 1
            self._targets[target] = _Target(y, task, outputs, groups, train, test, fit, val, rows)
        self._clips = clips
        log.info("online probe: %d clips of %s, targets %s, every %d steps", int(clips.ok.sum()), self.data,
                 ", ".join(self.targets), self.every)

    @torch.no_grad()
    def _features(self, pl_module) -> tuple[np.ndarray, np.ndarray | None]:
        """(pooled (N, D), tokens (N, K, D) or None without the attentive probe) of the subset, float32,
        with the current encoder in eval mode (its mode is restored after)."""
        encoder, spec = pl_module.encoder, pl_module.clip_spec
        want_tokens = "attentive" in self.methods
        was_training = encoder.training
        encoder.eval()
        pooled, tokens = [], []
        array = self._clips.array
        try:
            for start in range(0, len(array), self.batch_size):
                batch = np.array(array[start : start + self.batch_size])  # a copy: memmaps are read-only
                video = torch.from_numpy(batch).to(pl_module.device)
                p, _, t = embed(encoder, video, spec.mean, spec.std, max_tokens=self.max_tokens, tokens=want_tokens)
                pooled.append(p)
                tokens.append(t)
        finally:
            encoder.train(was_training)
        # one host copy per probe, after the loop
        return torch.cat(pooled).cpu().numpy(), torch.cat(tokens).cpu().numpy() if want_tokens else None

    def probe(self, pl_module) -> dict[str, float]:
        """Fit and score every (target, method) once with the current encoder: ``{"probe/t/m": value}``."""
        if self._clips is None:
            self._prepare(pl_module)
        pooled, tokens = self._features(pl_module)
        values = {}
        for target, t in self._targets.items():
            primary = PRIMARY_METRIC[t.task]
            X, y, test = pooled[t.rows], t.y, t.test
            if "linear" in self.methods:
                model = fit_linear_probe(X[t.train], y[t.train], t.task, groups=t.groups[t.train], seed=self.seed)
                values[f"probe/{target}/linear"] = score(model, X[test], y[test], t.task)[primary]
            if "attentive" in self.methods:
                T = tokens[t.rows]
                grid = fit_attentive_grid(T, y, t.fit, t.task, t.outputs, val_idx=t.val, cfg=ONLINE_ATTENTIVE,
                                          seed=self.seed, device=str(pl_module.device))
                values[f"probe/{target}/attentive"] = metrics(y[test], grid.predict(T, test), t.task)[primary]
        return values

    def _run(self, trainer: pl.Trainer, pl_module: pl.LightningModule, log_to_module: bool) -> None:
        self._probed_step = trainer.global_step
        start = time.perf_counter()
        values = self.probe(pl_module) if trainer.is_global_zero else None
        values = trainer.strategy.broadcast(values, src=0)  # every rank logs the same (ModelCheckpoint monitors it)
        seconds = time.perf_counter() - start
        if log_to_module:  # trainer.callback_metrics, for ModelCheckpoint(monitor=...); the loggers get it below
            for key, value in values.items():
                pl_module.log(key, value, on_step=True, on_epoch=False, logger=False, batch_size=1)
        if trainer.is_global_zero:
            for logger in trainer.loggers:
                logger.log_metrics({**values, "probe/seconds": seconds}, step=trainer.global_step)
            self.history.append({"step": trainer.global_step, "seconds": seconds, **values})
            log.info("online probe at step %d (%.1f s): %s", trainer.global_step, seconds,
                     {k: round(v, 3) for k, v in values.items()})

    def on_train_start(self, trainer, pl_module) -> None:
        if trainer.global_step == 0:  # the random initialisation: the curve's first point
            self._run(trainer, pl_module, log_to_module=False)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        # with gradient accumulation several batches end at one global step: probe it once
        if trainer.global_step % self.every == 0 and trainer.global_step != self._probed_step:
            self._run(trainer, pl_module, log_to_module=True)
