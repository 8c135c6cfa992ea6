from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import ssl_video
from ssl_video.data.decode import read_frames
from ssl_video.data.read import clip_spec_of, read_clip
from ssl_video.data.transforms import normalize_clip
from ssl_video.errors import MissingInput, UserError
from ssl_video.spec import ClipSpec


def test_a_video_file_to_features_in_three_lines(wide_video):
    encoder, config = ssl_video.load_encoder_with_config("drive-future-vit-tiny")
    clip = ssl_video.read_clip(wide_video.path, [0.0, 0.5, 1.0], config)
    features = encoder(clip)

    spec = ClipSpec.from_dict(config["preprocessing"])
    assert clip.shape == (3, 3, spec.num_frames, *spec.size) and clip.dtype == torch.float32
    assert features.shape == (3, encoder.config.embed_dim) and torch.isfinite(features).all()
    one = encoder(ssl_video.read_clip(wide_video.path, 0.5, config))  # a number: one clip
    torch.testing.assert_close(one, features[1:2], atol=1e-4, rtol=1e-4)
    # The built-in weights were trained on squashed frames (their record says so); keeping the aspect is one word.
    assert spec.resize == "squash"
    kept = ssl_video.read_clip(wide_video.path, 0.0, config, resize="short_side_crop", normalize=False)
    height, width, _, _ = wide_video.measure(kept[0, :, 0].permute(1, 2, 0).numpy())
    assert width / height == pytest.approx(1.0, abs=0.06)
    assert encoder(normalize_clip(kept)).shape == (1, encoder.config.embed_dim)


def test_short_side_crop_is_not_squashed(wide_video):
    config = {"preprocessing": ClipSpec(context=2, future=2, fps=10.0, size=(64, 64)).to_dict()}
    squashed = read_clip(wide_video.path, 0.0, config, normalize=False)  # (1, C, T, H, W) uint8
    cropped = read_clip(wide_video.path, 0.0, config, normalize=False, resize="short_side_crop")
    assert cropped.dtype == torch.uint8 and cropped.shape == (1, 3, 4, 64, 64)
    frame = lambda clip: clip[0, :, 0].permute(1, 2, 0).numpy()  # (1, C, T, H, W) -> first frame (H, W, C)
    height, width, _, _ = wide_video.measure(frame(cropped))
    assert width / height == pytest.approx(1.0, abs=0.06)
    height, width, _, _ = wide_video.measure(frame(squashed))
    assert width / height == pytest.approx(9 / 16, abs=0.06)
    # The same pixels as the decoder, and normalized with the record's mean / std.
    expected = read_frames(wide_video.path, [0, 1, 2, 3], size=(64, 64), resize="short_side_crop")
    assert np.array_equal(cropped[0].permute(1, 2, 3, 0).numpy(), expected)
    normalized = read_clip(wide_video.path, 0.0, config, resize="short_side_crop")
    torch.testing.assert_close(normalized, normalize_clip(cropped))


def test_the_record_comes_from_a_spec_a_config_or_a_weights_folder(tmp_path):
    spec = ClipSpec(context=2, future=1, fps=5.0, size=(32, 48), resize="short_side_crop")
    assert clip_spec_of(spec) is spec
    assert clip_spec_of({"preprocessing": spec.to_dict()}) == spec
    assert clip_spec_of(spec.to_dict()) == spec
    (tmp_path / "config.json").write_text(json.dumps({"architecture": "vit_tiny", "preprocessing": spec.to_dict()}))
    assert clip_spec_of(tmp_path) == clip_spec_of(tmp_path / "config.json") == spec
    with pytest.raises(UserError, match=r"load_encoder_with_config\('drive-future-vit-tiny'\)"):
        clip_spec_of("drive-future-vit-tiny")
    with pytest.raises(UserError, match="no 'preprocessing'"):
        clip_spec_of({"architecture": "vit_tiny"})


def test_clips_outside_the_video_are_refused_with_the_range(wide_video, tmp_path):
    spec = ClipSpec(context=4, future=4, fps=10.0, size=(32, 32))  # 0.7 s from first to last frame; video: 2 s
    assert read_clip(wide_video.path, 1.2, spec).shape == (1, 3, 8, 32, 32)  # the last start that fits
    with pytest.raises(UserError, match=r"dashcam 16x9\.mp4.*start between 0 and 1\.200 s"):
        read_clip(wide_video.path, 1.5, spec)
    with pytest.raises(UserError, match="start between"):
        read_clip(wide_video.path, -0.5, spec)
    with pytest.raises(MissingInput, match="no such video file"):
        read_clip(tmp_path / "missing.mp4", 0.0, spec)
