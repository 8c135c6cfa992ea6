from __future__ import annotations

import json

from ssl_video.cli import main
from ssl_video.commands.weights import cli_main


def test_export_list_download_verify(tiny_ckpt, tmp_path, serve, monkeypatch, capsys):
    ckpt, _ = tiny_ckpt
    out = tmp_path / "weights"
    assert cli_main(["export", str(ckpt), str(out), "--name", "drive-tiny", "--license", "CC-BY-4.0"]) == 0
    printed = capsys.readouterr().out
    entry = json.loads(printed.strip().splitlines()[-1])
    assert entry["name"] == "drive-tiny" and entry["config"]["architecture"] == "vit_tiny"
    assert entry["license"] == "CC-BY-4.0" and entry["version"] is None

    url, _ = serve(out)
    entry["url"] = f"{url}/model.safetensors"
    registry = tmp_path / "registry.json"
    registry.write_text(json.dumps({"weights": [entry]}))
    monkeypatch.setenv("SSL_VIDEO_WEIGHTS_REGISTRY", str(registry))

    assert cli_main(["list"]) == 0
    (row,) = [line for line in capsys.readouterr().out.splitlines() if line.startswith("drive-tiny ")]
    assert "CC-BY-4.0" in row and entry["sha256"][:12] in row and "not downloaded" in row
    assert cli_main(["verify", "drive-tiny"]) == 1  # not downloaded yet
    assert cli_main(["download", "drive-tiny", "--quiet"]) == 0
    cached = capsys.readouterr().out.strip().splitlines()[-1]
    assert cli_main(["verify", "drive-tiny"]) == 0
    assert cli_main(["verify", str(out)]) == 0
    assert "= registered ['drive-tiny']" in capsys.readouterr().out
    with open(cached, "r+b") as f:  # corrupt the cached copy in place
        f.seek(200)
        f.write(b"\x00\x01\x02")
    assert cli_main(["verify"]) == 1
    assert "SHA256 MISMATCH" in capsys.readouterr().out


def test_verify_checks_the_packaged_builtin_weights_on_a_fresh_install(capsys):
    assert cli_main(["verify", "drive-future-vit-tiny"]) == 0  # nothing in the cache yet
    from ssl_video.hub.registry import builtin_weights

    assert f"{builtin_weights()[0].full_name}: OK" in capsys.readouterr().out
    assert cli_main(["verify"]) == 0


def test_errors_are_reported_not_raised(tmp_path, capsys):
    assert main(["weights", "download", "nope"]) == 2
    assert "unknown weights 'nope'" in capsys.readouterr().err
    assert cli_main(["list"]) == 0
    assert "drive-future-vit-tiny" in capsys.readouterr().out  # the built-in weights, listed without any registry


def test_export_into_a_broken_registry_file_is_one_line_naming_it(tiny_ckpt, tmp_path, capsys):
    ckpt, _ = tiny_ckpt
    registry = tmp_path / "registry.json"
    for text, needle in [("{oops", "cannot read it as JSON"), ('{"weights": {}}', 'expected {"weights": [...]}')]:
        registry.write_text(text)
        assert main(["weights", "export", str(ckpt), str(tmp_path / "w"), "--name", "x", "--registry",
                     str(registry)]) == 2
        err = capsys.readouterr().err
        (line,) = [line for line in err.splitlines() if line.startswith("ssl-video")]
        assert "Traceback" not in err and f"weights registry {registry}: {needle}" in line
        assert "fix or remove the file" in line and registry.read_text() == text  # left as it was
