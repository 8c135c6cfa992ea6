"""benchmarks/train_throughput.py builds the objectives a GPU config trains, so its MFU is that of real training."""

import importlib.util
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("train_throughput", ROOT / "benchmarks" / "train_throughput.py")
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)


def test_objectives_from_config_have_the_configs_predictors():
    described = bench.objectives_from(str(ROOT / "configs" / "pretrain" / "vit_b_16x224.yaml"))
    assert [d["name"] for d in described] == ["future_features", "future_pixels"]
    encoder, objectives, _ = bench.build("vit_tiny", 4, 32, torch.device("cpu"), described)
    depths = [len(o.predictor.blocks) for o in objectives]
    widths = [o.predictor.dim for o in objectives]
    assert depths == [6, 4] and widths == [384, 384]
    assert objectives[1].latent_copy
    default = bench.objectives_from(None)
    _, objectives, _ = bench.build("vit_tiny", 4, 32, torch.device("cpu"), default)
    assert [len(o.predictor.blocks) for o in objectives] == [2, 2]


def test_objectives_from_rejects_a_file_without_objectives(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("model:\n  encoder: vit_tiny\n")
    with pytest.raises(SystemExit, match="no model.objectives"):
        bench.objectives_from(str(config))
    config.write_text("model:\n  objectives:\n    - class_path: my.Objective\n")
    with pytest.raises(SystemExit, match="unknown objective"):
        bench.objectives_from(str(config))


def test_one_step_runs_with_the_configs_objectives(capsys):
    config = str(ROOT / "configs" / "pretrain" / "vit_s_16x224.yaml")
    assert bench.main(["--models", "vit_tiny", "--frames", "4", "--size", "32", "--batch", "2", "--steps", "1",
                       "--warmup", "1", "--objectives-from", config]) == 0
    out = capsys.readouterr().out
    assert "as in" in out and "| vit_tiny | eager |" in out
