"""benchmarks/fit_throughput.py measures inside one epoch, however short the data (the GPU check's few minutes)."""

import importlib.util
import tempfile
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location(
    "fit_throughput", Path(__file__).resolve().parents[2] / "benchmarks" / "fit_throughput.py")
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)

CONFIG = str(Path(__file__).resolve().parents[2] / "configs" / "pretrain" / "quickstart.yaml")
ARGS = ["--trainer.accelerator", "cpu", "--data.batch_size", "4", "--data.num_workers", "0"]


def _train_batches(data: str, steps: int, extra: list[str]) -> int:
    with tempfile.TemporaryDirectory() as root:
        dm = bench._cli(CONFIG, data, steps, root, ARGS + extra).datamodule
        dm.setup("fit")
        return len(dm.train_dataloader())


def test_short_data_gets_one_epoch_that_holds_every_step(drive_data):
    data = str(drive_data / "labels.csv")
    batches = _train_batches(data, 10, [])
    assert bench.one_epoch(CONFIG, data, batches - 1, ARGS) == []  # long enough already: nothing changes
    steps = 3 * batches  # three epochs' worth: each boundary would drain the loader's prefetch
    with pytest.raises(ValueError, match="fewer than --steps"):
        bench.loader_only(CONFIG, data, steps, 2, ARGS)
    extra = bench.one_epoch(CONFIG, data, steps, ARGS)
    assert extra[0] == "--data.clips_per_video" and int(extra[1]) > 8  # the config's 8, raised
    assert _train_batches(data, steps, extra) > steps
    assert bench.loader_only(CONFIG, data, steps, 2, ARGS + extra) > 0
