"""ClipDataset: windows of videos -> ``(C, T, H, W)`` uint8 clips, robust to broken files.

- ``mode="train"``: ``clips_per_video`` random clips per window and epoch. Each item draws from
  its own ``torch.Generator`` seeded by (seed, epoch, item), so a run is reproducible whatever
  the number of workers, and the global RNG is never used. The epoch comes from
  :class:`EpochSampler` (which yields ``(epoch, index)`` keys; Lightning calls its
  ``set_epoch``), so persistent workers, which keep their own dataset copy, still see it.
- ``mode="eval"``: ``clips_per_video`` evenly spaced clips per window (one = centred), the same
  every time.
- Decoders are opened lazily in the process that reads (each DataLoader worker has its own
  :class:`~ssl_video.data.decode.ReaderCache` of at most ``max_open`` files), never pickled.
- A file that fails to decode gives ``None`` (reason logged once per file and process,
  counted in ``failures``) and is not tried again by that process; :func:`collate_clips`
  drops the ``None`` items and reports how many in ``batch["dropped"]``.

Items: ``dict(video=(C, T, H, W) uint8, index=int, window=int[, label=long or float32])``.
Batches: ``dict(video=(B, C, T, H, W) uint8, index=(B,), window=(B,)[, label=(B,)], dropped=int)``.
"""

from __future__ import annotations

import collections
import functools
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Sampler, default_collate

from ssl_video.data.decode import DecodeTimeout, FrameCache, ReaderCache, read_frames, run_with_timeout
from ssl_video.data.sampling import clip_fits, clip_frame_indices, eval_clip_start, random_clip_start
from ssl_video.errors import UserError
from ssl_video.spec import ClipSpec

if TYPE_CHECKING:
    from ssl_video.data.index import VideoInfo
    from ssl_video.data.manifest import ClipWindow

log = logging.getLogger(__name__)

MODES = ("train", "eval")
# Integer-valued numeric targets with at most this many distinct values are treated as classes.
MAX_CLASSES_FOR_NUMERIC = 20


def infer_task(values: Sequence[str | float]) -> str:
    """"classification" or "regression" for a label column (see :func:`encode_labels`)."""
    numbers = _as_numbers(values)
    if numbers is None:
        return "classification"
    integral = bool(np.all(np.isclose(numbers, np.round(numbers))))
    distinct = len(np.unique(numbers))
    return "classification" if integral and distinct <= MAX_CLASSES_FOR_NUMERIC else "regression"


def _as_numbers(values: Sequence[str | float]) -> np.ndarray | None:
    try:
        return np.asarray([float(v) for v in values], dtype=np.float64)
    except (TypeError, ValueError):
        return None


def class_name(value: str | float) -> str:
    """A label value's class name, as :func:`encode_labels` names it (``3.0`` -> ``"3"``, text unchanged)."""
    if isinstance(value, str):
        return value
    return str(int(value)) if float(value).is_integer() else str(value)


def encode_labels(values: Sequence[str | float], task: str = "auto", *, column: str = "label"
                  ) -> tuple[np.ndarray, list[str] | None, str]:
    """Label values -> (encoded array, classes, task).

    Classification: class names are the values as strings (``3.0`` -> ``"3"``), sorted
    (numerically when all are numbers), encoded as int64 positions in ``classes``.
    Regression: float32 values, ``classes`` is None. ``task="auto"`` picks regression for
    numbers that are not integers or have more than MAX_CLASSES_FOR_NUMERIC distinct values.
    """
    if task not in ("auto", "classification", "regression"):
        raise UserError(f"task must be auto, classification or regression, got {task!r}")
    if task == "auto":
        task = infer_task(values)
    numbers = _as_numbers(values)
    if task == "regression":
        if numbers is None:
            bad = next(v for v in values if _as_numbers([v]) is None)
            raise UserError(f"label column {column!r} has non-numeric value {bad!r}; regression needs numbers")
        if not np.isfinite(numbers).all():
            bad = values[int(np.flatnonzero(~np.isfinite(numbers))[0])]
            raise UserError(f"label column {column!r} has the value {bad!r}; regression needs finite numbers (leave "
                            f"the cell empty for a missing label)")
        return numbers.astype(np.float32), None, task
    names = [class_name(v) for v in values]
    unique = sorted(set(names), key=(lambda n: float(n)) if numbers is not None else None)
    lookup = {name: i for i, name in enumerate(unique)}
    return np.asarray([lookup[n] for n in names], dtype=np.int64), unique, task


def _item_seed(seed: int, epoch: int, index: int, stream: int = 0) -> int:
    """A 63-bit seed from (seed, epoch, index); ``stream`` separates uses (0 = clips, 1 = shuffling)."""
    words = [v & (2**64 - 1) for v in (seed, epoch, index, stream)]
    return int(np.random.SeedSequence(words).generate_state(1, dtype=np.uint64)[0] >> 1)


class _ResumableEpochs:
    """What both samplers share: an epoch counter (``set_epoch``, else each pass takes the next
    epoch) and mid-epoch resume (the next pass over an epoch skips the keys already trained on)."""

    epoch: int = 0
    _resume: tuple[int, int] | None = None  # (epoch, keys of it already consumed)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def resume(self, epoch: int, consumed: int) -> None:
        """The next pass over ``epoch`` starts after its first ``consumed`` keys (a run resumed
        mid-epoch from a checkpoint); ``len()`` stays the full epoch, as the loop counts on it."""
        if not 0 <= consumed <= len(self):
            raise ValueError(f"consumed={consumed} outside 0..{len(self)}")
        self._resume = (int(epoch), int(consumed))

    def _next_epoch(self) -> tuple[int, int]:
        """(epoch of this pass, keys of it to skip), advancing the counter and using up a resume."""
        epoch, self.epoch = self.epoch, self.epoch + 1
        resume, self._resume = self._resume, None
        return epoch, resume[1] if resume is not None and resume[0] == epoch else 0


class EpochSampler(_ResumableEpochs, Sampler):
    """Yields ``(epoch, index)`` keys for :class:`ClipDataset`, shuffled per (seed, epoch) if asked.

    ``set_epoch(e)`` (called by Lightning each epoch) fixes the epoch of the next pass; without
    it each pass uses the next epoch number.
    """

    def __init__(self, length: int, *, shuffle: bool, seed: int = 0):
        self.length, self.shuffle, self.seed = length, shuffle, seed

    def __len__(self) -> int:
        return self.length

    def keys(self, epoch: int) -> list[tuple[int, int]]:
        """All ``(epoch, index)`` keys of ``epoch`` in this sampler's order."""
        if self.shuffle:
            generator = torch.Generator().manual_seed(_item_seed(self.seed, epoch, 0, stream=1))
            order = torch.randperm(self.length, generator=generator)
            return [(epoch, i) for i in order.tolist()]
        return [(epoch, i) for i in range(self.length)]

    def __iter__(self) -> Iterator[tuple[int, int]]:
        epoch, skip = self._next_epoch()
        return iter(self.keys(epoch)[skip:])


class ShardedEpochSampler(_ResumableEpochs, DistributedSampler):
    """:class:`EpochSampler`'s order split over the processes of a distributed run, resumable mid-epoch.

    Every process computes the same (seed, epoch) order, pads it by repeating its first keys to a
    multiple of ``num_replicas`` and takes every ``num_replicas``-th key from ``rank`` on, as
    ``DistributedSampler`` does. Being a ``DistributedSampler``, Lightning uses it as it is instead
    of wrapping it; unlike Lightning's wrapper it can skip the part of this process's shard that a
    run interrupted mid-epoch already trained on (``resume`` counts keys of this shard).
    """

    def __init__(self, length: int, *, shuffle: bool, seed: int = 0, num_replicas: int, rank: int):
        super().__init__(range(length), num_replicas=num_replicas, rank=rank, shuffle=False, seed=seed)
        self.order = EpochSampler(length, shuffle=shuffle, seed=seed)

    def __len__(self) -> int:
        return self.num_samples

    def __iter__(self) -> Iterator[tuple[int, int]]:
        epoch, skip = self._next_epoch()
        keys = self.order.keys(epoch)  # the same in every process
        while len(keys) < self.total_size:
            keys += keys[: self.total_size - len(keys)]
        return iter(keys[self.rank : self.total_size : self.num_replicas][skip:])


class ClipDataset(Dataset):
    """Map-style dataset of clips from ``windows`` (see the module docstring).

    Args:
        windows: the clip windows; ``infos`` maps each window's video path to its VideoInfo.
        spec: clip length, fps, decode size and resize mode (squash or short side + centre crop).
        mode: "train" (random starts, ``transform`` applied) or "eval" (deterministic).
        labels: one encoded label per window (int64 classes or float32 regression), or None.
        transform: called as ``transform(video (C,T,H,W) uint8, generator) -> (C,T,H',W') uint8``.
        short: windows shorter than one clip are "drop"ped (logged, counted in
            ``num_short``) or "clamp"ed (the clip repeats the last frame).
        max_open: open files kept per worker; timeout_s: bound on one clip's decode.
        window_ids: what ``item["window"]`` reports for each window (default: its position in
            ``windows``), e.g. positions in a larger list the windows were taken from.
        frame_cache_mb: decode whole files once and keep their frames in memory, up to this many MiB
            per process (each worker has its own; see :class:`~ssl_video.data.decode.FrameCache`);
            0 = decode every clip. Clips are the same either way.
        frame_cache_dir: with ``frame_cache_mb``, write the decoded files to this folder once and map
            them, so that workers, ranks and later runs share one copy (None = in process memory).
    """

    def __init__(
        self, windows: Sequence[ClipWindow], infos: Mapping[str, VideoInfo], spec: ClipSpec, *,
        mode: str = "train", clips_per_video: int = 1, seed: int = 0, backend: str = "auto",
        labels: Sequence | np.ndarray | None = None, transform: Callable | None = None,
        short: str = "drop", max_open: int = 8, timeout_s: float | None = 60.0,
        window_ids: Sequence[int] | np.ndarray | None = None, frame_cache_mb: float = 0,
        frame_cache_dir: str | None = None,
    ):
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        if short not in ("drop", "clamp"):
            raise ValueError(f"short must be 'drop' or 'clamp', got {short!r}")
        if clips_per_video < 1:
            raise ValueError(f"clips_per_video must be >= 1, got {clips_per_video}")
        if frame_cache_mb < 0:
            raise ValueError(f"frame_cache_mb must be >= 0, got {frame_cache_mb}")
        if labels is not None and len(labels) != len(windows):
            raise ValueError(f"{len(labels)} labels for {len(windows)} windows")
        missing = [w.video for w in windows if w.video not in infos]
        if missing:
            raise ValueError(f"no VideoInfo for {len(missing)} window video(s), e.g. {missing[0]}")
        keep = [i for i, w in enumerate(windows) if short == "clamp" or clip_fits(w, infos[w.video], spec)]
        self.num_short = len(windows) - len(keep)
        if self.num_short:
            log.warning("%d of %d windows are shorter than one clip (%.2f s) and are %s",
                        self.num_short, len(windows), spec.span_s, "dropped" if short == "drop" else "clamped")
        ids = np.arange(len(windows)) if window_ids is None else np.asarray(window_ids, dtype=np.int64)
        self.window_ids = ids[keep]  # reported as item["window"]
        self.windows = [windows[i] for i in keep]
        self.infos = {w.video: infos[w.video] for w in self.windows}
        self.labels = None if labels is None else torch.as_tensor(np.asarray(labels)[keep])
        self.spec, self.mode, self.clips_per_video, self.seed = spec, mode, clips_per_video, seed
        self.backend, self.transform, self.max_open, self.timeout_s = backend, transform, max_open, timeout_s
        self.epoch = 0  # used for plain integer keys; EpochSampler keys carry their own epoch
        self.failures: collections.Counter[str] = collections.Counter()  # path -> failed items, this process
        self._bad: dict[str, str] = {}
        self._cache: ReaderCache | None = None
        self.frame_cache_mb, self.frame_cache_dir = frame_cache_mb, frame_cache_dir
        self._frames: FrameCache | None = None

    @property
    def clip_shape(self) -> tuple[int, int, int, int]:
        """(C, T, H, W) of the clips before ``transform``."""
        return (3, self.spec.num_frames, *self.spec.size)

    def __len__(self) -> int:
        return len(self.windows) * self.clips_per_video

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_cache"] = None  # open files stay in the process that opened them
        state["_frames"] = None  # and decoded frames in the process that decoded them
        return state

    def close(self) -> None:
        """Close the files this process has open (the workers' copies close with their process)."""
        if self._cache is not None:
            self._cache.close()
            self._cache = None

    def clip_indices(self, key: int | tuple[int, int]) -> tuple[str, np.ndarray, torch.Generator | None]:
        """(video path, source frame indices (T,), the item's generator or None) for ``key``."""
        epoch, index = key if isinstance(key, tuple) else (self.epoch, key)
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} clips")
        w, j = divmod(index, self.clips_per_video)
        window = self.windows[w]
        info = self.infos[window.video]
        generator = None
        if self.mode == "train":
            generator = torch.Generator().manual_seed(_item_seed(self.seed, epoch, index))
            start = random_clip_start(window, info, self.spec, generator)
        else:
            start = eval_clip_start(window, info, self.spec, j, self.clips_per_video)
        return window.video, clip_frame_indices(start, self.spec, info.fps, info.frames), generator

    def __getitem__(self, key: int | tuple[int, int]) -> dict | None:
        path, indices, generator = self.clip_indices(key)
        frames = self._decode(path, indices)
        if frames is None:
            return None
        video = torch.from_numpy(frames).permute(3, 0, 1, 2)  # (T, H, W, C) -> (C, T, H, W)
        if self.transform is not None and self.mode == "train":
            video = self.transform(video, generator)
        index = key[1] if isinstance(key, tuple) else key
        w = index // self.clips_per_video
        item = {"video": video.contiguous(), "index": index, "window": int(self.window_ids[w])}
        if self.labels is not None:
            item["label"] = self.labels[w]
        return item

    def _decode(self, path: str, indices: np.ndarray) -> np.ndarray | None:
        if path in self._bad:
            self.failures[path] += 1
            return None
        if self.frame_cache_mb > 0:
            if self._frames is None:
                self._frames = FrameCache(int(self.frame_cache_mb * 2**20), self.frame_cache_dir)
            frames = self._frames.get(path, self.infos[path].frames, self.spec.size, self.backend, self.timeout_s,
                                      resize=self.spec.resize)
            if frames is not None:
                return frames[indices]
        if self._cache is None:
            self._cache = ReaderCache(max_open=self.max_open)
        cache = self._cache
        try:
            return run_with_timeout(lambda: cache.get(path, self.spec.size, self.backend, self.spec.resize)
                                    .get_frames(indices), self.timeout_s, path)
        except Exception as error:  # noqa: BLE001 - any failure of one file must not end the epoch
            first = f"{type(error).__name__}: {error}"
            if isinstance(error, DecodeTimeout):
                return self._fail(path, first)  # the reader may still be busy in its thread: keep it
        cache.discard(path)
        try:  # the cached backend failed mid-file: one more try that falls back to the other backend
            return read_frames(path, indices, size=self.spec.size, backend=self.backend, timeout_s=self.timeout_s,
                               resize=self.spec.resize)
        except Exception as error:  # noqa: BLE001
            return self._fail(path, f"{first}; retry: {type(error).__name__}: {error}")

    def _fail(self, path: str, reason: str) -> None:
        self._bad[path] = reason
        self.failures[path] += 1
        log.warning("skipping clips of %s: %s", path, reason)
        return None


def collate_clips(batch: Sequence[dict | None], clip_shape: tuple[int, ...] | None = None) -> dict:
    """Stack items into a batch, dropping failed (None) ones; ``batch["dropped"]`` counts them.

    When every item failed, ``video`` is an empty ``(0, *clip_shape)`` uint8 tensor (if
    ``clip_shape`` is given) so the training step can skip the batch by its size.
    """
    kept = [item for item in batch if item is not None]
    dropped = len(batch) - len(kept)
    if kept:
        out = default_collate(kept)
    else:
        out = {"video": torch.empty((0, *(clip_shape or ())), dtype=torch.uint8),
               "index": torch.empty(0, dtype=torch.long), "window": torch.empty(0, dtype=torch.long)}
    out["dropped"] = dropped
    return out


def eval_loader(windows: Sequence[ClipWindow], infos: Mapping[str, VideoInfo], spec: ClipSpec, *, batch_size: int,
                num_workers: int, backend: str = "auto", clips_per_video: int = 1,
                window_ids: Sequence[int] | np.ndarray | None = None) -> DataLoader:
    """The evaluation clips of ``windows``, in order: ``clips_per_video`` evenly spaced ones per window, windows
    shorter than one clip dropped (``loader.dataset.num_short``), failed clips dropped by :func:`collate_clips`
    (a batch of only failures has an empty ``(0, C, T, H, W)`` video)."""
    dataset = ClipDataset(windows, infos, spec, mode="eval", backend=backend, short="drop",
                          clips_per_video=clips_per_video, window_ids=window_ids)
    return DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=num_workers,
                      collate_fn=functools.partial(collate_clips, clip_shape=dataset.clip_shape))

