"""training.py: the supervised loop behind fine-tuning, scratch and the ceiling."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from ssl_video.evaluate.training import TrainBudget, fit_supervised


def test_classes_are_weighted_as_balanced_accuracy_weighs_them():
    """Unweighted, a few steps on 9:1 labels learn the majority class: balanced accuracy 0.5, the scratch row's
    chance-level cells. The loss weighs each class by n / (k * count), as the probes do."""
    torch.manual_seed(0)
    inputs = np.random.default_rng(0).normal(size=(40, 4)).astype(np.float32)
    labels = np.array([0] * 36 + [1] * 4)
    module = fit_supervised(nn.Linear(4, 3), inputs, labels, np.arange(40), "classification",
                            TrainBudget(max_epochs=1, batch_size=40), num_classes=3)
    assert module.class_weight.tolist() == pytest.approx([40 / (2 * 36), 40 / (2 * 4), 1.0])
    batch = {"input": torch.from_numpy(inputs), "label": torch.from_numpy(labels)}
    expected = F.cross_entropy(module.model(batch["input"]), batch["label"], weight=module.class_weight)
    torch.testing.assert_close(module._loss(batch), expected)
    assert "class_weight" not in module.state_dict()  # saved heads keep the weights only, as before
