"""End to end: `ssl-video probe` / `finetune` on real mp4 files, splits shared by every method."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from safetensors import safe_open

from ssl_video.commands.probe import finetune_main, probe_main
from ssl_video.errors import UserError
from ssl_video.evaluate.features import load_eval_encoder
from ssl_video.evaluate.label_efficiency import ProbeConfig, clip_spec, make_run, prepare, split_target
from ssl_video.evaluate.report import fraction_key, mean_std
from ssl_video.spec import ClipSpec


@pytest.fixture(scope="module")
def prepared(labeled_videos, tiny_checkpoint, tmp_path_factory):
    cfg = ProbeConfig(encoder=str(tiny_checkpoint), data=str(labeled_videos), targets=["direction"],
                      out=tmp_path_factory.mktemp("out"), cache_dir=str(tmp_path_factory.mktemp("cache")),
                      num_workers=0)
    return cfg, prepare(cfg)


def test_clip_spec_comes_from_the_checkpoint_and_clips_are_cached(prepared):
    cfg, prep = prepared
    assert (prep.spec.context, prep.spec.future, prep.spec.fps, prep.spec.size) == (4, 4, 10.0, (32, 32))
    assert prep.mean == (0.5, 0.5, 0.5) and prep.enc.pretrained
    assert prep.clips.array.shape == (32, 3, 8, 32, 32) and prep.clips.ok.all()
    again = prepare(cfg)  # second call reads the cache, same clips
    assert again.clips.key == prep.clips.key and np.array_equal(again.clips.array, prep.clips.array)


@pytest.mark.parametrize("target", ["direction", "speed"])
def test_test_split_by_sequence_fractions_nested_stratified_deterministic(prepared, target):
    cfg, prep = prepared
    split = split_target(cfg, prep, target)
    assert split.info.task == ("classification" if target == "direction" else "regression")
    train_seq, test_seq = set(prep.sequences[split.train]), set(prep.sequences[split.test])
    assert train_seq and test_seq and not train_seq & test_seq
    assert sorted(test_seq) == split.info.test_sequences
    assert split_target(cfg, prep, target).test.tolist() == split.test.tolist()  # fixed
    for seed in (0, 1):
        subs = [make_run(cfg, prep, split, f, seed).sub for f in (0.1, 0.5, 1.0)]
        assert set(subs[0]) <= set(subs[1]) <= set(subs[2]) == set(split.train)
        assert make_run(cfg, prep, split, 0.1, seed).sub.tolist() == subs[0].tolist()
        if target == "direction":
            assert set(split.labels[subs[0]]) == set(split.labels[split.train])  # every class even at 10%


def test_probe_main_writes_report_with_shared_splits(labeled_videos, tiny_checkpoint, tmp_path):
    out = tmp_path / "report"
    argv = ["--encoder", str(tiny_checkpoint), "--data", str(labeled_videos), "--target", "direction",
            "--target", "speed", "--modes", "linear,knn,scratch", "--seeds", "2", "--fractions", "0.5", "1.0",
            "--finetune-steps", "2", "--num-workers", "0", "--cache-dir", str(tmp_path / "cache"), "--out", str(out)]
    assert probe_main(argv) == 0
    report = json.loads((out / "report.json").read_text())
    assert (out / "label_efficiency.png").stat().st_size > 0
    methods = {"linear", "linear-random", "knn", "knn-random", "scratch"}
    assert {r["method"] for r in report["results"]} == methods
    assert len(report["results"]) == 2 * 2 * 2 * len(methods)
    for target in ("direction", "speed"):
        rows = [r for r in report["results"] if r["target"] == target]
        for seed in (0, 1):
            for fraction in (0.5, 1.0):
                same = {r["subset"] for r in rows if r["seed"] == seed and r["fraction"] == fraction}
                assert len(same) == 1  # every method trained on the same labeled clips
        stats = report["summary"][target]["scratch"][fraction_key(1.0)]
        for metric, cell in stats.items():
            values = [r["metrics"][metric] for r in rows if r["method"] == "scratch" and r["fraction"] == 1.0]
            assert (cell["mean"], cell["std"]) == pytest.approx(mean_std(values))
    speed = [r["metrics"] for r in report["results"] if r["target"] == "speed"]
    assert all(set(m) == {"mae", "r2"} and np.isfinite(m["mae"]) for m in speed)
    md = (out / "report.md").read_text()
    assert "## speed (regression" in md and "**r2**" in md and "matches scratch@100%" in md


def test_finetune_main_writes_model_and_metrics(labeled_videos, tiny_checkpoint, tmp_path):
    argv = ["--encoder", str(tiny_checkpoint), "--data", str(labeled_videos), "--target", "direction",
            "--fraction", "0.5", "--finetune-steps", "3", "--num-workers", "0", "--cache-dir", str(tmp_path / "c"),
            "--out", str(tmp_path / "ft")]
    assert finetune_main(argv) == 0
    info = json.loads((tmp_path / "ft" / "metrics.json").read_text())
    assert info["mode"] == "finetune" and set(info["metrics"]) == {"accuracy", "balanced_accuracy"}
    assert info["clips_per_window"] == 1  # how to feed the fine-tuned model its windows
    assert info["preprocessing"]["size"] == [32, 32] and "clip" not in info and "normalize" not in info  # once
    with safe_open(str(tmp_path / "ft" / "model.safetensors"), "pt") as f:
        assert any(k.startswith("model.encoder.") for k in f.keys())
        assert json.loads(f.metadata()["ssl_video_finetune"])["classes"] == ["left", "right"]


def test_probe_main_on_drive_data_with_a_tiny_random_encoder(drive_data, tmp_path):
    """The built-in world, a bare architecture name (random weights: no '-random' rows), class +
    regression targets, linear + scratch."""
    out = tmp_path / "drive_report"
    tiny = json.dumps({"img_size": 32, "num_frames": 8, "depth": 1, "embed_dim": 32, "num_heads": 2})
    argv = ["--encoder", "vit_tiny", "--encoder-args", tiny, "--context", "4", "--future", "4", "--size", "32",
            "--data", str(drive_data / "labels.csv"), "--target", "speed_bucket", "--target", "speed_kmh",
            "--modes", "linear,scratch", "--seeds", "2", "--fractions", "0.1", "1.0", "--finetune-steps", "2",
            "--num-workers", "0", "--cache-dir", str(tmp_path / "cache"), "--out", str(out)]
    assert probe_main(argv) == 0
    for name in ("report.json", "report.md", "label_efficiency.png"):
        assert (out / name).stat().st_size > 0
    report = json.loads((out / "report.json").read_text())
    assert report["targets"]["speed_bucket"]["task"] == "classification"
    assert report["targets"]["speed_kmh"]["task"] == "regression"
    assert {r["method"] for r in report["results"]} == {"linear", "scratch"}
    assert report["meta"]["clip"]["size"] == [32, 32] and not report["meta"]["pretrained"]


def test_compare_adds_rows_of_other_encoders_on_the_same_clips(labeled_videos, tiny_checkpoint, tmp_path):
    """--compare twin=<the same checkpoint> gives @twin rows equal to the encoder's own, and an encoder
    table in the findings (an encoder that reads other clips decodes its own:
    tests/evaluate/test_compare_foreign.py)."""
    out = tmp_path / "report"
    argv = ["--encoder", str(tiny_checkpoint), "--data", str(labeled_videos), "--target", "direction",
            "--modes", "pixels,linear", "--seeds", "1", "--fractions", "0.5", "1.0", "--num-workers", "0",
            "--cache-dir", str(tmp_path / "cache"), "--out", str(out), "--compare", f"twin={tiny_checkpoint}"]
    assert probe_main(argv) == 0
    report = json.loads((out / "report.json").read_text())
    rows = report["summary"]["direction"]
    assert set(rows) == {"pixels", "linear", "linear-random", "linear@twin"}
    assert rows["linear@twin"] == rows["linear"]
    table = report["findings"]["direction"]["encoders"]
    assert list(table) == ["this encoder", "twin", "random weights", "pixels"]
    assert table["twin"]["1"]["method"] == "linear@twin"
    assert "| twin |" in (out / "report.md").read_text()
    with pytest.raises(UserError, match="expected NAME=VALUE"):
        probe_main([*argv[:-1], "novalue"])



def test_an_architecture_name_is_the_same_random_encoder_whatever_ran_before():
    args = dict(embed_dim=48, depth=1, num_heads=2)
    torch.manual_seed(1)
    first = load_eval_encoder("vit_tiny", args=args).encoder.state_dict()
    after = torch.rand(1)  # the global generator is left where it was
    torch.rand(1000)  # another test, another notebook cell: the global generator has moved on
    second = load_eval_encoder("vit_tiny", args=args).encoder.state_dict()
    assert all(torch.equal(first[k], second[k]) for k in first)
    torch.manual_seed(1)
    assert torch.equal(after, torch.rand(1))


def test_clip_spec_of_a_bare_architecture_is_the_default_and_compare_ignores_normalization(
        labeled_videos, tiny_checkpoint, tmp_path):
    """No record: the default ClipSpec. With the clip options set, a random vit_tiny (ImageNet mean/std) reads the
    same clips as the checkpoint (mean/std 0.5/0.25): compared, each with its own normalization."""
    bare = load_eval_encoder("vit_tiny")
    cfg = ProbeConfig(encoder="vit_tiny", data=str(labeled_videos), targets=["direction"], out=tmp_path / "out")
    assert clip_spec(cfg, bare) == ClipSpec() and bare.mean == ClipSpec().mean
    cfg = ProbeConfig(encoder=str(tiny_checkpoint), data=str(labeled_videos), targets=["direction"],
                      out=tmp_path / "out", compare={"bare": "vit_tiny"}, context=4, future=4, fps=10.0, size=(32, 32),
                      cache_dir=str(tmp_path / "cache"), num_workers=0)
    prep = prepare(cfg)
    assert prep.mean == (0.5, 0.5, 0.5) and clip_spec(cfg, prep.compared["bare"]).mean == ClipSpec().mean
