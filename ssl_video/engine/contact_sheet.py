"""Contact sheets: a grid with one clip per row (a few frames across) and a caption per clip."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np


def pick_frames(clip: np.ndarray, n: int) -> np.ndarray:
    """(T, H, W, C) uint8 -> (n', H, W, C): ``n`` frames evenly spread over the clip (n' <= T)."""
    clip = np.asarray(clip)
    if clip.ndim != 4:
        raise ValueError(f"clip must be (T, H, W, C), got shape {clip.shape}")
    idx = np.unique(np.linspace(0, clip.shape[0] - 1, num=min(n, clip.shape[0])).round().astype(int))
    return clip[idx]


def contact_sheet(clips: Sequence[np.ndarray], captions: Sequence[str], path: str | Path, *,
                  frames_per_clip: int = 4, title: str | None = None, cell_inches: float = 1.6) -> Path:
    """Save a grid of clips to ``path`` (PNG) atomically; one row per (T, H, W, C) uint8 clip."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    if len(clips) != len(captions):
        raise ValueError(f"{len(clips)} clips but {len(captions)} captions")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = max(1, len(clips))
    h, w = (clips[0].shape[1:3] if len(clips) else (1, 1))
    aspect = w / max(h, 1)
    fig, axes = plt.subplots(rows, frames_per_clip, squeeze=False,
                             figsize=(cell_inches * aspect * frames_per_clip, cell_inches * rows + (0.4 if title else 0)))
    for ax in axes.ravel():
        ax.axis("off")
    for r, (clip, caption) in enumerate(zip(clips, captions)):
        for c, frame in enumerate(pick_frames(clip, frames_per_clip)):
            axes[r, c].imshow(frame)
        axes[r, 0].set_title(caption, fontsize=7, loc="left")
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".png")
    os.close(fd)
    try:
        fig.savefig(tmp, dpi=100)
        os.replace(tmp, path)
    finally:
        plt.close(fig)
        Path(tmp).unlink(missing_ok=True)
    return path
