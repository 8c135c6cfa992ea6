"""The validation score that chooses the built-in weights (benchmarks/validation_score.py)."""

import importlib.util
import json
from pathlib import Path

import pytest

from ssl_video.evaluate.report import summarize

_spec = importlib.util.spec_from_file_location(
    "validation_score", Path(__file__).resolve().parents[2] / "benchmarks" / "validation_score.py")
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)


def _result(method, target, fraction, seed, value):
    return {"method": method, "target": target, "fraction": fraction, "seed": seed,
            "metrics": {"accuracy": 0.0, "balanced_accuracy": value}}


def _report():
    results = []
    for seed, (a, b) in enumerate([(0.6, 0.4), (0.8, 0.4)]):  # linear means 0.7, temporal 0.4 on speed@1
        results += [_result("linear", "speed", 1.0, seed, a), _result("temporal", "speed", 1.0, seed, b),
                    _result("linear", "speed", 0.1, seed, 0.3), _result("temporal", "speed", 0.1, seed, 0.5),
                    _result("linear@cand", "speed", 1.0, seed, 0.9), _result("temporal@cand", "speed", 0.1, seed, 0.2),
                    _result("linear-random", "speed", 1.0, seed, 1.0), _result("pixels", "speed", 1.0, seed, 1.0)]
    # the summary and findings as `ssl-video probe` writes them into report.json
    return {"results": results, "summary": summarize(results),
            "findings": {"speed": {"primary_metric": "balanced_accuracy"}}}


def test_score_is_the_mean_of_the_best_readout_per_cell_per_encoder():
    out = bench.scores(_report())
    assert set(out) == {"main", "cand"}  # random-weights and pixels rows are not encoders to score
    score, cells = out["main"]
    assert cells == pytest.approx([0.5, 0.7]) and score == pytest.approx(0.6)  # best of the seed means, not of seeds
    score, cells = out["cand"]
    assert cells == pytest.approx([0.2, 0.9]) and score == pytest.approx(0.55)
    assert bench.scores(_report(), readouts=("temporal",))["main"][1] == pytest.approx([0.5, 0.4])


def test_cli_prints_scores_and_names_a_missing_report(tmp_path, capsys):
    path = tmp_path / "report.json"
    path.write_text(json.dumps(_report()))
    assert bench.main([str(path)]) == 0
    out = capsys.readouterr().out
    assert "score main: 0.600" in out and "score cand: 0.550" in out
    with pytest.raises(SystemExit, match="report not found"):
        bench.main([str(tmp_path / "missing.json")])
