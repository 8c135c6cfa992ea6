"""Pretraining throughput: clips/s and model FLOPs utilisation (MFU) per encoder size.

    python benchmarks/train_throughput.py --models vit_tiny vit_small --frames 8 --size 64 --batch 4 \
        --cpu-peak-gflops 100
    python benchmarks/train_throughput.py --models vit_small vit_base --frames 16 --size 224 --batch 32 \
        --modes eager compile   # GPU
    python benchmarks/train_throughput.py --models vit_base --frames 16 --size 224 --batch 32 --modes eager compile \
        --objectives-from configs/pretrain/vit_b_16x224.yaml   # the objectives (predictors) that config trains

One training step = future_pixels + future_features losses (forward), backward, AdamW
step, EMA update: what ``ssl-video fit`` runs per batch, minus data loading (synthetic
normalized clips already on the device). The objectives have their default (narrow, 2-block)
predictors unless ``--objectives-from CONFIG`` builds them as a pretraining config does (the GPU
configs' predictors are 384 wide and 6 + 4 blocks deep: as many linear-layer FLOPs as the encoder).
bf16 autocast on GPU, float32 on CPU. FLOPs are counted once with ``torch.utils.flop_counter``
(matmuls, convolutions, attention; forward and backward) and MFU = FLOPs per step x steps per
second / peak. Peak: the table below for known GPUs (dense bf16, no sparsity), or ``--peak-tflops``;
on CPU only with ``--cpu-peak-gflops`` (an estimate you supply, e.g. cores x GHz x FLOPs/cycle).

One row per (model, mode): ``eager``, or ``compile``: what ``model.compile: true`` compiles in
``ssl-video fit`` (``ssl_video.models.compile_modules``): ``forward_features`` of the online encoder
and of the EMA target encoder (the objectives call ``forward_features``, not ``encoder(...)``, so
``encoder.compile()`` would compile nothing) and both predictors; masking, losses, the optimizer
(fused AdamW on GPU) and the EMA update stay eager. ``--compile`` is an alias for ``--modes compile``.
FLOPs are counted eagerly, before compiling, so they are the same in both modes. "warm-up (s)" is the
wall time of the ``--warmup`` steps, which include the compilation in compile mode (much less
when Inductor's on-disk cache already holds the graphs from an earlier run). "peak
mem (GiB)" is ``torch.cuda.max_memory_allocated()`` over warm-up and timed steps (reset
before warm-up; the model is freed between rows); "n/a" on CPU.
"""

from __future__ import annotations

import argparse
import gc
import time
from pathlib import Path

import torch
import yaml

from ssl_video.models import compile_modules, get_encoder
from ssl_video.models.flops import count_flops
from ssl_video.pretrain.objectives import OBJECTIVES

# Dense bf16 tensor-core peaks from the vendors' datasheets, TFLOP/s.
PEAK_TFLOPS = {"H100 SXM": 989.0, "H100 HBM3": 989.0, "H100 PCIe": 756.0, "H100 NVL": 835.0, "H200": 989.0,
               "A100": 312.0, "L40S": 362.0}


def gpu_peak_tflops(name: str) -> float | None:
    for key, value in sorted(PEAK_TFLOPS.items(), key=lambda kv: -len(kv[0])):
        if all(part.lower() in name.lower() for part in key.split()):
            return value
    return None


def objectives_from(config: str | None) -> list[dict]:
    """``[{"name": ..., "init_args": {...}}]`` from a pretraining config's ``model.objectives`` (class paths
    matched by class name against the known objectives, never imported); without a config the default pair."""
    if config is None:
        return [{"name": "future_pixels", "init_args": {}}, {"name": "future_features", "init_args": {}}]
    by_class = {cls.__name__: name for name, cls in OBJECTIVES.items()}
    try:
        loaded = yaml.safe_load(Path(config).read_text())
    except (OSError, yaml.YAMLError) as error:
        raise SystemExit(f"--objectives-from {config}: not a readable YAML config ({type(error).__name__})") from None
    entries = ((loaded if isinstance(loaded, dict) else {}).get("model") or {}).get("objectives") or []
    if not entries:
        raise SystemExit(f"{config}: no model.objectives to build")
    described = []
    for entry in entries:
        cls = str(entry.get("class_path", "")).rsplit(".", 1)[-1]
        if cls not in by_class:
            raise SystemExit(f"{config}: unknown objective {entry.get('class_path')!r}; known: {sorted(by_class)}")
        described.append({"name": by_class[cls], "init_args": dict(entry.get("init_args") or {})})
    return described


def build(model: str, frames: int, size: int, device: torch.device, described: list[dict]):
    tubelet = [2, 8, 8] if size <= 64 else [2, 16, 16]
    encoder = get_encoder(model, img_size=size, num_frames=frames, tubelet=tubelet).to(device)
    objectives = torch.nn.ModuleList([OBJECTIVES[d["name"]](**d["init_args"]) for d in described])
    for objective in objectives:
        objective.attach(encoder)
    objectives.to(device)
    params = [p for m in (encoder, objectives) for p in m.parameters() if p.requires_grad]
    return encoder, objectives, torch.optim.AdamW(params, lr=1e-4, fused=device.type == "cuda")


def make_step(encoder, objectives, optimizer, video, context, device):
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32

    def loss_fn() -> torch.Tensor:
        with torch.autocast(device.type, dtype=dtype, enabled=device.type == "cuda"):
            return sum(o(encoder, video, context, None).loss for o in objectives)

    def step() -> None:
        loss_fn().backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        for objective in objectives:
            objective.after_optimizer_step(encoder, 0.5)  # EMA update of future_features' target

    return loss_fn, step


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def free(device: torch.device) -> None:
    """Release what the previous row left, so that the next row's peak memory is its own."""
    torch._dynamo.reset()  # compiled graphs and guards; also makes each row compile afresh
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


def run(model: str, mode: str, args, device: torch.device, described: list[dict]) -> dict:
    encoder, objectives, optimizer = build(model, args.frames, args.size, device, described)
    video = torch.randn(args.batch, 3, args.frames, args.size, args.size, device=device)
    loss_fn, step = make_step(encoder, objectives, optimizer, video, args.frames // 2, device)
    flops = count_flops(loss_fn)  # forward + backward of the summed losses, eager (before compiling)
    optimizer.zero_grad(set_to_none=True)
    if mode == "compile":
        compile_modules(encoder)  # lazy: compiles in the first warm-up step
        compile_modules(objectives)  # the predictors and the EMA target encoder of future_features
    sync(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    for _ in range(args.warmup):
        step()
    sync(device)
    warmup_s = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(args.steps):
        step()
    sync(device)
    seconds = (time.perf_counter() - start) / args.steps
    peak_gib = torch.cuda.max_memory_allocated() / 2**30 if device.type == "cuda" else None
    params = sum(p.numel() for p in encoder.parameters())
    del encoder, objectives, optimizer, video, loss_fn, step
    return {"model": model, "mode": mode, "params_m": params / 1e6, "clips_per_s": args.batch / seconds,
            "step_s": seconds, "warmup_s": warmup_s, "peak_gib": peak_gib,
            "gflop_per_step": flops / 1e9, "achieved_tflops": flops / seconds / 1e12}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["vit_tiny", "vit_small"])
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--modes", nargs="+", choices=["eager", "compile"], default=["eager"],
                        help="one row per model and mode; compile = torch.compile the encoders and predictors")
    parser.add_argument("--compile", dest="modes", action="store_const", const=["compile"],
                        help="alias for --modes compile")
    parser.add_argument("--objectives-from", metavar="CONFIG", default=None,
                        help="build the objectives (predictor widths and depths) as this pretraining config does; "
                             "default: future_pixels + future_features with their default predictors")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (torch.set_num_threads)")
    parser.add_argument("--peak-tflops", type=float, default=None, help="override the GPU peak (dense bf16)")
    parser.add_argument("--cpu-peak-gflops", type=float, default=None, help="estimated CPU fp32 peak, for MFU on CPU")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.type == "cuda":
        name = torch.cuda.get_device_name()
        peak = args.peak_tflops or gpu_peak_tflops(name)
        dtype = "bf16 autocast"
    else:
        name = f"CPU, {torch.get_num_threads()} threads"
        peak = args.cpu_peak_gflops / 1000 if args.cpu_peak_gflops else None
        dtype = "float32"
    described = objectives_from(args.objectives_from)
    objectives_desc = " + ".join(d["name"] for d in described) + (f" as in {args.objectives_from}"
                                                                  if args.objectives_from else " (default predictors)")
    print(f"device: {name}; torch {torch.__version__}; dtype {dtype}; clip 3x{args.frames}x{args.size}x{args.size} "
          f"(CxTxHxW); batch {args.batch}; warm-up {args.warmup} + timed {args.steps} steps; "
          f"objectives {objectives_desc}; peak {peak if peak else 'unknown'} TFLOP/s")
    print("| model | mode | params (M) | clips/s | s/step | warm-up (s) | peak mem (GiB) | "
          "GFLOP/step (fwd+bwd) | achieved TFLOP/s | MFU |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for model in args.models:
        for mode in args.modes:
            r = run(model, mode, args, device, described)
            free(device)
            mfu = f"{100 * r['achieved_tflops'] / peak:.1f}%" if peak else "n/a"
            mem = f"{r['peak_gib']:.2f}" if r["peak_gib"] is not None else "n/a"
            print(f"| {r['model']} | {r['mode']} | {r['params_m']:.1f} | {r['clips_per_s']:.2f} | {r['step_s']:.3f} | "
                  f"{r['warmup_s']:.1f} | {mem} | {r['gflop_per_step']:.1f} | {r['achieved_tflops']:.4f} | {mfu} |",
                  flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
