"""Memory of the frame cache with DataLoader workers: a copy per worker (in memory) vs one shared copy (a folder).

For each worker count and cache mode (none: every clip decoded; in memory: ``frame_cache_mb``; folder:
``frame_cache_mb`` + ``frame_cache_dir``), builds the pretraining data module on ``--data`` (clip shape from
the quickstart config, no augmentation), iterates ``--epochs`` epochs with persistent workers (the first
fills the caches) and prints, after the last epoch, each worker's unique memory (USS: what would be freed
if it exited) and proportional memory (PSS: shared pages split between their users), summed over the
workers, and the clips/s of the last epoch.

    python benchmarks/frame_cache_memory.py --data data/drive/labels.csv --workers 2 4
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

import psutil
import yaml

from ssl_video.data.datamodules import UnlabeledClipDataModule

ROOT = Path(__file__).resolve().parents[1]


def _workers() -> list[psutil.Process]:
    """DataLoader workers: children of the forkserver, itself a child of this process."""
    return [p for p in psutil.Process().children(recursive=True) if p.ppid() != os.getpid()]


def measure(data: str, workers: int, folder: str | None, epochs: int, budget_mb: float) -> dict:
    """One row: workers' summed USS / PSS after ``epochs`` epochs, clips/s of the last; budget 0 = no cache."""
    cfg = yaml.safe_load((ROOT / "configs" / "pretrain" / "quickstart.yaml").read_text())["data"]
    dm = UnlabeledClipDataModule(data, context=cfg["context"], future=cfg["future"], fps=cfg["fps"], size=cfg["size"],
                                 batch_size=cfg["batch_size"], num_workers=workers, persistent_workers=True,
                                 clips_per_video=cfg["clips_per_video"], val_fraction=cfg["val_fraction"],
                                 augment=False, frame_cache_mb=budget_mb, frame_cache_dir=folder)
    dm.setup("fit")
    loader = dm.train_dataloader()
    for epoch in range(epochs):
        loader.sampler.set_epoch(epoch)
        start, clips = time.perf_counter(), 0
        for batch in loader:
            clips += len(batch["index"])
        seconds = time.perf_counter() - start
    procs = _workers()
    full = [p.memory_full_info() for p in procs]
    mode = "folder (mapped, shared)" if folder else "in memory (per worker)" if budget_mb else "none (decode each clip)"
    row = {"workers": len(procs), "cache": mode,
           "uss_mb": sum(m.uss for m in full) / 2**20, "pss_mb": sum(m.pss for m in full) / 2**20,
           "clips_per_s": clips / seconds}
    del loader
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(ROOT / "data" / "drive" / "labels.csv"))
    parser.add_argument("--workers", type=int, nargs="+", default=[2, 4])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--budget-mb", type=float, default=1024)
    args = parser.parse_args()
    rows = []
    for workers in args.workers:
        for mode in ("none", "memory", "folder"):
            folder = tempfile.mkdtemp(prefix="frame_cache_") if mode == "folder" else None
            try:
                rows.append(measure(args.data, workers, folder, args.epochs, 0 if mode == "none" else args.budget_mb))
            finally:
                if folder:
                    size = sum(f.stat().st_size for f in Path(folder).glob("*.npy")) / 2**20
                    rows[-1]["folder_mb"] = size
                    shutil.rmtree(folder)
            print(rows[-1], flush=True)
    print("\n| workers | frame cache | workers' USS, MiB (sum) | workers' PSS, MiB (sum) | folder, MiB "
          "| clips/s, last epoch |")
    print("|---:|---|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['workers']} | {r['cache']} | {r['uss_mb']:,.0f} | {r['pss_mb']:,.0f} | "
              f"{r.get('folder_mb', 0):,.0f} | {r['clips_per_s']:,.0f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
