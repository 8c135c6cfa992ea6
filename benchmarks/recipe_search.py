"""Recipe search: pretrain each recipe at the same step budget, judge it by frozen probes, one table.

Every recipe is ``configs/pretrain/quickstart.yaml`` with ONE lever changed (objective, target,
predictor depth, lr, batch, repeated sampling, augmentation, encoder...), so a row differs from
``baseline`` by one thing. Per (recipe, seed):

1. ``ssl-video fit`` for ``--steps`` steps on ``--data`` (unlabeled), with the online probe
   (``ssl_video.evaluate.online.OnlineProbe`` on ``--labels``, 4 points + step 0);
2. ``ssl-video weights export``;
3. ``ssl-video probe`` on ``--labels``: pixels, linear, attentive (and their random-weights rows)
   at 10 % and 100 % of the labels, 3 seeds, by-drive held-out test split.

Writes ``OUT/recipes.md`` and ``OUT/recipes.json``: recipe, seed, minutes, val PSNR vs copy-last,
the online-probe curve, and per target the best frozen probe at 10 % / 100 % next to pixels and
random weights. Rerunning skips (recipe, seed) pairs whose report exists.

    python benchmarks/recipe_search.py --data data/unlabeled --labels data/drive/labels.csv --out runs/recipes
    python benchmarks/recipe_search.py ... --recipes baseline features masked --seeds 0 1 --steps 400
    python benchmarks/recipe_search.py ... --table        # the table of every finished row under --out
    python benchmarks/recipe_search.py ... -- --trainer.accelerator gpu --trainer.precision bf16-mixed  # GPU
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import time
from pathlib import Path

import torch
import yaml
from torch import nn

from ssl_video.pretrain.objectives import FuturePixels, ObjectiveOutput
from ssl_video.pretrain.objectives.future_pixels import last_context_tokens
from ssl_video.pretrain.objectives.losses import patch_mse
from ssl_video.pretrain.patches import future_split, patchify, unpatchify


class RecipeFuturePixels(FuturePixels):
    """FuturePixels with the levers this search compared that the library no longer builds (its rows need them).

    ``target="residual"``: predict the future minus the last context frame; ``zero_head`` (residual target only):
    a zero output head, so the untrained model is the copy-last baseline (and its encoder gets no gradient);
    ``last_patch_skip``: a zero-initialised linear map from the last context tubelet's pixels at the same place,
    added to the prediction. With the defaults it is the library's ``FuturePixels()``.
    """

    def __init__(self, weight: float = 1.0, target: str = "pixels", predictor_dim: int = 128, predictor_depth: int = 2,
                 predictor_heads: int = 4, last_patch_skip: bool = False, zero_head: bool = True,
                 latent_copy: bool = True):
        super().__init__(weight, predictor_dim, predictor_depth, predictor_heads, latent_copy)
        if target not in ("residual", "pixels"):
            raise ValueError(f"future_pixels: target must be 'residual' or 'pixels', got {target!r}")
        self.target = target
        del self.init_args["norm_pix"]  # a later lever of the library's; these rows predate it and never normalise
        self.init_args.update(target=target, last_patch_skip=last_patch_skip, zero_head=zero_head)
        self.skip: nn.Linear | None = None

    def attach(self, encoder: nn.Module) -> None:
        super().attach(encoder)
        voxels = self.predictor.head.out_features
        if self.init_args["last_patch_skip"]:
            self.skip = nn.Linear(voxels, voxels)
            nn.init.zeros_(self.skip.weight)
            nn.init.zeros_(self.skip.bias)
        if self.target == "residual" and self.init_args["zero_head"]:
            nn.init.zeros_(self.predictor.head.weight)
            nn.init.zeros_(self.predictor.head.bias)

    def forward(self, encoder: nn.Module, video: torch.Tensor, context: int,
                generator: torch.Generator) -> ObjectiveOutput:
        grid, tubelet = encoder.grid_size(*video.shape[2:]), encoder.tubelet
        context_slices = context // tubelet[0]
        ctx_ids, fut_ids = future_split(grid, context, tubelet[0], device=video.device)
        features = encoder.forward_features(video, keep=ctx_ids[None].expand(video.shape[0], -1))  # (B, Nc, D)
        init = last_context_tokens(features, grid, context_slices) if self.latent_copy else None
        pred = self.predictor(features, ctx_ids, fut_ids, grid, target_init=init)  # (B, Nf, P)
        if self.skip is not None:  # the last context tubelet's patch at each future place: (B, Nf, P)
            last_tubelet = patchify(video[:, :, context - tubelet[0] : context], tubelet)
            pred = pred + self.skip(last_context_tokens(last_tubelet, grid, context_slices))
        last = video[:, :, context - 1 : context]  # (B, C, 1, H, W)
        offset = last if self.target == "residual" else 0.0
        target = patchify(video[:, :, context:] - offset, tubelet)  # (B, Nf, P)
        per_sample = patch_mse(pred, target, reduction="none")
        future_grid = (grid[0] - context_slices, grid[1], grid[2])
        future = unpatchify(pred.detach().to(video.dtype), tubelet, future_grid, video.shape[1]) + offset
        baseline = patch_mse(patchify(last.expand_as(video[:, :, context:]) - offset, tubelet), target)
        return ObjectiveOutput(loss=per_sample.mean(), per_sample=per_sample.detach(), features=features.detach(),
                               future=future, copy_last_loss=baseline.detach())


ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "configs" / "pretrain" / "quickstart.yaml"
PIXELS = "benchmarks.recipe_search.RecipeFuturePixels"  # imported by `ssl-video fit`, which runs in ROOT
FEATURES = "ssl_video.pretrain.objectives.future_features.FutureFeatures"
MASKED = "ssl_video.pretrain.objectives.masked.Masked"
BASE_PIXELS = {"weight": 1.0, "target": "residual", "last_patch_skip": True, "latent_copy": False, "predictor_dim": 128,
               "predictor_depth": 2, "predictor_heads": 4}


def _objectives(*items: tuple[str, dict]) -> list[str]:
    return ["--model.objectives", json.dumps([{"class_path": c, "init_args": a} for c, a in items])]


# name -> (the one lever, overrides of the quickstart config). Every recipe starts from BASE_PIXELS, the objective the
# search was run with (quickstart.yaml now trains no_skip_latent_copy's: the library's FuturePixels()),
# so rows measured before and after that change differ from `baseline` by the same one lever.
RECIPES: dict[str, tuple[str, list[str]]] = {
    "baseline": ("quickstart.yaml's objective until 2026-12-03: future pixels, residual target, last_patch_skip", []),
    "no_skip": ("last_patch_skip off (the shortcut that extrapolates pixels without the encoder)",
                _objectives((PIXELS, {**BASE_PIXELS, "last_patch_skip": False}))),
    "no_skip_head": ("last_patch_skip off and a small random head instead of a zero one (no_skip's encoder gets no "
                     "gradient: its head stays near zero)",
                     _objectives((PIXELS, {**BASE_PIXELS, "last_patch_skip": False, "zero_head": False}))),
    "pixel_target": ("absolute future pixels instead of the residual to the last frame",
                     _objectives((PIXELS, {**BASE_PIXELS, "target": "pixels"}))),
    "pixel_target_no_skip": ("absolute future pixels without last_patch_skip (pixel_target's skip learns a smoothed "
                             "copy of the last frame: the shortcut, back)",
                             _objectives((PIXELS, {**BASE_PIXELS, "target": "pixels", "last_patch_skip": False}))),
    "no_skip_latent_copy": ("pixel_target_no_skip, each future query starting from the encoder's last context token at "
                            "its place (latent_copy: the predictor need not learn where to look)",
                            _objectives((PIXELS, {**BASE_PIXELS, "target": "pixels", "last_patch_skip": False,
                                                  "latent_copy": True}))),
    "features": ("future features (V-JEPA) instead of future pixels",
                 _objectives((FEATURES, {"weight": 1.0, "predictor_dim": 128, "predictor_depth": 2,
                                         "predictor_heads": 4}))),
    "features_block": ("future features with a hidden context block (context_mask 0.5: V-JEPA multi-block, the future "
                       "as one block) instead of the future alone",
                       _objectives((FEATURES, {"weight": 1.0, "predictor_dim": 128, "predictor_depth": 2,
                                               "predictor_heads": 4, "context_mask": 0.5}))),
    "pixels+features": ("future features added to the baseline",
                        _objectives((PIXELS, BASE_PIXELS), (FEATURES, {"weight": 1.0, "predictor_dim": 128,
                                                                       "predictor_depth": 2, "predictor_heads": 4}))),
    "masked": ("VideoMAE tube masking (90 %) over the whole clip instead of future pixels",
               _objectives((MASKED, {"weight": 1.0, "mask_ratio": 0.9, "predictor_dim": 128, "predictor_depth": 2,
                                     "predictor_heads": 4}))),
    "deep_predictor": ("predictor depth 4 instead of 2", _objectives((PIXELS, {**BASE_PIXELS, "predictor_depth": 4}))),
    "lr_3e-4": ("lr 3e-4 instead of 1e-3", ["--model.lr", "3e-4"]),
    "lr_3e-3": ("lr 3e-3 instead of 1e-3", ["--model.lr", "3e-3"]),
    "batch_32": ("batch 32 instead of 16 (same steps: twice the clips)", ["--data.batch_size", "32"]),
    "repeat_32": ("32 clips per video per epoch instead of 8 (repeated sampling)", ["--data.clips_per_video", "32"]),
    "no_augment": ("no random crops or flips", ["--data.augment", "false"]),
    "tubelet_1": ("tubelet 1x8x8 instead of 2x8x8 (twice the tokens)",
                  ["--model.encoder_args", json.dumps({"img_size": 64, "num_frames": 8, "tubelet": [1, 8, 8],
                                                       "embed_dim": 192, "depth": 4, "num_heads": 3})]),
}


def _run(cmd: list[str], log: Path) -> None:
    with open(log, "a") as handle:
        handle.write(f"\n$ {' '.join(cmd)}\n")
        handle.flush()
        subprocess.run(cmd, check=True, stdout=handle, stderr=subprocess.STDOUT, cwd=ROOT)


def _csv(path: Path) -> list[dict]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def _eff_rank(metrics: list[dict]) -> float | None:
    """Last logged effective rank of the encoder's features (a collapse shows as a falling rank)."""
    ranks = [float(r["train/eff_rank"]) for r in metrics if r.get("train/eff_rank")]
    return round(ranks[-1], 1) if ranks else None


def run_recipe(name: str, seed: int, args, out: Path) -> dict:
    """Pretrain, export, probe one (recipe, seed); -> its row (cached in out/<name>/seed<seed>/row.json)."""
    run = out / name / f"seed{seed}"
    row_path = run / "row.json"
    if row_path.is_file():
        return json.loads(row_path.read_text())
    run.mkdir(parents=True, exist_ok=True)
    log = run / "log.txt"
    probe_yaml = run / "online_probe.yaml"
    probe_yaml.write_text(yaml.safe_dump({"trainer": {"callbacks": [{
        "class_path": "ssl_video.evaluate.online.OnlineProbe",
        "init_args": {"data": str(args.labels), "targets": args.targets, "every_n_steps": max(1, args.steps // 4)}}]}}))
    py = [sys.executable, "-m", "ssl_video.cli"]
    start = time.perf_counter()
    _run([*py, "fit", "--config", str(CONFIG), "--config", str(probe_yaml), "--data.data", str(args.data),
          "--trainer.default_root_dir", str(run / "pretrain"), "--trainer.max_steps", str(args.steps),
          "--trainer.val_check_interval", str(max(1, args.steps // 4)), "--trainer.enable_progress_bar", "false",
          "--seed_everything", str(seed), *_objectives((PIXELS, BASE_PIXELS)), *RECIPES[name][1], *args.overrides], log)
    fit_minutes = (time.perf_counter() - start) / 60
    _run([*py, "weights", "export", str(run / "pretrain" / "checkpoints" / "last.ckpt"), str(run / "weights")], log)
    _run([*py, "probe", "--encoder", str(run / "weights"), "--data", str(args.labels), "--target", *args.targets,
          "--modes", "pixels,linear,attentive", "--fractions", "0.1", "1", "--seeds", str(args.probe_seeds),
          "--out", str(run / "probe")], log)
    metrics = _csv(run / "pretrain" / "csv" / "version_0" / "metrics.csv")
    val = [r for r in metrics if r.get("val/psnr")]
    curve = {k: [(int(r["step"]), round(float(r[k]), 3)) for r in metrics if r.get(k)]
             for k in metrics[0] if k.startswith("probe/") and k != "probe/seconds"}
    summary = json.loads((run / "probe" / "report.json").read_text())["summary"]
    probes = {}
    for target in args.targets:
        def cell(m: str, f: str, rows: dict = summary[target]) -> float | None:
            return rows.get(m, {}).get(f, {}).get("balanced_accuracy", {}).get("mean")

        probes[target] = {f: {"best": max((cell(m, f), m) for m in ("linear", "attentive") if cell(m, f) is not None),
                              "random": max(cell(m, f) for m in ("linear-random", "attentive-random")),
                              "pixels": cell("pixels", f)} for f in ("0.1", "1")}
    row = {"recipe": name, "lever": RECIPES[name][0], "seed": seed, "steps": args.steps,
           "fit_minutes": round(fit_minutes, 1), "val_psnr": float(val[-1]["val/psnr"]) if val else None,
           "val_psnr_copy_last": float(val[-1]["val/psnr_copy_last"]) if val else None,
           "eff_rank": _eff_rank(metrics), "online_probe": curve, "probes": probes}
    row_path.write_text(json.dumps(row, indent=1))
    return row


def table(rows: list[dict], targets: list[str]) -> str:
    head = "| recipe | seed | fit min | eff. rank | val PSNR (copy-last) | " + " | ".join(
        f"{t} 10% / 100%: best probe (random, pixels)" for t in targets) + " |"
    lines = [head, "|---|---:|---:|---:|---|" + "---|" * len(targets)]
    for r in rows:
        psnr = f"{r['val_psnr']:.2f} ({r['val_psnr_copy_last']:.2f})" if r["val_psnr"] is not None else "–"
        cells = []
        for t in targets:
            p = r["probes"][t]
            cells.append(" / ".join(f"{p[f]['best'][0]:.2f} {p[f]['best'][1]} "
                                    f"({p[f]['random']:.2f}, {p[f]['pixels']:.2f})" for f in ("0.1", "1")))
        lines.append(f"| {r['recipe']} | {r['seed']} | {r['fit_minutes']} | {r.get('eff_rank', '–')} | {psnr} | "
                     + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, help="unlabeled pretraining videos (folder or manifest)")
    parser.add_argument("--labels", type=Path, help="labeled manifest (other drives than --data)")
    parser.add_argument("--targets", nargs="+", default=["speed_bucket", "lane_change"])
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--recipes", nargs="+", default=list(RECIPES), choices=list(RECIPES))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--steps", type=int, default=400, help="pretraining steps per recipe (the equal budget)")
    parser.add_argument("--probe-seeds", type=int, default=3)
    parser.add_argument("--table", action="store_true",
                        help="only write the table of every finished (recipe, seed) under --out (several searches "
                             "can share one --out, e.g. two processes with one thread each)")
    parser.add_argument("overrides", nargs="*", help="more `ssl-video fit` options for every recipe, after --")
    args = parser.parse_args(argv)
    if not args.table and (args.data is None or args.labels is None):
        parser.error("--data and --labels are required (except with --table)")
    args.out = args.out.resolve()
    if not args.table:
        args.data, args.labels = args.data.resolve(), args.labels.resolve()
    rows = []
    if args.table:
        rows = [json.loads(p.read_text()) for p in args.out.glob("*/seed*/row.json")]
        for r in rows:  # rows written before the rank was recorded
            if "eff_rank" not in r:
                r["eff_rank"] = _eff_rank(_csv(args.out / r["recipe"] / f"seed{r['seed']}" / "pretrain" / "csv"
                                               / "version_0" / "metrics.csv"))
        order = {name: i for i, name in enumerate(RECIPES)}
        rows.sort(key=lambda r: (order.get(r["recipe"], len(order)), r["seed"]))
    for seed in args.seeds if not args.table else []:
        for name in args.recipes:
            rows.append(run_recipe(name, seed, args, args.out))
            print(table(rows[-1:], args.targets).splitlines()[-1], flush=True)
    text = table(rows, args.targets)
    (args.out / "recipes.md").write_text(text + "\n")
    (args.out / "recipes.json").write_text(json.dumps(rows, indent=1))
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
