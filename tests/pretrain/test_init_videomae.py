"""``ssl-video fit --model.init_encoder VIDEOMAE_FOLDER``: a public VideoMAE converted to VideoViT continues
pretraining with the quickstart recipe, and its exported weights load."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
import torch

from ssl_video.cli import main
from ssl_video.errors import UserError
from ssl_video.hub import load_encoder_with_config
from ssl_video.pretrain.module import VideoPretrainer, load_pretrainer

CONFIG = Path(__file__).resolve().parents[2] / "configs" / "pretrain" / "quickstart.yaml"
OBJECTIVES = json.dumps([{"class_path": "ssl_video.pretrain.objectives.future_pixels.FuturePixels",
                          "init_args": {"predictor_dim": 24, "predictor_depth": 1}}])


def tiny_videomae(folder: Path, kind: str = "videomae") -> torch.nn.Module:
    """Random weights, saved as the Hub stores them: 4 frames of 32 x 32, 2 layers of width 48."""
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(0)
    if kind == "vjepa2":
        config = transformers.VJEPA2Config(crop_size=32, patch_size=8, frames_per_clip=4, hidden_size=48,
                                           num_hidden_layers=1, num_attention_heads=3, pred_hidden_size=24,
                                           pred_num_attention_heads=2, pred_num_hidden_layers=1)
        model = transformers.VJEPA2Model(config)
    else:
        config = transformers.VideoMAEConfig(image_size=32, patch_size=8, num_frames=4, hidden_size=48,
                                             num_hidden_layers=2, num_attention_heads=3, intermediate_size=96)
        model = transformers.VideoMAEModel(config)
    model.save_pretrained(folder)
    return model.eval()


def test_module_starts_from_the_videomae(tmp_path, caplog):
    """The quickstart's encoder_args (another size) give way to the VideoMAE's architecture, with a warning; the
    encoder computes VideoMAE's features; the checkpoint's hyperparameters rebuild it."""
    videomae = tiny_videomae(tmp_path / "vmae")
    with caplog.at_level(logging.WARNING):
        module = VideoPretrainer(encoder="vit_tiny", encoder_args={"img_size": 64, "embed_dim": 192, "depth": 4},
                                 context=2, future=2, size=32, init_encoder=str(tmp_path / "vmae"))
    assert "replaces model.encoder_args" in caplog.text
    x = torch.randn(1, 3, 4, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(module.encoder.eval().forward_features(x),
                                   videomae(pixel_values=x.transpose(1, 2)).last_hidden_state, atol=1e-5, rtol=0)
    assert module.hparams.encoder_args["embed_dim"] == 48 and module.hparams.encoder_args["final_norm"] is False
    with pytest.raises(UserError, match="has no ssl_video objectives"):
        VideoPretrainer(init_encoder=str(tmp_path / "vmae"), init_objectives=True)
    tiny_videomae(tmp_path / "vj", kind="vjepa2")
    with pytest.raises(UserError, match="model.init_encoder=.*3-D rotary position embeddings"):
        VideoPretrainer(init_encoder=str(tmp_path / "vj"))


def test_fit_from_a_videomae_folder_then_export(drive_data, tmp_path):
    """~7 s on 2 cores: 20 steps of the quickstart config from a tiny VideoMAE folder, exported weights load."""
    tiny_videomae(tmp_path / "vmae")
    root = tmp_path / "run"
    assert main(["fit", "--config", str(CONFIG), "--data.data", str(drive_data / "labels.csv"),
                 "--trainer.default_root_dir", str(root), "--model.init_encoder", str(tmp_path / "vmae"),
                 "--model.objectives", OBJECTIVES, "--data.context", "2", "--data.future", "2", "--data.size", "32",
                 "--data.batch_size", "4", "--data.num_workers", "0", "--data.clips_per_video", "1",
                 "--trainer.max_steps", "20", "--trainer.val_check_interval", "10", "--trainer.limit_val_batches", "1",
                 "--checkpoint.every_n_train_steps", "10", "--trainer.enable_progress_bar", "false"]) == 0
    ckpt = root / "checkpoints" / "last.ckpt"
    meta = torch.load(ckpt, weights_only=True)
    assert meta["global_step"] == 20 and meta["ssl_video"]["init_encoder"] == str(tmp_path / "vmae")
    assert meta["ssl_video"]["encoder"]["args"]["pos_embed"] == "learned"
    load_pretrainer(ckpt)  # rebuilt from the checkpoint alone (init_encoder dropped): the recorded encoder_args
    assert main(["weights", "export", str(ckpt), str(tmp_path / "weights")]) == 0
    encoder, config = load_encoder_with_config(tmp_path / "weights")
    assert config["args"]["embed_dim"] == 48 and config["args"]["final_norm"] is False
    assert encoder(torch.randn(1, 3, 2, 32, 32)).shape == (1, 48)
