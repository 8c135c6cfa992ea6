"""Resuming `ssl-video fit` from a checkpoint taken in the middle of an epoch continues that
epoch's clip order where it stopped: the batches after the resume are the batches an
uninterrupted run sees (no clip of the epoch repeated, none skipped), also in every process of
a distributed run."""

from __future__ import annotations

import json

import pytest
import pytorch_lightning as pl
from pytorch_lightning.callbacks import Callback, ModelCheckpoint

from ssl_video.data.datamodules import UnlabeledClipDataModule
from ssl_video.pretrain.module import VideoPretrainer
from ssl_video.pretrain.objectives.future_pixels import FuturePixels

TINY = {"img_size": 32, "num_frames": 4, "tubelet": [2, 8, 8], "embed_dim": 48, "depth": 1, "num_heads": 3}


class RecordBatches(Callback):
    def __init__(self):
        self.seen: list[list[int]] = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self.seen.append(batch["index"].tolist())


class RecordBatchesToFile(Callback):
    """Batches seen by each process of a distributed run, one JSON line per batch in ``rank<N>.jsonl``."""

    def __init__(self, folder):
        self.folder = folder

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        with open(self.folder / f"rank{trainer.global_rank}.jsonl", "a") as handle:
            handle.write(json.dumps(batch["index"].tolist()) + "\n")


def _fit(data, root, max_steps: int, ckpt_path=None, workers: int = 0, devices: int = 1,
         record=None) -> list[list[int]]:
    pl.seed_everything(0)
    model = VideoPretrainer(encoder_args=TINY, objectives=[FuturePixels(predictor_dim=24, predictor_depth=1)],
                            context=2, future=2, size=32, warmup_steps=1)
    dm = UnlabeledClipDataModule(str(data / "labels.csv"), context=2, future=2, size=32, batch_size=4,
                                 num_workers=workers, clips_per_video=1, val_fraction=0.0, augment=False)
    record = record or RecordBatches()
    distributed = {"devices": devices, "strategy": "ddp_spawn"} if devices > 1 else {}
    trainer = pl.Trainer(default_root_dir=root, max_steps=max_steps, accelerator="cpu", logger=False, **distributed,
                         enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
                         callbacks=[record, ModelCheckpoint(dirpath=root / "checkpoints", save_last=True,
                                                            every_n_train_steps=1, save_top_k=0)])
    trainer.fit(model, datamodule=dm, ckpt_path=ckpt_path)
    return record.seen if isinstance(record, RecordBatches) else []  # distributed runs record to files


@pytest.mark.parametrize(("workers", "stop", "end"), [(0, 7, 25), (1, 27, 33)])
def test_resume_mid_epoch_continues_the_epoch_order(drive_data, tmp_path, workers, stop, end):
    # 80 windows, batch 4: 20 batches per epoch; stop mid-epoch (in epoch 0, or in epoch 1 with a
    # worker process, whose indices are fetched ahead), resume from last.ckpt to `end`
    straight = _fit(drive_data, tmp_path / "straight", max_steps=end, workers=workers)
    first = _fit(drive_data, tmp_path / "resumed", max_steps=stop, workers=workers)
    second = _fit(drive_data, tmp_path / "resumed", max_steps=end, workers=workers,
                  ckpt_path=tmp_path / "resumed" / "checkpoints" / "last.ckpt")
    assert first == straight[:stop]
    assert second == straight[stop:]
    assert sorted(i for batch in straight[:20] for i in batch) == list(range(80))  # an epoch = every clip once
    assert straight[20] != straight[0]  # the next epoch reshuffles


def _seen(folder, rank: int) -> list[list[int]]:
    return [json.loads(line) for line in (folder / f"rank{rank}.jsonl").read_text().splitlines()]


def test_resume_mid_epoch_with_two_processes(drive_data, tmp_path):
    # 80 windows over 2 processes, batch 4: 10 batches per process and epoch; stop at step 4 in
    # epoch 0, resume from last.ckpt to step 13 (in epoch 1); each process must see what it sees
    # in the uninterrupted run
    logs = {name: tmp_path / f"seen_{name}" for name in ("straight", "first", "second")}
    for folder in logs.values():
        folder.mkdir()
    _fit(drive_data, tmp_path / "straight", max_steps=13, devices=2, record=RecordBatchesToFile(logs["straight"]))
    _fit(drive_data, tmp_path / "resumed", max_steps=4, devices=2, record=RecordBatchesToFile(logs["first"]))
    _fit(drive_data, tmp_path / "resumed", max_steps=13, devices=2, record=RecordBatchesToFile(logs["second"]),
         ckpt_path=tmp_path / "resumed" / "checkpoints" / "last.ckpt")
    epoch0 = []
    for rank in (0, 1):
        straight = _seen(logs["straight"], rank)
        assert len(straight) == 13
        assert _seen(logs["first"], rank) == straight[:4]
        assert _seen(logs["second"], rank) == straight[4:]
        epoch0 += [i for batch in straight[:10] for i in batch]
    assert sorted(epoch0) == list(range(80))  # the two processes split the epoch: every clip once
