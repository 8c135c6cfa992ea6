"""Foreign encoders against their models' own forward (atol 1e-5, float32): tokens, pooled features and the
preprocessing read from the saved files; the hf:// download over 127.0.0.1; safe loading and one-line errors."""

from __future__ import annotations

import argparse
import importlib.util
import sys

import pytest
import torch
from foreign_helpers import MEAN, STD, TINY, save_tiny_hf, serve_hub, tiny_mvit
from torchvision.models import get_model, get_model_weights

from ssl_video.errors import UserError
from ssl_video.hub import DownloadError, export_weights
from ssl_video.hub.foreign import is_foreign, load_foreign_encoder, random_foreign_encoder, to_videovit
from ssl_video.hub.foreign.base import split_options
from ssl_video.hub.foreign.tv import TorchvisionEncoder, clip_record
from ssl_video.hub.format import WeightsFormatError

X = torch.randn(2, 3, 4, 32, 32, generator=torch.Generator().manual_seed(1))
ATOL = dict(atol=1e-5, rtol=0)


def _reference(kind: str, model: torch.nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(tokens (B, N, D) time-major, pooled (B, D)) from the transformers model's own forward."""
    if kind == "vjepa2":
        tokens = model(pixel_values_videos=x.transpose(1, 2), skip_predictor=True).last_hidden_state
        return tokens, tokens.mean(1)
    out = model(pixel_values=x.transpose(1, 2)).last_hidden_state
    if kind == "videomae":
        return out, out.mean(1)
    B, _, D = out.shape  # timesformer: [CLS, patches in (h, w, t) order]
    patches = out[:, 1:].reshape(B, 4, 4, 4, D).permute(0, 3, 1, 2, 4)  # (B, h, w, t, D) -> (B, t, h, w, D)
    return patches.reshape(B, 64, D), out[:, 0]


@pytest.mark.parametrize("kind", sorted(TINY))
def test_hf_folder_parity_and_preprocessing(kind, tmp_path):
    pytest.importorskip("transformers")
    model = save_tiny_hf(kind, tmp_path / kind)
    encoder, config = load_foreign_encoder(tmp_path / kind)
    with torch.no_grad():
        tokens, pooled = encoder.forward_tokens_and_pooled(X)
        ref_tokens, ref_pooled = _reference(kind, model, X)
        torch.testing.assert_close(tokens, ref_tokens, **ATOL)
        torch.testing.assert_close(pooled, ref_pooled, **ATOL)
        torch.testing.assert_close(encoder(X), ref_pooled, **ATOL)
        torch.testing.assert_close(encoder.forward_features(X), ref_tokens, **ATOL)
    t, h, w = encoder.grid_size(4, 32, 32)
    assert tokens.shape == (2, t * h * w, 48) and encoder.embed_dim == 48 and not encoder.training
    fps = {"videomae": 7.5, "vjepa2": 4.0, "timesformer": 0.9375}[kind]
    zoom = {"vjepa2": ":36"}.get(kind, "")  # V-JEPA 2's processor: short side to crop * 256 / 224, then crop
    assert config["preprocessing"] == {"fps": fps, "size": [32, 32], "context": 4, "future": 0,
                                         "mean": MEAN, "std": STD, "resize": f"short_side_crop{zoom}"}
    assert config["architecture"] == f"hf:{kind}" and config["source"] == str(tmp_path / kind)
    assert config["args"]["hidden_size"] == 48


def test_hf_without_processor_uses_imagenet_and_options(tmp_path):
    pytest.importorskip("transformers")
    save_tiny_hf("vjepa2", tmp_path / "vj", processor=False)
    _, config = load_foreign_encoder(f"{tmp_path / 'vj'}?frames=8&fps=10")
    assert config["preprocessing"] == {"fps": 10.0, "size": [32, 32], "context": 8, "future": 0,
                                         "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225],
                                         "resize": "short_side_crop:36"}  # as V-JEPA 2's processor would
    with pytest.raises(UserError, match="multiple of the tubelet"):
        load_foreign_encoder(f"{tmp_path / 'vj'}?frames=3")
    with pytest.raises(UserError, match="exactly \\[32, 32\\]"):
        load_foreign_encoder(f"{tmp_path / 'vj'}?size=64")
    save_tiny_hf("videomae", tmp_path / "vm", processor=False)
    with pytest.raises(UserError, match="exactly 4 frames"):
        load_foreign_encoder(f"{tmp_path / 'vm'}?frames=8")


def test_hf_grid_refuses_other_clips(tmp_path):
    pytest.importorskip("transformers")
    save_tiny_hf("videomae", tmp_path / "vm")
    encoder, _ = load_foreign_encoder(tmp_path / "vm")
    with pytest.raises(ValueError, match="exactly"):
        encoder(torch.randn(1, 3, 6, 32, 32))


def test_hf_download_over_loopback_then_offline(tmp_path, monkeypatch):
    pytest.importorskip("transformers")
    constants = pytest.importorskip("huggingface_hub.constants")
    model = save_tiny_hf("videomae", tmp_path / "repo")
    (tmp_path / "repo" / "pytorch_model.bin").write_bytes(b"a pickle that must never be fetched")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    url, server = serve_hub(tmp_path / "repo", "org/tiny-videomae")
    monkeypatch.setenv("HF_ENDPOINT", url)
    try:
        encoder, config = load_foreign_encoder("hf://org/tiny-videomae")
    finally:
        server.shutdown()
        server.server_close()
    assert "/api/models/org/tiny-videomae/revision/main" in server.hits
    assert not [h for h in server.hits if h.endswith(".bin")]
    assert config["source"] == "hf://org/tiny-videomae" and config["preprocessing"]["mean"] == pytest.approx(MEAN)
    ref = model(pixel_values=X.transpose(1, 2)).last_hidden_state
    torch.testing.assert_close(encoder.forward_features(X), ref, **ATOL)
    again, _ = load_foreign_encoder("hf://org/tiny-videomae")  # the server is gone: the cached snapshot
    torch.testing.assert_close(again.forward_features(X), ref, **ATOL)
    args, state = to_videovit("hf://org/tiny-videomae")  # the conversion reads the same snapshot
    assert args["embed_dim"] == 48 and "pos_embed" in state


def test_missing_extra_is_one_line(tmp_path, monkeypatch):
    pytest.importorskip("transformers")
    save_tiny_hf("videomae", tmp_path / "vm")
    monkeypatch.setitem(sys.modules, "transformers", None)
    monkeypatch.setitem(sys.modules, "huggingface_hub", None)
    for source in (str(tmp_path / "vm"), "hf://org/repo"):
        with pytest.raises(UserError) as error:
            load_foreign_encoder(source)
        assert str(error.value).endswith('the optional extra: pip install "ssl_video[hf]"')
        assert "\n" not in str(error.value)
    assert is_foreign(tmp_path / "vm") and is_foreign("hf://org/repo")  # the predicate needs neither


def test_pickled_weights_are_refused(tmp_path):
    pytest.importorskip("transformers")
    save_tiny_hf("videomae", tmp_path / "vm")
    (tmp_path / "vm" / "model.safetensors").unlink()
    (tmp_path / "vm" / "pytorch_model.bin").write_bytes(b"never unpickled")
    with pytest.raises(UserError, match="pytorch_model.bin \\(a pickle, never loaded\\)"):
        load_foreign_encoder(tmp_path / "vm")


@pytest.mark.parametrize("kind", ["videomae", "vjepa2"])
def test_hf_weights_the_files_lack_are_refused_not_made_random(kind, tmp_path):
    """from_pretrained fills missing weights with random values; only V-JEPA 2's predictor may be absent."""
    pytest.importorskip("transformers")
    from safetensors.torch import load_file, save_file

    save_tiny_hf(kind, tmp_path / "m")
    path = tmp_path / "m" / "model.safetensors"
    state = load_file(path)
    if kind == "vjepa2":  # a classification checkpoint's encoder: no predictor, loads
        save_file({k: v for k, v in state.items() if not k.startswith("predictor.")}, path, metadata={"format": "pt"})
        load_foreign_encoder(tmp_path / "m")
        state = load_file(path)
    save_file({k: v for k, v in state.items() if ".layer.0." not in k}, path, metadata={"format": "pt"})
    with pytest.raises(WeightsFormatError, match="lack .* of the model's weights .*would be random"):
        load_foreign_encoder(tmp_path / "m")


def test_is_foreign(tmp_path, tiny_ckpt):
    (tmp_path / "hf").mkdir()
    (tmp_path / "hf" / "config.json").write_text('{"model_type": "videomae"}')
    exported = export_weights(tiny_ckpt[0], tmp_path / "exported")
    assert is_foreign("torchvision:r3d_18") and is_foreign("torchvision:r3d_18@x.pt?frames=8")
    assert is_foreign("hf://org/repo") and is_foreign("hf://org/repo@refs/pr/3")
    assert is_foreign(tmp_path / "hf") and is_foreign(f"{tmp_path / 'hf'}?frames=8")
    for source in ("hf://org/repo/model.safetensors", "hf://org", exported, "vit_tiny", "drive-future-vit-tiny",
                   tmp_path / "missing", f"{tmp_path / 'hf'}?bad=1"):
        assert not is_foreign(source), source


def test_unsupported_model_type_is_refused(tmp_path):
    (tmp_path / "bert").mkdir()
    (tmp_path / "bert" / "config.json").write_text('{"model_type": "bert"}')
    with pytest.raises(UserError, match="model_type 'bert' is not a supported video model"):
        load_foreign_encoder(tmp_path / "bert")


def test_split_options():
    assert split_options("a/b?frames=8&size=160x224&fps=4") == ("a/b", {"frames": 8, "size": [160, 224], "fps": 4.0})
    assert split_options("torchvision:r3d_18@x.pt?size=112") == ("torchvision:r3d_18@x.pt", {"size": [112, 112]})
    assert split_options("folder?with?marks") == ("folder?with?marks", {})
    with pytest.raises(UserError, match="unknown option 'crop'"):
        split_options("x?crop=1")
    with pytest.raises(UserError, match="bad value"):
        split_options("x?frames=many")


# torchvision ---------------------------------------------------------------------------------------------------


def _tv_reference(arch: str, model: torch.nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(tokens, pooled) by re-running torchvision's forward up to the head, written out here."""
    if arch.startswith("swin"):
        t = model.norm(model.features(model.pos_drop(model.patch_embed(x))))  # (B, T', H', W', D)
        return t.flatten(1, 3), model.avgpool(t.permute(0, 4, 1, 2, 3)).flatten(1)
    if arch.startswith("mvit"):
        t = model.pos_encoding(model.conv_proj(x).flatten(2).transpose(1, 2))
        thw = (model.pos_encoding.temporal_size, *model.pos_encoding.spatial_size)
        for block in model.blocks:
            t, thw = block(t, thw)
        t = model.norm(t)
        return t[:, 1:], t[:, 0]
    t = model.layer4(model.layer3(model.layer2(model.layer1(model.stem(x)))))  # (B, D, T', H', W')
    return t.flatten(2).transpose(1, 2), model.avgpool(t).flatten(1)


def _head(model: torch.nn.Module) -> torch.nn.Module:
    return model.fc if hasattr(model, "fc") else model.head


@pytest.mark.parametrize("arch", ["r3d_18", "r2plus1d_18", "swin3d_t"])
def test_torchvision_state_dict_parity(arch, tmp_path):
    torch.manual_seed(0)
    model = get_model(arch, weights=None, num_classes=5).eval()
    torch.save({"model": {f"module.{k}": v for k, v in model.state_dict().items()}}, tmp_path / "sd.pt")
    encoder, config = load_foreign_encoder(f"torchvision:{arch}@{tmp_path / 'sd.pt'}?frames=4&size=32")
    with torch.no_grad():
        tokens, pooled = encoder.forward_tokens_and_pooled(X)
        ref_tokens, ref_pooled = _tv_reference(arch, model, X)
        torch.testing.assert_close(tokens, ref_tokens, **ATOL)
        torch.testing.assert_close(pooled, ref_pooled, **ATOL)
        torch.testing.assert_close(_head(model)(encoder(X)), model(X), **ATOL)  # pooled is what the head reads
    t, h, w = encoder.grid_size(4, 32, 32)
    assert tokens.shape == (2, t * h * w, encoder.embed_dim)
    default = get_model_weights(arch).DEFAULT.transforms()
    # its transforms' zoom, scaled from their crop to size=32: R3D squashes to 128x171 for 112, Swin short side 256
    zoom = {"swin3d_t": "short_side_crop:37"}.get(arch, "squash_crop:37x49")
    assert config["preprocessing"] == {"fps": 15.0, "size": [32, 32], "context": 4, "future": 0,
                                         "mean": default.mean, "std": default.std, "resize": zoom}
    assert config["architecture"] == f"torchvision:{arch}" and config["args"] == {"num_classes": 5, "weights": None}


def test_torchvision_mvit_adapter_parity():
    model = tiny_mvit()
    encoder = TorchvisionEncoder(model, "mvit_v2_s").eval()
    with torch.no_grad():
        tokens, pooled = encoder.forward_tokens_and_pooled(X)
        ref_tokens, ref_pooled = _tv_reference("mvit_v2_s", model, X)
        torch.testing.assert_close(tokens, ref_tokens, **ATOL)
        torch.testing.assert_close(pooled, ref_pooled, **ATOL)
        torch.testing.assert_close(model.head(pooled), model(X), **ATOL)
    assert encoder.clip == (4, 32, 32) and encoder.grid_size(4, 32, 32) == (2, 4, 4) and tokens.shape == (2, 32, 32)
    with pytest.raises(ValueError, match="exactly"):
        encoder.grid_size(8, 32, 32)


@pytest.mark.slow
def test_torchvision_mvit_v2_s_full_size(tmp_path):
    """The real mvit_v2_s architecture (16 x 224 x 224) through the state-dict source: ~20 s of CPU."""
    torch.manual_seed(0)
    model = get_model("mvit_v2_s", weights=None).eval()
    torch.save(model.state_dict(), tmp_path / "mvit.pt")
    encoder, config = load_foreign_encoder(f"torchvision:mvit_v2_s@{tmp_path / 'mvit.pt'}")
    x = torch.randn(1, 3, 16, 224, 224)
    with torch.no_grad():
        tokens, pooled = encoder.forward_tokens_and_pooled(x)
        torch.testing.assert_close(model.head(pooled), model(x), **ATOL)
    assert tokens.shape == (1, 8 * 7 * 7, 768) and encoder.grid_size(16, 224, 224) == (8, 7, 7)
    assert config["preprocessing"]["context"] == 16 and config["preprocessing"]["fps"] == 7.5
    with pytest.raises(UserError, match="exactly 16 frames"):
        load_foreign_encoder(f"torchvision:mvit_v2_s@{tmp_path / 'mvit.pt'}?frames=8")


def test_torchvision_weights_preprocessing_without_download():
    mvit = clip_record(get_model_weights("mvit_v2_s").KINETICS400_V1, {})
    assert mvit == {"fps": 7.5, "size": [224, 224], "context": 16, "future": 0, "mean": [0.45] * 3,
                    "std": [0.225] * 3, "resize": "short_side_crop:256"}
    r3d = clip_record(get_model_weights("r3d_18").DEFAULT, {"frames": 8})
    assert (r3d["fps"], r3d["size"], r3d["context"], r3d["resize"]) == (15.0, [112, 112], 8, "squash_crop:128x171")
    swin = clip_record(get_model_weights("swin3d_t").DEFAULT, {})
    assert (swin["fps"], swin["size"], swin["context"], swin["mean"]) == (15.0, [224, 224], 32, [0.485, 0.456, 0.406])


def test_torchvision_weights_enum_source(monkeypatch):
    """``torchvision:ARCH.WEIGHTS`` goes through torch.hub with weights_only=True and check_hash=True (faked here)."""
    torch.manual_seed(0)
    model = get_model("r2plus1d_18", weights=None).eval()  # 400 classes, as the Kinetics weights
    asked = {}

    def fake_download(url, **kwargs):
        asked.update(kwargs, url=url)
        return model.state_dict()

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", fake_download)
    encoder, config = load_foreign_encoder("torchvision:r2plus1d_18.KINETICS400_V1?frames=4&size=32", progress=False)
    assert asked["weights_only"] is True and asked["check_hash"] is True and asked["url"].endswith(".pth")
    assert config["args"] == {"num_classes": 400, "weights": "KINETICS400_V1"}
    assert config["architecture"] == "torchvision:r2plus1d_18"
    with torch.no_grad():
        torch.testing.assert_close(model.fc(encoder(X)), model(X), **ATOL)


def test_torchvision_bad_sources(tmp_path):
    torch.save(get_model("r3d_18", weights=None, num_classes=3).state_dict(), tmp_path / "r3d.pt")
    with pytest.raises(UserError, match="s3d's head"):
        load_foreign_encoder("torchvision:s3d")
    with pytest.raises(UserError, match="unknown torchvision video model 'resnet50'"):
        load_foreign_encoder("torchvision:resnet50")
    with pytest.raises(UserError, match="has no weights 'NOPE'"):
        load_foreign_encoder("torchvision:r3d_18.NOPE")
    with pytest.raises(WeightsFormatError, match="not a swin3d_t state dict"):
        load_foreign_encoder(f"torchvision:swin3d_t@{tmp_path / 'r3d.pt'}")
    with pytest.raises(WeightsFormatError, match="do not fit torchvision mc3_18"):
        load_foreign_encoder(f"torchvision:mc3_18@{tmp_path / 'r3d.pt'}")
    torch.save({"model": {}, "args": argparse.Namespace(lr=0.1)}, tmp_path / "evil.pt")  # as reference scripts save
    with pytest.raises(WeightsFormatError, match="weights_only"):
        load_foreign_encoder(f"torchvision:r3d_18@{tmp_path / 'evil.pt'}")
    torch.save(torch.zeros(3), tmp_path / "tensor.pt")
    with pytest.raises(WeightsFormatError, match="holds a Tensor, not a state dict"):
        load_foreign_encoder(f"torchvision:r3d_18@{tmp_path / 'tensor.pt'}")
    (tmp_path / "cut.safetensors").write_bytes(b"\x08" + b"\x00" * 20)
    with pytest.raises(WeightsFormatError, match="cut.safetensors is not a readable weights file"):
        load_foreign_encoder(f"torchvision:r3d_18@{tmp_path / 'cut.safetensors'}")


def test_random_foreign_encoder(tmp_path):
    torch.manual_seed(0)
    torch.save(get_model("r3d_18", weights=None, num_classes=3).state_dict(), tmp_path / "r3d.pt")
    sources = [f"torchvision:r3d_18@{tmp_path / 'r3d.pt'}?frames=4&size=32"]
    if importlib.util.find_spec("transformers") is not None:
        save_tiny_hf("timesformer", tmp_path / "tsf")
        sources.append(str(tmp_path / "tsf"))
    for source in sources:
        encoder, config = load_foreign_encoder(source)
        with torch.random.fork_rng():
            torch.manual_seed(1)
            fresh = random_foreign_encoder(config)
        assert type(fresh) is type(encoder) and not fresh.training
        with torch.no_grad():
            a, b = encoder(X), fresh(X)
        assert a.shape == b.shape and not torch.allclose(a, b)


def test_tv_fetch_errors_are_download_errors(monkeypatch):
    def refuse(url, **kwargs):
        raise OSError("network is unreachable")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", refuse)
    with pytest.raises(DownloadError, match="network is unreachable"):
        load_foreign_encoder("torchvision:r3d_18")

    def wrong_hash(url, **kwargs):
        raise RuntimeError('invalid hash value (expected "1234", got "abcd")')

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", wrong_hash)
    with pytest.raises(DownloadError, match="not the file torchvision expects"):
        load_foreign_encoder("torchvision:r3d_18")
