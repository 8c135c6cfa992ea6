"""VideoMAE -> VideoViT: continue pretraining a public VideoMAE encoder with ssl_video's objectives.

Both are ViTs over Conv3d tubelets with pre-norm blocks [0, 1], so the conversion is a key mapping:

- ``embeddings.patch_embeddings.projection`` -> ``patch_embed`` (same (tt, ph, pw) Conv3d, same token order);
- ``attention.attention.{query,key,value}`` -> ``attn.qkv`` stacked [q; k; v]; VideoMAE has biases on q and v
  only (``q_bias`` / ``v_bias`` in checkpoints before transformers 5), so the k third of the bias is zero;
- ``attention.output.dense`` -> ``attn.proj``, ``intermediate.dense`` / ``output.dense`` -> ``mlp.fc1`` / ``fc2``,
  ``layernorm_before`` / ``layernorm_after`` -> ``norm1`` / ``norm2``;
- the final ``layernorm`` (``use_mean_pooling=False``) -> ``norm``; with ``use_mean_pooling=True`` VideoMAEModel
  ends without a norm (its ``fc_norm`` belongs to the classification head), so the VideoViT is built with
  ``final_norm=False``;
- positions: VideoMAE adds a fixed *1-D* sinusoid table over the flattened token index [2], not VideoViT's 3-D
  sine-cosine, so the table is copied into a learned one (``pos_embed="learned"``) that pretraining then trains;
  another clip shape interpolates it trilinearly, as any learned VideoViT table.

The LayerNorms keep VideoMAE's eps (``layer_norm_eps``, 1e-12 in transformers; VideoViT's default 1e-6 would
move a tiny random model's outputs by ~5e-6) through ``norm_eps``. The decoder, ``mask_token``, ``fc_norm`` and
classifier of pretraining / fine-tuned checkpoints are dropped. V-JEPA 2 is refused: its 3-D rotary position
embeddings have no VideoViT counterpart.

[0] Tong et al., "VideoMAE", NeurIPS 2022 (https://github.com/MCG-NJU/VideoMAE, modeling_finetune.py).
[1] transformers ``models/videomae/modeling_videomae.py``. [2] its ``get_sinusoid_encoding_table``.

    >>> args, state = convert_videomae("hf://MCG-NJU/videomae-base")
    >>> encoder = get_encoder("vit_base", **args); encoder.load_state_dict(state, strict=True)
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file

from ssl_video.errors import UserError
from ssl_video.hub.foreign.hf import check_weights, parse_repo, read_json, snapshot

# VideoMAEConfig's defaults (transformers), for config.json files that leave a field out.
VIDEOMAE_DEFAULTS = {"image_size": 224, "patch_size": 16, "num_channels": 3, "num_frames": 16, "tubelet_size": 2,
                     "hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12, "intermediate_size": 3072,
                     "hidden_act": "gelu", "layer_norm_eps": 1e-12, "qv_bias": True, "use_mean_pooling": True}
VIDEOVIT_NORM_EPS = 1e-6  # VideoViTConfig.norm_eps's default
_DROPPED = re.compile(r"(decoder\.|encoder_to_decoder\.|mask_token|fc_norm\.|classifier\.|position_embeddings)")
_LAYER = {"layernorm_before": "norm1", "layernorm_after": "norm2", "attention.output.dense": "attn.proj",
          "intermediate.dense": "mlp.fc1", "output.dense": "mlp.fc2"}
VJEPA2_REFUSED = ("V-JEPA 2 uses 3-D rotary position embeddings, which VideoViT does not have, so it cannot continue "
                  "pretraining here; compare it as a frozen encoder instead (ssl-video probe --compare)")


def videomae_sinusoid_table(n: int, dim: int) -> torch.Tensor:
    """VideoMAE's fixed position table -> (1, n, dim): position p, channel j: sin (j even) / cos (j odd) of
    p / 10000^(2 floor(j/2) / dim), computed in float64 as the reference does."""
    pos = torch.arange(n, dtype=torch.float64)[:, None]
    j = torch.arange(dim)
    angle = pos / torch.pow(10000.0, 2 * torch.div(j, 2, rounding_mode="floor").double() / dim)  # (n, dim)
    return torch.where(j % 2 == 0, angle.sin(), angle.cos()).float()[None]


def _pair(value: Any) -> list[int]:
    return [int(value), int(value)] if isinstance(value, int) else [int(value[0]), int(value[1])]


def videovit_args(config: Mapping[str, Any]) -> dict[str, Any]:
    """A VideoMAE config.json dict -> the VideoViTConfig fields that make the same encoder (the others, e.g.
    ``causal_time`` and ``drop_path``, keep their defaults: VideoMAE attends both ways)."""
    c = {**VIDEOMAE_DEFAULTS, **config}
    if c.get("model_type") == "vjepa2":
        raise UserError(VJEPA2_REFUSED)
    if c.get("model_type") != "videomae":
        raise UserError(f"only VideoMAE converts to VideoViT, got model_type {c.get('model_type')!r}")
    if c["hidden_act"] != "gelu":
        raise UserError(f"VideoMAE with hidden_act {c['hidden_act']!r} has no VideoViT counterpart (GELU)")
    D = int(c["hidden_size"])
    mlp_ratio = int(c["intermediate_size"]) / D
    if int(D * mlp_ratio) != int(c["intermediate_size"]):
        raise UserError(f"intermediate_size {c['intermediate_size']} is not a VideoViT mlp_ratio of {D}")
    args = {"img_size": _pair(c["image_size"]), "num_frames": int(c["num_frames"]),
            "tubelet": [int(c["tubelet_size"]), *_pair(c["patch_size"])], "in_chans": int(c["num_channels"]),
            "embed_dim": D, "depth": int(c["num_hidden_layers"]), "num_heads": int(c["num_attention_heads"]),
            "mlp_ratio": mlp_ratio, "pos_embed": "learned", "qkv_bias": bool(c.get("qkv_bias", c["qv_bias"]))}
    # Two VideoViT fields with defaults that VideoMAE does not share, given only where they differ.
    if c["use_mean_pooling"]:
        args["final_norm"] = False  # VideoMAEModel's last_hidden_state is not normalized (module docstring)
    if float(c["layer_norm_eps"]) != VIDEOVIT_NORM_EPS:
        args["norm_eps"] = float(c["layer_norm_eps"])
    return args


def _encoder_keys(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The VideoMAEModel part of a VideoMAEModel / ForPreTraining / ForVideoClassification state dict."""
    if any(k.startswith("videomae.") for k in state):
        state = {k[len("videomae."):]: v for k, v in state.items() if k.startswith("videomae.")}
    return {k: v for k, v in state.items() if not _DROPPED.match(k)}


def videomae_to_videovit(config: Mapping[str, Any], state: Mapping[str, torch.Tensor]
                         ) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """VideoMAE (config.json dict, state dict) -> (VideoViTConfig args, VideoViT state dict) such that
    ``get_encoder("vit_base", **args).load_state_dict(state, strict=True)`` computes VideoMAEModel's
    ``last_hidden_state`` (module docstring). Unknown keys raise, so nothing is dropped silently."""
    args = videovit_args(config)
    src = dict(_encoder_keys(state))
    out: dict[str, torch.Tensor] = {}

    def take(key: str) -> torch.Tensor:
        if key not in src:
            raise UserError(f"VideoMAE state dict has no {key!r}")
        return src.pop(key)

    out["patch_embed.weight"] = take("embeddings.patch_embeddings.projection.weight")
    out["patch_embed.bias"] = take("embeddings.patch_embeddings.projection.bias")
    for i in range(args["depth"]):
        a, b = f"encoder.layer.{i}.", f"blocks.{i}."
        q, k, v = (take(f"{a}attention.attention.{n}.weight") for n in ("query", "key", "value"))
        out[b + "attn.qkv.weight"] = torch.cat([q, k, v])  # (3D, D): [q; k; v], heads inside each
        if args["qkv_bias"]:
            old = f"{a}attention.attention.q_bias" in src  # checkpoints before transformers 5
            qb = take(f"{a}attention.attention.{'q_bias' if old else 'query.bias'}")
            vb = take(f"{a}attention.attention.{'v_bias' if old else 'value.bias'}")
            out[b + "attn.qkv.bias"] = torch.cat([qb, torch.zeros_like(qb), vb])  # no key bias in VideoMAE
        for theirs, ours in _LAYER.items():
            for p in ("weight", "bias"):
                out[f"{b}{ours}.{p}"] = take(f"{a}{theirs}.{p}")
    if args.get("final_norm", True):  # absent: the VideoViT default, a final norm
        out["norm.weight"], out["norm.bias"] = take("layernorm.weight"), take("layernorm.bias")
    grid = [args["num_frames"] // args["tubelet"][0], *(s // p for s, p in zip(args["img_size"], args["tubelet"][1:]))]
    out["pos_embed"] = videomae_sinusoid_table(grid[0] * grid[1] * grid[2], args["embed_dim"])
    if src:
        raise UserError(f"VideoMAE state dict has keys the conversion does not know: {sorted(src)[:5]}")
    return args, out


def read_videomae(source: str) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """A ``save_pretrained`` folder or ``hf://org/repo[@revision]`` -> (config.json dict, state dict), read
    from safetensors without ``transformers``."""
    folder = snapshot(source) if parse_repo(source) else Path(source)
    if not (folder / "config.json").is_file():
        raise UserError(f"{source}: no config.json (expected a transformers save_pretrained folder)")
    check_weights(folder, source)
    state: dict[str, torch.Tensor] = {}
    for path in sorted(folder.glob("*.safetensors")):  # one file, or the shards of an index
        state.update(load_file(str(path)))
    return read_json(folder / "config.json"), state


def convert_videomae(source: str) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """A VideoMAE folder or ``hf://`` repo -> (VideoViTConfig args, VideoViT state dict); see the module doc."""
    return videomae_to_videovit(*read_videomae(source))
