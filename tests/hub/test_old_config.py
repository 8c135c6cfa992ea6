"""Weights exported by ssl_video 0.1.0 (``data/config_0.1.0.json``: format_version 1, a preprocessing record
without ``resize``) still load, and evaluation reads their clips and normalization from that record."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

import ssl_video
from ssl_video.evaluate.config import ProbeConfig
from ssl_video.evaluate.features import load_eval_encoder
from ssl_video.evaluate.label_efficiency import clip_spec
from ssl_video.models import get_encoder
from ssl_video.spec import ClipSpec

OLD_CONFIG = Path(__file__).parent / "data" / "config_0.1.0.json"
# what config_0.1.0.json's preprocessing says, with the resize every 0.1.0 file was trained with
OLD_SPEC = ClipSpec(context=2, future=2, fps=5.0, size=(32, 48), resize="squash", mean=(0.45,) * 3, std=(0.225,) * 3)


@pytest.fixture
def old_export(tmp_path) -> tuple[Path, torch.nn.Module]:
    """An exported folder as 0.1.0 wrote it: its config.json, and the config also in the safetensors header."""
    text = OLD_CONFIG.read_text()
    config = json.loads(text)
    torch.manual_seed(0)
    encoder = get_encoder(config["architecture"], **config["args"]).eval()
    folder = tmp_path / "weights"
    folder.mkdir()
    shutil.copyfile(OLD_CONFIG, folder / "config.json")
    state = {k: v.contiguous() for k, v in encoder.state_dict().items()}
    save_file(state, str(folder / "model.safetensors"), metadata={"ssl_video_config": text.rstrip("\n")})
    return folder, encoder


def test_the_saved_config_is_the_0_1_0_format():
    config = json.loads(OLD_CONFIG.read_text())
    assert config["format_version"] == 1 and config["ssl_video_version"] == "0.1.0"
    assert set(config["preprocessing"]) == {"fps", "size", "mean", "std", "context", "future"}


@pytest.mark.parametrize("file", ["", "model.safetensors"])  # the folder (config.json) and the lone file (header)
def test_an_old_export_loads_with_the_same_weights(old_export, file):
    folder, encoder = old_export
    loaded, config = ssl_video.load_encoder_with_config(folder / file if file else folder)
    assert config["architecture"] == "vit_tiny" and ClipSpec.from_dict(config["preprocessing"]) == OLD_SPEC
    video = torch.randn(2, 3, 4, 32, 48)
    with torch.no_grad():
        torch.testing.assert_close(loaded(video), encoder(video), rtol=0, atol=0)


def test_evaluation_reads_the_old_record(old_export):
    folder, _ = old_export
    enc = load_eval_encoder(folder)
    assert enc.pretrained and enc.spec == OLD_SPEC
    assert enc.mean == (0.45, 0.45, 0.45) and enc.std == (0.225, 0.225, 0.225)
    cfg = ProbeConfig(encoder=str(folder), data="labels.csv", targets=["speed"], out="out", fps=10.0)
    assert clip_spec(cfg, enc) == OLD_SPEC.replace(fps=10.0)  # a command-line option wins, the rest is recorded


def test_the_builtin_weights_load_with_their_record():
    encoder = ssl_video.load_encoder("drive-future-vit-tiny")
    assert sum(p.numel() for p in encoder.parameters()) > 0
    enc = load_eval_encoder("drive-future-vit-tiny")
    assert enc.spec == ClipSpec(context=4, future=4, fps=10.0, size=(64, 64))  # squash, ImageNet mean/std
