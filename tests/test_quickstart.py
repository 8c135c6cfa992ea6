"""The main job end to end, with tiny settings: data -> fit -> export -> probe report."""

from __future__ import annotations

import json
from pathlib import Path

import ssl_video
from ssl_video.quickstart import cli_main


def test_quickstart_writes_weights_and_report(tmp_path, capsys):
    out = tmp_path / "qs"
    argv = ["--out", str(out), "--minutes", "4", "--max-steps", "2", "--targets", "speed_bucket",
            "--modes", "linear", "--seeds", "1", "--fractions", "1.0"]
    assert cli_main(argv) == 0
    assert (out / "data" / "labels.csv").is_file()
    assert (out / "pretrain" / "checkpoints" / "last.ckpt").is_file()
    config = json.loads((out / "weights" / "config.json").read_text())
    assert config["architecture"] == "vit_tiny"
    report = json.loads((out / "probe" / "report.json").read_text())
    assert {r["method"] for r in report["results"]} >= {"linear", "linear-random"}
    assert (out / "probe" / "label_efficiency.png").is_file()
    assert "quickstart finished" in capsys.readouterr().out


def test_quickstart_config_ships_with_the_package():
    """The main job's config is found inside the installed package (not only in a source checkout):
    ssl_video/configs links to the top-level configs/ and pyproject ships it as package data."""
    from ssl_video.quickstart import QUICKSTART_CONFIG

    package = Path(ssl_video.__file__).resolve().parent
    assert QUICKSTART_CONFIG.is_file()
    assert QUICKSTART_CONFIG.parent.parent.parent == package
    top_level = package.parent / "configs"
    if top_level.is_dir():  # a source checkout: the package's configs are the repository's configs/
        shipped = {p.relative_to(package / "configs") for p in (package / "configs").rglob("*.yaml")}
        assert shipped == {p.relative_to(top_level) for p in top_level.rglob("*.yaml")}
