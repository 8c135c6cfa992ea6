"""Shared supervised training loop for the attentive probe, fine-tuning and the scratch baseline.

A plain-torch ``model`` (input -> (B, outputs)) is wrapped in one small LightningModule;
regression targets are standardized with the training fraction's mean/std and mapped back
at prediction time. Early stopping watches ``val/loss`` and the best weights (kept in
memory, no checkpoint files) are restored at the end of fitting.

    budget = TrainBudget(max_epochs=20, batch_size=32, lr=1e-3)
    model = fit_supervised(head, train_inputs, y_train, "classification", budget, val=(val_inputs, y_val))
    y_pred = predict(model, test_inputs, "classification")
"""

from __future__ import annotations

import copy
import logging
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset

from ssl_video import optim
from ssl_video.evaluate.probes import class_weights, target_scale
from ssl_video.models import default_device

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainBudget:
    """How much training a method gets; scratch and fine-tuning share one budget."""

    max_epochs: int = field(default=20, metadata={"name": "epochs", "help": "epoch cap (early stopping may stop "
                                                  "before)"})
    max_steps: int = field(default=-1, metadata={"name": "steps", "help": "step cap, whichever limit comes first; "
                                                 "-1: the epochs decide"})
    batch_size: int = field(default=32, metadata={"help": "clips per step"})
    lr: float = field(default=1e-3, metadata={"help": "AdamW learning rate"})
    weight_decay: float = field(default=0.05, metadata={"help": "AdamW weight decay (matrices only)"})
    patience: int = field(default=3, metadata={"help": "validation checks without improvement before stopping"})
    layer_decay: float = field(default=0.75, metadata={"help": "fine-tuning only: lr of encoder layer l of L = lr * "
                                                       "decay ** (L - l)"})


class ArrayDataset(Dataset):
    """Rows ``indices`` of an array (in memory or a np.memmap) with their labels.

    Yields ``dict(input=tensor, label=tensor)``; a uint8 array stays uint8 (clips are
    normalized on the device by the model).
    """

    def __init__(self, inputs, labels: np.ndarray | None, indices: np.ndarray):
        self.inputs, self.labels, self.indices = inputs, labels, np.asarray(indices)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        row = int(self.indices[i])
        item = {"input": torch.from_numpy(np.array(self.inputs[row]))}  # copy: memmaps are read-only
        if self.labels is not None:
            item["label"] = torch.as_tensor(self.labels[row])
        return item


class SupervisedModule(pl.LightningModule):
    """Cross-entropy weighted by ``class_weight`` (classification) or MSE on standardized targets (regression)."""

    def __init__(self, model: nn.Module, task: str, budget: TrainBudget, param_groups: Callable | None = None,
                 target_mean: float = 0.0, target_std: float = 1.0, class_weight: np.ndarray | None = None):
        super().__init__()
        self.model, self.task, self.budget, self.param_groups = model, task, budget, param_groups
        self.register_buffer("target_mean", torch.tensor(float(target_mean)))
        self.register_buffer("target_std", torch.tensor(float(target_std)))
        weight = None if class_weight is None else torch.as_tensor(class_weight, dtype=torch.float32)
        self.register_buffer("class_weight", weight, persistent=False)  # training only: not part of saved weights

    def setup(self, stage: str) -> None:
        # Lightning's own pytree helper builds torch's deprecated LeafSpec on newer torch: nothing a user can change.
        warnings.filterwarnings("ignore", message=r"`isinstance\(treespec, LeafSpec\)` is deprecated",
                                category=FutureWarning)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)

    def _loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        out = self.model(batch["input"])  # (B, outputs)
        if self.task == "classification":
            return F.cross_entropy(out, batch["label"].long(), weight=self.class_weight)
        return F.mse_loss(out.squeeze(-1), (batch["label"].float() - self.target_mean) / self.target_std)

    def training_step(self, batch, batch_idx):
        loss = self._loss(batch)
        self.log("train/loss", loss, prog_bar=True)
        return loss

    def validation_step(self, batch, batch_idx):
        self.log("val/loss", self._loss(batch), on_epoch=True, batch_size=len(batch["input"]))

    def configure_optimizers(self):
        b = self.budget
        if self.param_groups:
            return torch.optim.AdamW(self.param_groups(self.model, b.lr, b.weight_decay), lr=b.lr)
        return torch.optim.AdamW(optim.param_groups(self.model.parameters(), b.weight_decay,
                                                    no_decay=optim.no_weight_decay(self.model)), lr=b.lr)

    @torch.no_grad()
    def decode(self, out: torch.Tensor) -> torch.Tensor:
        """Model outputs (B, outputs) -> class ids (B,) or targets in the label's units (B,)."""
        if self.task == "classification":
            return out.argmax(-1)
        return out.squeeze(-1) * self.target_std + self.target_mean


class _RestoreBest(pl.Callback):
    """Keep the weights of the best ``val/loss`` in memory; load them when fitting ends."""

    def __init__(self):
        self.best, self.state = float("inf"), None

    def on_validation_end(self, trainer, module):
        loss = trainer.callback_metrics.get("val/loss")
        if loss is not None and not trainer.sanity_checking and float(loss) < self.best:
            self.best, self.state = float(loss), copy.deepcopy(module.model.state_dict())

    def on_fit_end(self, trainer, module):
        if self.state is not None:
            module.model.load_state_dict(self.state)


def _loader(inputs, labels, indices, batch_size: int, shuffle: bool, seed: int = 0) -> DataLoader:
    generator = torch.Generator().manual_seed(seed)
    return DataLoader(ArrayDataset(inputs, labels, indices), batch_size=batch_size, shuffle=shuffle,
                      generator=generator)


def _val_every(steps_per_epoch: int, max_steps: int) -> int:
    """Global steps between validations: once per epoch, but at least ~4 times within a step budget."""
    return max(1, min(steps_per_epoch, max_steps // 4)) if max_steps > 0 else max(1, steps_per_epoch)


def fit_supervised(
    model: nn.Module,
    inputs,
    labels: np.ndarray,
    train_idx: np.ndarray,
    task: str,
    budget: TrainBudget,
    *,
    val_idx: np.ndarray | None = None,
    param_groups: Callable | None = None,
    seed: int = 0,
    num_classes: int | None = None,
) -> SupervisedModule:
    """Train ``model`` on ``inputs[train_idx]`` (early stopping on ``val_idx`` when given, non-empty). Classes are
    weighted as the probes weigh them (balanced over ``num_classes`` outputs), since balanced accuracy is the metric:
    unweighted, a few steps on imbalanced labels learn the majority class."""
    mean, std = target_scale(labels[train_idx]) if task == "regression" else (0.0, 1.0)
    weight = None
    if task == "classification":
        weight = class_weights(labels[train_idx], num_classes or int(labels[train_idx].max()) + 1)
    module = SupervisedModule(model, task, budget, param_groups, mean, std, weight)
    module.train()  # an encoder used for feature extraction comes in eval mode
    has_val = val_idx is not None and len(val_idx) > 0
    callbacks: list[pl.Callback] = []
    if has_val:
        # Checked after validation only; not strict, since a step budget may end training before any.
        stop = pl.callbacks.EarlyStopping("val/loss", patience=budget.patience, strict=False,
                                          check_on_train_epoch_end=False)
        callbacks += [stop, _RestoreBest()]
    train_loader = _loader(inputs, labels, train_idx, budget.batch_size, shuffle=True, seed=seed)
    val_loader = _loader(inputs, labels, val_idx, budget.batch_size, shuffle=False) if has_val else None
    trainer = pl.Trainer(
        max_epochs=budget.max_epochs,
        max_steps=budget.max_steps,
        accelerator="auto",
        devices=1,
        precision="bf16-mixed" if torch.cuda.is_available() else "32-true",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        callbacks=callbacks,
        limit_val_batches=1.0 if has_val else 0,
        # Validate each epoch, or more often when a step budget ends before the first epoch does.
        check_val_every_n_epoch=None,
        val_check_interval=_val_every(len(train_loader), budget.max_steps),
    )
    trainer.fit(module, train_loader, val_loader)
    return module


@torch.no_grad()
def predict(module: SupervisedModule, inputs, indices: np.ndarray, batch_size: int = 64) -> np.ndarray:
    """Predictions for ``inputs[indices]``: class ids or targets, as a numpy array (N,)."""
    device = default_device()
    module = module.to(device).eval()
    out = []
    for batch in _loader(inputs, None, indices, batch_size, shuffle=False):
        out.append(module.decode(module(batch["input"].to(device)).float()))
    return torch.cat(out).cpu().numpy()
