from __future__ import annotations

import pytest
import torch

from ssl_video.data.transforms import IMAGENET_MEAN, IMAGENET_STD, ClipAugment, normalize_clip


def _ramp_clip(t=6, h=32, w=48):
    """(C, T, H, W) uint8 whose pixel value grows left to right, with a per-frame offset."""
    x = torch.arange(w, dtype=torch.float32) * 4  # (W,)
    clip = x.view(1, 1, 1, w).expand(3, t, h, w) + torch.arange(t).view(1, t, 1, 1) * 2
    return clip.clamp(0, 255).to(torch.uint8).contiguous()


def test_normalize_clip_matches_formula_and_shapes():
    video = torch.randint(0, 256, (2, 3, 4, 8, 8), dtype=torch.uint8)
    out = normalize_clip(video)
    assert out.dtype == torch.float32 and out.shape == video.shape
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1, 1)
    torch.testing.assert_close(out, (video.float() / 255 - mean) / std)
    torch.testing.assert_close(normalize_clip(video[0]), out[0])  # single clip (C, T, H, W)
    with pytest.raises(TypeError, match="uint8"):
        normalize_clip(out)
    with pytest.raises(ValueError, match="channels"):
        normalize_clip(video[:, :2])


def test_clip_augment_same_params_every_frame():
    clip = _ramp_clip()
    out = ClipAugment((16, 16), scale=(0.3, 0.6), hflip=True)(clip, torch.Generator().manual_seed(0))
    assert out.shape == (3, 6, 16, 16) and out.dtype == torch.uint8
    # Frames differ only by their constant offset: same crop and same flip for every frame.
    diffs = out[:, 1:].int() - out[:, :-1].int()
    assert (diffs - 2).abs().max() <= 1


def test_clip_augment_generator_reproducible_and_global_rng_untouched():
    clip = _ramp_clip()
    aug = ClipAugment((16, 16), scale=(0.2, 0.5))
    state = torch.get_rng_state()
    a = aug(clip, torch.Generator().manual_seed(5))
    assert torch.equal(torch.get_rng_state(), state)
    b = aug(clip, torch.Generator().manual_seed(5))
    assert torch.equal(a, b)
    outs = {aug(clip, torch.Generator().manual_seed(s)).sum().item() for s in range(8)}
    assert len(outs) > 1


def test_hflip_switch():
    clip = _ramp_clip(h=16, w=16)  # crop of the full frame -> only the flip changes the ramp's direction
    directions = set()
    for flip in (True, False):
        aug = ClipAugment((16, 16), scale=(1.0, 1.0), ratio=(1.0, 1.0), hflip=flip)
        for s in range(12):
            out = aug(clip, torch.Generator().manual_seed(s))
            directions.add((flip, bool(out[0, 0, 0, -1] > out[0, 0, 0, 0])))
    assert (True, False) in directions and (True, True) in directions  # flips happen
    assert (False, False) not in directions  # never flipped when switched off


def test_color_jitter_draws_once_per_clip():
    clip = torch.full((3, 4, 16, 16), 120, dtype=torch.uint8)
    clip[0] = 60  # a colour, so that saturation has something to change
    aug = ClipAugment((16, 16), scale=(1.0, 1.0), ratio=(1.0, 1.0), hflip=False, color_jitter=0.4)
    outs = [aug(clip, torch.Generator().manual_seed(s)) for s in range(6)]
    for out in outs:
        assert (out == out[:, :1]).all()  # every frame of a clip gets the same jitter
    assert len({tuple(out[:, 0, 0, 0].tolist()) for out in outs}) > 3  # clips get different ones
    plain = ClipAugment((16, 16), scale=(1.0, 1.0), ratio=(1.0, 1.0), hflip=False)
    assert torch.equal(plain(clip, torch.Generator().manual_seed(0)), clip)
    with pytest.raises(ValueError, match="color_jitter"):
        ClipAugment((16, 16), color_jitter=-0.1)


def test_normalize_clip_copies_mean_and_std_to_the_device_once():
    from ssl_video.data.transforms import _channel_stats

    video = torch.randint(0, 256, (2, 3, 4, 8, 8), dtype=torch.uint8)
    first = normalize_clip(video, (0.1, 0.2, 0.3), (0.5, 0.5, 0.5))
    hits = _channel_stats.cache_info().hits
    torch.testing.assert_close(normalize_clip(video, [0.1, 0.2, 0.3], [0.5, 0.5, 0.5]), first)
    assert _channel_stats.cache_info().hits == hits + 2  # a list or a tuple: the same cached device tensors
