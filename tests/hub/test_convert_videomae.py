"""VideoMAE -> VideoViT: the converted encoder computes VideoMAEModel's last_hidden_state (atol 1e-5, float32)."""

from __future__ import annotations

import pytest
import torch
from foreign_helpers import save_tiny_hf
from safetensors.torch import load_file, save_file

from ssl_video.errors import UserError
from ssl_video.hub.foreign import to_videovit
from ssl_video.hub.foreign.convert import videomae_sinusoid_table, videomae_to_videovit
from ssl_video.models import get_encoder

transformers = pytest.importorskip("transformers")
X = torch.randn(2, 3, 4, 32, 32, generator=torch.Generator().manual_seed(1))


def _converted(source) -> torch.nn.Module:
    args, state = to_videovit(str(source))
    encoder = get_encoder("vit_base", **args).eval()
    encoder.load_state_dict(state, strict=True)
    return encoder


@pytest.mark.parametrize("mean_pooling", [True, False])
def test_conversion_reproduces_videomae(mean_pooling, tmp_path):
    """use_mean_pooling=True: no final norm (final_norm=False); False: VideoMAE's final layernorm is VideoViT's norm."""
    model = save_tiny_hf("videomae", tmp_path / "vm", use_mean_pooling=mean_pooling)
    encoder = _converted(tmp_path / "vm")
    assert encoder.config.pos_embed == "learned" and encoder.config.final_norm is not mean_pooling
    with torch.no_grad():
        ref = model(pixel_values=X.transpose(1, 2)).last_hidden_state
        torch.testing.assert_close(encoder.forward_features(X), ref, atol=1e-5, rtol=0)
        torch.testing.assert_close(encoder(X), ref.mean(1), atol=1e-5, rtol=0)


def test_pretraining_checkpoint_with_old_keys(tmp_path):
    """A VideoMAEForPreTraining checkpoint as transformers 4 wrote it: videomae. prefix, q_bias / v_bias, decoder."""
    torch.manual_seed(0)
    config = transformers.VideoMAEConfig(image_size=32, patch_size=8, num_frames=4, hidden_size=48, num_hidden_layers=2,
                                         num_attention_heads=3, intermediate_size=96, decoder_hidden_size=24,
                                         decoder_num_hidden_layers=1, decoder_num_attention_heads=2,
                                         decoder_intermediate_size=48)
    model = transformers.VideoMAEForPreTraining(config).eval()
    model.save_pretrained(tmp_path / "pt")
    state = load_file(str(tmp_path / "pt" / "model.safetensors"))
    old = {k.replace("attention.query.bias", "q_bias").replace("attention.value.bias", "v_bias"): v
           for k, v in state.items()}
    assert any(k.endswith(".q_bias") for k in old) and any(k.startswith("decoder.") for k in old)
    save_file(old, str(tmp_path / "pt" / "model.safetensors"))
    encoder = _converted(tmp_path / "pt")
    with torch.no_grad():
        ref = model.videomae(pixel_values=X.transpose(1, 2)).last_hidden_state
        torch.testing.assert_close(encoder.forward_features(X), ref, atol=1e-5, rtol=0)


def test_sinusoid_table_is_videomae_s():
    from transformers.models.videomae.modeling_videomae import get_sinusoid_encoding_table

    torch.testing.assert_close(videomae_sinusoid_table(98, 48), get_sinusoid_encoding_table(98, 48), atol=0, rtol=0)


def test_unknown_keys_and_other_families_are_refused(tmp_path):
    save_tiny_hf("videomae", tmp_path / "vm")
    config = {"model_type": "videomae", "image_size": 32, "patch_size": 8, "num_frames": 4, "hidden_size": 48,
              "num_hidden_layers": 2, "num_attention_heads": 3, "intermediate_size": 96}
    state = load_file(str(tmp_path / "vm" / "model.safetensors"))
    with pytest.raises(UserError, match="does not know: \\['extra.weight'\\]"):
        videomae_to_videovit(config, {**state, "extra.weight": torch.zeros(1)})
    save_tiny_hf("vjepa2", tmp_path / "vj")
    with pytest.raises(UserError, match="3-D rotary position embeddings") as error:
        to_videovit(tmp_path / "vj")
    assert "\n" not in str(error.value)
    save_tiny_hf("timesformer", tmp_path / "tsf")
    with pytest.raises(UserError, match="only VideoMAE converts"):
        to_videovit(tmp_path / "tsf")
    with pytest.raises(UserError, match="torchvision models do not convert"):
        to_videovit("torchvision:r3d_18")
