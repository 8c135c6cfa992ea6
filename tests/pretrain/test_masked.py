from __future__ import annotations

import pytest
import torch

from ssl_video.pretrain.objectives.losses import normalize_patches
from ssl_video.pretrain.objectives.masked import Masked, tube_mask


def test_tube_mask_is_a_tube_partition_and_reproducible():
    visible, masked = tube_mask(3, (4, 3, 4), 0.75, torch.Generator().manual_seed(0))
    assert visible.shape == (3, 4 * 3) and masked.shape == (3, 4 * 9)
    for v, m in zip(visible, masked):
        assert sorted(v.tolist() + m.tolist()) == list(range(48))
        spatial = (m % 12).view(4, -1)
        assert (spatial == spatial[0]).all()  # same spatial positions hidden at every t'
    again, _ = tube_mask(3, (4, 3, 4), 0.75, torch.Generator().manual_seed(0))
    assert torch.equal(visible, again)
    with pytest.raises(ValueError, match="ratio"):
        tube_mask(1, (2, 2, 2), 0.99, torch.Generator())


def test_normalize_patches_matches_videomae_reference():
    patches = torch.randn(2, 5, 2 * 4 * 4 * 3) * 4 + 1
    # VideoMAE: rearrange to (..., voxels, C), normalise over voxels with unbiased var + 1e-6
    x = patches.view(2, 5, 32, 3)
    std = x.var(dim=-2, unbiased=True, keepdim=True).sqrt()
    ref = ((x - x.mean(dim=-2, keepdim=True)) / (std + 1e-6)).view(2, 5, -1)
    torch.testing.assert_close(normalize_patches(patches, 3), ref, rtol=1e-4, atol=1e-4)


def test_shapes_and_gradients(tiny_encoder, clip):
    obj = Masked(mask_ratio=0.75, predictor_dim=24, predictor_depth=1)
    obj.attach(tiny_encoder)
    out = obj(tiny_encoder, clip, context=4, generator=torch.Generator().manual_seed(0))
    assert out.loss.shape == () and out.features.shape == (2, 4 * 4, 48)  # 4 visible of 16 per time step
    out.loss.backward()
    assert tiny_encoder.patch_embed.weight.grad.abs().sum() > 0


def test_bad_arguments_and_shapes():
    with pytest.raises(ValueError, match="mask_ratio"):
        Masked(mask_ratio=1.0)
    with pytest.raises(ValueError, match="predictor_heads"):
        Masked(predictor_dim=30, predictor_heads=4)
