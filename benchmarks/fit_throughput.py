"""Is `ssl-video fit` compute-bound? Its clips/s on real data next to the same run on a synthetic batch.

Builds the model, data module and trainer from a pretraining config exactly as ``ssl-video fit``
does (LightningCLI, the config plus overrides), then trains twice for ``--steps`` steps:

- ``synthetic``: one random uint8 batch of the config's clip shape, already in memory, fed again
  and again (no decoding): the model's own training throughput;
- ``data``: the config's data module on ``--data`` (e.g. a copy made by ``ssl-video data prepare``).

clips/s are measured over the steps after ``--warmup`` (compilation, worker start-up) with the
device synchronised at both ends. ``data / synthetic`` >= 0.9 means the loader keeps up.

Both data measurements run inside one epoch, as on hours of footage: when the data is short (a
check's few minutes of video), ``data.clips_per_video`` is raised so that one epoch holds all the
steps, and the table says so. Otherwise every epoch boundary would drain the loader's prefetch (a
new iterator, its first batch decoded from scratch) and count as the loader being slow.

    python benchmarks/fit_throughput.py --config configs/pretrain/vit_s_16x224.yaml --data prepared224 --steps 60
    python benchmarks/fit_throughput.py --config configs/pretrain/quickstart.yaml --data prep64 \\
        -- --trainer.accelerator gpu --trainer.precision bf16-mixed --data.batch_size 256 --data.num_workers 12
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Dataset

from ssl_video.commands.fit import PretrainCLI
from ssl_video.data.datamodules import UnlabeledClipDataModule
from ssl_video.pretrain.module import VideoPretrainer


class _Repeat(Dataset):
    """The same in-memory batch ``n`` times."""

    def __init__(self, batch: dict, n: int):
        self.batch, self.n = batch, n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> dict:
        return self.batch


class _StepClock(pl.Callback):
    """Wall time of the training steps after ``warmup`` (device synchronised), and clips seen in them."""

    def __init__(self, warmup: int):
        self.warmup, self.start, self.clips, self.seconds = warmup, None, 0, float("nan")

    def _sync(self, module):
        if module.device.type == "cuda":
            torch.cuda.synchronize(module.device)

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
        if trainer.global_step == self.warmup:
            self._sync(module)
            self.start = time.perf_counter()
        elif self.start is not None:
            self.clips += int(batch["video"].shape[0])

    def on_train_end(self, trainer, module):
        self._sync(module)
        if self.start is not None:
            self.seconds = time.perf_counter() - self.start


def _cli(config: str, data: str, steps: int, root: str, extra: list[str]) -> PretrainCLI:
    args = ["--config", config, "--data.data", data, "--trainer.max_steps", str(steps), "--trainer.default_root_dir",
            root, "--trainer.logger", "false", "--checkpoint.save_last", "false", "--checkpoint.every_n_train_steps",
            str(10 * steps + 1),
            "--trainer.limit_val_batches", "0", "--trainer.enable_progress_bar", "false", *extra]
    return PretrainCLI(VideoPretrainer, UnlabeledClipDataModule, args=args, run=False)


def one_epoch(config: str, data: str, steps: int, extra: list[str]) -> list[str]:
    """Overrides that make one training epoch hold ``steps + 1`` batches ([] when it already does)."""
    with tempfile.TemporaryDirectory(prefix="fit_throughput_") as root:
        dm = _cli(config, data, steps, root, extra).datamodule
        dm.setup("fit")
        batches = len(dm.train_dataloader())
        if batches > steps:
            return []
        clips = len(dm.datasets["train"])  # windows x clips_per_video
        per_video = math.ceil(dm.clips_per_video * (steps + 1) * dm.batch_size / clips)
        return ["--data.clips_per_video", str(per_video)]


def measure(config: str, data: str, steps: int, warmup: int, extra: list[str], synthetic: bool) -> float:
    with tempfile.TemporaryDirectory(prefix="fit_throughput_") as root:
        cli = _cli(config, data, steps, root, extra)
        clock = _StepClock(warmup)
        cli.trainer.callbacks.append(clock)
        if synthetic:
            dm = cli.datamodule
            shape = (dm.batch_size, 3, dm.clip_spec.num_frames, *dm.clip_spec.size)  # (B, C, T, H, W)
            batch = {"video": torch.randint(0, 256, shape, dtype=torch.uint8)}
            loader = DataLoader(_Repeat(batch, steps + 1), batch_size=None)  # items are whole batches
            cli.trainer.fit(cli.model, train_dataloaders=loader)
        else:
            cli.trainer.fit(cli.model, datamodule=cli.datamodule)
        return clock.clips / clock.seconds


def loader_only(config: str, data: str, steps: int, warmup: int, extra: list[str]) -> float:
    """clips/s of the config's train loader alone (no model), after ``warmup`` batches."""
    with tempfile.TemporaryDirectory(prefix="fit_throughput_") as root:
        dm = _cli(config, data, steps, root, extra).datamodule
        dm.setup("fit")
        loader = dm.train_dataloader()
        if len(loader) <= steps:
            raise ValueError(f"one epoch holds {len(loader)} batches, fewer than --steps {steps} + 1: see one_epoch()")
        clips, start = 0, None
        for i, batch in enumerate(loader):
            if i == warmup:
                start = time.perf_counter()
            elif i > warmup:
                clips += int(batch["video"].shape[0])
            if i == steps:
                break
        return clips / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", required=True)
    parser.add_argument("--data", required=True, help="folder or manifest the data module reads")
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("overrides", nargs="*", help="more `ssl-video fit` options, after --")
    args = parser.parse_args(argv)
    overrides = args.overrides + one_epoch(args.config, args.data, args.steps, args.overrides)
    loader = loader_only(args.config, args.data, args.steps, args.warmup, overrides)
    synthetic = measure(args.config, args.data, args.steps, args.warmup, overrides, synthetic=True)
    real = measure(args.config, args.data, args.steps, args.warmup, overrides, synthetic=False)
    print(f"| config | loader alone clips/s | fit, synthetic batch clips/s | fit on data clips/s | data / synthetic |\n"
          f"|---|---:|---:|---:|---:|\n| {args.config} {' '.join(overrides)} | {loader:,.1f} | {synthetic:,.1f} | "
          f"{real:,.1f} | {real / synthetic:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
