"""Video encoders and the predictor. Pure torch: imports neither Lightning nor ``ssl_video.data``.

Every encoder takes normalized float clips (B, C, T, H, W) and offers ``embed_dim``,
``tubelet``, ``grid_size(T, H, W)``, ``forward_features(x, keep=None) -> (B, N|K, D)`` and
``forward(x) -> (B, D)``.
"""

from __future__ import annotations

from ssl_video.models.compile import compile_modules, default_device
from ssl_video.models.conv3d import Conv3dConfig, Conv3dEncoder
from ssl_video.models.flops import count_flops
from ssl_video.models.layers import causal_time_mask, sincos_3d
from ssl_video.models.predictor import Predictor
from ssl_video.models.registry import encoder_config, get_encoder, list_encoders, register_encoder
from ssl_video.models.vit import VideoViT, VideoViTConfig

__all__ = [
    "Conv3dConfig",
    "Conv3dEncoder",
    "Predictor",
    "VideoViT",
    "VideoViTConfig",
    "causal_time_mask",
    "compile_modules",
    "default_device",
    "count_flops",
    "encoder_config",
    "get_encoder",
    "list_encoders",
    "register_encoder",
    "sincos_3d",
]
