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
    _one_error_line(capsys, "no usable video windows")
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
