"""The interface every pretraining objective implements (one objective per file).

An objective is a thin ``nn.Module`` over pure loss functions. It owns the parts that
only it trains (a predictor, an EMA target encoder) and builds them in ``attach(encoder)``,
once the encoder and so its width and tubelet are known; the LightningModule owns the
encoder, sums the weighted losses and calls ``after_optimizer_step`` (EMA updates).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ssl_video.errors import UserError


class ObjectiveConfigError(UserError):
    """An objective's init argument is out of range: ``"<objective>: init_args.<key> <problem>"``. ``ssl-video fit``
    names the place in the config, ``model.objectives[i].init_args.<key>``."""

    def __init__(self, objective: str, key: str, problem: str):
        super().__init__(f"{objective}: init_args.{key} {problem}")
        self.objective, self.key, self.problem = objective, key, problem


@dataclass
class ObjectiveOutput:
    loss: torch.Tensor  # scalar, before the objective's weight; the mean of per_sample
    per_sample: torch.Tensor  # (B,) each clip's loss (for mining surprising clips)
    features: torch.Tensor | None = None  # (B, K, D) online encoder tokens, for the health signals
    future: torch.Tensor | None = None  # (B, C, T_future, H, W) predicted future, normalized pixel space
    copy_last_loss: torch.Tensor | None = None  # scalar: the same loss for "the last context frame, repeated"


class Objective(nn.Module):
    """Base class. ``forward(encoder, video (B,C,T,H,W) normalized float, context, generator) -> ObjectiveOutput``."""

    name: str = "objective"

    def __init__(self, weight: float = 1.0):
        super().__init__()
        if not weight > 0:
            raise ObjectiveConfigError(self.name, "weight", f"must be > 0, got {weight} (drop the objective instead)")
        self.weight = float(weight)
        self.init_args: dict = {"weight": self.weight}  # subclasses add theirs: describe() must rebuild them

    def attach(self, encoder: nn.Module) -> None:
        """Build the modules that depend on the encoder (called once by the LightningModule)."""
        raise NotImplementedError

    def forward(self, encoder: nn.Module, video: torch.Tensor, context: int,
                generator: torch.Generator) -> ObjectiveOutput:
        raise NotImplementedError

    def after_optimizer_step(self, encoder: nn.Module, progress: float) -> None:
        """Hook after each optimizer step; ``progress`` = step / total steps in [0, 1]."""

    def describe(self) -> dict:
        """What the checkpoint records: ``type(self)(**describe()["init_args"])`` rebuilds this objective."""
        return {"name": self.name, "class_path": f"{type(self).__module__}.{type(self).__qualname__}",
                "init_args": dict(self.init_args)}
