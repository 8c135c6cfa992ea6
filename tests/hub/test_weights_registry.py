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
from ssl_video.hub.registry import BUILTIN_REGISTRY, add_to_registry, builtin_weights, fetch_weights

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


def test_a_later_registry_may_not_take_over_a_name(tmp_path, monkeypatch):
    """A bare name loads its newest version: a registry adding a version to another source's name would silently
    swap the weights behind it."""
    builtin = builtin_weights()[0]
    later = _write_registry(tmp_path / "later.json",
                            WeightsEntry(builtin.name, "https://h/x.safetensors", SHA, version=builtin.version + 1))
    monkeypatch.setenv("SSL_VIDEO_WEIGHTS_REGISTRY", str(later))
    with pytest.raises(ValueError, match=rf"later.json: weights name '{builtin.name}' belongs to the built-in"):
        list_weights()
    mixed = _write_registry(tmp_path / "mixed.json", WeightsEntry("m", "https://h/a.safetensors", SHA),
                            WeightsEntry("m", "https://h/b.safetensors", SHA, version=2))
    monkeypatch.setenv("SSL_VIDEO_WEIGHTS_REGISTRY", str(mixed))
    with pytest.raises(ValueError, match="'m' has entries with and without a version"):
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
    header, *rows = capsys.readouterr().out.splitlines()
    assert header.split()[:3] == ["NAME", "VERSION", "ARCH"] and "LICENSE" in header and "SHA256" in header
    for e in builtin_weights():
        (row,) = [r for r in rows if r.startswith(f"{e.full_name} ")]
        assert e.full_name.endswith(f"@{e.version}") and f" {e.version} " in row
        assert e.license in row and e.sha256[:12] in row and "built-in" in row
        target, values = next(iter(e.metrics["scores"].items()))
        assert f"{target} 10%: {values['10%']:.3f}, 100%: {values['100%']:.3f}" in row
        assert f"{e.name} = {e.full_name}" in rows[-2]


def test_versioned_and_bare_builtin_names_load_the_same_weights():
    (entry,) = [e for e in builtin_weights() if e.name == "drive-future-vit-tiny"]
    bare, pinned = load_encoder(entry.name, progress=False), load_encoder(entry.full_name, progress=False)
    for a, b in zip(bare.state_dict().values(), pinned.state_dict().values(), strict=True):
        assert torch.equal(a, b)


def test_a_bare_name_loads_the_newest_version_and_name_at_n_pins_one(tmp_path, monkeypatch):
    other = "cd" * 32
    registry = _write_registry(tmp_path / "r.json",
                               WeightsEntry("enc", "https://h/enc-v1.safetensors", SHA, version=1),
                               WeightsEntry("enc", "https://h/enc-v3.safetensors", other, version=3),
                               WeightsEntry("plain", "https://h/plain.safetensors", SHA))
    monkeypatch.setenv("SSL_VIDEO_WEIGHTS_REGISTRY", str(registry))
    assert get_weights("enc").sha256 == other and get_weights("enc").full_name == "enc@3"
    assert get_weights("enc@1").sha256 == SHA and get_weights("enc@1").filename == "enc-v1.safetensors"
    assert get_weights("plain").full_name == "plain" and get_weights("plain").version is None
    assert [e.full_name for e in list_weights()][-3:] == ["enc@1", "enc@3", "plain"]
    with pytest.raises(ValueError, match=r"'enc@2': no such version; 'enc' has \['enc@1', 'enc@3'\]"):
        get_weights("enc@2")
    with pytest.raises(ValueError, match=r"'enc@x': no such version.*bare 'enc' loads the newest"):
        get_weights("enc@x")
    with pytest.raises(ValueError, match="unknown weights 'other@1'"):
        get_weights("other@1")
    with pytest.raises(ValueError, match="reserved for the version"):
        WeightsEntry("enc@2", "https://h/x.safetensors", SHA)
    with pytest.raises(ValueError, match="positive integer"):
        WeightsEntry("enc", "https://h/x.safetensors", SHA, version=0)


def test_builtin_weights_are_versioned_licensed_and_scored():
    """The name has meant four files (sha256 a8939224, 84d00c13, 5fa48ab8, e377c380); the shipped one is version 4,
    the old name keeps working, and the entry states its licence and the probe scores it was measured at."""
    entry = get_weights("drive-future-vit-tiny")
    assert entry == get_weights("drive-future-vit-tiny@4") and entry.full_name == "drive-future-vit-tiny@4"
    assert entry.sha256 == "e377c3803df2b28e2ecceb66c208c913ef40770ffe7627ee3792a364b91d6fe8"
    assert entry.license == "Apache-2.0"
    scores = entry.metrics["scores"]
    assert set(scores) >= {"speed_bucket"} and all(set(v) == {"10%", "100%"} for v in scores.values())
    for target, values in scores.items():  # a score above both baselines it was measured with
        for fraction, value in values.items():
            assert 0 < value <= 1
            for baseline in entry.metrics["baselines"].values():
                assert value > baseline[target][fraction], (target, fraction)
    assert "ssl-video probe" in entry.metrics["command"] and entry.metrics["protocol"]
    card = BUILTIN_REGISTRY.parents[3] / "docs" / "weights" / f"{entry.name}.md"
    if card.parent.is_dir():  # a source checkout (the wheel has no docs/): the model card says the same
        text = card.read_text()
        assert entry.full_name in text and entry.license in text and entry.sha256 in text
        assert all(f"{v:.3f}" in text for values in scores.values() for v in values.values())


def test_add_to_registry_keeps_versions(tiny_ckpt, tmp_path, monkeypatch):
    ckpt, _ = tiny_ckpt
    first = export_weights(ckpt, tmp_path / "a") / "model.safetensors"
    second = tmp_path / "b.safetensors"
    second.write_bytes(first.read_bytes() + b" ")  # another file (sha256) under the same name
    registry = tmp_path / "team" / "registry.json"
    v1 = add_to_registry(first, registry, name="team-tiny", config={"architecture": "vit_tiny"}, license="MIT")
    v2 = add_to_registry(second, registry, name="team-tiny", config={"architecture": "vit_tiny"})
    assert (v1.full_name, v1.filename, v1.license) == ("team-tiny@1", "team-tiny.safetensors", "MIT")
    assert (v2.full_name, v2.filename) == ("team-tiny@2", "team-tiny-v2.safetensors")
    again = add_to_registry(first, registry, name="team-tiny", config={"architecture": "vit_tiny"})
    assert again.full_name == "team-tiny@1"  # the same file again: its own entry, not a third version
    items = json.loads(registry.read_text())["weights"]
    assert sorted((i["version"], i["url"]) for i in items) == [(1, "team-tiny.safetensors"),
                                                                (2, "team-tiny-v2.safetensors")]
    assert (tmp_path / "team" / "team-tiny.safetensors").read_bytes() == first.read_bytes()
    # a name that looks like a version's file gets its own file: no entry's bytes are overwritten
    other = add_to_registry(second, registry, name="team-tiny-v2", config={"architecture": "vit_tiny"})
    assert other.filename == f"team-tiny-v2-{other.sha256[:12]}.safetensors"
    monkeypatch.setenv("SSL_VIDEO_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SSL_VIDEO_WEIGHTS_REGISTRY", str(registry))
    assert fetch_weights("team-tiny@2", progress=False).read_bytes() == second.read_bytes()


def test_a_registry_written_before_versions_gets_them(tmp_path):
    new = tmp_path / "new.safetensors"
    new.write_bytes(b"another file")
    registry = _write_registry(tmp_path / "registry.json", WeightsEntry("old", "file:///w/old.safetensors", SHA))
    entry = add_to_registry(new, registry, name="old", config={})
    assert (entry.full_name, entry.filename) == ("old@2", "old-v2.safetensors")
    assert [(i["version"], i["sha256"]) for i in json.loads(registry.read_text())["weights"]] == [(1, SHA),
                                                                                                   (2, entry.sha256)]
