"""Real Trainer runs through the CLI on the built-in driving data with a tiny ViT."""

from __future__ import annotations

import csv
import json
import warnings
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
from pytorch_lightning.trainer.connectors import data_connector
from torch.utils.data import DataLoader

from ssl_video.commands.fit import PretrainCLI, main
from ssl_video.data.datamodules import UnlabeledClipDataModule
from ssl_video.errors import UserError
from ssl_video.pretrain.module import VideoPretrainer, build_objectives, load_pretrainer, pretrainer_from_weights
from ssl_video.pretrain.objectives import OBJECTIVES as OBJECTIVE_CLASSES
from ssl_video.pretrain.objectives import FuturePixels
from ssl_video.spec import ClipSpec

CONFIG = Path(__file__).resolve().parents[2] / "configs" / "pretrain" / "quickstart.yaml"
TINY = json.dumps({"img_size": 32, "num_frames": 4, "tubelet": [2, 8, 8], "embed_dim": 48, "depth": 1, "num_heads": 3})
OBJECTIVES = json.dumps([
    {"class_path": "ssl_video.pretrain.objectives.future_pixels.FuturePixels",
     "init_args": {"predictor_dim": 24, "predictor_depth": 1}},
    {"class_path": "ssl_video.pretrain.objectives.future_features.FutureFeatures",
     "init_args": {"predictor_dim": 24, "predictor_depth": 1}},
])


OBJECTIVES_BY_PATH = {f"{c.__module__}.{c.__name__}": c for c in OBJECTIVE_CLASSES.values()}


def tiny_args(data: Path, root: Path, max_steps: int) -> list[str]:
    return ["--config", str(CONFIG), "--data.data", str(data / "labels.csv"), "--trainer.default_root_dir", str(root),
            "--model.encoder_args", TINY, "--model.objectives", OBJECTIVES, "--model.health_every", "2",
            "--data.context", "2", "--data.future", "2", "--data.size", "32", "--data.batch_size", "4",
            "--data.num_workers", "0", "--data.clips_per_video", "1", "--trainer.max_steps", str(max_steps),
            "--trainer.val_check_interval", "2", "--trainer.limit_val_batches", "1", "--trainer.log_every_n_steps", "2",
            "--checkpoint.every_n_train_steps", "2", "--trainer.enable_progress_bar", "false"]


def metrics(path: Path) -> list[dict[str, str]]:
    with open(path) as f:
        return list(csv.DictReader(f))


def test_fit_writes_checkpoint_contract_logs_and_picture_then_resumes(drive_data, tmp_path):
    root = tmp_path / "run"
    data_connector.warning_cache.clear()  # Lightning warns once per process: let this run see its warnings
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert main(["fit", *tiny_args(drive_data, root, max_steps=4)]) == 0
    # normalizing on the device is the module's hook by design: no warning about it on every run
    assert not [w for w in caught if "on_after_batch_transfer" in str(w.message)]
    assert not [w for w in caught if "LeafSpec" in str(w.message)]  # Lightning's use of a torch deprecation
    ckpt = torch.load(root / "checkpoints" / "last.ckpt", weights_only=True)
    assert ckpt["global_step"] == 4
    meta = ckpt["ssl_video"]
    assert meta["encoder"]["name"] == "vit_tiny" and meta["encoder"]["args"]["embed_dim"] == 48
    assert meta["preprocessing"] == ClipSpec(context=2, future=2, fps=10.0, size=(32, 32)).to_dict()  # ImageNet norm
    assert [o["name"] for o in meta["objectives"]] == ["future_pixels", "future_features"]
    assert any(k.startswith("encoder.patch_embed.") for k in ckpt["state_dict"])
    rows = metrics(root / "csv" / "version_0" / "metrics.csv")
    keys = {k for row in rows for k, v in row.items() if v}
    for key in ("train/loss", "train/loss_future_pixels", "train/loss_future_features", "train/lr",
                "train/loss_future_pixels_copy_last", "train/clips_per_s", "train/feat_std", "train/eff_rank",
                "val/loss", "val/psnr", "val/ssim", "val/psnr_copy_last", "val/ssim_copy_last"):
        assert key in keys, key
    assert sorted(p.name for p in (root / "tb" / "version_0" / "predictions").glob("*.png")) == [
        "step_0000002.png", "step_0000004.png"]

    # resume: continues at step 4 (not 0) up to the new max_steps, and the scheduler state comes back
    assert main(["fit", *tiny_args(drive_data, root, max_steps=6), "--ckpt_path", "last"]) == 0
    resumed = torch.load(root / "checkpoints" / "last.ckpt", weights_only=True)
    assert resumed["global_step"] == 6
    steps = [int(row["step"]) for row in metrics(root / "csv" / "version_1" / "metrics.csv")]
    assert min(steps) >= 4

    model = load_pretrainer(root / "checkpoints" / "last.ckpt")
    clips = torch.randint(0, 256, (3, 3, 4, 32, 32), dtype=torch.uint8)
    errors = model.future_errors(clips)
    assert {k: v.shape for k, v in errors.items()} == {"future_pixels": (3,), "future_features": (3,)}
    torch.testing.assert_close(errors["future_pixels"], model.future_errors(clips)["future_pixels"])


def test_norm_pix_fits_and_validates_without_pixel_metrics(drive_data, tmp_path):
    objectives = json.dumps([{"class_path": "ssl_video.pretrain.objectives.future_pixels.FuturePixels",
                              "init_args": {"predictor_dim": 24, "predictor_depth": 1, "norm_pix": True}}])
    args = tiny_args(drive_data, tmp_path, max_steps=2)
    args[args.index("--model.objectives") + 1] = objectives
    assert main(["fit", *args]) == 0
    keys = {k for row in metrics(tmp_path / "csv" / "version_0" / "metrics.csv") for k, v in row.items() if v}
    assert {"val/loss_future_pixels", "val/loss_future_pixels_copy_last"} <= keys
    assert "val/psnr" not in keys  # a normalised patch has no pixels to score
    (record,) = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=True)["ssl_video"]["objectives"]
    assert record["init_args"]["norm_pix"] is True


def _trainer(args: list[str]):
    return PretrainCLI(VideoPretrainer, UnlabeledClipDataModule, args=args, run=False).trainer


def test_progress_bar_reads_the_loss_at_logging_steps_only(drive_data, tmp_path):
    args = [a for a in tiny_args(drive_data, tmp_path, max_steps=1)
            if a not in ("--trainer.enable_progress_bar", "false")]
    assert _trainer(args).progress_bar_callback.refresh_rate == 2  # = trainer.log_every_n_steps (a sync on a GPU)
    assert _trainer([*args, "--trainer.enable_progress_bar", "false"]).progress_bar_callback is None
    own = ["--trainer.callbacks+=TQDMProgressBar", "--trainer.callbacks.refresh_rate", "7"]
    assert _trainer([*args, *own]).progress_bar_callback.refresh_rate == 7  # the user's bar wins


def test_print_config_links_clip_fields(drive_data, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", *tiny_args(drive_data, tmp_path, max_steps=1), "--print_config"])
    assert exit_info.value.code == 0
    printed = capsys.readouterr().out
    assert "context: 2" in printed and "future_pixels.FuturePixels" in printed


def test_seed_is_set_on_the_data_and_linked_to_the_model(drive_data, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:  # set twice would be refused by Lightning later, with a traceback
        main(["fit", *tiny_args(drive_data, tmp_path, max_steps=1), "--model.seed", "1", "--print_config"])
    assert exit_info.value.code == 2
    assert 'Linked "model.seed" must be given via "data.seed"' in capsys.readouterr().err


def test_conv3d_encoders_are_refused_for_pretraining():
    with pytest.raises(UserError, match=r"model.encoder: r3d_18 is offered for probes and fine-tuning only: .*vit_\*"):
        VideoPretrainer(encoder="r3d_18", context=4, future=4, size=32)


def test_objective_records_of_earlier_versions_load_when_they_describe_the_recipe_built_now():
    old = {"name": "future_pixels", "class_path": "ssl_video.pretrain.future_pixels.FuturePixels",
           "init_args": {"weight": 1.0, "target": "pixels", "last_patch_skip": False, "zero_head": True,
                         "latent_copy": True, "predictor_dim": 24, "predictor_depth": 1, "predictor_heads": 4}}
    (built,) = build_objectives([old], "old.ckpt")
    assert built.describe()["init_args"] == {"weight": 1.0, "predictor_dim": 24, "predictor_depth": 1,
                                             "predictor_heads": 4, "latent_copy": True, "norm_pix": False}
    before_latent_copy = {**old, "init_args": {k: v for k, v in old["init_args"].items() if k != "latent_copy"}}
    assert build_objectives([before_latent_copy], "old.ckpt")[0].latent_copy is False  # its default then
    assert build_objectives([built.describe()], "new.ckpt")[0].describe() == built.describe()
    for key, value in (("target", "residual"), ("last_patch_skip", True)):
        entry = {**old, "init_args": {**old["init_args"], key: value}}
        with pytest.raises(UserError, match=rf"^old.ckpt: .* trained with {key}={value!r}, which this version no "
                                            rf"longer builds; use ssl_video <= 0.1$"):
            build_objectives([entry], "old.ckpt")


def test_builtin_weights_rebuild_their_objectives_with_the_same_predictions():
    model = pretrainer_from_weights("drive-future-vit-tiny")
    assert [o.describe()["init_args"] for o in model.objectives] == [FuturePixels().describe()["init_args"]]
    clips = torch.randint(0, 256, (2, 3, 8, 64, 64), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)
    errors = model.future_errors(clips)["future_pixels"]  # the predictor's outputs, measured before the defaults moved
    assert errors.tolist() == pytest.approx([1.7181576, 1.7332429], rel=1e-4)


@pytest.mark.slow
def test_two_process_ddp_on_cpu_with_gloo(drive_data, tmp_path):
    """Lightning's DDP relaunches this command line once per extra process; gloo on CPU."""
    import subprocess
    import sys

    root = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "ssl_video.commands.fit", "fit", *tiny_args(drive_data, root, max_steps=2),
           "--trainer.strategy", "ddp", "--trainer.devices", "2", "--trainer.accelerator", "cpu"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "MEMBER: 2/2" in done.stderr + done.stdout
    ckpt = torch.load(root / "checkpoints" / "last.ckpt", weights_only=True)
    assert ckpt["global_step"] == 2 and ckpt["ssl_video"]["encoder"]["name"] == "vit_tiny"


DDP_EMPTY_BATCH = """
import sys, json, torch, pytorch_lightning as pl
from torch.utils.data import DataLoader
from ssl_video.pretrain.module import VideoPretrainer
from ssl_video.pretrain.objectives import FuturePixels

def batch(n):
    video = torch.randint(0, 256, (n, 3, 4, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(n))
    return {"video": video, "dropped": 2 - n, "index": torch.arange(n), "window": torch.arange(n)}

pl.seed_everything(0)
model = VideoPretrainer(encoder_args=json.loads(sys.argv[2]),
                        objectives=[FuturePixels(predictor_dim=24, predictor_depth=1)], context=2, future=2, size=32,
                        warmup_steps=0, health_every=0)
# the distributed sampler deals batches out in turn: rank 0 gets batches 0 and 2, rank 1 the empty 1 and then 3
trainer = pl.Trainer(max_steps=2, accelerator="cpu", devices=2, strategy="ddp", logger=False, enable_progress_bar=False,
                     enable_checkpointing=False, enable_model_summary=False)
trainer.fit(model, train_dataloaders=DataLoader([batch(2), batch(0), batch(2), batch(2)], batch_size=None))
torch.save({k: v.detach() for k, v in model.state_dict().items()}, f"{sys.argv[1]}/rank{trainer.global_rank}.pt")
"""


@pytest.mark.slow
def test_ddp_rank_with_an_empty_batch_still_reaches_the_all_reduce(tmp_path):
    """Under DDP a rank whose batch lost every clip must still join the gradient all-reduce, or the others hang;
    both ranks end with the same weights, moved from the start."""
    import subprocess
    import sys

    script = tmp_path / "ddp_empty.py"
    script.write_text(DDP_EMPTY_BATCH)
    done = subprocess.run([sys.executable, str(script), str(tmp_path), TINY], capture_output=True, text=True,
                          timeout=240, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    rank0, rank1 = (torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1))
    assert all(torch.equal(rank0[k], rank1[k]) for k in rank0)
    pl.seed_everything(0)  # the script's start
    objectives = [FuturePixels(predictor_dim=24, predictor_depth=1)]
    start = VideoPretrainer(encoder_args=json.loads(TINY), objectives=objectives, context=2, future=2, size=32,
                            warmup_steps=0, health_every=0).state_dict()
    assert not all(torch.equal(start[k], rank0[k]) for k in start)


def test_fit_continues_from_pretrained_encoder_weights(drive_data, tmp_path):
    from ssl_video.errors import UserError
    from ssl_video.hub import export_weights, load_encoder_with_config
    from ssl_video.pretrain.module import VideoPretrainer
    from ssl_video.pretrain.objectives.future_features import FutureFeatures

    assert main(["fit", *tiny_args(drive_data, tmp_path / "first", max_steps=2)]) == 0
    weights = export_weights(tmp_path / "first" / "checkpoints" / "last.ckpt", tmp_path / "weights")
    pretrained = load_encoder_with_config(weights)[0].state_dict()

    model = VideoPretrainer(encoder_args=json.loads(TINY),
                            objectives=[FutureFeatures(predictor_dim=24, predictor_depth=1)],
                            context=2, future=2, size=32, init_encoder=str(weights))
    for name, tensor in pretrained.items():  # the encoder, and the EMA target copied from it, start from the weights
        assert torch.equal(model.encoder.state_dict()[name], tensor), name
        assert torch.equal(model.objectives[0].target_encoder.state_dict()[name], tensor), name
    with pytest.raises(UserError, match=r"model.init_encoder=.*does not fit model.encoder"):
        VideoPretrainer(encoder_args={**json.loads(TINY), "embed_dim": 96}, context=2, future=2, size=32,
                        init_encoder=str(weights))

    with pytest.raises(UserError, match=r"model.init_encoder=no-such-weights: .*registered weights name"):
        VideoPretrainer(encoder_args=json.loads(TINY), context=2, future=2, size=32, init_encoder="no-such-weights")

    root = tmp_path / "continued"
    assert main(["fit", *tiny_args(drive_data, root, max_steps=2), "--model.init_encoder", str(weights)]) == 0
    assert (torch.load(root / "checkpoints" / "last.ckpt", weights_only=True)["ssl_video"]["init_encoder"]
            == str(weights))
    exported = export_weights(root / "checkpoints" / "last.ckpt", tmp_path / "w2")
    config = json.loads((exported / "config.json").read_text())
    assert config["training"]["init_encoder"] == str(weights)
    load_pretrainer(root / "checkpoints" / "last.ckpt")  # rebuilt from the checkpoint alone, the weights not read again


def test_init_objectives_starts_the_predictors_from_a_checkpoint_or_an_export_with_them(drive_data, tmp_path):
    from ssl_video.commands.weights import cli_main
    from ssl_video.errors import UserError
    from ssl_video.hub import export_weights, load_encoder
    from ssl_video.pretrain.module import VideoPretrainer
    from ssl_video.pretrain.objectives.future_features import FutureFeatures
    from ssl_video.pretrain.objectives.future_pixels import FuturePixels

    assert main(["fit", *tiny_args(drive_data, tmp_path / "first", max_steps=2)]) == 0
    ckpt = tmp_path / "first" / "checkpoints" / "last.ckpt"
    trained = torch.load(ckpt, weights_only=True)["state_dict"]
    assert cli_main(["export", str(ckpt), str(tmp_path / "with"), "--objectives"]) == 0
    load_encoder(tmp_path / "with")  # encoders still load (strict), the objectives' tensors set aside

    def pretrainer(source, objectives=None, **kwargs):
        objectives = objectives or [FuturePixels(predictor_dim=24, predictor_depth=1),
                                    FutureFeatures(predictor_dim=24, predictor_depth=1)]
        return VideoPretrainer(encoder_args=json.loads(TINY), objectives=objectives, context=2, future=2, size=32,
                               init_encoder=str(source), **kwargs)

    for source in (ckpt, tmp_path / "with"):
        state = pretrainer(source, init_objectives=True).state_dict()
        assert state.keys() == trained.keys()
        for name, tensor in trained.items():  # predictors, heads, EMA target and encoder: all as trained
            assert torch.equal(state[name], tensor), (source, name)
    fresh = pretrainer(ckpt).state_dict()  # without the option the heads start fresh, as before
    assert not torch.equal(fresh["objectives.1.predictor.head.weight"], trained["objectives.1.predictor.head.weight"])

    with pytest.raises(UserError, match=r"holds no pretraining objectives' weights .*--objectives"):
        pretrainer(export_weights(ckpt, tmp_path / "plain"), init_objectives=True)
    with pytest.raises(UserError, match=r"trained with objectives \['future_pixels', 'future_features'\]"):
        pretrainer(ckpt, objectives=[FuturePixels(predictor_dim=24, predictor_depth=1)], init_objectives=True)
    with pytest.raises(UserError, match=r"do not fit model.objectives .*size mismatch"):
        pretrainer(ckpt, objectives=[FuturePixels(predictor_dim=48, predictor_depth=1),
                                     FutureFeatures(predictor_dim=24, predictor_depth=1)], init_objectives=True)
    with pytest.raises(UserError, match="needs model.init_encoder"):
        VideoPretrainer(encoder_args=json.loads(TINY), context=2, future=2, size=32, init_objectives=True)

    root = tmp_path / "continued"  # through the CLI, from the export; the checkpoint rebuilds without the source
    args = ["--model.init_encoder", str(tmp_path / "with"), "--model.init_objectives", "true", "--data.seed", "1"]
    assert main(["fit", *tiny_args(drive_data, root, max_steps=2), *args]) == 0
    assert load_pretrainer(root / "checkpoints" / "last.ckpt").hparams.seed == 1  # data.seed also seeds the masks


def test_builtin_weights_hold_the_predictor_of_the_quickstart_config():
    """The README's command: the quickstart config continued from the built-in weights, predictor included."""
    import yaml

    from ssl_video.hub import load_objectives_state
    from ssl_video.pretrain.module import VideoPretrainer

    cfg = yaml.safe_load(CONFIG.read_text())
    objectives = [OBJECTIVES_BY_PATH[o["class_path"]](**o.get("init_args", {})) for o in cfg["model"]["objectives"]]
    data = cfg["data"]
    model = VideoPretrainer(encoder=cfg["model"]["encoder"], encoder_args=cfg["model"]["encoder_args"],
                            objectives=objectives,
                            context=data["context"], future=data["future"], size=data["size"],
                            init_encoder="drive-future-vit-tiny", init_objectives=True)
    state = load_objectives_state("drive-future-vit-tiny")[0]
    assert state and all(torch.equal(model.objectives.state_dict()[k], v) for k, v in state.items())


def test_freeze_encoder_steps_trains_the_heads_first_then_the_encoder(drive_data, tmp_path):
    from ssl_video.hub import export_weights, load_encoder_with_config

    assert main(["fit", *tiny_args(drive_data, tmp_path / "first", max_steps=2)]) == 0
    weights = export_weights(tmp_path / "first" / "checkpoints" / "last.ckpt", tmp_path / "weights")
    pretrained = load_encoder_with_config(weights)[0].state_dict()

    root = tmp_path / "continued"
    args = ["--model.init_encoder", str(weights), "--model.freeze_encoder_steps", "2", "--model.warmup_steps", "2"]
    assert main(["fit", *tiny_args(drive_data, root, max_steps=2), *args]) == 0
    state = torch.load(root / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
    for name, tensor in pretrained.items():  # lr 0 leaves the encoder exactly as it was (no weight decay either)
        assert torch.equal(state[f"encoder.{name}"], tensor), name
    first = torch.load(tmp_path / "first" / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
    heads = [k for k in state
             if k.startswith("objectives.0.") and "target_encoder" not in k and state[k].is_floating_point()]
    assert any(not torch.equal(state[k], first[k]) for k in heads)  # the fresh heads did train

    assert main(["fit", *tiny_args(drive_data, root, max_steps=4), *args, "--ckpt_path", "last"]) == 0
    state = torch.load(root / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
    assert any(not torch.equal(state[f"encoder.{name}"], tensor) for name, tensor in pretrained.items())
    rows = metrics(root / "csv" / "version_0" / "metrics.csv") + metrics(root / "csv" / "version_1" / "metrics.csv")
    lrs = {int(r["step"]): (float(r["train/lr"]), float(r["train/lr_encoder"]))
           for r in rows if r.get("train/lr_encoder")}
    assert lrs[1][1] == 0.0 < lrs[1][0] and lrs[3][1] > 0.0, lrs


def test_batches_whose_every_clip_failed_are_skipped_and_counted(tmp_path):
    """A batch of 0 clips (every file failed to decode) takes no optimizer step and scores nothing; the val picture
    comes from the first batch that has clips; ``train/dropped_clips`` sums the failed clips of the epoch."""
    from pytorch_lightning.loggers import CSVLogger

    from ssl_video.pretrain.callbacks import PredictionPictures

    def batch(n: int, dropped: int) -> dict:
        return {"video": torch.randint(0, 256, (n, 3, 4, 32, 32), dtype=torch.uint8), "dropped": dropped,
                "index": torch.arange(n), "window": torch.arange(n)}

    train = [batch(0, 2), batch(2, 0), batch(1, 1)]
    val = [batch(0, 2), batch(2, 0)]
    objectives = [FuturePixels(predictor_dim=24, predictor_depth=1)]
    model = VideoPretrainer(encoder_args=json.loads(TINY), objectives=objectives, context=2, future=2, size=32,
                            warmup_steps=0, health_every=0)

    class Unchanged(pl.Callback):  # the weights before and after each empty batch
        def on_train_batch_start(self, trainer, module, batch, batch_idx):
            self.before = [p.detach().clone() for p in module.parameters()]

        def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
            if not len(batch["video"]):
                assert all(torch.equal(a, p) for a, p in zip(self.before, module.parameters()))
                self.checked = True

    pictures, unchanged = PredictionPictures(), Unchanged()
    trainer = pl.Trainer(max_epochs=1, accelerator="cpu", logger=CSVLogger(tmp_path), callbacks=[pictures, unchanged],
                         enable_progress_bar=False, enable_checkpointing=False, num_sanity_val_steps=0,
                         log_every_n_steps=1)
    trainer.fit(model, train_dataloaders=DataLoader(train, batch_size=None),
                val_dataloaders=DataLoader(val, batch_size=None))
    assert unchanged.checked  # the empty batch left every weight as it was (AdamW skips tensors without a grad)
    assert all(torch.isfinite(p).all() for p in model.parameters())
    assert trainer.logged_metrics["train/dropped_clips"] == 3
    assert torch.isfinite(trainer.logged_metrics["val/loss"])
    assert pictures.last_path is not None and pictures.last_path.exists()
