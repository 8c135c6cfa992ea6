"""The main job end to end, with tiny settings: data -> fit -> export -> probe report."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import ssl_video
from ssl_video.commands.quickstart import cli_main
from ssl_video.errors import UserError


def test_quickstart_writes_weights_and_report(tmp_path, capsys):
    out = tmp_path / "qs"
    argv = ["--out", str(out), "--minutes", "4", "--max-steps", "2", "--targets", "speed_bucket",
            "--modes", "pixels,linear,attentive", "--seeds", "1", "--fractions", "1.0"]
    assert cli_main(argv) == 0
    assert (out / "data" / "labels.csv").is_file()
    assert (out / "pretrain" / "checkpoints" / "last.ckpt").is_file()
    config = json.loads((out / "weights" / "config.json").read_text())
    assert config["architecture"] == "vit_tiny"
    report = json.loads((out / "probe" / "report.json").read_text())
    builtin = {f"{m}@builtin" for m in ("linear", "attentive")}  # the package's weights, compared by default
    assert {r["method"] for r in report["results"]} == {"pixels", "linear", "linear-random", "attentive",
                                                        "attentive-random", *builtin}
    assert list(report["findings"]["speed_bucket"]["encoders"]) == ["this encoder", "builtin", "random weights",
                                                                    "pixels"]
    assert (out / "probe" / "label_efficiency.png").is_file()
    assert "quickstart finished" in capsys.readouterr().out


def test_quickstart_config_ships_with_the_package():
    """The main job's config is found inside the installed package (not only in a source checkout):
    ssl_video/configs links to the top-level configs/ and pyproject ships it as package data."""
    from ssl_video.commands.quickstart import QUICKSTART_CONFIG

    package = Path(ssl_video.__file__).resolve().parent
    assert QUICKSTART_CONFIG.is_file()
    assert QUICKSTART_CONFIG.parent.parent.parent == package
    top_level = package.parent / "configs"
    if top_level.is_dir():  # a source checkout: the package's configs are the repository's configs/
        shipped = {p.relative_to(package / "configs") for p in (package / "configs").rglob("*.yaml")}
        assert shipped == {p.relative_to(top_level) for p in top_level.rglob("*.yaml")}


@pytest.mark.slow
def test_built_wheel_contains_the_configs(tmp_path):
    """A wheel built from this checkout (what `pip install ssl_video` gets) holds every YAML config
    under ssl_video/configs/, so the quickstart and the notebooks find theirs outside a checkout, and the
    built-in weights."""
    setuptools = pytest.importorskip("setuptools")
    if int(setuptools.__version__.split(".")[0]) < 68:
        pytest.skip(f"setuptools {setuptools.__version__} < 68 (pyproject's build requirement)")
    repo = Path(__file__).resolve().parents[1]
    # build from a copy: the build writes build/ and *.egg-info next to the sources
    source = tmp_path / "src"
    shutil.copytree(repo, source, symlinks=True,
                    ignore=shutil.ignore_patterns(".git", ".venv", ".whl", "runs", "build", "*.egg-info",
                                                  "__pycache__"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(tmp_path / "dist"), str(source)], check=True, timeout=300)
    (wheel,) = (tmp_path / "dist").glob("ssl_video-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        shipped = {name for name in names if name.startswith("ssl_video/configs/")}
    builtin = {f"ssl_video/hub/builtin/{p.name}" for p in (repo / "ssl_video" / "hub" / "builtin").iterdir()
               if p.suffix in (".json", ".safetensors")}
    assert builtin and builtin <= set(names)  # the built-in weights and their registry ship in the wheel
    expected = {f"ssl_video/configs/{p.relative_to(repo / 'configs').as_posix()}"
                for p in (repo / "configs").rglob("*.yaml")}
    assert "ssl_video/configs/pretrain/quickstart.yaml" in expected
    assert shipped == expected


def test_quickstart_compares_only_builtin_weights_that_read_its_clips(capsys):
    """The built-in weights read the quickstart encoder's clips; an encoder that reads 16x224 clips is not compared
    with them (a line says so) instead of failing at the report."""
    from ssl_video.commands.quickstart import _builtin_compare
    from ssl_video.hub.registry import get_weights

    same = dict(get_weights("drive-future-vit-tiny").config["preprocessing"])
    assert _builtin_compare(same) == ["builtin=drive-future-vit-tiny"]
    assert _builtin_compare({**same, "size": [224, 224], "context": 8, "future": 8}) == []
    assert "not comparing the built-in weights drive-future-vit-tiny" in capsys.readouterr().out


def test_quickstart_never_renders_into_a_folder_of_other_footage(tmp_path, capsys):
    (tmp_path / "footage").mkdir()
    (tmp_path / "footage" / "my trip.mp4").write_bytes(b"")
    with pytest.raises(UserError, match="holds my trip.mp4 and no labels.csv"):
        cli_main(["--out", str(tmp_path / "out"), "--data", str(tmp_path / "footage"), "--small"])
    assert sorted(p.name for p in (tmp_path / "footage").iterdir()) == ["my trip.mp4"]
