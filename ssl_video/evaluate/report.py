"""Label-efficiency report: per-seed results -> report.json, report.md and label_efficiency.png.

Every number in the report is recomputed from the per-seed results stored in ``report.json``
(``results``), so a reader can audit each ``mean ± std`` cell. Layout follows the
label-efficiency tables of V-JEPA (Bardes et al. 2024, Table "low-shot frozen evaluation"):
rows = method, columns = label fraction.

    results = [Result(target="speed_bucket", method="linear", fraction=0.1, seed=0,
                      metrics={"accuracy": 0.71, "balanced_accuracy": 0.69}, n_train=60), ...]
    write_report(out_dir, results, targets={"speed_bucket": TargetInfo(task="classification", ...)})
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ssl_video._io import atomic_path, atomic_write_json, atomic_write_text

# Metric that ranks methods, the plot's y axis and the "matches scratch" test. Both are
# "higher is better", so one comparison rule serves classification and regression.
PRIMARY_METRIC = {"classification": "balanced_accuracy", "regression": "r2"}
METRICS = {"classification": ("accuracy", "balanced_accuracy"), "regression": ("mae", "r2")}
# Methods that use the pretrained weights; "pixels", "scratch", "ceiling" and "*-random" rows are baselines.
PRETRAINED_METHODS = ("linear", "temporal", "knn", "attentive", "finetune")
FROZEN_BASELINES = ("pixels", "linear-random", "temporal-random", "knn-random", "attentive-random")
METHOD_ORDER = (*PRETRAINED_METHODS, *FROZEN_BASELINES, "scratch", "ceiling")


@dataclass(frozen=True)
class Result:
    """One (target, method, fraction, seed) evaluation on the fixed test split."""

    target: str
    method: str
    fraction: float
    seed: int
    metrics: Mapping[str, float]
    n_train: int
    seconds: float = 0.0
    subset: str = ""  # sha1 of the labeled indices: equal across methods for one (target, fraction, seed)


@dataclass
class TargetInfo:
    task: str  # "classification" | "regression"
    classes: list[str] | None = None
    n_windows: int = 0
    split_sizes: dict[str, int] = field(default_factory=dict)
    test_sequences: list[str] = field(default_factory=list)  # the fixed held-out drives


def fraction_key(fraction: float) -> str:
    """Stable text key for a fraction (JSON keys and table headers): 0.01 -> '0.01'."""
    return f"{fraction:g}"


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof=1; 0.0 for a single seed)."""
    array = np.asarray(values, dtype=np.float64)
    return float(array.mean()), float(array.std(ddof=1)) if array.size > 1 else 0.0


def _ordered_methods(methods: Iterable[str]) -> list[str]:
    methods = set(methods)
    known = [m for m in METHOD_ORDER if m in methods]
    return known + sorted(methods - set(known))


def summarize(
    results: Iterable[Result | Mapping[str, Any]],
) -> dict[str, dict[str, dict[str, dict[str, dict[str, float]]]]]:
    """``summary[target][method][fraction_key][metric] = {"mean", "std", "n"}`` over seeds."""
    grouped: dict[tuple[str, str, str, str], list[float]] = {}
    for r in results:
        r = asdict(r) if isinstance(r, Result) else r
        for metric, value in r["metrics"].items():
            grouped.setdefault((r["target"], r["method"], fraction_key(r["fraction"]), metric), []).append(value)
    summary: dict = {}
    for (target, method, frac, metric), values in sorted(grouped.items()):
        mean, std = mean_std(values)
        summary.setdefault(target, {}).setdefault(method, {}).setdefault(frac, {})[metric] = {
            "mean": mean,
            "std": std,
            "n": len(values),
        }
    return summary


def findings(summary: Mapping, targets: Mapping[str, TargetInfo]) -> dict[str, dict[str, Any]]:
    """Per target, on the primary metric:

    - ``matches_scratch_full``: the smallest fraction at which each pretrained method's mean
      reaches scratch@100%'s;
    - ``beats_random``: whether each frozen probe beats the same probe on a random encoder at every fraction;
    - ``margin``: per fraction, the best pretrained row, the best frozen baseline row (pixels or
      random weights) and the difference of their means (> 0: pretraining paid off there);
    - ``more_labels_worse``: (method, smaller, larger fraction) where the mean at the larger
      fraction is below the smaller one's by more than the larger of the two stds, both over
      at least 2 seeds (a probe that gets clearly worse with more labels is undertrained or noisy);
    - ``ceiling``: the ceiling row's mean, when computed.
    """
    out: dict[str, dict[str, Any]] = {}
    for target, info in targets.items():
        metric = PRIMARY_METRIC[info.task]
        by_method = summary.get(target, {})
        result: dict[str, Any] = {"primary_metric": metric, "matches_scratch_full": {}, "beats_random": {}}
        scratch_full = by_method.get("scratch", {}).get(fraction_key(1.0), {}).get(metric)
        result["scratch_full"] = scratch_full["mean"] if scratch_full else None
        for method in PRETRAINED_METHODS:
            if method not in by_method:
                continue
            if scratch_full is None:
                result["matches_scratch_full"][method] = "not computed (needs the scratch mode at fraction 1.0)"
                continue
            fractions = sorted(by_method[method], key=float)
            hits = [f for f in fractions if by_method[method][f][metric]["mean"] >= scratch_full["mean"]]
            result["matches_scratch_full"][method] = hits[0] if hits else "never"
        for method in PRETRAINED_METHODS:
            random_rows = by_method.get(f"{method}-random")
            if method not in by_method or not random_rows:
                continue
            common = sorted(set(by_method[method]) & set(random_rows), key=float)
            losing = [f for f in common if by_method[method][f][metric]["mean"] <= random_rows[f][metric]["mean"]]
            result["beats_random"][method] = {"every_fraction": not losing and bool(common), "not_at": losing}
        result["margin"] = _margins(by_method, metric)
        if any("@" in m for m in by_method):
            result["encoders"] = encoder_table(by_method, metric)
        result["more_labels_worse"] = _worse_with_more_labels(by_method, metric)
        ceiling = by_method.get("ceiling", {}).get(fraction_key(1.0), {}).get(metric)
        result["ceiling"] = ceiling["mean"] if ceiling else None
        out[target] = result
    return out


def _best(by_method: Mapping, methods: Iterable[str], frac: str, metric: str) -> tuple[str, float] | None:
    rows = [(m, by_method[m][frac][metric]["mean"]) for m in methods if frac in by_method.get(m, {})]
    return max(rows, key=lambda r: r[1]) if rows else None


def _margins(by_method: Mapping, metric: str) -> dict[str, dict[str, Any]]:
    out = {}
    for frac in sorted({f for rows in by_method.values() for f in rows}, key=float):
        best = _best(by_method, PRETRAINED_METHODS, frac, metric)
        base = _best(by_method, FROZEN_BASELINES, frac, metric)
        if best and base:
            out[frac] = {"pretrained": best[0], "pretrained_mean": best[1], "baseline": base[0],
                         "baseline_mean": base[1], "margin": best[1] - base[1]}
    return out


def encoder_table(by_method: Mapping, metric: str) -> dict[str, dict[str, dict[str, Any]]]:
    """Best frozen probe per encoder and fraction: ``{encoder: {fraction: {"method", "mean"}}}`` for this encoder,
    each ``--compare`` encoder (``<mode>@<name>`` rows), random weights and pixels (no model)."""
    names = sorted({m.split("@", 1)[1] for m in by_method if "@" in m})
    groups = {"this encoder": [m for m in PRETRAINED_METHODS if m != "finetune"],
              **{name: [m for m in by_method if m.endswith(f"@{name}")] for name in names},
              "random weights": [m for m in FROZEN_BASELINES if m.endswith("-random")], "pixels": ["pixels"]}
    fractions = sorted({f for rows in by_method.values() for f in rows}, key=float)
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for group, methods in groups.items():
        cells = {f: b for f in fractions if (b := _best(by_method, methods, f, metric))}
        if cells:
            out[group] = {f: {"method": m, "mean": v} for f, (m, v) in cells.items()}
    return out


def _worse_with_more_labels(by_method: Mapping, metric: str) -> list[dict[str, Any]]:
    flagged = []
    for method, rows in by_method.items():
        fractions = sorted(rows, key=float)
        for small, large in zip(fractions, fractions[1:]):
            a, b = rows[small][metric], rows[large][metric]
            if min(a["n"], b["n"]) < 2:  # one seed has no spread to compare with
                continue
            if b["mean"] < a["mean"] - max(a["std"], b["std"]):
                flagged.append({"method": method, "fraction": small, "more": large, "drop": a["mean"] - b["mean"]})
    return flagged


def _cell(stats: Mapping[str, float] | None) -> str:
    return "–" if stats is None else f"{stats['mean']:.3f} ± {stats['std']:.3f}"


def markdown(summary: Mapping, targets: Mapping[str, TargetInfo], found: Mapping, meta: Mapping[str, Any]) -> str:
    """report.md: one table per (target, metric); rows = method, columns = fraction."""
    lines = ["# Label-efficiency report", ""]
    for key, value in meta.items():
        lines.append(f"- **{key}**: {value}")
    lines += ["", "Cells are mean ± sample std over seeds, on the fixed held-out test split (split by sequence).", ""]
    for target, info in targets.items():
        by_method = summary.get(target, {})
        fractions = sorted({f for rows in by_method.values() for f in rows}, key=float)
        sizes = ", ".join(f"{k} {v}" for k, v in info.split_sizes.items())
        lines += [f"## {target} ({info.task}; {info.n_windows} clips; {sizes})", ""]
        for metric in METRICS[info.task]:
            better = "lower is better" if metric == "mae" else "higher is better"
            lines += [f"**{metric}** ({better})", ""]
            lines.append("| method | " + " | ".join(fractions) + " |")
            lines.append("|---|" + "---|" * len(fractions))
            for method in _ordered_methods(by_method):
                cells = [_cell(by_method[method].get(f, {}).get(metric)) for f in fractions]
                lines.append(f"| {method} | " + " | ".join(cells) + " |")
            lines.append("")
        f = found.get(target, {})
        lines.append(f"Primary metric: {f.get('primary_metric')}.")
        for method, where in f.get("matches_scratch_full", {}).items():
            where = f"from fraction {where}" if where[0].isdigit() else where
            lines.append(f"- smallest fraction at which {method} matches scratch@100%: **{where}**")
        for method, b in f.get("beats_random", {}).items():
            not_at = ", ".join(b["not_at"]) or "any"
            verdict = "yes, at every fraction" if b["every_fraction"] else f"NO (not at {not_at})"
            lines.append(f"- {method} probe on the pretrained encoder beats the random-encoder probe: **{verdict}**")
        for frac, m in f.get("margin", {}).items():
            lines.append(f"- at fraction {frac}: best pretrained row {m['pretrained']} {m['pretrained_mean']:.3f} vs "
                         f"best baseline {m['baseline']} {m['baseline_mean']:.3f}: **{m['margin']:+.3f}**")
        if f.get("encoders"):
            fracs = sorted({k for cells in f["encoders"].values() for k in cells}, key=float)
            lines += ["", f"Best frozen probe per encoder ({f.get('primary_metric')}):", "",
                      "| encoder | " + " | ".join(fracs) + " |", "|---|" + "---|" * len(fracs)]
            for group, cells in f["encoders"].items():
                lines.append(f"| {group} | " + " | ".join(
                    f"{cells[k]['mean']:.3f} ({cells[k]['method']})" if k in cells else "–" for k in fracs) + " |")
            lines.append("")
        if f.get("ceiling") is not None:
            lines.append(f"- ceiling (scratch to convergence on 100 % of the labels): {f['ceiling']:.3f}")
        for w in f.get("more_labels_worse", []):
            lines.append(f"- WARNING: {w['method']} is worse with fraction {w['more']} than with {w['fraction']} "
                         f"by {w['drop']:.3f}, more than one std: undertrained or noisy")
        lines.append("")
    return "\n".join(lines)


def plot(summary: Mapping, targets: Mapping[str, TargetInfo], path: Path) -> None:
    """Primary metric against label fraction (log x), one line per method, shaded ± std."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, max(1, len(targets)), figsize=(5 * max(1, len(targets)), 4), squeeze=False)
    for ax, (target, info) in zip(axes[0], targets.items()):
        metric = PRIMARY_METRIC[info.task]
        for method in _ordered_methods(summary.get(target, {})):
            rows = summary[target][method]
            fractions = sorted(rows, key=float)
            x = np.array([float(f) for f in fractions])
            mean = np.array([rows[f][metric]["mean"] for f in fractions])
            std = np.array([rows[f][metric]["std"] for f in fractions])
            style = "-" if method in PRETRAINED_METHODS or "@" in method else "--"
            (line,) = ax.plot(x, mean, style, marker="o", label=method)
            ax.fill_between(x, mean - std, mean + std, color=line.get_color(), alpha=0.2)
        ax.set_xscale("log")
        ax.set_xlabel("label fraction")
        ax.set_ylabel(metric)
        ax.set_title(target)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120, format="png")
    plt.close(fig)


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, (np.floating, np.integer)):
        return _json_safe(value.item())
    return value


def write_report(
    out_dir: str | Path,
    results: Sequence[Result],
    targets: Mapping[str, TargetInfo],
    meta: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Write ``report.json``, ``report.md`` and ``label_efficiency.png`` into ``out_dir``; return the JSON dict."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    meta = dict(meta or {})
    summary = summarize(results)
    found = findings(summary, targets)
    report = _json_safe(
        {
            "version": 1,
            "meta": meta,
            "targets": {t: asdict(info) for t, info in targets.items()},
            "results": [asdict(r) for r in results],
            "summary": summary,
            "findings": found,
        }
    )
    atomic_write_json(out_dir / "report.json", report)
    atomic_write_text(out_dir / "report.md", markdown(summary, targets, found, meta))
    plot(summary, targets, out_dir / "label_efficiency.png")
    return report
