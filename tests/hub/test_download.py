from __future__ import annotations

import multiprocessing
import shutil
from pathlib import Path

import pytest
import torch

from ssl_video.hub import (
    ChecksumError,
    DownloadError,
    WeightsEntry,
    download,
    export_weights,
    load_encoder,
    register_weights,
    sha256_file,
    unregister_weights,
    weights_cache_dir,
)
from ssl_video.hub.format import WeightsFormatError

X = torch.randn(1, 3, 4, 32, 32)


@pytest.fixture
def exported(tiny_ckpt, tmp_path):
    """(served folder containing model.safetensors, its sha256, size, source encoder)."""
    ckpt, encoder = tiny_ckpt
    path = export_weights(ckpt, tmp_path / "served") / "model.safetensors"
    return path.parent, sha256_file(path), path.stat().st_size, encoder


@pytest.fixture
def entry_name():
    yield "test-tiny"
    unregister_weights("test-tiny")


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if not p.name.endswith(".lock")) if folder.exists() else []


def test_registered_download_verify_load_then_offline(exported, serve, entry_name):
    folder, sha, size, encoder = exported
    url, server = serve(folder)
    entry = register_weights(name=entry_name, url=f"{url}/model.safetensors", sha256=sha, size=size,
                             config={"architecture": "vit_tiny"})
    torch.testing.assert_close(load_encoder(entry_name)(X), encoder(X))
    assert sha256_file(entry.cache_path()) == sha and len(server.hits) == 1
    server.shutdown()  # offline from here on
    torch.testing.assert_close(load_encoder(entry_name, progress=False)(X), encoder(X))
    assert _leftovers(weights_cache_dir()) == [entry.cache_path().name]


def test_corrupted_cache_is_downloaded_again(exported, serve, entry_name):
    folder, sha, size, encoder = exported
    url, server = serve(folder)
    entry = register_weights(name=entry_name, url=f"{url}/model.safetensors", sha256=sha, size=size)
    load_encoder(entry_name, progress=False)
    entry.cache_path().write_bytes(b"garbage")
    torch.testing.assert_close(load_encoder(entry_name, progress=False)(X), encoder(X))
    assert len(server.hits) == 2


def test_connection_dropped_mid_file_leaves_nothing(exported, serve, tmp_path):
    folder, sha, size, _ = exported
    url, server = serve(folder, mode="drop")
    dest = tmp_path / "cache" / "model.safetensors"
    with pytest.raises(DownloadError, match="cut off|failed"):
        download(f"{url}/model.safetensors", dest, sha256=sha, progress=False)
    assert _leftovers(dest.parent) == [] and server.hits


def test_corrupted_file_refused_and_leaves_nothing(exported, serve, tmp_path):
    folder, sha, size, _ = exported
    url, _ = serve(folder, mode="corrupt")
    dest = tmp_path / "cache" / "model.safetensors"
    with pytest.raises(ChecksumError, match="does not match"):
        download(f"{url}/model.safetensors", dest, sha256=sha, size=size, progress=False)
    assert _leftovers(dest.parent) == []


def test_http_error_and_wrong_size(exported, serve, tmp_path):
    folder, sha, size, _ = exported
    url, _ = serve(folder)
    with pytest.raises(DownloadError, match="404"):
        download(f"{url}/missing.safetensors", tmp_path / "c" / "m.safetensors", progress=False)
    with pytest.raises(DownloadError, match="expected 5 bytes"):
        download(f"{url}/model.safetensors", tmp_path / "c" / "m.safetensors", size=5, progress=False)
    assert _leftovers(tmp_path / "c") == []


def _download_in_child(url: str, dest: str, sha: str, barrier) -> None:
    barrier.wait()  # both processes start the download at the same moment
    path = download(url, dest, sha256=sha, progress=False)
    if sha256_file(path) != sha:
        raise SystemExit(3)


def test_two_processes_download_the_same_file(exported, serve, tmp_path):
    folder, sha, _, _ = exported
    url, server = serve(folder, mode="slow")
    dest = tmp_path / "cache" / "model.safetensors"
    # fork: the children start in milliseconds (spawn re-imports torch: tens of seconds on 2 busy cores);
    # they only use urllib, filelock and hashlib, none of which the parent's server thread holds.
    ctx = multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn")
    barrier = ctx.Barrier(2)
    procs = [ctx.Process(target=_download_in_child, args=(f"{url}/model.safetensors", str(dest), sha, barrier))
             for _ in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0, 0]
    assert sha256_file(dest) == sha
    assert len(server.hits) == 1  # the second process waited on the lock and found the verified file
    assert _leftovers(dest.parent) == ["model.safetensors"]


def test_plain_url_file_url_and_hf(exported, serve, tmp_path, monkeypatch):
    folder, sha, _, encoder = exported
    url, _ = serve(folder)
    torch.testing.assert_close(load_encoder(f"{url}/model.safetensors", sha256=sha, progress=False)(X), encoder(X))
    torch.testing.assert_close(load_encoder((folder / "model.safetensors").as_uri(), progress=False)(X), encoder(X))
    hf_root = tmp_path / "hf"
    (hf_root / "org" / "repo" / "resolve" / "main").mkdir(parents=True)
    shutil.copy(folder / "model.safetensors", hf_root / "org" / "repo" / "resolve" / "main" / "model.safetensors")
    hf_url, hf_server = serve(hf_root)
    monkeypatch.setenv("HF_ENDPOINT", hf_url)
    torch.testing.assert_close(load_encoder("hf://org/repo", sha256=sha, progress=False)(X), encoder(X))
    assert hf_server.hits == ["/org/repo/resolve/main/model.safetensors"]


def test_wrong_sha_for_plain_url_refused(exported, serve):
    folder, sha, _, _ = exported
    url, _ = serve(folder)
    with pytest.raises(ChecksumError):
        load_encoder(f"{url}/model.safetensors", sha256="0" * 64, progress=False)
    assert not list((weights_cache_dir() / "urls").glob("*.safetensors"))


def test_mirror(exported, serve, monkeypatch, entry_name):
    folder, sha, size, encoder = exported
    url, server = serve(folder)
    # .invalid is reserved (RFC 2606): resolving it always fails, so only the mirror can serve it.
    register_weights(WeightsEntry(entry_name, "https://weights.invalid/v1/model.safetensors", sha, size))
    monkeypatch.setenv("SSL_VIDEO_WEIGHTS_MIRROR", url + "/")
    torch.testing.assert_close(load_encoder(entry_name, progress=False)(X), encoder(X))
    assert server.hits == ["/model.safetensors"]
    load_encoder("drive-future-vit-tiny", progress=False)  # shipped in the package: read there, not from the mirror
    assert server.hits == ["/model.safetensors"]


def test_a_cut_off_plain_url_without_length_or_sha256_is_refused_and_not_cached(exported, serve):
    folder, _, _, encoder = exported
    url, _ = serve(folder, mode="unsized")
    with pytest.raises(DownloadError, match="not a whole safetensors file"):
        load_encoder(f"{url}/model.safetensors", progress=False)
    assert not list((weights_cache_dir() / "urls").glob("*.safetensors"))
    url, server = serve(folder)  # served whole, it loads
    cached = load_encoder(f"{url}/model.safetensors", progress=False)
    torch.testing.assert_close(cached(X), encoder(X))
    (path,) = (weights_cache_dir() / "urls").glob("*.safetensors")
    path.write_bytes(path.read_bytes()[:1000])  # cut short in the cache
    torch.testing.assert_close(load_encoder(f"{url}/model.safetensors", progress=False)(X), encoder(X))
    assert len(server.hits) == 2


def test_pickle_urls_are_never_downloaded(serve, tmp_path):
    url, server = serve(tmp_path)
    for name in ("model.pt", "last.ckpt"):
        with pytest.raises(WeightsFormatError, match="only .safetensors"):
            load_encoder(f"{url}/{name}")
    assert server.hits == []


def test_get_encoder_with_registered_weights(exported, serve, entry_name):
    folder, sha, size, encoder = exported
    url, _ = serve(folder)
    register_weights(name=entry_name, url=f"{url}/model.safetensors", sha256=sha, size=size)
    from ssl_video import get_encoder

    torch.testing.assert_close(get_encoder("vit_tiny", weights=entry_name).eval()(X), encoder(X))
