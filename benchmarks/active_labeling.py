"""Active labeling on the built-in driving world: which clips should a person label next?

    python benchmarks/active_labeling.py                  # ~5 min on 2 CPU cores (data + tiny pretraining + loop)
    python benchmarks/active_labeling.py --encoder runs/quickstart/checkpoints/last.ckpt --seeds 5 --rounds 10
    python benchmarks/active_labeling.py --encoder drive-future-vit-tiny   # the built-in weights and their predictor

Protocol (a pool-based active-learning simulation, e.g. Settles 2009; Sener & Savarese 2018):
the drives are split by sequence into a pool (labels hidden) and a held-out test set. Each run
starts from the same small stratified random seed set, then adds ``--batch`` labels per round,
chosen by each strategy of ``ssl-video mine`` (surprise, uncertainty, diversity, mixed) or at
random; after each round a linear probe (``ssl_video.evaluate.probes.fit_linear_probe``) is
trained on the frozen embeddings of the labeled windows and scored on the test drives.
Embeddings and surprise come from one pass of a future-prediction checkpoint over every
window (the same code as ``ssl-video mine``). Several seeds (seed set and random picks differ);
mean and std over seeds.

Writes ``benchmarks/figures/active_labeling.png`` and prints the ``## Active labeling`` section;
``--md BENCHMARKS.md`` also writes it into that file (replacing its own section only).
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
log = logging.getLogger("active_labeling")


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--work", default="runs/active_labeling", help="data and pretraining go here")
    p.add_argument("--data", help="labeled drive data (a labels CSV, or a folder with labels.csv); "
                                   "default: generate the built-in world into --work")
    p.add_argument("--minutes", type=float, default=12.0, help="minutes of driving to generate")
    p.add_argument("--encoder", help="what `ssl-video mine --encoder` takes: a .ckpt from ssl-video fit, "
                                     "weights exported with --objectives, or a weights name (drive-future-vit-tiny); "
                                     "default: pretrain the quickstart config in --work")
    p.add_argument("--pretrain-steps", type=int, default=200)
    p.add_argument("--targets", default="speed_bucket,lane_change", help="comma-separated label columns")
    p.add_argument("--strategies", default="random,surprise,uncertainty,diversity,mixed")
    p.add_argument("--seed-labels", type=int, default=8, help="labels before the first round")
    p.add_argument("--batch", type=int, default=8, help="labels added per round")
    p.add_argument("--rounds", type=int, default=6)
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--test-size", type=float, default=0.3, help="fraction of drives held out for testing")
    p.add_argument("--probe", choices=("fixed", "cv"), default="fixed",
                   help="fixed: standardized logistic regression, C=1 (fast, the same for every strategy); "
                        "cv: fit_linear_probe's cross-validated C (slower, what `ssl-video probe` uses)")
    p.add_argument("--figure", default=str(REPO / "benchmarks/figures/active_labeling.png"))
    p.add_argument("--md", metavar="PATH", help="also write the section into this markdown file (e.g. BENCHMARKS.md), "
                                                 "replacing only its own section; default: print it only")
    return p.parse_args(argv)


def prepare(args) -> tuple[Path, str]:
    """(labels manifest, encoder reference): generate data (only without --data) and pretrain when not given."""
    work = Path(args.work)
    if args.data:
        data = Path(args.data)
        data = data / "labels.csv" if data.is_dir() else data
        if not data.is_file():
            raise SystemExit(f"--data {args.data}: no such manifest "
                             "(give a labels CSV, or a folder holding labels.csv)")
    else:
        data = work / "drive" / "labels.csv"
        if not data.exists():
            from ssl_video.data.drive_world import make_drive_dataset

            log.info("generating %.1f minutes of driving into %s", args.minutes, data.parent)
            make_drive_dataset(data.parent, minutes=args.minutes, seed=0, size=64, fps=10.0, drive_s=60.0, window_s=2.0)
    if args.encoder:
        return data, args.encoder
    ckpt = work / "run" / "checkpoints" / "last.ckpt"
    if not ckpt.exists():
        log.info("pretraining the quickstart model for %d steps", args.pretrain_steps)
        subprocess.run([sys.executable, "-m", "ssl_video.cli", "fit",
                        "--config", str(REPO / "configs/pretrain/quickstart.yaml"),
                        "--data.data", str(data), "--trainer.default_root_dir", str(work / "run"),
                        "--trainer.max_steps", str(args.pretrain_steps), "--trainer.enable_progress_bar", "false"],
                       check=True)
    if not ckpt.exists():
        found = sorted((work / "run").rglob("*.ckpt"))
        if not found:
            raise FileNotFoundError(f"pretraining wrote no checkpoint under {work / 'run'}")
        ckpt = found[-1]
    return data, str(ckpt)


def seed_set(y: np.ndarray, pool: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` pool indices, one per class first (where the pool has it), the rest at random."""
    first = [rng.choice(pool[y[pool] == c]) for c in np.unique(y[pool])][:n]
    rest = rng.permutation(np.setdiff1d(pool, first))[: max(0, n - len(first))]
    return np.concatenate([np.asarray(first, dtype=np.int64), rest]).astype(np.int64)


def run_loop(strategy: str, emb, y, groups, surprise, pool, test, start, args, seed: int) -> list[dict]:
    """One active-labeling run -> [{labels, accuracy, balanced_accuracy}] per round."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from ssl_video.engine.scoring import select_windows
    from ssl_video.evaluate.probes import fit_linear_probe, score

    labeled = start.copy()
    # positions of the pool inside the arrays given to select_windows; test windows are never candidates
    pool_emb, pool_s = emb[pool], surprise[pool]
    history = []
    for r in range(args.rounds + 1):
        if args.probe == "cv":
            probe = fit_linear_probe(emb[labeled], y[labeled], "classification", groups=groups[labeled], seed=seed)
        else:
            probe = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=2000))
            probe = probe.fit(emb[labeled], y[labeled])
        m = score(probe, emb[test], y[test], "classification")
        history.append({"labels": int(len(labeled)), **m})
        if r == args.rounds:
            break
        in_pool = np.flatnonzero(np.isin(pool, labeled))
        probs = None
        if strategy == "uncertainty":
            probs = np.zeros((len(pool), int(y.max()) + 1))
            probs[:, probe.classes_] = probe.predict_proba(pool_emb)
        picks, _ = select_windows(strategy, args.batch, embeddings=pool_emb, already_selected=in_pool,
                                  surprise=pool_s, probs=probs, seed=seed * 1000 + r)
        labeled = np.concatenate([labeled, pool[picks]])
    return history


def meta_encoder(ref: str) -> str:
    """The encoder's name and training steps, for the record."""
    if ref.endswith(".ckpt"):
        import torch

        steps = torch.load(ref, map_location="cpu", weights_only=True).get("global_step")
        return f"{Path(ref).name} (quickstart config, {steps} steps)"
    from ssl_video.hub.api import load_encoder_with_config

    training = load_encoder_with_config(ref, progress=False)[1].get("training", {})
    return f"{ref} ({training.get('steps', '?')} steps{', ' + training['recipe'] if 'recipe' in training else ''})"


def labels_to_reach(curve_mean: list[float], labels: list[int], goal: float) -> str:
    for n, acc in zip(labels, curve_mean):
        if acc >= goal - 1e-9:
            return str(n)
    return f"> {labels[-1]}"


def plot(results: dict, path: Path, metric: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    targets = list(results)
    fig, axes = plt.subplots(1, len(targets), figsize=(4.6 * len(targets), 3.6), squeeze=False)
    for ax, target in zip(axes[0], targets):
        for strategy, runs in results[target].items():
            labels = [h["labels"] for h in runs[0]]
            values = np.asarray([[h[metric] for h in run] for run in runs])  # (seeds, rounds + 1)
            mean, std = values.mean(0), values.std(0)
            style = dict(color="k", ls="--") if strategy == "random" else {}
            (line,) = ax.plot(labels, mean, marker="o", ms=3, label=strategy, **style)
            ax.fill_between(labels, mean - std, mean + std, alpha=0.12, color=line.get_color())
        ax.set_title(target)
        ax.set_xlabel("labeled windows")
        ax.set_ylabel(metric.replace("_", " ") + " (test drives)")
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    tmp.replace(path)


def markdown(results: dict, meta: dict, metric: str) -> str:
    lines = ["## Active labeling", "",
             f"`{meta['command']}` (" + meta["machine"] + f", {meta['seconds']:.0f} s in all). "
             f"Data: {meta['windows']} windows of {meta['drives']} drives (`{meta['data']}`), split by drive into "
             f"a pool ({meta['pool']}) and test drives ({meta['test']}). Encoder: `{meta['encoder']}` "
             f"(surprise from its `{meta['surprise']}` objective). "
             f"Start: {meta['seed_labels']} stratified random labels; "
             f"+{meta['batch']} per round; linear probe ({meta['probe']}); {meta['seeds']} seeds, mean ± std of "
             f"{metric.replace('_', ' ')} on the test drives. Last column: labels each strategy needs to reach random "
             "selection's final mean.", ""]
    for target, by_strategy in results.items():
        labels = [h["labels"] for h in next(iter(by_strategy.values()))[0]]
        rnd = (np.mean([[h[metric] for h in run] for run in by_strategy["random"]], axis=0)
               if "random" in by_strategy else None)
        lines += [f"**{target}**", "",
                  "| strategy | " + " | ".join(f"{n} labels" for n in labels) + " | labels to reach random@"
                  + f"{labels[-1]} |", "|---|" + "---:|" * (len(labels) + 1)]
        for strategy, runs in by_strategy.items():
            values = np.asarray([[h[metric] for h in run] for run in runs])
            cells = [f"{m:.3f} ± {s:.3f}" for m, s in zip(values.mean(0), values.std(0))]
            reach = labels_to_reach(list(values.mean(0)), labels, rnd[-1]) if rnd is not None else ""
            lines.append(f"| {strategy} | " + " | ".join(cells) + f" | {reach} |")
        lines.append("")
    lines += [f"![active labeling](benchmarks/figures/{Path(meta['figure']).name})", "", meta["finding"], ""]
    return "\n".join(lines)


def write_section(md_path: Path, section: str) -> None:
    """Replace (or append) the ``## Active labeling`` section, leaving every other section untouched."""
    text = md_path.read_text() if md_path.exists() else "# Benchmarks\n"
    pattern = re.compile(r"^## Active labeling\n.*?(?=^## |\Z)", re.S | re.M)
    text = pattern.sub(lambda _: section, text) if pattern.search(text) else text.rstrip("\n") + "\n\n" + section
    tmp = md_path.with_name(f".{md_path.name}.tmp")
    tmp.write_text(text)
    tmp.replace(md_path)


def finding(results: dict, metric: str) -> str:
    """One honest sentence per target: which strategy ends best, and how it compares with random."""
    parts = []
    for target, by_strategy in results.items():
        final = {s: float(np.mean([run[-1][metric] for run in runs])) for s, runs in by_strategy.items()}
        best = max(final, key=final.get)
        rnd = final.get("random")
        parts.append(f"{target}: best final {metric.replace('_', ' ')} {final[best]:.3f} by {best}"
                     + (f" (random {rnd:.3f})" if rnd is not None else "") + ".")
    return "Result: " + " ".join(parts)


def main(argv=None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    import torch

    torch.set_num_threads(max(1, min(2, torch.get_num_threads())))
    from ssl_video.data.datasets import encode_labels
    from ssl_video.data.manifest import load_windows
    from ssl_video.data.splits import split_by_sequence
    from ssl_video.engine.clips import load_model, run_windows
    from ssl_video.engine.mining import surprise_scores

    t0 = time.time()
    data, ref = prepare(args)
    windows, index = load_windows(data)
    model = load_model(ref)
    run = run_windows(model, windows, index.by_path(), with_surprise=True, batch_size=16, progress=True)
    windows = [windows[i] for i in run.index]
    groups = np.asarray([w.sequence for w in windows])
    surprise, source = surprise_scores(model, run, groups)
    emb = run.embeddings
    strategies = [s for s in args.strategies.split(",") if s]
    results: dict = {}
    meta: dict = {}
    for target in args.targets.split(","):
        y, classes, _ = encode_labels([w.labels[target] for w in windows], "classification", column=target)
        split = split_by_sequence(groups, labels=y, test_size=args.test_size, val_size=0.0, seed=0)
        pool, test = split["train"], split["test"]
        results[target] = {s: [] for s in strategies}
        for seed in range(args.seeds):
            start = seed_set(y, pool, args.seed_labels, np.random.default_rng(seed))
            for strategy in strategies:
                results[target][strategy].append(
                    run_loop(strategy, emb, y, groups, surprise, pool, test, start, args, seed))
            log.info("%s seed %d: %s", target, seed,
                     {s: round(r[-1][-1]["balanced_accuracy"], 3) for s, r in results[target].items()})
        meta.update(pool=len(pool), test=len(test))
    metric = "balanced_accuracy"
    plot(results, Path(args.figure), metric)
    command = " ".join(["python benchmarks/active_labeling.py", *(sys.argv[1:] if argv is None else argv)])
    meta.update(command=command, data=str(data), machine="2-core shared CPU", seconds=time.time() - t0,
                windows=len(windows), drives=len(set(groups)),
                encoder=meta_encoder(ref), surprise=source,
                probe=("standardized logistic regression, C=1" if args.probe == "fixed"
                       else "`fit_linear_probe`, CV-chosen C"),
                seed_labels=args.seed_labels, batch=args.batch, seeds=args.seeds,
                figure=args.figure, finding=finding(results, metric))
    section = markdown(results, meta, metric)
    print(section)
    Path(args.figure).with_suffix(".json").write_text(json.dumps({"meta": meta, "results": results}, indent=1))
    if args.md:
        write_section(Path(args.md), section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
