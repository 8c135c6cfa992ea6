"""heads.py and `ssl-video predict`: a kept head labels new windows exactly as the report scored it."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch

import ssl_video
from ssl_video.cli import main
from ssl_video.commands.probe import finetune_main, probe_main
from ssl_video.data.transforms import normalize_clip
from ssl_video.errors import UserError
from ssl_video.evaluate.attentive import select_attentive
from ssl_video.evaluate.features import extract_features
from ssl_video.evaluate.finetune import FINETUNE_BUDGET, EncoderHead, save_finetuned
from ssl_video.evaluate.heads import load_classifier, save_head
from ssl_video.evaluate.label_efficiency import ProbeConfig, make_run, prepare, split_target
from ssl_video.evaluate.probes import fit_knn_probe, fit_linear_probe
from ssl_video.evaluate.training import SupervisedModule
from ssl_video.models import encoder_config, get_encoder
from ssl_video.spec import ClipSpec


def _held_out(labels_csv: Path, sequences: list[str], out: Path) -> Path:
    """The rows of ``labels_csv`` whose drive is in ``sequences``, with absolute video paths."""
    with open(labels_csv, newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["sequence"] in sequences]
    for r in rows:
        r["video"] = str(labels_csv.parent / r["video"])
    with open(out, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return out


def _accuracy(predictions_csv: Path, target: str) -> tuple[float, int]:
    with open(predictions_csv, newline="") as f:
        rows = list(csv.DictReader(f))
    return float(np.mean([r["prediction"] == r[target] for r in rows])), len(rows)


def test_probe_save_heads_then_predict_labels_the_held_out_windows_with_the_reported_accuracy(
        labeled_videos, tiny_checkpoint, tmp_path, capsys):
    heads, report_dir = tmp_path / "heads", tmp_path / "report"
    assert probe_main(["--encoder", str(tiny_checkpoint), "--data", str(labeled_videos), "--target", "direction",
                       "--modes", "linear", "--seeds", "1", "--fractions", "1.0", "--num-workers", "0", "--cache-dir",
                       str(tmp_path / "cache"), "--out", str(report_dir), "--save-heads", str(heads)]) == 0
    report = json.loads((report_dir / "report.json").read_text())
    info = json.loads((heads / "direction" / "1" / "head.json").read_text())
    assert info["mode"] == "linear" and info["classes"] == ["left", "right"] and info["seed"] == 0
    assert info["encoder"]["source"] == str(tiny_checkpoint) and len(info["encoder"]["fingerprint"]) == 64
    assert info["preprocessing"]["size"] == [32, 32] and info["preprocessing"]["mean"] == [0.5, 0.5, 0.5]
    assert info["chosen_by"] == "validation folds" and info["validation"]["linear"] is not None

    test_sequences = report["targets"]["direction"]["test_sequences"]
    data = _held_out(labeled_videos, test_sequences, tmp_path / "held_out.csv")
    capsys.readouterr()
    assert main(["predict", "--model", str(heads / "direction" / "1"), "--data", str(data),
                 "--out", str(tmp_path / "p.csv"), "--num-workers", "0"]) == 0
    assert "on the 8 labeled windows: accuracy" in capsys.readouterr().out
    accuracy, n = _accuracy(tmp_path / "p.csv", "direction")
    reported = next(r for r in report["results"] if r["method"] == "linear")
    assert n == report["targets"]["direction"]["split_sizes"]["test"]
    assert accuracy == pytest.approx(reported["metrics"]["accuracy"], abs=1e-6)
    with open(tmp_path / "p.csv", newline="") as f:
        row = next(csv.DictReader(f))
    assert float(row["p_left"]) + float(row["p_right"]) == pytest.approx(1.0, abs=1e-5)


@pytest.fixture(scope="module")
def probed(labeled_videos, tiny_checkpoint, tmp_path_factory):
    cfg = ProbeConfig(encoder=str(tiny_checkpoint), data=str(labeled_videos), targets=["direction", "speed"],
                      out=tmp_path_factory.mktemp("out"), cache_dir=str(tmp_path_factory.mktemp("cache")),
                      num_workers=0)
    prep = prepare(cfg)
    feats = extract_features(prep.enc, prep.clips, mean=prep.mean, std=prep.std, tokens=True, cache_dir=cfg.cache_dir)
    return cfg, prep, feats


def _info(cfg, prep, split, target):
    return {"target": target, "task": split.info.task, "classes": split.info.classes,
            "encoder": {"source": cfg.encoder, "fingerprint": prep.enc.fingerprint()},
            "preprocessing": prep.spec.replace(mean=prep.mean, std=prep.std).to_dict(),
            "clips_per_window": 1, "max_tokens": cfg.max_tokens}


@pytest.mark.parametrize("target", ["direction", "speed"])
@pytest.mark.parametrize("mode", ["linear", "temporal", "knn", "attentive"])
def test_a_loaded_head_on_clips_gives_the_probes_own_predictions(probed, tmp_path, mode, target):
    cfg, prep, feats = probed
    split = split_target(cfg, prep, target)
    run = make_run(cfg, prep, split, 1.0, 0)
    probe, X = run.fit_frozen(mode, feats)
    expected = probe.predict(X, run.test) if mode == "attentive" else probe.predict(X[run.test])
    train = (feats.pooled[run.sub], run.labels[run.sub]) if mode == "knn" else None
    save_head(tmp_path / "h", mode, probe, _info(cfg, prep, split, target), train=train)
    clf = ssl_video.load_classifier(tmp_path / "h")
    clips = normalize_clip(torch.from_numpy(np.ascontiguousarray(prep.clips.array[run.test])), prep.mean, prep.std)
    out = clf(clips)
    if target == "direction":
        assert clf.classes == ["left", "right"] and out.shape == (len(run.test), 2)
        np.testing.assert_array_equal(out.argmax(-1).numpy(), expected)
        if mode in ("linear", "temporal", "knn"):  # scikit-learn's probabilities, the same maths
            np.testing.assert_allclose(clf.predict_proba(clips).numpy(), probe.predict_proba(X[run.test]), atol=1e-5)
    else:
        assert clf.classes is None and out.shape == (len(run.test),)
        np.testing.assert_allclose(out.double().numpy(), expected, rtol=1e-4, atol=1e-4)
        with pytest.raises(UserError, match="no class probabilities"):
            clf.predict_proba(clips)
    assert clf.preprocessing == prep.spec.replace(mean=prep.mean, std=prep.std)


def test_a_head_refuses_an_encoder_it_was_not_trained_on(probed, tmp_path):
    cfg, prep, feats = probed
    split = split_target(cfg, prep, "direction")
    run = make_run(cfg, prep, split, 1.0, 0)
    probe, _ = run.fit_frozen("linear", feats)
    save_head(tmp_path / "h", "linear", probe, _info(cfg, prep, split, "direction"))
    with pytest.raises(UserError, match="not the encoder this head was trained on"):
        load_classifier(tmp_path / "h", encoder="vit_tiny")
    with pytest.raises(UserError, match="no head.json"):
        load_classifier(tmp_path)
    head = tmp_path / "h" / "head.safetensors"
    head.write_bytes(head.read_bytes()[:100])  # cut off
    with pytest.raises(UserError, match="head.safetensors: not a readable safetensors file"):
        load_classifier(tmp_path / "h")
    head.unlink()
    with pytest.raises(UserError, match="head.safetensors: not a readable safetensors file"):
        load_classifier(tmp_path / "h")
    (tmp_path / "h" / "head.json").write_text("{not json")
    with pytest.raises(UserError, match="head.json: not readable JSON"):
        load_classifier(tmp_path / "h")


def test_a_fine_tuned_model_loads_and_predicts_like_the_trained_module(labeled_videos, tiny_checkpoint, tmp_path,
                                                                       capsys):
    out = tmp_path / "ft"
    assert finetune_main(["--encoder", str(tiny_checkpoint), "--data", str(labeled_videos), "--target", "direction",
                          "--finetune-steps", "3", "--num-workers", "0", "--cache-dir", str(tmp_path / "c"),
                          "--out", str(out)]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    clf = load_classifier(out)
    assert clf.classes == ["left", "right"] and clf.info["mode"] == "finetune"
    cfg = ProbeConfig(encoder=str(tiny_checkpoint), data=str(labeled_videos), targets=["direction"], out=tmp_path,
                      cache_dir=str(tmp_path / "c"), num_workers=0)
    prep = prepare(cfg)
    split = split_target(cfg, prep, "direction")
    clips = normalize_clip(torch.from_numpy(np.ascontiguousarray(prep.clips.array[split.test])), prep.mean, prep.std)
    accuracy = float((clf(clips).argmax(-1).numpy() == split.labels[split.test]).mean())
    assert accuracy == pytest.approx(metrics["metrics"]["accuracy"], abs=1e-6)

    sequences = sorted(set(prep.sequences[split.test].tolist()))
    data = _held_out(labeled_videos, sequences, tmp_path / "held_out.csv")
    assert main(["predict", "--model", str(out), "--data", str(data), "--out", str(tmp_path / "p.csv"),
                 "--num-workers", "0"]) == 0
    assert _accuracy(tmp_path / "p.csv", "direction")[0] == pytest.approx(accuracy, abs=1e-6)


_CLIP = {"context": 4, "future": 4, "fps": 10.0, "size": [32, 32]}
_NORMALIZE = {"mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25]}
# The clip settings of a fine-tuned model as each version stored them (2 clips per window, to see it read back).
_LAYOUTS = {
    "current": {"preprocessing": {**_CLIP, **_NORMALIZE}, "clips_per_window": 2},
    "three copies": {"preprocessing": {**_CLIP, **_NORMALIZE}, "clips_per_window": 2,
                     "clip": {**_CLIP, "clips_per_window": 2}, "normalize": _NORMALIZE},
    "clip + normalize": {"clip": {**_CLIP, "clips_per_window": 2}, "normalize": _NORMALIZE},
}


@pytest.mark.parametrize("layout", list(_LAYOUTS))
@pytest.mark.parametrize("task", ["classification", "regression"])
def test_a_fine_tuned_model_of_any_layout_loads_and_computes_what_the_module_does(tmp_path, layout, task):
    torch.manual_seed(0)
    encoder = get_encoder("vit_tiny", img_size=32, num_frames=8, tubelet=(2, 8, 8), depth=1, embed_dim=32, num_heads=2)
    name, args = encoder_config(encoder)
    spec = ClipSpec.from_dict({**_CLIP, **_NORMALIZE})
    model = EncoderHead(encoder, 3 if task == "classification" else 1, mean=spec.mean, std=spec.std, segments=2)
    torch.nn.init.normal_(model.head.weight)  # away from the near-zero init, so the head's outputs differ
    module = SupervisedModule(model, task, FINETUNE_BUDGET, target_mean=5.0, target_std=2.0).eval()
    classes = ["a", "b", "c"] if task == "classification" else None
    save_finetuned(module, {"target": "t", "mode": "finetune", "task": task, "classes": classes,
                            "architecture": name, "args": args, **_LAYOUTS[layout]}, tmp_path / "ft")
    clf = load_classifier(tmp_path / "ft")
    assert clf.preprocessing == spec and clf.clips_per_window == 2 and clf.classes == classes
    video = torch.randint(0, 256, (2, 3, 16, 32, 32), dtype=torch.uint8)  # 2 windows of 2 clips of 8 frames
    with torch.no_grad():
        expected = module(video) if task == "classification" else module(video).squeeze(-1) * 2.0 + 5.0
    torch.testing.assert_close(clf(normalize_clip(video, spec.mean, spec.std)), expected, rtol=0, atol=0)


def test_predict_cuts_a_folder_into_windows_of_the_heads_length(probed, labeled_videos, tmp_path):
    cfg, prep, feats = probed
    split = split_target(cfg, prep, "direction")
    run = make_run(cfg, prep, split, 1.0, 0)
    probe, _ = run.fit_frozen("linear", feats)
    save_head(tmp_path / "h", "linear", probe, {**_info(cfg, prep, split, "direction"), "window_s": 1.5})
    folder = tmp_path / "videos"
    folder.mkdir()
    (folder / "drive_0.mp4").symlink_to(labeled_videos.parent / "drive_0.mp4")
    assert main(["predict", "--model", str(tmp_path / "h"), "--data", str(folder), "--out", str(tmp_path / "p.csv"),
                 "--num-workers", "0"]) == 0
    with open(tmp_path / "p.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [float(r["start_s"]) for r in rows] == [0.0, 1.5, 3.0, 4.5]  # a 6 s video, 1.5 s windows
    assert {r["prediction"] for r in rows} <= {"left", "right"}


def test_a_voting_grid_is_kept_whole(probed, tmp_path):
    """Labeled clips of one drive cannot fold: the attentive probe is the whole grid voting, and so is its head."""
    cfg, prep, feats = probed
    split = split_target(cfg, prep, "direction")
    run = make_run(cfg, prep, split, 1.0, 0)
    one_drive = np.zeros(len(split.labels), dtype=object)
    probe = select_attentive(feats.tokens, split.labels, run.sub, one_drive, "classification", 2, cfg=cfg.attentive)
    assert probe.selection["rule"] == "grid average" and len(probe.members) == len(cfg.attentive.grid)
    save_head(tmp_path / "h", "attentive", probe, _info(cfg, prep, split, "direction"))
    clf = load_classifier(tmp_path / "h")
    clips = normalize_clip(torch.from_numpy(np.ascontiguousarray(prep.clips.array[run.test])), prep.mean, prep.std)
    np.testing.assert_allclose(clf.predict_proba(clips).numpy(),
                               probe.outputs(feats.tokens, run.test).softmax(-1).mean(0).numpy(), atol=1e-4)


@pytest.mark.parametrize("mode", ["linear", "temporal", "knn"])
def test_a_head_of_three_classes_round_trips(probed, tmp_path, mode):
    """scikit-learn stores a multi-class coef_ in Fortran order; the head still saves and predicts as the probe."""
    cfg, prep, feats = probed
    split = split_target(cfg, prep, "direction")
    X = feats.temporal if mode == "temporal" else feats.pooled
    y = np.arange(len(X)) % 3
    probe = (fit_knn_probe(X, y, "classification", k=5) if mode == "knn"
             else fit_linear_probe(X, y, "classification"))
    info = {**_info(cfg, prep, split, "direction"), "classes": ["a", "b", "c"]}
    save_head(tmp_path / "h", mode, probe, info, train=(feats.pooled, y) if mode == "knn" else None)
    clf = load_classifier(tmp_path / "h")
    clips = normalize_clip(torch.from_numpy(np.ascontiguousarray(prep.clips.array)), prep.mean, prep.std)
    np.testing.assert_array_equal(clf(clips).argmax(-1).numpy(), probe.predict(X))
    np.testing.assert_allclose(clf.predict_proba(clips).numpy(), probe.predict_proba(X), atol=1e-5)


def test_a_head_of_named_weights_records_the_version_it_was_trained_on(labeled_videos, tiny_checkpoint, tmp_path,
                                                                        monkeypatch):
    """A bare name means the newest version: the head pins the one it read, so a later version is not loaded."""
    from ssl_video.hub import export_weights
    from ssl_video.hub.download import sha256_file
    from ssl_video.hub.registry import register_weights, unregister_weights

    monkeypatch.setenv("SSL_VIDEO_HOME", str(tmp_path / "home"))
    weights = export_weights(tiny_checkpoint, tmp_path / "w") / "model.safetensors"
    register_weights(name="heads-tiny", url=weights.as_uri(), sha256=sha256_file(weights), version=3)
    try:
        assert probe_main(["--encoder", "heads-tiny", "--data", str(labeled_videos), "--target", "direction",
                           "--modes", "linear", "--seeds", "1", "--fractions", "1.0", "--num-workers", "0",
                           "--cache-dir", str(tmp_path / "cache"), "--out", str(tmp_path / "report"),
                           "--save-heads", str(tmp_path / "heads")]) == 0
    finally:
        unregister_weights("heads-tiny@3")
    info = json.loads((tmp_path / "heads" / "direction" / "1" / "head.json").read_text())
    assert info["encoder"]["source"] == "heads-tiny@3"
