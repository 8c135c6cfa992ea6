"""The docs a newcomer copies from: every fenced command of the README runs, and docs/cli.md is current.

``test_readme_commands`` reads README.md and runs its fenced ``bash`` commands in order, in a temporary folder
that holds what the README assumes (the quickstart's data, a ``footage/`` folder, new footage; all from the small
drive data of ``conftest.py``): the long commands with small overrides (fewer steps, seeds and fractions), the
rest as written; then its ``python`` blocks. A command that does not exist, a wrong flag or a path that the
commands before it did not write fails here, with the README line.
"""

from __future__ import annotations

import argparse
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ssl_video import cli

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"

# CI (.ci/run) runs exactly these two lines of the README.
INSTALL, TEST = 'pip install -e ".[dev]"', "python -m pytest -q"

# How a README command runs here: command words -> options replaced (or added) to make it small. Commands not
# listed are only parsed (their options checked, nothing run). A value of None removes the option.
SMALL: dict[tuple[str, ...], dict[str, list[str] | None]] = {
    ("quickstart",): {"--max-steps": ["2"], "--seeds": ["1"], "--fractions": ["1.0"], "--modes": ["pixels,linear"],
                      "--targets": ["speed_bucket"], "--small": None},
    ("fit",): {"--trainer.max_steps": ["2"], "--trainer.val_check_interval": ["2"]},
    ("probe",): {"--modes": ["pixels,linear"], "--seeds": ["1"], "--trained-seeds": ["1"], "--fractions": ["1.0"]},
    ("finetune",): {"--finetune-steps": ["2"]},
    ("embed",): {"--num-workers": ["0"]},
    ("predict",): {"--num-workers": ["0"]},
    ("mine",): {"--top": ["4"]},
    ("shadow",): {"--top": ["4"]},
    ("data", "index"): {},
    ("data", "prepare"): {"--workers": ["1"]},
    ("data", "make-drive"): {"--minutes": ["0.5"]},
    ("weights", "export"): {},
    ("weights", "list"): {},
    ("weights", "verify"): {},
}
# `fit` runs only with the CPU quickstart config; any other config is parsed (--print_config).
CPU_CONFIG = "configs/pretrain/quickstart.yaml"


def fenced_blocks(text: str, language: str) -> list[tuple[int, str]]:
    """(line number of the first line, body) of every ```language block."""
    blocks, body, start = [], None, 0
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if body is None and stripped == f"```{language}":
            body, start = [], number + 1
        elif body is not None and stripped == "```":
            blocks.append((start, "\n".join(body)))
            body = None
        elif body is not None:
            body.append(line)
    return blocks


def bash_commands(text: str) -> list[tuple[int, list[str]]]:
    """(README line, argv) of every command in the README's bash blocks: continuations joined, comments dropped."""
    commands = []
    for start, body in fenced_blocks(text, "bash"):
        joined, first = "", None
        for offset, line in enumerate(body.splitlines()):
            first = start + offset if first is None else first
            if line.rstrip().endswith("\\"):
                joined += line.rstrip()[:-1] + " "
                continue
            argv = shlex.split(joined + line, comments=True)
            joined, number, first = "", first, None
            if argv:
                commands.append((number, argv))
    return commands


def set_options(argv: list[str], options: dict[str, list[str] | None]) -> list[str]:
    """``argv`` with each option's values replaced (or the option added, or removed for None)."""
    argv = list(argv)
    for option, values in options.items():
        if option in argv:
            at = argv.index(option)
            end = at + 1
            while end < len(argv) and not argv[end].startswith("--"):
                end += 1
            argv[at:end] = [] if values is None else [option, *values]
        elif values is not None:
            argv += [option, *values]
    return argv


def pyproject_extras() -> set[str]:
    """The extras of pyproject.toml's [project.optional-dependencies] (tomllib is Python 3.11+)."""
    section = (ROOT / "pyproject.toml").read_text().split("[project.optional-dependencies]", 1)[-1]
    section = re.split(r"^\[", section, maxsplit=1, flags=re.M)[0]
    return set(re.findall(r"^([A-Za-z][\w-]*)\s*=", section, flags=re.M))


class _Parsed(Exception):
    """Raised once a command's options parsed: nothing runs."""


def run_parse_only(words: tuple[str, ...], argv: list[str], monkeypatch) -> int:
    """Parse ``ssl-video ARGV`` without running it: LightningCLI commands with --print_config, the others by
    stopping right after argparse accepted the options."""
    if words in (("fit",), ("validate",)):
        argv = [*argv, "--print_config"]
    monkeypatch.setattr(sys, "argv", ["ssl-video", *argv])  # as a shell starts it (LightningCLI compares the two)
    original = argparse.ArgumentParser.parse_args

    def parse_then_stop(self, *args, **kwargs):
        original(self, *args, **kwargs)
        raise _Parsed

    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", parse_then_stop)
    try:
        return cli.main(argv)
    except _Parsed:
        return 0
    finally:
        monkeypatch.setattr(argparse.ArgumentParser, "parse_args", original)


def run_ssl_video(argv: list[str], monkeypatch) -> tuple[int, str]:
    """Run ``ssl-video ARGV`` in this process, small or parse-only; (exit status, how it ran)."""
    words = next((w for w in sorted(cli.COMMANDS, key=len, reverse=True) if tuple(argv[: len(w)]) == w), ())
    if words and len(words) == 1 and len(argv) > 1 and (words[0], argv[1]) in SMALL:
        words = (words[0], argv[1])  # a subcommand (`weights export`)
    run = words in SMALL and not (words == ("fit",) and CPU_CONFIG not in argv)
    try:
        if run:
            argv = set_options(argv, SMALL[words])
            monkeypatch.setattr(sys, "argv", ["ssl-video", *argv])
            return cli.main(argv), "ran small"
        return run_parse_only(words, argv, monkeypatch), "parsed only"
    except SystemExit as exit_:  # argparse errors, or a command that exits with a message
        if exit_.code is None or isinstance(exit_.code, int):
            return exit_.code or 0, "exited"
        return 1, f"exited: {exit_.code}"


@pytest.fixture()
def readme_folder(tmp_path, drive_data, monkeypatch) -> Path:
    """A working folder with what the README's commands expect before they run: the quickstart's data (so the
    quickstart does not render 30 minutes), footage with a manifest, new footage, a video file and the configs."""
    work = tmp_path / "work"
    shutil.copytree(drive_data, work / "runs" / "quickstart" / "data")
    shutil.copytree(drive_data, work / "footage")
    shutil.copytree(drive_data, work / "data" / "drive")
    videos = sorted(drive_data.glob("*.mp4"))
    (work / "new_footage").mkdir()
    for video in videos[:2]:
        shutil.copy(video, work / "new_footage" / video.name)
    shutil.copy(videos[0], work / "drive.mp4")
    (work / "configs").symlink_to(ROOT / "configs", target_is_directory=True)
    monkeypatch.chdir(work)
    return work


def test_readme_commands(readme_folder, monkeypatch, capfd):
    text = README.read_text()
    commands = bash_commands(text)
    assert commands, "README.md has no ```bash blocks"
    assert shlex.split(INSTALL) in [argv for _, argv in commands], f"the README's install command must be `{INSTALL}`"
    assert shlex.split(TEST) in [argv for _, argv in commands], f"the README's test command must be `{TEST}`"
    extras = pyproject_extras()
    done = []
    for number, argv in commands:
        where = f"README.md:{number}: `{shlex.join(argv)}`"
        env = {}
        while argv and re.fullmatch(r"[A-Z_][A-Z0-9_]*=.*", argv[0]):
            name, value = argv.pop(0).split("=", 1)
            env[name] = value
        if argv[:1] == ["time"]:
            argv = argv[1:]
        with monkeypatch.context() as m:
            for name, value in env.items():
                m.setenv(name, value)
            if argv[:2] == ["pip", "install"]:
                for extra in re.findall(r"\[([\w,-]+)\]", " ".join(argv)):
                    unknown = set(extra.split(",")) - set(extras)
                    assert not unknown, f"{where}: pyproject.toml has no extra {sorted(unknown)}"
                continue  # installing is CI's job
            if argv == shlex.split(TEST):
                continue  # this is the run
            assert argv[0] == "ssl-video", f"{where}: tests/test_docs.py does not know how to run `{argv[0]}`"
            try:
                status, how = run_ssl_video(argv[1:], m)
            except Exception as error:
                raise AssertionError(f"{where} raised {error!r} (after {len(done)} commands)") from error
        output = capfd.readouterr()
        if status != 0:
            tail = "\n".join((output.out + output.err).splitlines()[-30:])
            pytest.fail(f"{where} exited with {status} ({how}, after {len(done)} commands)\n{tail}")
        done.append(where)

    for number, code in fenced_blocks(text, "python"):
        try:
            exec(compile(code, f"README.md:{number}", "exec"), {"__name__": "__readme__"})
        except Exception as error:
            raise AssertionError(f"README.md:{number}: the python block raised {error!r}") from error


def test_readme_runner_catches_wrong_commands(monkeypatch, capsys):
    """What the README test relies on: continuations and comments are read as a shell would, overrides replace
    values, and an unknown command or flag fails whether the command runs or is only parsed."""
    text = "```bash\nssl-video probe --encoder a \\\n    --seeds 3 --out b   # comment\n```\n"
    assert bash_commands(text) == [(2, ["ssl-video", "probe", "--encoder", "a", "--seeds", "3", "--out", "b"])]
    assert set_options(["probe", "--seeds", "3", "--small"], {"--seeds": ["1"], "--small": None, "--top": ["4"]}) == [
        "probe", "--seeds", "1", "--top", "4"]
    mine = ["mine", "--encoder", "x", "--data", "y", "--out", "z"]
    assert run_parse_only(("mine",), mine, monkeypatch) == 0
    with pytest.raises(SystemExit) as exit_:
        run_parse_only(("mine",), [*mine, "--no-such-flag"], monkeypatch)
    assert exit_.value.code == 2
    assert run_ssl_video(["no-such-command"], monkeypatch)[0] == 2
    fit = ["fit", "--config", str(ROOT / "configs" / "pretrain" / "vit_s_16x224.yaml"), "--no-such-flag"]
    assert run_ssl_video(fit, monkeypatch)[0] != 0  # a GPU config: parsed only (--print_config), and refused
    capsys.readouterr()


def test_readme_links_resolve():
    """Every relative link of the README points at a file or folder of the repository."""
    text = README.read_text()
    missing = []
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+://", target) or target.startswith("#"):
            continue
        if not (ROOT / target.split("#")[0]).exists():
            missing.append(target)
    assert not missing, f"README.md links to files that do not exist: {missing}"


def test_cli_reference_is_current():
    """docs/cli.md is what `python docs/gen_cli.py` writes from the commands' --help (whitespace aside). Rendered in a
    fresh interpreter: the help of --model.objectives lists every Objective subclass imported so far, and other tests
    import benchmark subclasses."""
    code = ("import importlib.util, sys; spec = importlib.util.spec_from_file_location('gen_cli', sys.argv[1]); "
            "m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m); sys.stdout.write(m.render())")
    done = subprocess.run([sys.executable, "-c", code, str(ROOT / "docs" / "gen_cli.py")], capture_output=True,
                          text=True, check=True, cwd=ROOT)
    current = (ROOT / "docs" / "cli.md").read_text() if (ROOT / "docs" / "cli.md").is_file() else ""
    squash = lambda s: re.sub(r"\s+", " ", s).strip()  # noqa: E731
    assert squash(current) == squash(done.stdout), (
        "docs/cli.md is out of date with the commands' --help: run `python docs/gen_cli.py` and commit docs/cli.md")
