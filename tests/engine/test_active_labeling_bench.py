"""The active-labeling benchmark's bookkeeping (its full run is the benchmark itself)."""

import importlib.util
from pathlib import Path

import numpy as np

_spec = importlib.util.spec_from_file_location(
    "active_labeling", Path(__file__).resolve().parents[2] / "benchmarks" / "active_labeling.py")
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)


def test_write_section_replaces_only_its_own_section(tmp_path):
    md = tmp_path / "BENCHMARKS.md"
    md.write_text("# Benchmarks\n\n## Decode\nfast\n\n## Active labeling\nold\n\n## Training\nslow\n")
    bench.write_section(md, "## Active labeling\nnew\n\n")
    assert md.read_text() == "# Benchmarks\n\n## Decode\nfast\n\n## Active labeling\nnew\n\n## Training\nslow\n"
    other = tmp_path / "other.md"
    other.write_text("# Benchmarks\n\n## Decode\nfast\n")
    bench.write_section(other, "## Active labeling\nnew\n")
    assert other.read_text() == "# Benchmarks\n\n## Decode\nfast\n\n## Active labeling\nnew\n"


def test_markdown_goes_to_a_file_only_when_named():
    assert bench.parse_args([]).md is None
    assert bench.parse_args(["--md", "BENCHMARKS.md"]).md == "BENCHMARKS.md"


def test_seed_set_covers_every_class_of_the_pool():
    y = np.array([0] * 20 + [1] * 3 + [2] * 2)
    pool = np.arange(22)  # class 2 only appears outside the pool
    chosen = bench.seed_set(y, pool, 5, np.random.default_rng(0))
    assert len(set(chosen.tolist())) == 5 and set(y[chosen]) == {0, 1} and np.isin(chosen, pool).all()


def test_labels_to_reach():
    assert bench.labels_to_reach([0.3, 0.5, 0.7], [8, 16, 24], 0.5) == "16"
    assert bench.labels_to_reach([0.3, 0.4], [8, 16], 0.5) == "> 16"


def test_meta_encoder_names_the_builtin_weights_and_their_steps():
    """--encoder takes what `ssl-video mine` takes; the record names the weights and their training steps."""
    from ssl_video.hub.registry import get_weights

    steps = get_weights("drive-future-vit-tiny").config["training"]["steps"]
    assert bench.meta_encoder("drive-future-vit-tiny").startswith(f"drive-future-vit-tiny ({steps} steps")
