"""Which block of a frozen encoder reads a label best? Linear probes on every block's features.

    python benchmarks/probe_layers.py --encoder drive-future-vit-tiny --data runs/valworld/labels.csv \
        --targets speed_bucket lane_change

For each block of the encoder and of a random-weights copy, and for the concatenation of all blocks: the
linear probe (``ssl-video probe``'s, same split by drive, label fractions and seeds) on mean-pooled tokens
(``pool<i>``) and on per-time-step mean and std over space (``temp<i>``, the ``temporal`` mode); block outputs
are read before the encoder's final norm, the rows ``pool_out`` / ``temp_out`` after it (the report's linear and
temporal modes), ``pool_all`` / ``temp_all`` concatenate the blocks. ViT encoders (``.blocks``). Prints one
table per target: balanced accuracy (mean over seeds) at each fraction. Run it on validation drives, not on
the drives you report on: it chooses how features are read.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from ssl_video.data.transforms import normalize_clip
from ssl_video.evaluate.features import random_encoder, temporal_pool
from ssl_video.evaluate.label_efficiency import ProbeConfig, make_run, prepare, split_target


@torch.no_grad()
def block_features(encoder: torch.nn.Module, prep, batch_size: int = 32) -> dict[str, np.ndarray]:
    """Per block i: ``pool<i>`` (N, D) and ``temp<i>`` (N, T' * 2D); ``pool_all`` (N, L * D) and ``temp_all``
    (N, L * T' * 2D); ``pool_out`` and ``temp_out``: the encoder's output, as the report's linear and temporal
    modes read it."""
    encoder = encoder.eval()
    outs: list[torch.Tensor] = []
    hooks = [block.register_forward_hook(lambda mod, inp, out: outs.append(out)) for block in encoder.blocks]
    rows, feats = np.flatnonzero(prep.clips.ok), {}
    try:
        for start in range(0, len(rows), batch_size):
            idx = rows[start : start + batch_size]
            video = torch.from_numpy(np.ascontiguousarray(prep.clips.array[idx]))  # (B, C, T, H, W) uint8
            outs.clear()
            final = encoder.forward_features(normalize_clip(video, prep.mean, prep.std))  # after the final norm
            grid = encoder.grid_size(*video.shape[2:])
            batch = {"pool_out": final.mean(1), "temp_out": temporal_pool(final, grid)}  # the report's modes
            batch |= {f"pool{i}": o.mean(1) for i, o in enumerate(outs)}  # (B, N, D) -> (B, D)
            batch |= {f"temp{i}": temporal_pool(o, grid) for i, o in enumerate(outs)}
            batch["pool_all"] = torch.cat([o.mean(1) for o in outs], dim=1)
            batch["temp_all"] = torch.cat([temporal_pool(o, grid) for o in outs], dim=1)
            for name, value in batch.items():
                feats.setdefault(name, np.zeros((len(prep.clips.array), value.shape[1]),
                                                np.float32))[idx] = value.numpy()
    finally:
        for hook in hooks:
            hook.remove()
    return feats


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--encoder", required=True)
    parser.add_argument("--data", required=True)
    parser.add_argument("--targets", nargs="+", required=True)
    parser.add_argument("--fractions", type=float, nargs="+", default=[0.1, 1.0])
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args(argv)
    cfg = ProbeConfig(encoder=args.encoder, data=args.data, targets=args.targets, out="", num_workers=1)
    prep = prepare(cfg)
    if not hasattr(prep.enc.encoder, "blocks"):
        parser.error(f"{args.encoder}: {prep.enc.architecture} has no transformer blocks (.blocks) to read")
    encoders = {"pretrained": prep.enc, "random": random_encoder(prep.enc)}
    feats = {name: block_features(enc.encoder, prep) for name, enc in encoders.items()}
    fracs = " / ".join(f"{f:g}" for f in args.fractions)
    for target in args.targets:
        split = split_target(cfg, prep, target)
        print(f"\n{target}: balanced accuracy at fractions {fracs} (mean over {args.seeds} seeds)\n")
        print("| features | " + " | ".join(encoders) + " |\n|---|" + "---|" * len(encoders))
        for key in feats["pretrained"]:
            cells = []
            for name in encoders:
                means = [np.mean([make_run(cfg, prep, split, f, s).linear(feats[name][key])["balanced_accuracy"]
                                  for s in range(args.seeds)]) for f in args.fractions]
                cells.append(" / ".join(f"{m:.3f}" for m in means))
            print(f"| {key} | " + " | ".join(cells) + " |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
