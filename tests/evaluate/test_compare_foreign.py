"""``ssl-video probe --compare`` with public models that read other clips: the built-in weights, a tiny VideoMAE
folder and a tiny torchvision R(2+1)D side by side, each on its own clips of the same windows and splits."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torchvision.models import get_model

from ssl_video.cli import main

MEAN, STD = [0.45, 0.4, 0.35], [0.2, 0.25, 0.3]


def tiny_videomae(folder: Path) -> None:
    """A VideoMAE on 4 frames of 32 x 32 (random weights), saved as the Hub stores it, with its processor config."""
    transformers = pytest.importorskip("transformers")
    config = transformers.VideoMAEConfig(image_size=32, patch_size=8, num_frames=4, hidden_size=48,
                                         num_hidden_layers=2, num_attention_heads=3, intermediate_size=96)
    transformers.VideoMAEModel(config).save_pretrained(folder)
    processor = getattr(transformers, "VideoMAEVideoProcessor", transformers.VideoMAEImageProcessor)
    processor(image_mean=MEAN, image_std=STD, size={"shortest_edge": 32},
              crop_size={"height": 32, "width": 32}).save_pretrained(folder)


@pytest.mark.slow
def test_probe_compares_encoders_that_read_different_clips(drive_data, tmp_path):
    """~40 s on 2 cores: 80 windows decoded three ways, four encoders (with random weights), two probes."""
    tiny_videomae(tmp_path / "vmae")  # read at VideoMAE's 7.5 fps
    torch.save(get_model("r2plus1d_18", weights=None, num_classes=3).state_dict(), tmp_path / "r2plus1d.pt")
    tv = f"torchvision:r2plus1d_18@{tmp_path / 'r2plus1d.pt'}?frames=4&size=32"
    out = tmp_path / "report"
    assert main(["probe", "--encoder", "drive-future-vit-tiny", "--compare", f"vmae={tmp_path / 'vmae'}", f"tv={tv}",
                 "--data", str(drive_data / "labels.csv"), "--target", "speed_bucket", "--modes", "linear,attentive",
                 "--seeds", "1", "--fractions", "1.0", "--attentive-epochs", "2", "--attentive-min-steps", "0",
                 "--attentive-lrs", "1e-3", "--attentive-wds", "0.01", "--num-workers", "0",
                 "--cache-dir", str(tmp_path / "cache"), "--out", str(out)]) == 0
    report = json.loads((out / "report.json").read_text())
    rows = report["summary"]["speed_bucket"]
    assert set(rows) == {f"{mode}{suffix}" for mode in ("linear", "attentive") for suffix in ("", "-random", "@vmae",
                                                                                              "@tv")}
    assert set(report["findings"]["speed_bucket"]["encoders"]) == {"this encoder", "vmae", "tv", "random weights"}
    clips = report["meta"]["compared_clips"]
    assert clips["vmae"] == {"fps": 7.5, "size": [32, 32], "context": 4, "future": 0, "resize": "short_side_crop",
                             "mean": MEAN, "std": STD}
    assert (clips["tv"]["fps"], clips["tv"]["context"], clips["tv"]["size"]) == (15.0, 4, [32, 32])
    assert report["meta"]["clip"]["size"] == [64, 64]  # the built-in weights read their own clips
    n = {r["method"]: r["n_train"] for r in report["results"]}
    assert len(set(n.values())) == 1  # every row on the same windows
