from __future__ import annotations

import csv
import os

import numpy as np
import psutil
import pytest
import pytorch_lightning as pl
import torch

from ssl_video.data.datamodules import LabeledClipDataModule, UnlabeledClipDataModule
from ssl_video.data.transforms import normalize_clip
from ssl_video.errors import UserError
from ssl_video.testing import read_frame_number, write_numbered_video

RATES = {"d0_30fps.mp4": 30.0, "d1_10fps.mp4": 10.0, "d2_15fps.mp4": 15.0, "d3_25fps.mp4": 25.0,
         "d4_30fps.mp4": 30.0, "d5_10fps.mp4": 10.0}


@pytest.fixture(scope="module")
def drive_folder(tmp_path_factory):
    """Six 4-second numbered drives at mixed frame rates, long keyframe interval, plus a broken file."""
    root = tmp_path_factory.mktemp("drives")
    for name, fps in RATES.items():
        write_numbered_video(root / name, int(4 * fps), fps=fps, gop=250)
    (root / "broken.mp4").write_bytes(b"not a video")
    return root


@pytest.fixture(autouse=True)
def _home(tmp_path, monkeypatch):
    monkeypatch.setenv("SSL_VIDEO_HOME", str(tmp_path / "home"))


def _numbers(clip):  # (C, T, H, W) -> frame numbers
    return [read_frame_number(clip[:, t].permute(1, 2, 0).numpy()) for t in range(clip.shape[1])]


def _workers():
    """DataLoader worker processes: children of the forkserver, itself a child of this process."""
    return [p for p in psutil.Process().children(recursive=True) if p.ppid() != os.getpid()]


def test_pretraining_loop_two_persistent_workers_three_epochs(drive_folder, caplog):
    with caplog.at_level("INFO"):
        dm = UnlabeledClipDataModule(str(drive_folder), context=3, future=3, fps=5.0, size=(64, 96), batch_size=4,
                                     num_workers=2, persistent_workers=True, clips_per_video=3, val_fraction=0.2,
                                     augment=False, max_open=2, seed=1)
        dm.setup("fit")
    assert "skipped: 1" in caplog.text  # the broken file is counted in the logged index summary
    assert dm.clip_spec.num_frames == 6 and dm.clip_spec.size == (64, 96)
    train, val = dm.datasets["train"], dm.datasets["val"]
    assert not {w.sequence for w in train.windows} & {w.sequence for w in val.windows}
    loader = dm.train_dataloader()
    fds, rss, seen = [], [], []
    for epoch in range(3):
        indices = []
        for batch in loader:
            video = batch["video"]
            assert video.dtype == torch.uint8 and video.shape[1:] == (3, 6, 64, 96) and batch["dropped"] == 0
            for clip, index in zip(video, batch["index"].tolist()):
                path, expected, _ = train.clip_indices((epoch, index))
                assert _numbers(clip) == expected.tolist(), (path, epoch, index)
                step = RATES[path.rsplit("/", 1)[1]] / 5.0  # source frames per clip frame
                assert np.abs(np.diff(expected) - step).max() <= 0.5 + 1e-9
            indices.append(batch["index"])
            normalize_clip(video)  # the step's normalization, as the model would do on the device
        seen.append(torch.cat(indices).tolist())
        workers = _workers()
        assert len(workers) == 2
        fds.append({p.pid: p.num_fds() for p in workers})
        rss.append(psutil.Process().memory_info().rss + sum(p.memory_info().rss for p in workers))
    assert sorted(seen[0]) == list(range(len(train))) and seen[0] != seen[1]  # reshuffled per epoch
    assert fds[0].keys() == fds[2].keys()  # the same persistent workers
    assert all(fds[2][pid] <= fds[0][pid] + 2 for pid in fds[0])  # no handles leak across epochs
    assert rss[2] - rss[0] < 60 * 2**20, [r / 2**20 for r in rss]
    val_batches = [b for _ in range(2) for b in dm.val_dataloader()]
    half = len(val_batches) // 2
    assert all(a["video"].equal(b["video"]) for a, b in zip(val_batches[:half], val_batches[half:]))


def test_frame_cache_folder_shared_by_two_workers(drive_folder, tmp_path):
    folder = tmp_path / "frames"
    dm = UnlabeledClipDataModule(str(drive_folder), context=3, future=3, fps=5.0, size=(64, 96), batch_size=4,
                                 num_workers=2, clips_per_video=2, val_fraction=0.2, augment=False, seed=1,
                                 frame_cache_mb=64, frame_cache_dir=str(folder))
    dm.setup("fit")
    train = dm.datasets["train"]
    loader = dm.train_dataloader()
    for epoch in range(2):
        loader.sampler.set_epoch(epoch)
        for batch in loader:
            for clip, index in zip(batch["video"], batch["index"].tolist()):
                assert _numbers(clip) == train.clip_indices((epoch, index))[1].tolist(), (epoch, index)
    # each training video decoded once, into one entry both workers mapped; validation clips are not cached
    assert len(list(folder.glob("*.npy"))) == len({w.video for w in train.windows})
    with pytest.raises(UserError, match="frame_cache_mb"):
        UnlabeledClipDataModule(str(drive_folder), frame_cache_dir=str(folder))


class _TinyModel(pl.LightningModule):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv3d(3, 4, 3)
        self.epochs: list[list[int]] = []

    def training_step(self, batch, batch_idx):
        if batch_idx == 0:
            self.epochs.append([])
        self.epochs[-1] += batch["index"].tolist()
        return self.conv(normalize_clip(batch["video"])).pow(2).mean()

    def validation_step(self, batch, batch_idx):
        self.log("val/loss", self.conv(normalize_clip(batch["video"])).pow(2).mean(), batch_size=len(batch["index"]))

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.01)


def test_lightning_fit_sets_epochs(drive_folder, tmp_path):
    dm = UnlabeledClipDataModule(str(drive_folder), context=2, future=2, fps=5.0, size=32, batch_size=4,
                                 num_workers=0, clips_per_video=1, val_fraction=0.2)
    model = _TinyModel()
    trainer = pl.Trainer(max_epochs=2, accelerator="cpu", logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, default_root_dir=tmp_path)
    trainer.fit(model, datamodule=dm)
    assert len(model.epochs) == 2 and model.epochs[0] != model.epochs[1]
    assert "val/loss" in trainer.callback_metrics


def _manifest(folder, path, rows):
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["video", "start_s", "end_s", "sequence", "turn", "speed"])
        writer.writerows(rows)


def test_labeled_module_classification_and_regression(drive_folder, tmp_path):
    rows, turns = [], ["left", "right", "straight"]
    for d, name in enumerate(RATES):
        for w in range(4):  # four 1-second windows per drive
            rows.append([str(drive_folder / name), w, w + 1, f"drive{d}", turns[(d + w) % 3], 10 + d + w * 0.37])
    rows.append([str(drive_folder / "broken.mp4"), 0, 1, "drive9", "left", 1.0])
    rows.append([str(drive_folder / "d0_30fps.mp4"), 1, 2, "drive0", "", 3.0])  # no turn label: skipped
    manifest = tmp_path / "labels.csv"
    _manifest(drive_folder, manifest, rows)
    args = dict(context=2, future=2, fps=5.0, size=32, batch_size=8, num_workers=0, test_size=0.34, val_size=0.17)
    dm = LabeledClipDataModule(str(manifest), target="turn", seed=0, **args)
    dm.setup("fit")
    assert dm.task == "classification" and dm.classes == turns and dm.num_classes == 3
    sequences = {k: {dm.windows[i].sequence for i in idx} for k, idx in dm.splits.items()}
    assert not (sequences["train"] & sequences["val"] or sequences["train"] & sequences["test"]
                or sequences["val"] & sequences["test"])
    batch = next(iter(dm.train_dataloader()))
    assert batch["label"].dtype == torch.long and batch["video"].shape[1:] == (3, 4, 32, 32)
    test_batch = next(iter(dm.test_dataloader()))
    assert [dm.classes[c] for c in test_batch["label"]] == [dm.windows[i].labels["turn"] for i in test_batch["window"]]
    few = LabeledClipDataModule(str(manifest), target="turn", seed=0, fraction=0.2, **args)
    few.setup("fit")
    assert set(few.splits["train"]) < set(dm.splits["train"]) and few.splits["test"].tolist() == dm.splits["test"].tolist()
    assert {few.labels[i] for i in few.splits["train"]} == {dm.labels[i] for i in dm.splits["train"]}
    reg = LabeledClipDataModule(str(manifest), target="speed", **args)
    reg.setup("fit")
    assert reg.task == "regression" and reg.classes is None
    assert next(iter(reg.eval_dataloader("train")))["label"].dtype == torch.float32
    with pytest.raises(ValueError, match="no label column 'weather'"):
        LabeledClipDataModule(str(manifest), target="weather", **args).setup("fit")


def test_loop_over_mixed_codecs_and_broken_files(video_folder):
    """The issue's folder: several codecs/containers, VFR, odd sizes, non-ASCII names, broken files."""
    dm = UnlabeledClipDataModule(str(video_folder), context=2, future=2, fps=5.0, size=(64, 96), batch_size=4,
                                 num_workers=2, clips_per_video=2, val_fraction=0.0, augment=False, max_open=3)
    dm.setup("fit")
    train = dm.datasets["train"]
    assert len(dm.index.skipped) >= 7 and len(train.windows) == len(dm.index.usable)
    loader = dm.train_dataloader()
    for epoch in range(2):
        count = 0
        for batch in loader:
            assert batch["dropped"] == 0
            for clip, index in zip(batch["video"], batch["index"].tolist()):
                assert _numbers(clip) == train.clip_indices((epoch, index))[1].tolist()
                count += 1
        assert count == len(train)
