from __future__ import annotations

import os

import numpy as np
import psutil
import pytest
import pytorch_lightning as pl
import torch

from ssl_video.data.datamodules import UnlabeledClipDataModule
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


def test_resize_is_set_on_the_data_and_reaches_the_model_and_its_checkpoint(drive_folder, tmp_path):
    from ssl_video.commands.fit import PretrainCLI
    from ssl_video.pretrain.module import VideoPretrainer
    from ssl_video.spec import ClipSpec

    assert UnlabeledClipDataModule(str(drive_folder)).clip_spec.resize == "squash"  # what the built-in weights saw
    with pytest.raises(UserError, match="resize must be one of"):
        UnlabeledClipDataModule(str(drive_folder), resize="stretch")
    cli = PretrainCLI(VideoPretrainer, UnlabeledClipDataModule, run=False,
                      args=["--data.data", str(drive_folder), "--data.size", "32", "--data.resize", "short_side_crop",
                            "--trainer.default_root_dir", str(tmp_path), "--trainer.logger", "false"])
    assert cli.datamodule.clip_spec.resize == cli.model.hparams.resize == "short_side_crop"
    checkpoint: dict = {}
    cli.model.on_save_checkpoint(checkpoint)
    assert ClipSpec.from_checkpoint(checkpoint["ssl_video"]) == cli.datamodule.clip_spec.replace(
        mean=cli.model.hparams.mean, std=cli.model.hparams.std)


def test_color_jitter_is_set_on_the_data(drive_folder, tmp_path):
    from torchvision.transforms import v2

    from ssl_video.commands.fit import PretrainCLI
    from ssl_video.pretrain.module import VideoPretrainer

    def jitters(augment):
        return [t for t in augment.transform.transforms if isinstance(t, v2.ColorJitter)]

    assert not jitters(UnlabeledClipDataModule(str(drive_folder)).augment)  # off by default, as the built-in recipe
    with pytest.raises(UserError, match=r"^data.color_jitter must be >= 0, got -0.5$"):
        UnlabeledClipDataModule(str(drive_folder), color_jitter=-0.5)
    with pytest.raises(UserError, match=r"^data.scale must satisfy 0 < min <= max <= 1"):
        UnlabeledClipDataModule(str(drive_folder), scale=(0.5, 2.0))
    cli = PretrainCLI(VideoPretrainer, UnlabeledClipDataModule, run=False,
                      args=["--data.data", str(drive_folder), "--data.size", "32", "--data.color_jitter", "0.4",
                            "--trainer.default_root_dir", str(tmp_path), "--trainer.logger", "false"])
    (jitter,) = jitters(cli.datamodule.augment)
    assert jitter.brightness == jitter.contrast == jitter.saturation == (0.6, 1.4)
