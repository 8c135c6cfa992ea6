"""Export and reload a checkpoint written by a real `ssl-video fit` run (tiny model, 4 steps)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from ssl_video.hub import export_weights, load_encoder_with_config
from ssl_video.models import get_encoder

CONFIG = Path(__file__).resolve().parents[2] / "configs" / "pretrain" / "quickstart.yaml"


@pytest.mark.slow
def test_export_from_fit_checkpoint(drive_data, tmp_path, monkeypatch):
    from ssl_video.commands.fit import main as fit_main

    monkeypatch.chdir(tmp_path)
    fit_main(["fit", "--config", str(CONFIG), "--data.data", str(drive_data), "--trainer.max_steps", "4",
              "--trainer.val_check_interval", "2", "--trainer.limit_val_batches", "1", "--data.batch_size", "2",
              "--data.num_workers", "0", "--trainer.default_root_dir", str(tmp_path / "runs"),
              "--model.encoder_args",
              "{img_size: 64, num_frames: 8, tubelet: [2, 8, 8], embed_dim: 48, depth: 1, num_heads: 3}"])
    ckpt_path = tmp_path / "runs" / "checkpoints" / "last.ckpt"
    out = export_weights(ckpt_path, tmp_path / "weights")
    encoder, config = load_encoder_with_config(out)
    assert config["preprocessing"]["size"] == [64, 64] and config["training"]["steps"] == 4

    ckpt = torch.load(ckpt_path, weights_only=True)
    meta = ckpt["ssl_video"]["encoder"]
    reference = get_encoder(meta["name"], **meta["args"]).eval()
    reference.load_state_dict({k[len("encoder."):]: v for k, v in ckpt["state_dict"].items()
                               if k.startswith("encoder.")})
    x = torch.randn(1, 3, 8, 64, 64)
    torch.testing.assert_close(encoder(x), reference(x))
