import json

import numpy as np
import pytest
import torch

from ssl_video.commands import shadow as shadow_command
from ssl_video.data.manifest import load_windows, read_manifest
from ssl_video.engine import shadow
from ssl_video.engine.clips import LoadedModel
from ssl_video.evaluate.features import load_eval_encoder
from ssl_video.spec import ClipSpec

SPEC = ClipSpec(context=4, future=4, fps=5.0, size=(32, 32))


def _model(seed):
    torch.manual_seed(seed)
    return LoadedModel(load_eval_encoder("vit_tiny", args=dict(embed_dim=48, depth=1, num_heads=2)), SPEC)


def test_shadow_reports_disagreements_between_two_models(tmp_path, engine_videos):
    labeled, index = load_windows(engine_videos / "labels.csv")
    summary = shadow.shadow(_model(0), _model(1), labeled, labeled, index.by_path(), "direction", tmp_path,
                            holdout=0.34)
    saved = json.loads((tmp_path / "summary.json").read_text())
    assert saved["windows"] == summary["windows"] > 0 and summary["probe_train_windows"] < len(labeled)
    assert 0.0 <= summary["disagreement_rate"] <= 1.0
    assert set(summary["per_class"]) <= {"left", "right"} and summary["per_class_by"] == "true label"
    assert 0.0 <= summary["deployed_accuracy"] <= 1.0 and summary["labeled_windows"] == summary["windows"]
    rows = read_manifest(tmp_path / "disagreements.csv")
    assert len(rows) == round(summary["disagreement_rate"] * summary["windows"])
    assert all(r.labels["deployed"].split()[0] != r.labels["candidate"].split()[0] for r in rows)
    assert "disagreement" in (tmp_path / "summary.md").read_text()
    assert (tmp_path / "per_class.png").exists()


def test_shadow_of_a_model_with_itself_never_disagrees(tmp_path, engine_videos):
    labeled, index = load_windows(engine_videos / "labels.csv")
    model = _model(0)
    summary = shadow.shadow(model, model, labeled, labeled, index.by_path(), "direction", tmp_path, holdout=0.34)
    assert summary["disagreement_rate"] == 0.0
    assert summary["deployed_accuracy"] == summary["candidate_accuracy"]
    assert read_manifest(tmp_path / "disagreements.csv") == []


def test_disagreement_scores_for_numbers_and_classes():
    a = shadow.ProbeOutput(np.array([1.0, 2.0, 3.0]), None)
    b = shadow.ProbeOutput(np.array([1.0, 2.5, 5.0]), None)
    score, disagree = shadow.disagreement_scores(a, b, tolerance=1.0)
    assert score.tolist() == [0.0, 0.5, 2.0] and disagree.tolist() == [False, False, True]
    pa = np.array([[0.9, 0.1], [0.4, 0.6]])
    pb = np.array([[0.8, 0.2], [0.7, 0.3]])
    score, disagree = shadow.disagreement_scores(shadow.ProbeOutput(pa.argmax(1), pa),
                                                 shadow.ProbeOutput(pb.argmax(1), pb))
    np.testing.assert_allclose(score, [0.1, 0.3])
    assert disagree.tolist() == [False, True]


def test_shadow_cli_refuses_a_missing_label_column(tmp_path, engine_videos):
    with pytest.raises(ValueError, match="nope"):
        shadow_command.cli_main(["--deployed", "vit_tiny", "--candidate", "vit_tiny",
                                 "--data", str(engine_videos / "labels.csv"),
                                 "--labels", str(engine_videos / "labels.csv"), "--target", "nope",
                                 "--out", str(tmp_path),
                                 "--context", "4", "--future", "4", "--fps", "5", "--size", "32"])


def test_shadow_cli_refuses_a_holdout_outside_0_1(tmp_path, engine_videos):
    with pytest.raises(ValueError, match="--holdout"):
        shadow_command.cli_main(["--deployed", "vit_tiny", "--candidate", "vit_tiny", "--data", str(engine_videos),
                                 "--labels", str(engine_videos / "labels.csv"), "--target", "direction",
                                 "--out", str(tmp_path), "--holdout", "1"])


def test_shadow_rerun_leaves_no_picture_of_the_earlier_run(tmp_path, engine_videos):
    labeled, index = load_windows(engine_videos / "labels.csv")
    shadow.shadow(_model(0), _model(1), labeled, labeled, index.by_path(), "direction", tmp_path, holdout=0.34)
    (tmp_path / "disagreements.png").write_bytes(b"from an earlier run")
    model = _model(0)
    shadow.shadow(model, model, labeled, labeled, index.by_path(), "direction", tmp_path, holdout=0.34)
    assert not (tmp_path / "disagreements.png").exists()  # no disagreement, so no picture of one
