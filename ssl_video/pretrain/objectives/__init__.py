"""Pretraining objectives, one per file, each a thin ``nn.Module`` over pure loss functions.

``FuturePixels`` (predict the future frames' pixels), ``FutureFeatures`` (V-JEPA: predict the
EMA target encoder's features of the future frames) and ``Masked`` (VideoMAE tube masking, a
baseline). ``OBJECTIVES`` maps each ``name`` to its class: checkpoints and exported weights
rebuild objectives through it, never by import path.
"""

from __future__ import annotations

from ssl_video.pretrain.objectives.base import Objective, ObjectiveConfigError, ObjectiveOutput
from ssl_video.pretrain.objectives.future_features import FutureFeatures
from ssl_video.pretrain.objectives.future_pixels import FuturePixels
from ssl_video.pretrain.objectives.masked import Masked

OBJECTIVES: dict[str, type[Objective]] = {c.name: c for c in (FuturePixels, FutureFeatures, Masked)}

__all__ = ["OBJECTIVES", "FutureFeatures", "FuturePixels", "Masked", "Objective", "ObjectiveConfigError",
           "ObjectiveOutput"]
