"""Callbacks for pretraining: prediction pictures and training throughput.

``PredictionPictures`` shows, for a few validation clips, the context frames, the
predicted future and the true future (one row each) as a TensorBoard image and a PNG file
under ``<log dir>/predictions/``. ``Throughput`` logs ``train/clips_per_s`` from wall
time between logging steps, without device syncs.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytorch_lightning as pl
import torch
from torchvision.utils import make_grid, save_image

from ssl_video._io import atomic_path

log = logging.getLogger(__name__)


def prediction_grid(pixels: torch.Tensor, predicted: torch.Tensor, context: int) -> torch.Tensor:
    """One clip (C, T, H, W) in [0, 1] and its predicted future (C, T_future, H, W) -> image (C, H', W').

    Rows: context frames, predicted future, true future. Rows are padded to the same width.
    """
    C, T, H, W = pixels.shape
    rows = [pixels[:, :context], predicted, pixels[:, context:]]
    width = max(r.shape[1] for r in rows)
    frames = []
    for row in rows:
        row = row.transpose(0, 1)  # (C, t, H, W) -> (t, C, H, W)
        frames.append(torch.cat([row, row.new_zeros(width - row.shape[0], C, H, W)]))
    return make_grid(torch.cat(frames).float().clamp(0, 1), nrow=width, padding=2, pad_value=1.0)


class PredictionPictures(pl.Callback):
    """After each validation (every ``trainer.val_check_interval`` steps), save the first val clips' predictions."""

    def __init__(self, num_clips: int = 2):
        if num_clips < 1:
            raise ValueError(f"num_clips must be >= 1, got {num_clips}")
        self.num_clips = num_clips
        self.last_path: Path | None = None

    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        example = getattr(pl_module, "example", None)
        if example is None or trainer.sanity_checking or not trainer.is_global_zero:
            return
        pixels, predicted = example
        context = pl_module.hparams.context
        grids = [prediction_grid(pixels[i], predicted[i], context) for i in range(min(self.num_clips, len(pixels)))]
        image = torch.cat(grids, dim=1)  # clips stacked vertically: (C, H', W')
        for logger in trainer.loggers:
            experiment = getattr(logger, "experiment", None)
            if hasattr(experiment, "add_image"):  # TensorBoard
                experiment.add_image("val/prediction", image, global_step=trainer.global_step)
        # trainer.log_dir would broadcast (a collective) and hang under DDP, since only rank 0 gets here.
        log_dir = next((lg.log_dir for lg in trainer.loggers if getattr(lg, "log_dir", None)), None)
        out_dir = Path(log_dir or trainer.default_root_dir) / "predictions"
        out_dir.mkdir(parents=True, exist_ok=True)
        path = out_dir / f"step_{trainer.global_step:07d}.png"
        with atomic_path(path) as tmp:  # a reader never sees half a PNG
            save_image(image, tmp)
        self.last_path = path
        log.info("prediction picture (rows: context, predicted future, true future): %s", path)


class Throughput(pl.Callback):
    """Log ``train/clips_per_s`` (all processes together) at each of the trainer's logging steps."""

    def __init__(self):
        self._start: float | None = None
        self._clips = 0

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if self._start is None:
            self._start, self._clips = time.perf_counter(), 0

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self._clips += int(batch["video"].shape[0]) * trainer.world_size
        # Lightning keeps on_step values only when global_step % log_every_n_steps == 0 (after the step).
        if self._start is not None and trainer.global_step % trainer.log_every_n_steps == 0:
            rate = self._clips / max(time.perf_counter() - self._start, 1e-9)
            pl_module.log("train/clips_per_s", rate, on_step=True, on_epoch=False, batch_size=1)
            self._start = None

    def on_validation_start(self, trainer, pl_module) -> None:
        self._start = None  # validation time is not training time
