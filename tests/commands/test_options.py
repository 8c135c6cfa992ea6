"""commands/options.py: `ssl-video probe` / `finetune` options come from ProbeConfig's fields, declared once."""

from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass, field

import pytest

from ssl_video.commands.options import add_dataclass_arguments, dataclass_from_args, field_values
from ssl_video.commands.probe import FINETUNE_FIELDS
from ssl_video.errors import UserError
from ssl_video.evaluate.attentive import AttentiveConfig
from ssl_video.evaluate.config import ProbeConfig
from ssl_video.evaluate.finetune import CEILING_BUDGET, FINETUNE_BUDGET

REQUIRED = ["--encoder", "e", "--data", "d", "--target", "t", "--out", "o"]


def _parse(argv, cls=ProbeConfig, **kwargs):
    parser = argparse.ArgumentParser()
    add_dataclass_arguments(parser, cls, **kwargs)
    return dataclass_from_args(cls, parser.parse_args(argv)), parser


def test_left_out_options_are_the_dataclass_defaults():
    cfg, _ = _parse(REQUIRED)
    assert cfg == ProbeConfig(encoder="e", data="d", targets=["t"], out=cfg.out)
    assert str(cfg.out) == "o"
    assert cfg.finetune_budget == FINETUNE_BUDGET and cfg.ceiling_budget == CEILING_BUDGET
    assert cfg.attentive == AttentiveConfig()


def test_every_flag_of_the_command_line_sets_its_field():
    argv = [*REQUIRED, "--target", "u", "v", "--task", "classification", "--encoder-args", '{"depth": 2}',
            "--fps", "5", "--context", "2", "--future", "3", "--size", "48", "--mean", "0.5", "0.5", "0.5",
            "--std", "0.2", "0.2", "0.2", "--clips-per-window", "2", "--test-size", "0.3", "--split-seed", "4",
            "--val-size", "0.25", "--fractions", "0.1", "1", "--seeds", "2", "--trained-seeds", "1",
            "--modes", "linear, attentive", "--no-random", "--compare", "a=x", "b=y", "--save-heads", "H",
            "--knn-k", "5", "--max-tokens", "64", "--pixels-size", "4",
            "--attentive-depth", "2", "--attentive-queries", "3", "--attentive-lrs", "0.1", "0.2",
            "--attentive-wds", "0.0", "--attentive-epochs", "7", "--attentive-min-steps", "0",
            "--finetune-epochs", "9", "--finetune-steps", "11", "--finetune-lr", "0.01", "--finetune-batch-size", "4",
            "--layer-decay", "0.5", "--patience", "2", "--ceiling-epochs", "13",
            "--batch-size", "8", "--num-workers", "0", "--cache-dir", "C"]
    cfg, _ = _parse(argv)
    assert cfg.targets == ["t", "u", "v"] and cfg.task == "classification" and cfg.encoder_args == {"depth": 2}
    assert (cfg.fps, cfg.context, cfg.future, cfg.size) == (5.0, 2, 3, (48, 48))
    assert cfg.mean == (0.5,) * 3 and cfg.std == (0.2,) * 3 and cfg.clips_per_window == 2
    assert (cfg.test_size, cfg.split_seed, cfg.val_size) == (0.3, 4, 0.25)
    assert cfg.fractions == (0.1, 1.0) and (cfg.seeds, cfg.trained_seeds) == (2, 1)
    assert cfg.modes == ("linear", "attentive") and not cfg.random_baseline
    assert cfg.compare == {"a": "x", "b": "y"} and cfg.save_heads == "H"
    assert (cfg.knn_k, cfg.max_tokens, cfg.pixels_size) == (5, 64, 4)
    assert cfg.attentive == AttentiveConfig(depth=2, num_queries=3, lrs=(0.1, 0.2), weight_decays=(0.0,), epochs=7,
                                            min_steps=0)
    assert cfg.finetune_budget == dataclasses.replace(FINETUNE_BUDGET, max_epochs=9, max_steps=11, lr=0.01,
                                                      batch_size=4, layer_decay=0.5, patience=2)
    assert cfg.ceiling_budget == dataclasses.replace(CEILING_BUDGET, max_epochs=13)
    assert (cfg.batch_size, cfg.num_workers, cfg.cache_dir) == (8, 0, "C")


def test_help_shows_each_option_with_its_default():
    _, parser = _parse(REQUIRED)
    text = " ".join(parser.format_help().split())
    for shown in ("--attentive-min-steps MIN_STEPS train at least", "(default: 300)", "--knn-k KNN_K neighbours",
                  "(default: 20)", "--finetune-steps STEPS", "(default: 60)", "--layer-decay", "(default: 0.75)",
                  "--size PX [PX ...] H [W] decode size", "--no-random skip", "(default: 0.01 0.1 1.0)"):
        assert shown in text, shown


def test_bad_values_are_user_errors():
    for argv, message in ((["--encoder-args", "{depth"], "not JSON"), (["--compare", "novalue"], "NAME=VALUE"),
                          (["--size", "1", "2", "3"], "H or H W"), (["--attentive-epochs", "0"], "epochs"),
                          (["--modes", "linear,nope"], "unknown mode")):
        with pytest.raises(UserError, match=message):
            _parse([*REQUIRED, *argv])


def test_finetune_takes_only_its_fields():
    assert FINETUNE_FIELDS <= {f.name for f in dataclasses.fields(ProbeConfig)}  # a misspelt name drops an option
    parser = argparse.ArgumentParser()
    add_dataclass_arguments(parser, ProbeConfig, only=FINETUNE_FIELDS)
    text = parser.format_help()
    assert "--finetune-lr" in text and "--val-size" in text
    assert "--attentive-lrs" not in text and "--fractions" not in text and "--ceiling-epochs" not in text


def test_a_few_fields_read_without_the_config_are_the_given_values_else_the_defaults():
    parser = argparse.ArgumentParser()
    add_dataclass_arguments(parser, ProbeConfig, only={"batch_size", "num_workers", "modes"})
    names = {"batch_size", "num_workers", "modes"}
    defaults = ProbeConfig(encoder="e", data="d", targets=["t"], out="o")
    assert field_values(ProbeConfig, parser.parse_args([]), names) == {
        "batch_size": defaults.batch_size, "num_workers": defaults.num_workers, "modes": defaults.modes}
    given = field_values(ProbeConfig, parser.parse_args(["--batch-size", "4", "--modes", "linear,knn"]), names)
    assert given == {"batch_size": 4, "num_workers": defaults.num_workers, "modes": ("linear", "knn")}


@dataclass(frozen=True)
class _Inner:
    rate: float = field(default=0.1, metadata={"help": "a rate"})
    steps: int = field(default=3, metadata={"name": "n", "help": "steps"})


@dataclass
class _Outer:
    name: str = field(metadata={"help": "required"})
    flag: bool = field(default=False, metadata={"help": "a switch"})
    inner: _Inner = field(default=_Inner(rate=0.5), metadata={"prefix": "in", "aliases": {"rate": ("--rate",)}})


def test_nested_fields_keep_the_outer_default_and_take_prefixed_or_aliased_flags():
    cfg, parser = _parse(["--name", "x"], cls=_Outer)
    assert cfg == _Outer(name="x") and cfg.inner.rate == 0.5
    assert "(default: 0.5)" in parser.format_help()
    assert _parse(["--name", "x", "--in-n", "7", "--flag"], cls=_Outer)[0] == _Outer("x", True, _Inner(0.5, 7))
    assert _parse(["--name", "x", "--rate", "0.9"], cls=_Outer)[0].inner == _Inner(0.9, 3)
    with pytest.raises(SystemExit):
        _parse([], cls=_Outer)  # a field without a default is a required option
