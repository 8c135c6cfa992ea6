from ssl_video import cli


def test_help_lists_every_command(capsys):
    assert cli.main(["--help"]) == 0
    out = capsys.readouterr().out
    for words in cli.COMMANDS:
        assert " ".join(words) in out


def test_unknown_command_fails(capsys):
    assert cli.main(["no-such-command"]) == 2
    assert "usage" in capsys.readouterr().err


def test_top_level_api_is_lazy_and_complete():
    import ssl_video

    assert "vit_tiny" in ssl_video.list_encoders()
    assert callable(ssl_video.load_encoder) and callable(ssl_video.get_encoder)


def test_version_has_one_source(capsys):
    """pyproject reads the version from ``ssl_video.__version__`` (no second copy to forget), and
    ``ssl-video --version`` prints it."""
    from pathlib import Path

    import pytest

    import ssl_video

    pyprojecttoml = pytest.importorskip("setuptools.config.pyprojecttoml")
    pyproject = Path(__file__).resolve().parents[1] / "pyproject.toml"
    raw = pyprojecttoml.read_configuration(pyproject, expand=False)
    assert "version" in raw["project"]["dynamic"] and "version" not in raw["project"]
    assert raw["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "ssl_video.__version__"}
    project = pyprojecttoml.read_configuration(pyproject, expand=True)["project"]
    assert project["version"] == ssl_video.__version__ == "0.2.0"
    assert cli.main(["--version"]) == 0
    assert capsys.readouterr().out == f"ssl-video {ssl_video.__version__}\n"


def test_version_from_the_installed_command():
    import subprocess
    import sys

    import ssl_video

    out = subprocess.run([sys.executable, "-m", "ssl_video.cli", "--version"], capture_output=True, text=True,
                         check=True, timeout=60)
    assert (out.stdout, out.stderr) == (f"ssl-video {ssl_video.__version__}\n", "")


def test_fit_help_describes_every_model_and_data_option(capsys):
    """jsonargparse takes each option's help from the class docstring's ``Args:`` section (docstring-parser): an
    argument missing there shows only ``(type: ..., default: ...)``."""
    import re

    import pytest

    with pytest.raises(SystemExit) as exit_info:
        cli.main(["fit", "--help"])
    assert exit_info.value.code == 0
    captured = capsys.readouterr()
    out = captured.out
    # a linked target (data.context --> model.context) without a docstring entry shows jsonargparse's placeholder
    assert "lacks type and help" not in out + captured.err
    blocks = re.split(r"\n(?=  --)", out)
    described = {}
    for block in blocks:
        option = re.match(r"  (--(?:model|data)\.[a-z_]+)\b(?!\.help)", block)
        if option is None:
            continue
        invocation, _, text = re.match(r"  (\S.*?)( {2,}|\n)(.*)", block, re.S).groups()
        described[option.group(1)] = " ".join(text.split())
    assert len([o for o in described if o.startswith("--model.")]) >= 12, sorted(described)
    assert len([o for o in described if o.startswith("--data.")]) >= 20, sorted(described)
    missing = sorted(o for o, text in described.items() if not text or text.startswith("("))
    assert not missing, f"no description in --help: {missing}"
