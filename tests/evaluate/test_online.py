"""online.py: a real `ssl-video fit` run with the online probe logs probe curves and checkpoints by them."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch
import yaml

from ssl_video.commands.fit import main
from ssl_video.evaluate.online import OnlineProbe

CONFIG = Path(__file__).resolve().parents[2] / "configs" / "pretrain" / "quickstart.yaml"
TINY = json.dumps({"img_size": 32, "num_frames": 4, "tubelet": [2, 8, 8], "embed_dim": 48, "depth": 1, "num_heads": 3})


def test_online_probe_curves_from_step_0_and_a_best_by_probe_checkpoint(drive_data, tmp_path):
    root = tmp_path / "run"
    probe_yaml = tmp_path / "probe.yaml"
    probe_yaml.write_text(yaml.safe_dump({"trainer": {"callbacks": [{
        "class_path": "ssl_video.evaluate.online.OnlineProbe",
        "init_args": {"data": str(drive_data / "labels.csv"), "targets": ["time_of_day", "speed_kmh"],
                      "every_n_steps": 2, "max_clips": 48}}]}}))
    args = ["fit", "--config", str(CONFIG), "--config", str(probe_yaml), "--data.data", str(drive_data / "labels.csv"),
            "--trainer.default_root_dir", str(root), "--model.encoder_args", TINY, "--data.context", "2",
            "--data.future", "2", "--data.size", "32", "--data.batch_size", "4", "--data.num_workers", "0",
            "--data.clips_per_video", "1", "--trainer.max_steps", "4", "--trainer.val_check_interval", "2",
            "--trainer.limit_val_batches", "1", "--trainer.log_every_n_steps", "1", "--trainer.enable_progress_bar",
            "false", "--checkpoint.monitor", "probe/time_of_day/attentive", "--checkpoint.mode", "max",
            "--checkpoint.every_n_train_steps", "2", "--checkpoint.save_top_k", "1"]
    assert main(args) == 0
    with open(root / "csv" / "version_0" / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    for key in ("probe/time_of_day/linear", "probe/time_of_day/attentive", "probe/speed_kmh/linear",
                "probe/speed_kmh/attentive", "probe/seconds"):
        steps = sorted(int(r["step"]) for r in rows if r.get(key))
        assert steps == [0, 2, 4], (key, steps)
    values = [float(r["probe/time_of_day/linear"]) for r in rows if r.get("probe/time_of_day/linear")]
    assert all(0.0 <= v <= 1.0 for v in values)
    last = torch.load(root / "checkpoints" / "last.ckpt", weights_only=False)
    state = next(v for k, v in last["callbacks"].items() if k.startswith("ModelCheckpoint"))
    assert state["monitor"] == "probe/time_of_day/attentive" and state["best_model_score"] is not None
    assert Path(state["best_model_path"]).is_file()


def test_online_probe_refuses_bad_arguments():
    with pytest.raises(ValueError, match="every_n_steps"):
        OnlineProbe("x.csv", ["speed_bucket"], every_n_steps=0)
    with pytest.raises(ValueError, match="unknown method"):
        OnlineProbe("x.csv", ["speed_bucket"], methods=["svm"])


def test_online_probe_runs_once_per_step_with_gradient_accumulation(monkeypatch):
    """With accumulate_grad_batches=2 two batches end at each global step; the probe runs once per probe step."""
    from types import SimpleNamespace

    probe, runs = OnlineProbe("x.csv", ["speed_bucket"], every_n_steps=2), []
    monkeypatch.setattr(probe, "probe", lambda module: runs.append(trainer.global_step) or {})
    trainer = SimpleNamespace(global_step=0, is_global_zero=True, loggers=[],
                              strategy=SimpleNamespace(broadcast=lambda values, src: values))
    probe.on_train_start(trainer, None)
    for step in (0, 0, 1, 1, 2, 2, 3, 3, 4, 4):  # the global step at the end of each batch
        trainer.global_step = step
        probe.on_train_batch_end(trainer, SimpleNamespace(log=lambda *a, **k: None), None, None, 0)
    assert runs == [0, 2, 4]
