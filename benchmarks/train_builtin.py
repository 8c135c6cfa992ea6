"""Train the built-in weights: a long pretraining on built-in drives that share no seed with the quickstart's.

    python benchmarks/train_builtin.py --out runs/builtin --seeds 1 2 3 --steps 4000
    python benchmarks/train_builtin.py --out runs/builtin --seeds 1 2 3 --steps 4000   # rerun: resumes from last.ckpt
    python benchmarks/train_builtin.py --out runs/builtin --seeds 1 2 3 --steps 10000  # train on: the cosine schedule
        # is recomputed for the new total, so the lr rises again from where it was (a warm restart)
    python benchmarks/train_builtin.py --out runs/builtin ... --ship drive-future-vit-tiny   # + add to the package

1. renders ``--minutes-per-seed`` of the built-in driving world per seed (the quickstart renders seed 0, so its
   labeled drives are never seen here) and writes one label-free manifest over all of them;
2. ``ssl-video fit --config configs/pretrain/quickstart.yaml`` (the recipe every user gets) for ``--steps`` steps
   with the online probe on the quickstart's labeled drives (``--labels``, seed 0), resuming from ``last.ckpt``
   when a previous run was stopped; wall time accumulates across resumes in ``OUT/wall.json``;
3. exports the weights with their training facts (minutes of video, steps, clips seen, hardware, wall time) and the
   objective's predictor (``--objectives``: continued pretraining starts from it with ``--model.init_objectives
   true``) and, with ``--ship NAME``, copies them into ``ssl_video/hub/builtin/`` with a registry entry.

Extra ``ssl-video fit`` options go after ``--`` (e.g. ``-- --trainer.accelerator gpu``).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "configs" / "pretrain" / "quickstart.yaml"
BUILTIN_REGISTRY = ROOT / "ssl_video" / "hub" / "builtin" / "registry.json"


def render(out: Path, seeds: list[int], minutes: float) -> tuple[Path, float]:
    """Render each seed's drives (skipped when present) -> (label-free manifest over all, minutes of video)."""
    rows = []
    for seed in seeds:
        folder = out / f"seed{seed}"
        if not (folder / "labels.csv").is_file():
            subprocess.run([sys.executable, "-m", "ssl_video.cli", "data", "make-drive", str(folder), "--minutes",
                            str(minutes), "--seed", str(seed), "--quiet"], check=True, cwd=ROOT)
        with open(folder / "labels.csv", newline="") as handle:
            for r in csv.DictReader(handle):
                rows.append({"video": f"seed{seed}/{r['video']}", "start_s": r["start_s"], "end_s": r["end_s"],
                             "sequence": f"seed{seed}/{r['sequence']}"})
    manifest = out / "manifest.csv"
    tmp = manifest.with_name(".manifest.csv.tmp")
    with open(tmp, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    os.replace(tmp, manifest)
    seconds = sum(float(r["end_s"]) - float(r["start_s"]) for r in rows)
    return manifest, seconds / 60


def hardware() -> str:
    try:
        import torch

        if torch.cuda.is_available():
            return f"{torch.cuda.device_count()}x {torch.cuda.get_device_name(0)}"
    except ImportError:
        pass
    return f"{os.cpu_count()}-core {platform.machine()} CPU ({platform.processor() or platform.system()})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("runs/builtin"))
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3], help="world seeds (not 0: the quickstart's)")
    parser.add_argument("--minutes-per-seed", type=float, default=30.0)
    parser.add_argument("--steps", type=int, default=4000)
    parser.add_argument("--labels", type=Path, default=ROOT / "data" / "drive" / "labels.csv",
                        help="labeled drives for the online probe (the quickstart's seed 0 data)")
    parser.add_argument("--probe-every", type=int, default=500)
    parser.add_argument("--ship", metavar="NAME", help="add the exported weights to the package's built-in registry")
    parser.add_argument("overrides", nargs="*", help="more `ssl-video fit` options, after --")
    args = parser.parse_args(argv)
    if 0 in args.seeds:
        parser.error("seed 0 renders the quickstart's labeled drives; pretrain on other seeds")
    out = args.out.resolve()
    (out / "data").mkdir(parents=True, exist_ok=True)
    manifest, minutes = render(out / "data", args.seeds, args.minutes_per_seed)

    cfg = yaml.safe_load(CONFIG.read_text())
    batch = int(cfg["data"]["batch_size"])
    probe_yaml = out / "online_probe.yaml"
    callbacks = []
    if args.labels.is_file():
        callbacks.append({"class_path": "ssl_video.evaluate.online.OnlineProbe",
                          "init_args": {"data": str(args.labels.resolve()), "targets": ["speed_bucket", "lane_change"],
                                        "every_n_steps": args.probe_every}})
    probe_yaml.write_text(yaml.safe_dump({"trainer": {"callbacks": callbacks}}))
    last = out / "pretrain" / "checkpoints" / "last.ckpt"
    cmd = [sys.executable, "-m", "ssl_video.cli", "fit", "--config", str(CONFIG), "--config", str(probe_yaml),
           "--data.data", str(manifest), "--trainer.default_root_dir", str(out / "pretrain"),
           "--trainer.max_steps", str(args.steps), "--trainer.val_check_interval", str(args.probe_every),
           "--trainer.enable_progress_bar", "false", "--seed_everything", "1", *args.overrides]
    if last.is_file():
        cmd += ["--ckpt_path", str(last)]
    wall_path = out / "wall.json"
    wall = json.loads(wall_path.read_text()) if wall_path.is_file() else {"seconds": 0.0, "runs": 0}
    start = time.perf_counter()
    try:
        subprocess.run(cmd, check=True, cwd=ROOT)
    finally:  # a stopped run's time still counts
        wall = {"seconds": wall["seconds"] + time.perf_counter() - start, "runs": wall["runs"] + 1}
        wall_path.write_text(json.dumps(wall))

    facts = {"training": {
        "data": f"built-in driving world, seeds {args.seeds} ({args.minutes_per_seed:g} min each); the quickstart's "
                f"labeled drives are seed 0 and were not seen",
        "minutes_of_video": round(minutes, 1), "steps": args.steps, "batch_size": batch,
        "clips_seen": args.steps * batch, "hardware": hardware(), "wall_minutes": round(wall["seconds"] / 60, 1),
        "recipe": f"configs/pretrain/quickstart.yaml {' '.join(args.overrides)}".strip(),
        "objectives_weights": "included (objectives.<i>.*), so continued pretraining can start from them: "
                              "--model.init_objectives true",
    }}
    # a resume with a larger --steps stretches the cosine schedule: the lr rises again (a warm restart)
    if wall["runs"] > 1:
        facts["training"]["runs"] = (f"{wall['runs']} runs; each resumed from last.ckpt with its --steps as the cosine "
                                     f"schedule's end")
    facts_path = out / "facts.json"
    facts_path.write_text(json.dumps(facts, indent=1))
    export = [sys.executable, "-m", "ssl_video.cli", "weights", "export", str(last), str(out / "weights"),
              "--extra", str(facts_path), "--objectives"]
    if args.ship:
        export += ["--name", args.ship, "--registry", str(BUILTIN_REGISTRY)]
    subprocess.run(export, check=True, cwd=ROOT)
    print(json.dumps(facts, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
