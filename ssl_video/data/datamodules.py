"""The Lightning data module of pretraining: unlabeled clips.

It takes ``data`` = a folder of videos (recursive) or a manifest CSV (see
:mod:`ssl_video.data.manifest`), indexes it (cached probes; skipped files are counted and
logged), drops windows shorter than one clip (counted), and splits **by sequence** with
:mod:`ssl_video.data.splits`, so clips of one drive never sit on two sides. Batches are
``dict(video=(B, C, T, H, W) uint8, ...)``; normalize on the device with
:func:`ssl_video.data.transforms.normalize_clip`. Training clips are random and augmented,
validation clips deterministic. Works with ``num_workers > 0`` and persistent workers
(see :mod:`ssl_video.data.datasets` for how seeding and file handles work); workers
start from a forkserver by default (see ``worker_start``).

    # YAML for LightningCLI
    data:
      class_path: ssl_video.data.datamodules.UnlabeledClipDataModule
      init_args: {data: /videos, context: 8, future: 8, fps: 10.0, size: 128, batch_size: 16}
"""

from __future__ import annotations

import functools
import logging
import multiprocessing
import warnings
from pathlib import Path

import numpy as np
import pytorch_lightning as pl
from torch.utils.data import DataLoader

from ssl_video.data.datasets import ClipDataset, EpochSampler, ShardedEpochSampler, collate_clips
from ssl_video.data.manifest import ClipWindow, load_windows
from ssl_video.data.sampling import clip_fits
from ssl_video.data.splits import split_by_sequence
from ssl_video.data.transforms import ClipAugment
from ssl_video.errors import MissingInput, UserError
from ssl_video.spec import ClipSpec

log = logging.getLogger(__name__)


def _sequence(window: ClipWindow) -> str:
    return window.sequence or window.video


class _ClipDataModule(pl.LightningDataModule):
    """Shared loading, loaders and clip spec; subclasses implement ``_build``."""

    def __init__(self, data: str, context: int, future: int, fps: float, size: int | tuple[int, int],
                 batch_size: int, num_workers: int, persistent_workers: bool, seed: int, backend: str,
                 max_open: int, pin_memory: bool, worker_start: str | None = "forkserver",
                 frame_cache_mb: float = 0, frame_cache_dir: str | None = None, resize: str = "squash"):
        super().__init__()
        if frame_cache_mb < 0:
            raise UserError(f"frame_cache_mb must be >= 0 (0 = off), got {frame_cache_mb}")
        if frame_cache_dir and not frame_cache_mb:
            raise UserError(f"frame_cache_dir={frame_cache_dir} needs a budget: set frame_cache_mb > 0 too")
        if batch_size < 1 or num_workers < 0:
            raise UserError(f"need batch_size >= 1 and num_workers >= 0, got {batch_size}, {num_workers}")
        self.data, self.seed, self.backend = str(data), seed, backend
        self.batch_size, self.num_workers, self.pin_memory = batch_size, num_workers, pin_memory
        self.persistent_workers = persistent_workers and num_workers > 0
        self.max_open, self.worker_start, self.frame_cache_mb = max_open, worker_start, frame_cache_mb
        self.frame_cache_dir = str(Path(frame_cache_dir).expanduser().resolve()) if frame_cache_dir else None
        self._spec = ClipSpec(context=context, future=future, fps=fps, size=size, resize=resize)  # an int or (H, W)
        self.index = None
        self.windows: list[ClipWindow] = []
        self.datasets: dict[str, ClipDataset] = {}

    @property
    def clip_spec(self) -> ClipSpec:
        """context / future / fps / size of the clips (the pretraining module reads it)."""
        return self._spec

    def _load_windows(self) -> list[ClipWindow]:
        if not Path(self.data).exists():
            folder = Path(self.data).parent if Path(self.data).suffix == ".csv" else Path(self.data)
            raise MissingInput(f"data.data={self.data}: no such folder or manifest CSV; render the built-in drives "
                               f"with `ssl-video data make-drive {folder}` or point --data.data at your videos or a "
                               f"manifest CSV")
        windows, self.index = load_windows(self.data)
        log.info("%s: %s", self.data, self.index.summary())
        infos = self.index.by_path()
        fit = [w for w in windows if clip_fits(w, infos[w.video], self._spec)]
        if len(fit) < len(windows):
            log.warning("%d of %d windows are shorter than one clip (%.2f s at %g fps) and are skipped",
                        len(windows) - len(fit), len(windows), self._spec.span_s, self._spec.fps)
        if not fit:
            raise UserError(f"{self.data}: no usable video window holds one clip "
                             f"({self._spec.num_frames} frames at {self._spec.fps:g} fps); "
                             f"{len(self.index.skipped)} file(s) skipped")
        return fit

    def _dataset(self, idx: np.ndarray, *, train: bool, clips_per_video: int,
                 augment: ClipAugment | None = None) -> ClipDataset:
        return ClipDataset(
            [self.windows[i] for i in idx], self.index.by_path(), self._spec,
            mode="train" if train else "eval", clips_per_video=clips_per_video, seed=self.seed,
            backend=self.backend,
            transform=augment if train else None, max_open=self.max_open, window_ids=idx,
            frame_cache_mb=self.frame_cache_mb if train else 0,  # eval clips are read once each
            frame_cache_dir=self.frame_cache_dir)

    def _loader(self, dataset: ClipDataset | None, *, shuffle: bool, shard: bool = False) -> DataLoader | list:
        """A loader over ``dataset``; ``shard``: split it over the processes of a distributed run
        here (resumable mid-epoch) instead of leaving that to Lightning's sampler wrapper."""
        if dataset is None or len(dataset) == 0:
            return []  # Lightning skips a loop with no batches
        sampler = EpochSampler(len(dataset), shuffle=shuffle, seed=self.seed)
        trainer = self.trainer
        distributed = trainer is not None and trainer.world_size > 1
        if shard and distributed and trainer._accelerator_connector.use_distributed_sampler:
            sampler = ShardedEpochSampler(len(dataset), shuffle=shuffle, seed=self.seed,
                                          **trainer.distributed_sampler_kwargs)
        if self.num_workers > 0 and self.worker_start == "forkserver":
            # Imported once in the server, so each worker forks with them loaded (takes effect
            # only before the server starts).
            multiprocessing.set_forkserver_preload(["torch", "av", "ssl_video.data.datasets"])
        return DataLoader(
            dataset, batch_size=self.batch_size, sampler=sampler,
            num_workers=self.num_workers, persistent_workers=self.persistent_workers, pin_memory=self.pin_memory,
            collate_fn=functools.partial(collate_clips, clip_shape=dataset.clip_shape),
            multiprocessing_context=self.worker_start if self.num_workers > 0 else None)

    def teardown(self, stage: str | None = None) -> None:
        for dataset in self.datasets.values():
            dataset.close()  # files opened in this process (num_workers=0)

    def setup(self, stage: str | None = None) -> None:
        if not self.datasets:  # Lightning calls setup once per stage; index and split once
            self.windows = self._load_windows()
            if self.frame_cache_dir:
                try:
                    Path(self.frame_cache_dir).mkdir(parents=True, exist_ok=True)
                except OSError as error:
                    raise UserError(f"data.frame_cache_dir={self.frame_cache_dir}: cannot create it ({error}); "
                                    f"point it at a writable folder") from error
            self._build()

    def _build(self) -> None:
        raise NotImplementedError

    def train_dataloader(self):
        loader = self._loader(self.datasets.get("train"), shuffle=True, shard=True)
        self._resume_mid_epoch(loader)
        return loader

    def _resume_mid_epoch(self, loader: DataLoader | list) -> None:
        """Resumed from a checkpoint taken inside an epoch (``--ckpt_path last`` after a crash):
        continue that epoch's clip order after the batches already trained on, instead of
        starting the epoch over (which repeats its first clips and never shows its last ones).
        In a distributed run each process skips what it trained on of its own shard, so the run
        must resume with the same number of processes and batch size."""
        trainer = self.trainer
        if trainer is None or not isinstance(loader, DataLoader):
            return
        # Lightning iterates the loader once before its first set_epoch call (worker processes fetch
        # indices ahead at that moment): start at the trainer's epoch, not 0, when resuming a later epoch.
        loader.sampler.set_epoch(trainer.current_epoch)
        if not trainer.fit_loop.restarting:
            return
        done = trainer.fit_loop.epoch_loop.batch_progress.current.processed  # batches of this epoch trained on
        if done == 0:
            return
        consumed = min(done * self.batch_size, len(loader.sampler))  # of this process's shard when distributed
        loader.sampler.resume(trainer.current_epoch, consumed)
        # Lightning warns about resuming mid-epoch with a loader it cannot restore itself; this one is.
        warnings.filterwarnings("ignore", message="You're resuming from a checkpoint that ended before the epoch ended")
        log.info("resumed mid-epoch: epoch %d continues after its first %d batches", trainer.current_epoch, done)

    def val_dataloader(self):
        return self._loader(self.datasets.get("val"), shuffle=False)


class UnlabeledClipDataModule(_ClipDataModule):
    """Random augmented clips for pretraining; a by-sequence validation split with fixed clips.

    Args:
        data: folder of videos (searched recursively) or manifest CSV (a ``video`` column; see
            ``ssl_video.data.manifest``).
        context: frames the model sees, the first of each clip.
        future: frames after the context that the objectives predict.
        fps: frame rate clips are sampled at, whatever the files' own rate.
        size: frame size of the clips, an int (square) or (H, W).
        batch_size: clips per batch (per process).
        num_workers: DataLoader worker processes that decode clips (0: decode in the training process).
        persistent_workers: keep the workers (and their open files and frame caches) from one epoch to the next.
        clips_per_video: random clips per window and epoch (an epoch = windows x this).
        val_fraction: fraction of sequences held out for validation (0 = none).
        val_clips_per_video: fixed clips per validation window.
        seed: seed of the split, the clip order and augmentations (and, linked, the model's masks).
        backend: video decoder, "auto" (PyAV, falling back to decord), "pyav" or "decord".
        hflip: flip training clips left/right at random (with ``augment``).
        augment: random resized crop (and ``hflip``, ``color_jitter``) on training clips; False keeps the decoded
            frames.
        scale: area range of the random resized crop, as a fraction of the frame.
        color_jitter: brightness, contrast and saturation jitter of training clips, one draw per clip (0 = off;
            0.4 is SimCLR's strength).
        max_open: open files per worker.
        pin_memory: page-locked batches, for faster copies to a GPU.
        worker_start: how DataLoader workers start ("forkserver", "spawn", "fork" or None for
            the platform default). Workers forked from a process whose FFmpeg decoder threads are
            alive can deadlock (seen in benchmarks/decode.py), hence "forkserver".
        frame_cache_mb: decode each training file once and keep its frames in memory, up to this many
            MiB per loader process (workers each hold their own; files beyond it are decoded clip by
            clip). For small clips it frees the cores that decoding takes: 0 (off) by default. With
            workers, keep ``persistent_workers`` on, or every epoch's new workers decode the files again.
        frame_cache_dir: with ``frame_cache_mb``, write each decoded file once to this folder (uint8
            ``.npy``, ~H*W*3 bytes a frame) and memory-map it: all workers, the ranks of one machine
            and later runs share one copy through the page cache, and reruns skip decoding. Use a
            local disk; delete the folder to reclaim the space. None (default): in process memory.
        resize: how frames reach ``size``: "squash" (scaled to it whatever their aspect ratio, as the
            built-in weights were trained) or "short_side_crop" (aspect ratio kept, centre crop).
    """

    def __init__(self, data: str, context: int = 8, future: int = 8, fps: float = 10.0,
                 size: int | tuple[int, int] = 128, batch_size: int = 16, num_workers: int = 2,
                 persistent_workers: bool = True, clips_per_video: int = 4, val_fraction: float = 0.1,
                 val_clips_per_video: int = 1, seed: int = 0, backend: str = "auto", hflip: bool = True,
                 augment: bool = True, scale: tuple[float, float] = (0.5, 1.0), max_open: int = 8,
                 pin_memory: bool = False, worker_start: str | None = "forkserver", frame_cache_mb: float = 0,
                 frame_cache_dir: str | None = None, resize: str = "squash", color_jitter: float = 0.0):
        super().__init__(data, context, future, fps, size, batch_size, num_workers, persistent_workers, seed,
                         backend, max_open, pin_memory, worker_start, frame_cache_mb, frame_cache_dir, resize)
        self.save_hyperparameters()
        self.clips_per_video, self.val_fraction = clips_per_video, val_fraction
        self.val_clips_per_video = val_clips_per_video
        try:  # ClipAugment's messages start with the argument's name
            self.augment = (ClipAugment(self._spec.size, scale=tuple(scale), hflip=hflip, color_jitter=color_jitter)
                            if augment else None)
        except ValueError as error:
            raise UserError(f"data.{error}") from None

    def _build(self) -> None:
        parts = split_by_sequence([_sequence(w) for w in self.windows], test_size=0.0,
                                  val_size=self.val_fraction, seed=self.seed)
        self.splits = {"train": parts["train"], "val": parts["val"]}
        self.datasets["train"] = self._dataset(parts["train"], train=True, clips_per_video=self.clips_per_video,
                                               augment=self.augment)
        if len(parts["val"]):
            self.datasets["val"] = self._dataset(parts["val"], train=False, clips_per_video=self.val_clips_per_video)
        log.info("unlabeled clips: %d train windows, %d val windows", len(parts["train"]), len(parts["val"]))
