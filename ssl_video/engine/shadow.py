"""``ssl-video shadow``: run a candidate model next to the deployed one and show where they disagree.

    ssl-video shadow --deployed runs/v1/weights --candidate runs/v2/last.ckpt \\
        --data data/drive --labels data/drive/labels.csv --target lane_change --out runs/shadow

Each encoder gets its own linear probe (``ssl_video.evaluate.probes.fit_linear_probe``) trained
on the labeled windows of ``--labels``; both then predict every window of ``--data``. When
the two sources share windows, the labeled sequences are split by drive
(``ssl_video.data.splits.split_by_sequence``, ``--holdout``): probes train on one part and the
comparison runs on windows of the other part (and on unlabeled windows), so no model is
judged on windows its probe saw.

Writes ``OUT/summary.json`` + ``OUT/summary.md`` (disagreement rate overall and per class,
accuracy of each model where labels are known), ``OUT/disagreements.csv`` (a manifest, ranked by
how differently the two models see the window: total variation distance between their class
probabilities, or |difference| for a numeric target), ``OUT/disagreements.png`` (the top
disagreements as a contact sheet) and ``OUT/per_class.png``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ssl_video._io import atomic_path, atomic_write_json, atomic_write_text
from ssl_video.engine.clips import LoadedModel, WindowPass, run_windows
from ssl_video.engine.contact_sheet import contact_sheet
from ssl_video.engine.mining import overlap_mask
from ssl_video.engine.ranking import write_ranking
from ssl_video.errors import UserError

log = logging.getLogger(__name__)


@dataclass
class ProbeOutput:
    """One model's view of the comparison windows."""

    pred: np.ndarray  # (N,) class ids or numeric predictions
    probs: np.ndarray | None  # (N, C) class probabilities (classification)


def split_probe_windows(labeled: list, compare: list, *, holdout: float, seed: int,
                        classes: np.ndarray | None = None) -> tuple[list, list]:
    """(probe training windows, comparison windows): hold out whole labeled sequences (stratified by
    ``classes`` when given) when the comparison windows overlap the labeled ones, and never
    compare on a probe-training window."""
    train = labeled
    if overlap_mask(compare, labeled).any():
        from ssl_video.data.splits import split_by_sequence

        parts = split_by_sequence([w.sequence or w.video for w in labeled], labels=classes, test_size=holdout,
                                  val_size=0.0, seed=seed)
        train = [labeled[i] for i in parts["train"]]
        log.info("--data overlaps --labels: probes train on %d labeled windows, %d held out by sequence",
                 len(train), len(parts["test"]))
    kept = [c for c, hit in zip(compare, overlap_mask(compare, train)) if not hit]
    if not kept:
        if len({w.sequence or w.video for w in labeled}) < 2:
            raise UserError("every --data window overlaps the labeled windows, which are all one sequence: give "
                            "--data other footage, or --labels of two or more sequences to hold one out")
        raise UserError("every --data window overlaps a probe-training window; give other data or a larger --holdout")
    return train, kept


def probe_predictions(model: LoadedModel, train: list, y, task: str, compare: list, infos: dict, *, num_classes: int,
                      seed: int, batch_size: int, num_workers: int, cache_dir: str | None = None
                      ) -> tuple[ProbeOutput, WindowPass]:
    """Fit the probe on ``train`` embeddings and predict ``compare`` -> (output, decoded compare positions)."""
    from ssl_video.evaluate.probes import fit_linear_probe

    tr = run_windows(model, train, infos, batch_size=batch_size, num_workers=num_workers, progress=True,
                     cache_dir=cache_dir)
    cmp = run_windows(model, compare, infos, batch_size=batch_size, num_workers=num_workers, progress=True,
                      cache_dir=cache_dir)
    probe = fit_linear_probe(tr.embeddings, y[tr.index], task,
                             groups=np.asarray([train[i].sequence or train[i].video for i in tr.index]), seed=seed)
    if task == "classification":
        probs = np.zeros((len(cmp.index), num_classes))  # classes absent from the probe's training keep 0
        probs[:, probe.classes_] = probe.predict_proba(cmp.embeddings)
        return ProbeOutput(probs.argmax(1), probs), cmp
    return ProbeOutput(probe.predict(cmp.embeddings), None), cmp


def disagreement_scores(a: ProbeOutput, b: ProbeOutput,
                        tolerance: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(score (N,), disagree (N,) bool): total variation between class probabilities and a different
    top class, or |a - b| and |a - b| > tolerance for numeric predictions."""
    if a.probs is not None and b.probs is not None:
        return 0.5 * np.abs(a.probs - b.probs).sum(1), a.pred != b.pred
    diff = np.abs(np.asarray(a.pred, dtype=np.float64) - np.asarray(b.pred, dtype=np.float64))
    return diff, diff > (tolerance if tolerance is not None else 0.0)


def summarize(disagree: np.ndarray, a: ProbeOutput, b: ProbeOutput, truth: np.ndarray | None,
              classes: list[str] | None, task: str) -> dict:
    """Disagreement rate overall and per class (true class where known, else the deployed model's),
    plus each model's accuracy (or MAE) on the windows with a label."""
    summary: dict = {"windows": int(len(disagree)),
                     "disagreement_rate": float(disagree.mean()) if len(disagree) else 0.0}
    known = np.zeros(len(disagree), dtype=bool) if truth is None else ~np.isnan(truth.astype(np.float64))
    if classes is not None:
        group = np.where(known, np.nan_to_num(truth, nan=-1), a.pred).astype(np.int64)
        summary["per_class"] = {
            classes[c]: {"windows": int((group == c).sum()), "disagreement_rate": float(disagree[group == c].mean())}
            for c in range(len(classes)) if (group == c).any()
        }
        summary["per_class_by"] = "true label" if known.all() else ("true label where known, else deployed prediction")
    if known.any():
        t = truth[known]
        if task == "classification":
            summary["deployed_accuracy"] = float((a.pred[known] == t).mean())
            summary["candidate_accuracy"] = float((b.pred[known] == t).mean())
            both_wrong = (a.pred[known] != t) & (b.pred[known] != t)
            summary["only_candidate_right"] = int(((a.pred[known] != t) & (b.pred[known] == t)).sum())
            summary["only_deployed_right"] = int(((a.pred[known] == t) & (b.pred[known] != t)).sum())
            summary["both_wrong"] = int(both_wrong.sum())
        else:
            summary["deployed_mae"] = float(np.abs(a.pred[known] - t).mean())
            summary["candidate_mae"] = float(np.abs(b.pred[known] - t).mean())
        summary["labeled_windows"] = int(known.sum())
    return summary


def markdown_summary(summary: dict, deployed: str, candidate: str, target: str) -> str:
    lines = [f"# Shadow comparison on `{target}`", "", f"- deployed: `{deployed}`", f"- candidate: `{candidate}`",
             f"- windows compared: {summary['windows']}",
             f"- disagreement rate: {summary['disagreement_rate']:.1%}"]
    for key in ("deployed_accuracy", "candidate_accuracy", "deployed_mae", "candidate_mae"):
        if key in summary:
            lines.append(f"- {key.replace('_', ' ')}: {summary[key]:.3f} "
                         f"(on {summary['labeled_windows']} labeled windows)")
    if "per_class" in summary:
        lines += ["", f"| class ({summary['per_class_by']}) | windows | disagreement |", "|---|---:|---:|"]
        lines += [f"| {c} | {v['windows']} | {v['disagreement_rate']:.1%} |" for c, v in summary["per_class"].items()]
    return "\n".join(lines) + "\n"


def _per_class_plot(summary: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    per = summary.get("per_class", {})
    fig, ax = plt.subplots(figsize=(max(3.0, 0.8 * len(per) + 1.5), 2.8))
    ax.bar(list(per), [v["disagreement_rate"] for v in per.values()], color="tab:orange")
    ax.axhline(summary["disagreement_rate"], color="k", lw=1, ls="--", label="overall")
    ax.set_ylabel("disagreement rate")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=8)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100)
    plt.close(fig)


def shadow(deployed: LoadedModel, candidate: LoadedModel, labeled: list, compare: list, infos: dict, target: str,
           out: str | Path, *, task: str = "auto", holdout: float = 0.3, tolerance: float | None = None, top: int = 50,
           sheet_rows: int = 8, seed: int = 0, batch_size: int = 8, num_workers: int = 0,
           cache_dir: str | None = None) -> dict:
    """Compare two models' probe predictions on ``compare`` windows; writes the files listed above."""
    from ssl_video.data.datasets import encode_labels

    out = Path(out)
    missing = [w.video for w in labeled if target not in w.labels]
    if missing:
        raise UserError(f"label column {target!r} is missing for {len(missing)} labeled windows (e.g. {missing[0]}); "
                         f"columns: {sorted(labeled[0].labels) if labeled else []}")
    y_all, classes, task = encode_labels([w.labels[target] for w in labeled], task, column=target)
    train, compare = split_probe_windows(labeled, compare, holdout=holdout, seed=seed,
                                         classes=y_all if classes is not None else None)
    y_train, _, _ = encode_labels([w.labels[target] for w in train], task, column=target)
    if classes is not None:  # the classes of all labeled windows, so ids match across the split
        y_train = np.asarray([classes.index(_name(w.labels[target])) for w in train], dtype=np.int64)
    if task == "regression" and tolerance is None:
        tolerance = 0.1 * float(np.std(y_train))
    outputs, passes = [], []
    for model in (deployed, candidate):
        o, idx = probe_predictions(model, train, np.asarray(y_train), task, compare, infos,
                                   num_classes=len(classes or ()), seed=seed,
                                   batch_size=batch_size, num_workers=num_workers, cache_dir=cache_dir)
        outputs.append(o)
        passes.append(idx)
    index = [p.index for p in passes]
    both = np.intersect1d(index[0], index[1])  # windows both models could decode
    a, b = (ProbeOutput(o.pred[np.searchsorted(i, both)],
                        None if o.probs is None else o.probs[np.searchsorted(i, both)])
            for o, i in zip(outputs, index))
    windows = [compare[i] for i in both]
    truth = np.asarray([_truth(w, target, classes) for w in windows], dtype=np.float64)
    score, disagree = disagreement_scores(a, b, tolerance)
    summary = summarize(disagree, a, b, truth, classes, task)
    summary.update({"target": target, "task": task, "deployed": deployed.source, "candidate": candidate.source,
                    "probe_train_windows": len(train), "tolerance": tolerance})
    order = np.lexsort((np.arange(len(score)), -score))
    order = order[disagree[order]][:top]
    reasons = [_describe(a, b, int(i), classes, truth) for i in order]
    write_ranking(out / "disagreements.csv", [windows[i] for i in order], score[order], reasons,
                  extra={"deployed": [_label(a, i, classes) for i in order],
                         "candidate": [_label(b, i, classes) for i in order],
                         target: ["" if np.isnan(truth[i]) else _label_value(truth[i], classes) for i in order]})
    atomic_write_json(out / "summary.json", summary)
    atomic_write_text(out / "summary.md", markdown_summary(summary, deployed.source, candidate.source, target))
    for stale in ("per_class.png", "disagreements.png"):  # an earlier run's pictures must not pass for this one's
        (out / stale).unlink(missing_ok=True)
    if classes is not None:
        _per_class_plot(summary, out / "per_class.png")
    shown = [int(i) for i in order[:sheet_rows]]
    if shown:
        clips = [passes[0].clip(int(both[i])) for i in shown]
        captions = [f"{Path(windows[i].video).name} {windows[i].start_s:.1f}s: {reasons[r]}"
                    for r, i in enumerate(shown)]
        contact_sheet(clips, captions, out / "disagreements.png", title=f"top disagreements on {target}")
    log.info("shadow: %d windows, disagreement %.1f%%", summary["windows"], 100 * summary["disagreement_rate"])
    return summary


def _name(value) -> str:
    """The class name ``encode_labels`` gives a raw label value."""
    from ssl_video.data.datasets import encode_labels

    return encode_labels([value], "classification")[1][0]


def _truth(w, target: str, classes: list[str] | None) -> float:
    if target not in w.labels or w.labels[target] in ("", None):
        return np.nan
    if classes is None:
        return float(w.labels[target])
    name = _name(w.labels[target])
    return float(classes.index(name)) if name in classes else np.nan


def _label_value(v: float, classes: list[str] | None) -> str:
    return classes[int(v)] if classes is not None else f"{v:.3g}"


def _label(o: ProbeOutput, i: int, classes: list[str] | None) -> str:
    if o.probs is None:
        return f"{o.pred[i]:.3g}"
    return f"{classes[int(o.pred[i])]} ({o.probs[i, int(o.pred[i])]:.2f})"


def _describe(a: ProbeOutput, b: ProbeOutput, i: int, classes, truth) -> str:
    text = f"deployed {_label(a, i, classes)} vs candidate {_label(b, i, classes)}"
    if not np.isnan(truth[i]):
        text += f"; label {_label_value(truth[i], classes)}"
    return text
