from __future__ import annotations

import dataclasses
import json
import os

import pytest
import torch

from ssl_video.hub import (
    WeightsEntry,
    get_weights,
    list_weights,
    load_encoder,
    register_weights,
    resolve_url,
    unregister_weights,
)
from ssl_video.hub.download import DownloadError
from ssl_video.hub.format import export_weights
from ssl_video.hub.registry import BUILTIN_REGISTRY, add_to_registry, builtin_weights

SHA = "ab" * 32


def _write_registry(path, *entries):
    path.write_text(json.dumps({"weights": [dataclasses.asdict(e) for e in entries]}))
    return path


def test_entry_is_validated_and_frozen():
    entry = WeightsEntry("a", "https://example.org/w/model.safetensors", SHA, 10, {"architecture": "vit_tiny"})
    assert entry.filename == "model.safetensors"
    assert entry.cache_path().name == f"a-{SHA[:12]}.safetensors"
    with pytest.raises(dataclasses.FrozenInstanceError):
        entry.url = "x"
    with pytest.raises(ValueError, match="sha256"):
        WeightsEntry("a", "https://example.org/m.safetensors", "abc")
    with pytest.raises(ValueError, match="must start with"):
        WeightsEntry("a", "ftp://example.org/m.safetensors", SHA)


def test_env_files_extend_the_builtin_entries(tmp_path, monkeypatch):
    builtin = [e.name for e in builtin_weights()]
    assert [e.name for e in list_weights()] == builtin
    one = _write_registry(tmp_path / "one.json", WeightsEntry("one", "file:///w/one.safetensors", SHA))
    two = _write_registry(tmp_path / "two.json", WeightsEntry("two", "hf://org/repo", "cd" * 32, 5))
    monkeypatch.setenv("SSL_VIDEO_WEIGHTS_REGISTRY", os.pathsep.join([str(one), str(two)]))
    assert [e.name for e in list_weights()] == [*builtin, "one", "two"]
    assert get_weights("two").size == 5
    with pytest.raises(ValueError, match="unknown weights 'three'.*'one', 'two'"):
        get_weights("three")


def test_bad_registry_file_names_the_file(tmp_path, monkeypatch):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"weights": [{"name": "x", "url": "https://h/x.safetensors"}]}))
    monkeypatch.setenv("SSL_VIDEO_WEIGHTS_REGISTRY", str(bad))
    with pytest.raises(ValueError, match="bad.json: entry 0"):
        list_weights()
    bad.write_text("[1, 2]")
    with pytest.raises(ValueError, match=r"bad.json: expected"):
        list_weights()


def test_register_weights_refuses_duplicates():
    try:
        register_weights(name="dup", url="https://example.org/m.safetensors", sha256=SHA)
        with pytest.raises(ValueError, match="already registered"):
            register_weights(WeightsEntry("dup", "https://example.org/other.safetensors", SHA))
    finally:
        unregister_weights("dup")


def test_resolve_url(monkeypatch):
    assert resolve_url("hf://org/repo") == "https://huggingface.co/org/repo/resolve/main/model.safetensors"
    assert resolve_url("hf://org/repo/sub/w.safetensors") == "https://huggingface.co/org/repo/resolve/main/sub/w.safetensors"
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9/")
    assert resolve_url("hf://org/repo") == "http://127.0.0.1:9/org/repo/resolve/main/model.safetensors"
    assert resolve_url("http://h/x") == "http://h/x"
    with pytest.raises(ValueError, match="hf://org/repo"):
        resolve_url("hf://org")
    with pytest.raises(ValueError, match="unsupported"):
        resolve_url("s3://bucket/x")


def test_registry_folder_holds_its_weights_with_relative_urls(tiny_ckpt, tmp_path, monkeypatch):
    ckpt, encoder = tiny_ckpt
    exported = export_weights(ckpt, tmp_path / "exported") / "model.safetensors"
    registry = tmp_path / "team" / "registry.json"
    entry = add_to_registry(exported, registry, name="team-tiny", config={"architecture": "vit_tiny"})
    assert json.loads(registry.read_text())["weights"][0]["url"] == "team-tiny.safetensors"  # relative: movable
    assert entry.url == (tmp_path / "team" / "team-tiny.safetensors").as_uri()
    add_to_registry(exported, registry, name="team-tiny", config={"architecture": "vit_tiny"})  # replaces, no dup
    assert len(json.loads(registry.read_text())["weights"]) == 1
    monkeypatch.setenv("SSL_VIDEO_WEIGHTS_REGISTRY", str(registry))
    loaded = load_encoder("team-tiny", progress=False)
    for a, b in zip(loaded.state_dict().values(), encoder.state_dict().values()):
        assert torch.equal(a, b)
    # The same verification as a download: a changed file is refused.
    entry.cache_path().unlink()
    with open(tmp_path / "team" / "team-tiny.safetensors", "r+b") as f:
        f.seek(300)
        f.write(b"\x00\x01\x02")
    with pytest.raises(DownloadError, match="sha256"):
        load_encoder("team-tiny", progress=False)



def test_builtin_weights_load_offline_and_describe_their_training():
    entries = builtin_weights()
    assert entries, f"no built-in weights in {BUILTIN_REGISTRY}"
    for entry in entries:
        path = BUILTIN_REGISTRY.parent / entry.filename
        assert path.stat().st_size == entry.size <= 10_000_000
        facts = entry.config["training"]
        for key in ("minutes_of_video", "steps", "clips_seen", "hardware", "wall_minutes", "data"):
            assert key in facts, f"{entry.name}: training.{key} missing"
        encoder = load_encoder(entry.name, progress=False)  # file:// inside the package, sha256 checked: no network
        pre = entry.config["preprocessing"]
        frames = pre["context"] + pre["future"]
        with torch.no_grad():
            out = encoder(torch.zeros(1, 3, frames, *pre["size"]))
        assert out.shape == (1, encoder.embed_dim)


def test_weights_list_marks_builtin_weights(capsys):
    from ssl_video.commands.weights import cli_main

    assert cli_main(["list"]) == 0
    out = capsys.readouterr().out
    assert all(f"{e.name}" in out for e in builtin_weights()) and "built-in" in out
