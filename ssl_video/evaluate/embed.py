"""Embed a folder or manifest of videos: one feature row per window, resumable, shared across devices.

    ssl-video embed --encoder drive-future-vit-tiny --data data/drive --out runs/embed
    ssl-video embed --encoder runs/quickstart/weights --data labels.csv --out E --tokens --devices 2 --strategy ddp

Windows are a manifest's rows, or a folder's videos cut into windows of one clip (``window_s`` /
``stride_s``, as ``ssl-video mine`` cuts them: :mod:`ssl_video.data.windows`). Each window's
centred clip is read as evaluation reads it (:class:`~ssl_video.data.datasets.ClipDataset` in
eval mode, the encoder's preprocessing record) and goes through Lightning's predict loop in
:class:`EmbedModule`, so ``devices`` / ``strategy`` share the windows across processes.

Output folder ``out``:

- ``features.npy`` (or ``features.safetensors``, tensor ``"features"``): ``(N, D)`` float32, the
  pooled feature the linear probe reads, as ``encoder(x)`` computes it (the mean of the tokens; a
  public model's own pooling, e.g. TimeSformer's class token);
- ``tokens.npy`` (with ``tokens``; tensor ``"tokens"`` in safetensors): ``(N, K, D)`` float16,
  the tokens average-pooled on their grid to at most ``max_tokens``;
- ``index.csv``: ``row, video, start_s, end_s, sequence``, one line per feature row, in window
  order. Windows shorter than one clip or whose file fails to decode have no row (counted);
- ``embed.json``: the encoder, its preprocessing record and the counts.

Resuming: every process writes its results in parts of ``rows_per_part`` windows
(``out/parts/*.npz``, each written atomically); a run that was killed, rerun with the same
arguments, embeds only the windows no part holds, then joins the parts into the files above.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import logging
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch

from ssl_video._io import atomic_path, atomic_write_json, write_csv
from ssl_video._logging import silence_lightning_tips
from ssl_video.data.datasets import eval_loader
from ssl_video.data.manifest import window_row
from ssl_video.data.windows import load_sliding_windows
from ssl_video.errors import MissingInput, UserError
from ssl_video.evaluate.features import EvalEncoder, embed, load_eval_encoder
from ssl_video.spec import ClipSpec

log = logging.getLogger(__name__)

FORMATS = ("npy", "safetensors")
INDEX_COLUMNS = ("row", "video", "start_s", "end_s", "sequence")


class EmbedModule(pl.LightningModule):
    """A frozen encoder in the predict loop: a batch of ``(B, C, T, H, W)`` uint8 clips ->
    ``{"window": (B,), "features": (B, D) float32[, "tokens": (B, K, D) float16]}`` on the host."""

    def __init__(self, encoder: torch.nn.Module, spec: ClipSpec, *, tokens: bool = False, max_tokens: int = 256):
        super().__init__()
        self.encoder, self.spec, self.tokens, self.max_tokens = encoder.eval(), spec, tokens, max_tokens

    def setup(self, stage: str) -> None:
        # Lightning's own pytree helper builds torch's deprecated LeafSpec on newer torch: nothing a user can change.
        warnings.filterwarnings("ignore", message=r"`isinstance\(treespec, LeafSpec\)` is deprecated",
                                category=FutureWarning)

    def predict_step(self, batch: dict, batch_idx: int) -> dict[str, np.ndarray]:
        if not len(batch["video"]):  # every clip of the batch failed to decode
            return {"window": np.zeros(0, dtype=np.int64)}
        # (B, C, T, H, W) uint8 -> pooled (B, D) as the probes read it, tokens (B, K, D) pooled on their grid
        pooled, _, tokens = embed(self.encoder, batch["video"], self.spec.mean, self.spec.std,
                                  max_tokens=self.max_tokens, tokens=self.tokens)
        out = {"window": batch["window"].cpu().numpy(), "features": pooled.cpu().numpy()}
        if self.tokens:
            out["tokens"] = tokens.half().cpu().numpy()
        return out


class PartWriter(pl.Callback):
    """Writes what each process predicted to ``folder`` in parts of ``rows_per_part`` windows (atomically),
    and when every process is done, joins all parts into the output files (first process only)."""

    def __init__(self, folder: Path, rows_per_part: int, finish):
        self.folder, self.rows_per_part, self.finish = folder, rows_per_part, finish
        self._pending: list[dict[str, np.ndarray]] = []

    def on_predict_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        if outputs is not None and len(outputs["window"]):
            self._pending.append(outputs)
        if sum(len(o["window"]) for o in self._pending) >= self.rows_per_part:
            self._flush()

    def on_predict_end(self, trainer, pl_module) -> None:
        self._flush()
        trainer.strategy.barrier("embed parts written")
        if trainer.is_global_zero:
            self.finish()

    def _flush(self) -> None:
        if not self._pending:
            return
        part = {name: np.concatenate([o[name] for o in self._pending]) for name in self._pending[0]}
        self._pending = []
        # Named by the windows it holds: a part written again by a rerun replaces itself.
        name = hashlib.sha1(part["window"].astype(np.int64).tobytes()).hexdigest()[:20]
        with atomic_path(self.folder / f"part-{name}.npz") as tmp:
            np.savez(tmp, **part)


@dataclass
class EmbedResult:
    out: Path
    rows: int  # feature rows written (windows embedded)
    windows: int  # windows asked for
    computed: int  # windows this call embedded (the others came from parts of an earlier, interrupted run)
    main_process: bool = True  # False in the other processes of a distributed run (they write no output files)

    @property
    def skipped(self) -> int:
        return self.windows - self.rows


def _read_parts(folder: Path) -> dict[str, np.ndarray]:
    """Every part in ``folder`` joined: window (M,), features (M, D)[, tokens (M, K, D)]; duplicates kept."""
    parts = []
    for path in sorted(folder.glob("part-*.npz")):
        with np.load(path, allow_pickle=False) as part:
            parts.append({name: part[name] for name in part.files})
    if not parts:
        return {"window": np.zeros(0, dtype=np.int64)}
    return {name: np.concatenate([p[name] for p in parts]) for name in parts[0]}


def _run_record(enc: EvalEncoder, spec: ClipSpec, windows: Sequence, tokens: bool, max_tokens: int,
                fmt: str) -> dict[str, Any]:
    """What decides the output files: a rerun into the same folder must agree on all of it."""
    stats = {video: os.stat(video) for video in {str(w.video) for w in windows}}  # a replaced video is another run
    listing = json.dumps([[str(w.video), stats[str(w.video)].st_size, stats[str(w.video)].st_mtime, w.start_s,
                           w.end_s, w.sequence] for w in windows]).encode()
    return {"encoder_sha256": enc.fingerprint(), "preprocessing": spec.to_dict(),
            "windows_sha256": hashlib.sha256(listing).hexdigest(), "tokens": tokens,
            "max_tokens": max_tokens if tokens else None, "format": fmt}


def _previous_run(out: Path, record: dict[str, Any]) -> dict[str, Any] | None:
    """``out/embed.json`` of an earlier run with the same ``record`` (None if there is none); refuses to mix
    rows of another encoder, preprocessing or window list into ``out``."""
    path = out / "embed.json"
    if not path.is_file():
        return None
    previous = json.loads(path.read_text())
    changed = [key for key in record if previous.get(key) != record[key]]
    if changed:
        what = ", ".join("window list or videos" if key == "windows_sha256" else key for key in changed)
        raise UserError(f"{out}: holds embeddings made with another {what}; give another --out or delete {out}")
    return previous


def _write_outputs(out: Path, windows: Sequence, record: dict[str, Any]) -> int:
    """Join the parts into features / tokens / index.csv in window order; -> rows written."""
    parts = _read_parts(out / "parts")
    positions, first = np.unique(parts["window"], return_index=True)  # sorted window positions, duplicates dropped
    arrays = {name: parts[name][first] for name in ("features", "tokens") if name in parts}
    if "features" not in arrays:
        raise UserError(f"{out}: no window could be embedded ({len(windows)} windows: all shorter than one clip "
                        f"or in files that fail to decode)")
    if record["format"] == "safetensors":
        from safetensors.numpy import save_file

        with atomic_path(out / "features.safetensors") as tmp:
            save_file({name: np.ascontiguousarray(a) for name, a in arrays.items()}, str(tmp))
    else:
        for name, array in arrays.items():
            with atomic_path(out / f"{name}.npy") as tmp:  # keeps the .npy suffix, so np.save adds none
                np.save(tmp, array)
    rows = [{"row": row, **window_row(windows[p])} for row, p in enumerate(positions.tolist())]
    write_csv(out / "index.csv", INDEX_COLUMNS, rows, float_format=".6g")
    atomic_write_json(out / "embed.json", {**record, "windows": len(windows), "rows": len(rows), "finished": True})
    for path in (out / "parts").glob("part-*.npz"):  # the output files hold it all now
        path.unlink()
    with contextlib.suppress(OSError):
        (out / "parts").rmdir()
    return len(rows)


def embed_windows(encoder: str | Path | EvalEncoder, data: str | Path, out: str | Path, *,
                  window_s: float | None = None, stride_s: float | None = None, batch_size: int = 16,
                  num_workers: int = 2, tokens: bool = False, max_tokens: int = 256, fmt: str = "npy",
                  backend: str = "auto", resize: str | None = None, rows_per_part: int = 1024,
                  trainer_kwargs: dict[str, Any] | None = None, callbacks: Sequence[pl.Callback] = (),
                  progress: bool = True) -> EmbedResult:
    """Embed every window of ``data`` (a folder or manifest CSV) with ``encoder`` into ``out`` (module doc).

    ``encoder``: anything ``ssl_video.evaluate.features.load_eval_encoder`` loads (weights name, exported
    folder, ``.ckpt``, architecture name) or an :class:`EvalEncoder`. ``resize`` overrides the encoder's
    record (e.g. "short_side_crop"). ``trainer_kwargs`` go to the ``Trainer`` (``devices``, ``strategy``,
    ``accelerator``, ``precision``); ``callbacks`` are added to it.
    """
    if fmt not in FORMATS:
        raise UserError(f"format must be one of {FORMATS}, got {fmt!r}")
    if batch_size < 1 or num_workers < 0 or rows_per_part < 1 or max_tokens < 1:
        raise UserError(f"need batch_size >= 1, num_workers >= 0, rows_per_part >= 1 and max_tokens >= 1, got "
                        f"{batch_size}, {num_workers}, {rows_per_part}, {max_tokens}")
    if not Path(data).exists():  # before the encoder loads: a wrong path is the first and only thing reported
        raise MissingInput(f"{data}: no such folder or manifest CSV (give a folder of videos or a CSV with a "
                           f"`video` column)")
    enc = encoder if isinstance(encoder, EvalEncoder) else load_eval_encoder(encoder)
    spec = enc.spec.replace(resize=resize)
    windows, infos = load_sliding_windows(data, window_s=window_s, stride_s=stride_s, spec=spec)
    out = Path(out)
    record = _run_record(enc, spec, windows, tokens, max_tokens, fmt)
    previous = _previous_run(out, record)
    if previous is not None and previous.get("finished") and (out / "index.csv").is_file():
        log.info("%s: already holds the %d rows of these windows", out, previous["rows"])
        return EmbedResult(out, previous["rows"], len(windows), 0)
    (out / "parts").mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / "embed.json", {"encoder": enc.source, **record, "finished": False})

    done = set(_read_parts(out / "parts")["window"].tolist())
    pending = np.asarray([i for i in range(len(windows)) if i not in done], dtype=np.int64)
    if done:
        log.info("%s: %d of %d windows embedded by an earlier run; embedding the other %d", out, len(done),
                 len(windows), len(pending))
    loader = eval_loader([windows[i] for i in pending], infos, spec, batch_size=batch_size, num_workers=num_workers,
                         backend=backend, window_ids=pending)
    dataset = loader.dataset
    finish = functools.partial(_write_outputs, out, windows, {"encoder": enc.source, **record})
    if len(dataset) == 0:  # nothing left to compute (or every remaining window is shorter than one clip)
        return EmbedResult(out, finish(), len(windows), 0)

    writer = PartWriter(out / "parts", rows_per_part, finish)
    silence_lightning_tips()
    trainer = pl.Trainer(**{"accelerator": "auto", "devices": 1, **(trainer_kwargs or {})},
                         callbacks=[writer, *callbacks], logger=False, enable_checkpointing=False,
                         enable_model_summary=False, enable_progress_bar=progress, inference_mode=True)
    trainer.predict(EmbedModule(enc.encoder, spec, tokens=tokens, max_tokens=max_tokens), loader,
                    return_predictions=False)
    if not trainer.is_global_zero:
        return EmbedResult(out, 0, len(windows), len(dataset), main_process=False)
    rows = json.loads((out / "embed.json").read_text())["rows"]
    return EmbedResult(out, rows, len(windows), len(dataset))
