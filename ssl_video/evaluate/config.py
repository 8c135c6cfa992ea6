"""What one label-efficiency report runs: :class:`ProbeConfig`, declared once.

Each field carries its command-line help in ``metadata`` (``ssl_video.commands.options`` turns the fields into
``ssl-video probe`` / ``finetune`` options, with these defaults), so an option is written in one place.

    cfg = ProbeConfig(encoder="runs/quickstart/weights", data="data/drive/labels.csv", targets=["speed_bucket"],
                      out="runs/probe", modes=("linear", "attentive"))
"""

from __future__ import annotations

import json
import os
from dataclasses import MISSING, dataclass, field
from pathlib import Path
from typing import Any

from ssl_video.errors import UserError
from ssl_video.evaluate.attentive import AttentiveConfig
from ssl_video.evaluate.features import PIXELS_SIZE
from ssl_video.evaluate.finetune import CEILING_BUDGET, FINETUNE_BUDGET
from ssl_video.evaluate.training import TrainBudget
from ssl_video.spec import size_hw

MODES = ("pixels", "linear", "temporal", "knn", "attentive", "finetune", "scratch", "ceiling")
FROZEN = ("linear", "temporal", "knn", "attentive")  # probes of an encoder's frozen features (also on random weights)


def _opt(default: Any = MISSING, *, factory: Any = MISSING, **metadata: Any):
    return field(default=default, default_factory=factory, metadata=metadata)


def _pairs(items: list[str]) -> dict[str, str]:
    """["a=x", "b=y"] -> {"a": "x", "b": "y"}; a malformed item is a user error."""
    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name or not value:
            raise UserError(f"--compare {item!r}: expected NAME=VALUE, e.g. builtin=drive-future-vit-tiny")
        out[name] = value
    return out


def _json(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise UserError(f"--encoder-args {text!r}: not JSON ({error}); e.g. '{{\"depth\": 2}}'") from None
    if not isinstance(value, dict):
        raise UserError(f"--encoder-args {text!r}: expected a JSON object, e.g. '{{\"depth\": 2}}'")
    return value


def _size(values: list[str]) -> tuple[int, int]:
    if len(values) > 2:
        raise UserError(f"--size takes H or H W, got {' '.join(values)}")
    return size_hw([int(v) for v in values])


_DATA, _CLIPS = "encoder and data", "clips (default: what the checkpoint recorded)"
_SPLITS, _RUN, _PROBES, _RUNTIME = "splits", "what runs", "probes", "runtime"


@dataclass
class ProbeConfig:
    encoder: str = _opt(group=_DATA, help="a .ckpt from `ssl-video fit`, an exported weights dir/.safetensors, a "
                        "weights name, or an architecture name (randomly initialised, e.g. vit_tiny)")
    data: str = _opt(group=_DATA, help="folder of videos or manifest CSV with label columns")
    targets: list[str] = _opt(group=_DATA, flag="--target", action="extend", nargs="+", metavar="TARGET",
                              parse=lambda v: list(dict.fromkeys(v)), help="label column(s) to evaluate")
    out: str | Path = _opt(group=_DATA, help="output folder")
    task: str = _opt("auto", group=_DATA, choices=("auto", "classification", "regression"),
                     help="auto: numbers (unless a few integers) are regression, anything else classes")
    encoder_args: dict[str, Any] = _opt(factory=dict, group=_DATA, parse=_json,
                                        help='JSON overrides of the architecture config, e.g. \'{"depth": 2}\'')
    # Clip options; None = what the checkpoint recorded (ClipSpec defaults for a bare architecture).
    fps: float | None = _opt(None, group=_CLIPS, help="frames per second")
    context: int | None = _opt(None, group=_CLIPS, help="context frames")
    future: int | None = _opt(None, group=_CLIPS, help="future frames (the encoder sees context + future frames)")
    size: tuple[int, int] | None = _opt(None, group=_CLIPS, nargs="+", metavar="PX", parse=_size,
                                        help="H [W] decode size")
    mean: tuple[float, ...] | None = _opt(None, group=_CLIPS, nargs=3, help="normalization mean per channel")
    std: tuple[float, ...] | None = _opt(None, group=_CLIPS, nargs=3, help="normalization std per channel")
    # Every row (pixels, frozen probes, fine-tuning, scratch) sees the same clips.
    clips_per_window: int = _opt(1, group=_CLIPS, metavar="K", help="read K evenly spaced clips of each labeled "
                                 "window, for windows longer than one clip (a label about the whole window): probes "
                                 "see the clips' tokens joined in time, fine-tuning averages their features, the "
                                 "pixels row concatenates them (1: the centred clip)")
    test_size: float = _opt(0.2, group=_SPLITS, help="held-out share of clips, split by sequence")
    split_seed: int = _opt(0, group=_SPLITS, help="seed of the fixed test split")
    val_size: float = _opt(0.2, group=_SPLITS, help="share of a label fraction carved (by sequence) for early "
                           "stopping of finetune, scratch and ceiling")
    fractions: tuple[float, ...] = _opt((0.01, 0.1, 1.0), group=_RUN, help="label fractions of the train split")
    seeds: int = _opt(3, group=_RUN, help="seeds 0..N-1 (label fractions, heads, training)")
    # finetune/scratch cost 100x a frozen probe
    trained_seeds: int | None = _opt(None, group=_RUN, help="seeds of the finetune and scratch modes (default: "
                                     "--seeds); each costs minutes on a CPU")
    modes: tuple[str, ...] = _opt(
        ("pixels", "linear", "temporal", "knn", "attentive"), group=_RUN,
        parse=lambda text: tuple(m.strip() for m in text.split(",") if m.strip()),
        help="comma list of: pixels (linear probe on raw downsampled frames and frame differences, no model), "
             "linear (mean-pooled features), temporal (per-time-step mean and std of the tokens), knn, attentive "
             "(V-JEPA 2 attentive probe, lr x wd grid), finetune, scratch (same architecture from random weights, "
             "same budget as finetune), ceiling (scratch to convergence on 100 % of the labels, cached)")
    random_baseline: bool = _opt(True, group=_RUN, flag="--no-random", help="skip the frozen probes on a randomly "
                                 "initialised encoder of the same architecture")
    # Each compared encoder decodes its own clips of the same windows (label_efficiency.compared_spec).
    compare: dict[str, str] = _opt(factory=dict, group=_RUN, nargs="+", metavar="NAME=ENCODER", parse=_pairs,
                                   help="more encoders (same sources as --encoder, e.g. builtin=drive-future-vit-tiny, "
                                        "or a public model: a transformers folder, hf://org/repo, "
                                        "torchvision:mvit_v2_s.KINETICS400_V1) whose frozen probes join the report "
                                        "as <mode>@NAME rows; each reads the clips it was trained with (ssl_video "
                                        "encoders with the clip options above), same windows and splits")
    save_heads: str | None = _opt(None, group=_RUN, metavar="DIR", help="keep the best frozen probe of the encoder "
                                  "per target and fraction (seed 0, chosen on validation folds of the labeled "
                                  "drives) as DIR/<target>/<fraction>; `ssl-video predict --model` uses it")
    knn_k: int = _opt(20, group=_PROBES, help="neighbours of the knn probe")
    max_tokens: int = _opt(256, group=_PROBES, help="patch tokens the attentive probe sees (average-pooled on the "
                           "token grid)")
    pixels_size: int = _opt(PIXELS_SIZE, group=_PROBES, help="frame side of the pixels baseline")
    attentive: AttentiveConfig = _opt(AttentiveConfig(), prefix="attentive", help="attentive probe (a grid of lr x "
                                      "wd, chosen with the epoch by K-fold over the labeled drives)")
    finetune_budget: TrainBudget = _opt(FINETUNE_BUDGET, prefix="finetune",
                                        aliases={"layer_decay": ("--layer-decay",), "patience": ("--patience",)},
                                        help="finetune and scratch training (small by default so CPU runs finish "
                                             "in minutes)")
    ceiling_budget: TrainBudget = _opt(CEILING_BUDGET, prefix="ceiling", help="ceiling training (scratch on 100 % "
                                       "of the labels until the validation loss stops improving)")
    batch_size: int = _opt(16, group=_RUNTIME, help="feature extraction / decoding batch size")
    num_workers: int = _opt(factory=lambda: min(2, os.cpu_count() or 1), group=_RUNTIME, help="decoding workers")
    cache_dir: str | None = _opt(None, group=_RUNTIME, help="clip and feature cache (default $SSL_VIDEO_HOME/evaluate)")

    def __post_init__(self) -> None:
        unknown = sorted(set(self.modes) - set(MODES))
        if unknown:
            raise UserError(f"unknown mode(s) {unknown}; choose from {', '.join(MODES)}")
        bad = [f for f in self.fractions if not 0 < f <= 1]
        if bad:
            raise UserError(f"fractions must be in (0, 1], got {bad}")
        if self.seeds < 1 or (self.trained_seeds is not None and not 1 <= self.trained_seeds <= self.seeds):
            raise UserError(f"need seeds >= 1 and 1 <= trained_seeds <= seeds, got {self.seeds}, {self.trained_seeds}")
        if not self.targets:
            raise UserError("give at least one --target label column")
        if self.clips_per_window < 1:
            raise UserError(f"--clips-per-window must be >= 1, got {self.clips_per_window}")
        if not (0 < self.test_size < 1 and 0 <= self.val_size < 1):
            raise UserError(f"need 0 < --test-size < 1 and 0 <= --val-size < 1 (shares of the clips), got "
                            f"{self.test_size} and {self.val_size}")
