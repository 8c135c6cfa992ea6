"""Every user mistake on the `ssl-video` command line: one line on stderr, exit status 2, no traceback;
--debug / SSL_VIDEO_DEBUG=1 show it; a bug still raises."""

from __future__ import annotations

from pathlib import Path

import pytest

import ssl_video.commands.probe
from ssl_video.cli import main
from ssl_video.errors import UserError

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "pretrain" / "quickstart.yaml"


def _one_error_line(capsys, *needles: str) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.startswith("ssl-video")]
    assert len(lines) == 1, err
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def test_probe_missing_manifest(tmp_path, capsys):
    assert main(["probe", "--encoder", "vit_tiny", "--data", str(tmp_path / "missing.csv"), "--target", "x",
                 "--out", str(tmp_path / "o")]) == 2
    _one_error_line(capsys, "missing.csv", "no such folder or manifest CSV")


def test_manifest_whose_videos_are_missing(tmp_path, capsys):
    (tmp_path / "labels.csv").write_text("video,start_s,end_s,label\nnope.mp4,0,2,a\n")
    assert main(["probe", "--encoder", "vit_tiny", "--data", str(tmp_path / "labels.csv"), "--target", "label",
                 "--out", str(tmp_path / "o")]) == 2
    _one_error_line(capsys, "no usable windows", "nope.mp4", "ssl-video data index")


def test_unknown_target_column_is_refused_before_decoding(drive_data, tmp_path, capsys):
    assert main(["probe", "--encoder", "vit_tiny", "--data", str(drive_data / "labels.csv"), "--target", "nosuch",
                 "--out", str(tmp_path / "o"), "--cache-dir", str(tmp_path / "cache")]) == 2
    _one_error_line(capsys, "'nosuch'", "speed_bucket")
    assert not list((tmp_path / "cache").glob("clips-*.npy"))  # nothing was decoded


def test_bad_values(tmp_path, drive_data, capsys):
    assert main(["probe", "--encoder", "vit_tiny", "--data", str(drive_data), "--target", "x", "--fractions", "2",
                 "--out", str(tmp_path / "o")]) == 2
    _one_error_line(capsys, "fractions must be in (0, 1]")
    assert main(["probe", "--encoder", "no_such_encoder", "--data", str(drive_data), "--target", "x",
                 "--out", str(tmp_path / "o")]) == 2
    _one_error_line(capsys, "no_such_encoder")
    with pytest.raises(SystemExit) as exit_info:  # argparse's own errors: usage + one error line, status 2
        main(["data", "make-drive", str(tmp_path / "d"), "--minutes", "-1"])
    assert exit_info.value.code == 2


def test_fit_before_any_data_was_rendered(tmp_path, capsys):
    data = tmp_path / "data" / "drive"
    assert main(["fit", "--config", str(CONFIG), "--data.data", str(data), "--trainer.default_root_dir",
                 str(tmp_path / "run"), "--trainer.max_steps", "1", "--trainer.enable_progress_bar", "false"]) == 2
    _one_error_line(capsys, f"data.data={data}", f"ssl-video data make-drive {data}")


def test_no_usable_videos_and_missing_folders(tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "broken.mp4").write_bytes(b"not a video")
    assert main(["mine", "--encoder", "vit_tiny", "--data", str(empty), "--out", str(tmp_path / "m")]) == 2
    _one_error_line(capsys, "no usable windows (1 videos skipped)", f"ssl-video data index {empty}")
    assert main(["weights", "download", "no-such-weights"]) == 2
    _one_error_line(capsys, "unknown weights 'no-such-weights'")


def test_debug_shows_the_traceback_and_bugs_still_raise(tmp_path, monkeypatch):
    argv = ["probe", "--encoder", "vit_tiny", "--data", str(tmp_path / "missing.csv"), "--target", "x",
            "--out", str(tmp_path / "o")]
    with pytest.raises(UserError):
        main([*argv, "--debug"])
    monkeypatch.setenv("SSL_VIDEO_DEBUG", "1")
    with pytest.raises(FileNotFoundError):  # MissingInput is a FileNotFoundError too
        main(argv)
    monkeypatch.delenv("SSL_VIDEO_DEBUG")

    def bug(argv):
        raise RuntimeError("a bug")

    monkeypatch.setattr(ssl_video.commands.probe, "probe_main", bug)
    with pytest.raises(RuntimeError, match="a bug"):
        main(argv)


def _fit_output(tmp_path, data) -> tuple[int, list[str]]:
    """``ssl-video fit`` as a user runs it, in its own process: (exit status, every line of stdout and stderr)."""
    import os
    import subprocess
    import sys

    run = subprocess.run([sys.executable, "-m", "ssl_video.cli", "fit", "--config", str(CONFIG), "--data.data",
                          str(data), "--trainer.default_root_dir", str(tmp_path / "run")],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=300,
                         env={**os.environ, "OMP_NUM_THREADS": "1"})
    return run.returncode, run.stdout.splitlines()


def test_fit_with_missing_data_prints_one_line_and_nothing_before_it(tmp_path):
    """No Lightning log line, no advertisement: the user error is the first and only line."""
    status, lines = _fit_output(tmp_path, "/missing")
    assert status == 2 and len(lines) == 1, lines
    assert lines[0].startswith("ssl-video fit: error: data.data=/missing: no such folder or manifest CSV")
    assert not (tmp_path / "run").exists()  # nothing was built


@pytest.mark.slow
def test_fit_checks_the_manifest_rows_and_the_folder_before_the_trainer(tmp_path):
    bad = tmp_path / "labels.csv"
    bad.write_text("video,start_s,end_s\na.mp4,0,2\na.mp4,4,3\n")
    empty = tmp_path / "no videos"
    empty.mkdir()
    (empty / "notes.txt").write_text("no videos here\n")
    for data, needle in [(bad, "labels.csv: row 3: start_s=4 is not before end_s=3"),
                         (empty, "no video files (.mp4 .mkv .webm .avi .mov) in this folder or below")]:
        status, lines = _fit_output(tmp_path, data)
        assert status == 2 and len(lines) == 1, lines
        assert lines[0].startswith("ssl-video fit: error: ") and needle in lines[0], lines


def test_lightning_advertisements_are_dropped_and_its_other_lines_kept(monkeypatch):
    import logging

    import pytorch_lightning as pl

    import ssl_video.commands  # noqa: F401 - installs the filter, as every command module does

    messages = []
    handler = logging.Handler()
    handler.emit = lambda record: messages.append(record.getMessage())
    banners = logging.getLogger("pytorch_lightning.utilities.rank_zero")  # where Lightning logs both
    monkeypatch.setattr(banners, "level", logging.INFO)
    banners.addHandler(handler)
    try:
        pl.Trainer(logger=False, enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                   accelerator="cpu")
    finally:
        banners.removeHandler(handler)
    assert any("GPU available" in m for m in messages), messages  # Lightning's lines still reach the log
    assert not any("Tip" in m or "litlogger" in m or "litmodels" in m for m in messages), messages


def test_a_corrupt_weights_file_is_one_line_naming_it(tmp_path, drive_data, capsys):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x00" * 64)  # no safetensors header
    assert main(["weights", "verify", str(bad)]) == 2
    _one_error_line(capsys, "ssl-video weights: error: ", f"{bad}: not a readable safetensors file")
    assert main(["embed", "--encoder", str(bad), "--data", str(drive_data), "--out", str(tmp_path / "e")]) == 2
    _one_error_line(capsys, "ssl-video embed: error: ", str(bad))


def test_a_failed_download_is_one_line_with_the_url_and_what_to_do(tmp_path, monkeypatch, capsys):
    import json

    url = (tmp_path / "gone.safetensors").as_uri()
    registry = tmp_path / "registry.json"
    registry.write_text(json.dumps({"weights": [{"name": "gone", "url": url, "sha256": "0" * 64}]}))
    monkeypatch.setenv("SSL_VIDEO_WEIGHTS_REGISTRY", str(registry))
    assert main(["weights", "download", "gone", "--quiet"]) == 2
    _one_error_line(capsys, "ssl-video weights: error: download of", url, "run it again")


def test_an_unreadable_extra_file_is_one_line_naming_it(tmp_path, capsys):
    ckpt, out, extra = tmp_path / "last.ckpt", str(tmp_path / "w"), tmp_path / "extra.json"
    ckpt.write_bytes(b"")  # never read: --extra is checked first
    extra.write_text("{not json")
    assert main(["weights", "export", str(ckpt), out, "--extra", str(extra)]) == 2
    _one_error_line(capsys, f"--extra {extra}: cannot read it as JSON")
    extra.write_text('{"architecture": "vit_large"}')
    assert main(["weights", "export", str(ckpt), out, "--extra", str(extra)]) == 2
    _one_error_line(capsys, f"--extra {extra}: may not set 'architecture'")
    assert main(["weights", "export", str(ckpt), out, "--extra", str(tmp_path / "nope.json")]) == 2
    _one_error_line(capsys, "nope.json: no such file")


def test_quickstart_with_a_missing_config(tmp_path, capsys):
    assert main(["quickstart", "--config", str(tmp_path / "nope.yaml"), "--out", str(tmp_path / "q")]) == 2
    _one_error_line(capsys, "ssl-video quickstart: error: --config", "nope.yaml", "pass --config PATH")
    assert not (tmp_path / "q").exists()  # nothing was started


def test_a_bad_objective_argument_names_its_place_in_the_config(tmp_path, drive_data, capsys):
    config = tmp_path / "objectives.yaml"
    config.write_text("model:\n  objectives:\n"
                      "    - class_path: ssl_video.pretrain.objectives.future_pixels.FuturePixels\n"
                      "    - class_path: ssl_video.pretrain.objectives.future_features.FutureFeatures\n"
                      "      init_args:\n        context_mask: 1.5\n")
    assert main(["fit", "--config", str(CONFIG), "--config", str(config), "--data.data", str(drive_data),
                 "--trainer.default_root_dir", str(tmp_path / "run"), "--trainer.max_steps", "1"]) == 2
    _one_error_line(capsys, "ssl-video fit: error: model.objectives[1].init_args.context_mask (future_features): "
                            "must be in [0, 1), got 1.5")
    assert not (tmp_path / "run").exists()
