"""report.py: every table cell is recomputed from the per-seed results stored in report.json."""

from __future__ import annotations

import json
import re

import numpy as np

from ssl_video.evaluate.report import Result, TargetInfo, fraction_key, write_report


def _results(rng):
    out = []
    for method, base in [("linear", 0.6), ("linear-random", 0.4), ("scratch", 0.5)]:
        for fraction in (0.01, 0.1, 1.0):
            for seed in range(3):
                acc = float(base + 0.2 * fraction + rng.normal(0, 0.03))
                out.append(Result("turn", method, fraction, seed,
                                  {"accuracy": acc, "balanced_accuracy": acc - 0.01}, 10))
                out.append(Result("speed", method, fraction, seed, {"mae": 5.0 - acc, "r2": acc}, 10))
    return out


def test_report_cells_recomputed_from_stored_results(tmp_path):
    results = _results(np.random.default_rng(0))
    targets = {"turn": TargetInfo("classification", ["l", "r", "s"], 90), "speed": TargetInfo("regression", None, 90)}
    write_report(tmp_path, results, targets, meta={"encoder": "test"})
    for name in ("report.json", "report.md", "label_efficiency.png"):
        assert (tmp_path / name).stat().st_size > 0
    report = json.loads((tmp_path / "report.json").read_text())
    md = (tmp_path / "report.md").read_text()

    # Recompute mean/std from the stored per-seed results and find each cell in the md table.
    stored = report["results"]
    assert len(stored) == len(results)
    checked = 0
    for target, metric in [("turn", "balanced_accuracy"), ("speed", "mae"), ("speed", "r2")]:
        section = md.split(f"## {target} ")[1].split("\n## ")[0]
        table = section.split(f"**{metric}**")[1].split("\n\n")[1]
        header = [c.strip() for c in table.splitlines()[0].strip("|").split("|")]
        for row in table.splitlines()[2:]:
            cells = [c.strip() for c in row.strip("|").split("|")]
            method = cells[0]
            for frac, cell in zip(header[1:], cells[1:]):
                values = [r["metrics"][metric] for r in stored
                          if r["target"] == target and r["method"] == method and fraction_key(r["fraction"]) == frac]
                assert len(values) == 3
                mean, std = re.match(r"(-?[\d.]+) ± ([\d.]+)", cell).groups()
                assert float(mean) == round(np.mean(values), 3)
                assert float(std) == round(np.std(values, ddof=1), 3)
                assert report["summary"][target][method][frac][metric]["mean"] == np.mean(values)
                checked += 1
    assert checked == 3 * 3 * 3


def test_findings_match_and_beats_random(tmp_path):
    def r(method, fraction, value, seed=0):
        return Result("t", method, fraction, seed, {"accuracy": value, "balanced_accuracy": value}, 5)

    results = [r("scratch", 1.0, 0.7), r("scratch", 0.1, 0.5),
               r("linear", 0.1, 0.72), r("linear", 1.0, 0.8),
               r("linear-random", 0.1, 0.3), r("linear-random", 1.0, 0.9),
               r("knn", 0.1, 0.4), r("knn", 1.0, 0.6)]
    report = write_report(tmp_path, results, {"t": TargetInfo("classification", ["a", "b"])})
    found = report["findings"]["t"]
    assert found["matches_scratch_full"] == {"linear": "0.1", "knn": "never"}
    assert found["beats_random"]["linear"] == {"every_fraction": False, "not_at": ["1"]}
    md = (tmp_path / "report.md").read_text()
    assert "linear matches scratch@100%: **from fraction 0.1**" in md
    assert "knn matches scratch@100%: **never**" in md
    assert "NO (not at 1)" in md


def test_findings_margin_over_the_best_baseline_ceiling_and_more_labels_worse(tmp_path):
    def r(method, fraction, value, seed=0):
        return Result("t", method, fraction, seed, {"accuracy": value, "balanced_accuracy": value}, 5)

    results = [r("pixels", 0.1, 0.55), r("pixels", 1.0, 0.6),
               r("linear-random", 0.1, 0.5), r("linear-random", 1.0, 0.62),
               r("attentive", 0.1, 0.7, 0), r("attentive", 0.1, 0.72, 1), r("attentive", 1.0, 0.5, 0),
               r("attentive", 1.0, 0.52, 1), r("linear", 0.1, 0.4), r("linear", 1.0, 0.45), r("ceiling", 1.0, 0.9),
               r("knn", 0.1, 0.7), r("knn", 1.0, 0.5)]
    report = write_report(tmp_path, results, {"t": TargetInfo("classification", ["a", "b"])})
    found = report["findings"]["t"]
    assert found["margin"]["0.1"]["pretrained"] == "attentive" and found["margin"]["0.1"]["baseline"] == "pixels"
    assert abs(found["margin"]["0.1"]["margin"] - (0.71 - 0.55)) < 1e-9
    assert found["margin"]["1"]["baseline"] == "linear-random" and found["margin"]["1"]["margin"] < 0
    assert found["ceiling"] == 0.9
    # attentive drops by 0.2 (stds 0.014): flagged; linear rises, knn drops on one seed only: not flagged
    assert [(w["method"], w["fraction"], w["more"]) for w in found["more_labels_worse"]] == [("attentive", "0.1", "1")]
    md = (tmp_path / "report.md").read_text()
    assert "WARNING: attentive is worse with fraction 1 than with 0.1" in md
    assert "best pretrained row attentive 0.710 vs best baseline pixels 0.550: **+0.160**" in md
