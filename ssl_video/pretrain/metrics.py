"""Future-frame quality against the copy-last-frame baseline, and representation health signals.

PSNR / SSIM come from torchmetrics on pixels in [0, 1]; every future frame counts as one
image. The baseline predicts that nothing moves (every future frame = the last context
frame): a model that does not beat it has not learned motion.

Health: collapse of joint-embedding training (V-JEPA, BYOL, SimSiam) shows as features
that stop varying. ``feature_std`` is the mean per-dimension std of L2-normalised
features (SimSiam [0] sec. 4.1: about 1/sqrt(D) when healthy, 0 when collapsed);
``effective_rank`` is exp(entropy of the normalised singular values) of the centred
feature matrix (Roy & Vetterli 2007 [1], as used by RankMe [2]).

[0] Chen & He, "Exploring Simple Siamese Representation Learning", CVPR 2021.
[1] Roy & Vetterli, "The effective rank: a measure of effective dimensionality", EUSIPCO 2007.
[2] Garrido et al., "RankMe", ICML 2023.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics.image import PeakSignalNoiseRatio, StructuralSimilarityIndexMeasure


def frames_as_images(video: torch.Tensor) -> torch.Tensor:
    """(B, C, T, H, W) -> (B*T, C, H, W), float in [0, 1] (clamped)."""
    B, C, T, H, W = video.shape
    return video.transpose(1, 2).reshape(B * T, C, H, W).float().clamp(0, 1)  # (B, T, C, H, W) -> (B*T, C, H, W)


def copy_last_frame(video: torch.Tensor, context: int) -> torch.Tensor:
    """Baseline prediction (B, C, T, H, W) -> (B, C, T - context, H, W): the last context frame, repeated."""
    return video[:, :, context - 1 : context].expand(-1, -1, video.shape[2] - context, -1, -1)


class FutureFrameMetrics(nn.Module):
    """PSNR and SSIM of predicted future frames and of the copy-last-frame baseline (accumulating torchmetrics)."""

    def __init__(self):
        super().__init__()
        self.psnr, self.psnr_copy_last = PeakSignalNoiseRatio(data_range=1.0), PeakSignalNoiseRatio(data_range=1.0)
        self.ssim, self.ssim_copy_last = (StructuralSimilarityIndexMeasure(data_range=1.0),
                                          StructuralSimilarityIndexMeasure(data_range=1.0))

    def update(self, predicted: torch.Tensor, pixels: torch.Tensor, context: int) -> None:
        """predicted (B, C, T_future, H, W) and the true clip pixels (B, C, T, H, W), both in [0, 1]."""
        truth = pixels[:, :, context:]
        if predicted.shape != truth.shape:
            raise ValueError(f"predicted future {tuple(predicted.shape)} does not match "
                             f"the true future {tuple(truth.shape)}")
        truth, pred, last = (frames_as_images(truth), frames_as_images(predicted),
                             frames_as_images(copy_last_frame(pixels, context)))
        self.psnr.update(pred, truth)
        self.ssim.update(pred, truth)
        self.psnr_copy_last.update(last, truth)
        self.ssim_copy_last.update(last, truth)

    def items(self):
        return {"psnr": self.psnr, "ssim": self.ssim,
                "psnr_copy_last": self.psnr_copy_last, "ssim_copy_last": self.ssim_copy_last}.items()


@torch.no_grad()
def feature_std(features: torch.Tensor) -> torch.Tensor:
    """(..., D) features -> scalar: mean over dims of the std of the L2-normalised features."""
    x = F.normalize(features.reshape(-1, features.shape[-1]).float(), dim=-1)
    return x.std(dim=0).mean()


@torch.no_grad()
def effective_rank(features: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """(..., D) features -> scalar in [1, min(M, D)]: exp(entropy(s / sum(s))) of the centred (M, D) matrix."""
    x = features.reshape(-1, features.shape[-1]).float()
    s = torch.linalg.svdvals(x - x.mean(dim=0, keepdim=True))
    p = s / (s.sum() + eps)
    return torch.exp(-(p * (p + eps).log()).sum())
