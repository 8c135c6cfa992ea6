"""``ssl-video mine``: rank unlabeled clip windows by how worth labeling they are.

    ssl-video mine --encoder runs/quickstart/last.ckpt --data data/drive --out runs/mine --top 32 --by mixed
    ssl-video mine --encoder runs/quickstart/weights --data data/drive --labels labeled.csv --target lane_change \\
        --by uncertainty --out runs/mine_unc

Strategies (``--by``), all computed on one deterministic centred clip per window:

- ``surprise``: the pretraining objective's own future-prediction error on the window
  (``future_pixels`` / ``future_features`` loss of a ``.ckpt``; the z-scores of several
  objectives are averaged). With weights that carry no predictor, a linear-dynamics residual
  in the encoder's feature space (see :mod:`ssl_video.engine.surprise`). Raw errors are
  normalised by :func:`~ssl_video.engine.scoring.normalize_surprise`: log ratio to the
  copy-last-frame error, robust z-score within each drive sequence.
- ``uncertainty``: entropy of a linear probe (``ssl_video.evaluate.probes``) trained on
  ``--labels`` (column ``--target``).
- ``diversity``: k-center greedy on the embeddings, keeping away from labeled windows.
- ``mixed`` (default): the top ``4 * K`` by surprise, thinned to K by k-center greedy so
  the batch is surprising *and* covers different events.

Writes ``OUT/ranking.csv`` (the next labeling batch, a manifest: video, start_s, end_s,
sequence, score, reason, rank), ``OUT/scores.csv`` (every window's scores),
``OUT/top_clips.png`` and ``OUT/random_clips.png`` (contact sheets to compare).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ssl_video._io import write_csv
from ssl_video.data.manifest import window_row
from ssl_video.engine import scoring
from ssl_video.engine.clips import LoadedModel, WindowPass, run_windows
from ssl_video.engine.contact_sheet import contact_sheet
from ssl_video.engine.ranking import SCORE_FORMAT, write_ranking
from ssl_video.errors import UserError

log = logging.getLogger(__name__)

MINE_STRATEGIES = ("surprise", "uncertainty", "diversity", "mixed")


@dataclass
class MineResult:
    windows: list  # the scored windows (decoded ones), ClipWindow
    picks: np.ndarray  # (K,) indices into ``windows``, best first
    scores: np.ndarray  # (K,) the strategy's score of each pick
    reasons: list[str]
    surprise: np.ndarray | None  # (N,) normalized surprise of every window (when computed)
    ranking_csv: Path | None = None


def overlap_mask(windows: Sequence, others: Sequence) -> np.ndarray:
    """(len(windows),) bool: whether each window shares any time with one of ``others`` of the
    same video (``end_s`` None = to the end of the video)."""
    by_video: dict[str, list[tuple[float, float]]] = {}
    for o in others:
        end = np.inf if o.end_s is None else o.end_s
        by_video.setdefault(str(Path(o.video).resolve()), []).append((o.start_s, end))
    resolved: dict[str, str] = {}
    out = np.zeros(len(windows), dtype=bool)
    for i, w in enumerate(windows):
        key = resolved.setdefault(w.video, str(Path(w.video).resolve()))
        end = np.inf if w.end_s is None else w.end_s
        out[i] = any(w.start_s < o_end and o_start < end for o_start, o_end in by_video.get(key, ()))
    return out


def surprise_scores(model: LoadedModel, run: WindowPass, sequences: Sequence[str]) -> tuple[np.ndarray, str]:
    """Normalized surprise (N,) and a description of its source."""
    if run.errors:
        zs = [scoring.normalize_surprise(err, sequences, baseline=run.copy_last) for err in run.errors.values()]
        return np.mean(zs, axis=0), "+".join(run.errors)
    from ssl_video.engine.surprise import linear_dynamics_error

    log.info("%s has no future predictor: surprise = linear-dynamics residual in feature space", model.source)
    err, base = linear_dynamics_error(run.context_emb, run.future_emb, np.asarray(sequences))
    run.errors = {"linear_dynamics": err}
    return scoring.normalize_surprise(err, sequences, baseline=base), "linear_dynamics"


def fit_probe_probs(labeled_emb: np.ndarray, labels: Sequence, query_emb: np.ndarray, groups=None, seed: int = 0):
    """Class probabilities (N, C) of a linear probe trained on labeled embeddings, and the class names."""
    from ssl_video.data.datasets import encode_labels, infer_task
    from ssl_video.evaluate.probes import fit_linear_probe

    task = infer_task(list(labels))
    if task != "classification":
        raise UserError("--by uncertainty needs a class label column (entropy of class probabilities); "
                         f"the target looks numeric ({task})")
    y, classes, _ = encode_labels(list(labels), task)
    probe = fit_linear_probe(labeled_emb, y, task, groups=groups, seed=seed)
    probs = np.zeros((len(query_emb), len(classes)))
    probs[:, probe.classes_] = probe.predict_proba(query_emb)  # classes absent from the labels keep 0
    return probs, classes


def _reason(by: str, i: int, score: float, surprise: np.ndarray | None, source: str, probs, classes) -> str:
    if by in ("surprise", "mixed"):
        extra = " (k-center filtered)" if by == "mixed" else ""
        return f"surprise z={surprise[i]:.2f} [{source}]{extra}"
    if by == "uncertainty":
        top = int(np.argmax(probs[i]))
        return f"probe entropy {score:.2f}: {classes[top]} p={probs[i, top]:.2f}"
    return f"k-center: {score:.3g} from the nearest selected window"


def mine(model: LoadedModel, windows: list, infos: dict, out: str | Path, *, by: str = "mixed", top: int = 16,
         labeled: list | None = None, target: str | None = None, seed: int = 0, batch_size: int = 16,
         num_workers: int = 0, sheet_rows: int = 8, progress: bool = False, cache_dir: str | None = None
         ) -> MineResult:
    """Score ``windows``, write the ranking and contact sheets into ``out``; see the module docstring."""
    if by not in MINE_STRATEGIES:
        raise UserError(f"--by must be one of {MINE_STRATEGIES}, got {by!r}")
    if by == "uncertainty" and labeled is not None and target and not labeled:
        raise UserError("--labels holds no usable windows (`ssl-video data index` on it says why); --by uncertainty "
                        "trains its probe on them")
    if by == "uncertainty" and not (labeled and target):
        raise UserError("--by uncertainty needs --labels CSV and --target COLUMN (a probe is trained on them)")
    if by in ("surprise", "mixed") and model.spec.future == 0:  # a public model (hub.foreign) reads whole clips
        raise UserError(f"--by {by} compares the context's features with the future's, and {model.source} reads clips "
                        f"without a future; use --by diversity, or --by uncertainty with labels")
    out = Path(out)
    labeled = list(labeled or [])
    if labeled:
        before = len(windows)
        windows = [w for w, hit in zip(windows, overlap_mask(windows, labeled)) if not hit]
        log.info("dropped %d of %d windows that overlap already labeled ones", before - len(windows), before)
        if not windows:
            raise UserError(f"all {before} --data windows overlap --labels windows: nothing is left to rank; give "
                            f"--data footage that is not labeled yet")
    need_surprise = by in ("surprise", "mixed")
    run = run_windows(model, windows, infos, with_surprise=need_surprise, batch_size=batch_size,
                      num_workers=num_workers, progress=progress, cache_dir=cache_dir)
    windows = [windows[i] for i in run.index]
    sequences = [w.sequence or w.video for w in windows]
    surprise, source = (surprise_scores(model, run, sequences) if need_surprise else (None, ""))

    emb, selected, probs, classes = run.embeddings, np.zeros(0, dtype=np.int64), None, None
    if labeled:
        lab = run_windows(model, labeled, infos, batch_size=batch_size, num_workers=num_workers, progress=progress,
                          cache_dir=cache_dir)
        lab_windows = [labeled[i] for i in lab.index]
        emb = np.concatenate([run.embeddings, lab.embeddings])
        selected = np.arange(len(windows), len(emb))
        if by == "uncertainty":
            missing = [w.video for w in lab_windows if target not in w.labels]
            if missing:
                raise UserError(f"label column {target!r} missing for {len(missing)} labeled windows, "
                                f"e.g. {missing[0]}")
            groups = np.asarray([w.sequence or w.video for w in lab_windows])
            probs_q, classes = fit_probe_probs(lab.embeddings, [w.labels[target] for w in lab_windows], emb,
                                               groups=groups, seed=seed)
            probs = probs_q
    full_surprise = None if surprise is None else np.concatenate([surprise, np.full(len(emb) - len(windows), -np.inf)])
    picks, scores = scoring.select_windows(by, top, embeddings=emb, already_selected=selected,
                                           surprise=full_surprise, probs=probs, seed=seed)
    reasons = [_reason(by, int(i), float(s), surprise, source, probs, classes) for i, s in zip(picks, scores)]
    ranked = [windows[i] for i in picks]
    ranking_csv = write_ranking(out / "ranking.csv", ranked, scores, reasons,
                                extra={"rank": list(range(1, len(picks) + 1))})
    _write_scores(out / "scores.csv", windows, run, surprise, probs)
    _sheets(out, windows, lambda j: run.clip(int(run.index[j])), picks, scores, by, sheet_rows, seed)
    log.info("wrote %s (%d windows ranked of %d)", ranking_csv, len(picks), len(windows))
    return MineResult(windows, picks, scores, reasons, surprise, ranking_csv)


def _write_scores(path: Path, windows: list, run: WindowPass, surprise, probs) -> None:
    """Every scored window with its raw and normalized scores (for analysis, not a labeling batch)."""
    columns = ["video", "start_s", "end_s", "sequence"]
    columns += [f"error_{k}" for k in run.errors] + (["copy_last"] if run.copy_last is not None else [])
    columns += (["surprise"] if surprise is not None else []) + (["entropy"] if probs is not None else [])
    entropy = scoring.entropy_score(probs) if probs is not None else None
    rows = []
    for i, w in enumerate(windows):
        row = window_row(w)
        row.update({f"error_{k}": float(v[i]) for k, v in run.errors.items()})
        if run.copy_last is not None:
            row["copy_last"] = float(run.copy_last[i])
        if surprise is not None:
            row["surprise"] = float(surprise[i])
        if entropy is not None:
            row["entropy"] = float(entropy[i])
        rows.append(row)
    write_csv(path, columns, rows, float_format=SCORE_FORMAT)


def _caption(w, rank: str) -> str:
    return f"{rank} {Path(w.video).name} {w.start_s:.1f}s"


def _sheets(out: Path, windows, clip_of, picks, scores, by: str, rows: int, seed: int) -> None:
    """top_clips.png (the picks, best first) and random_clips.png (as many random windows)."""
    top = [int(i) for i in picks[:rows]]
    captions = [_caption(windows[i], f"#{r + 1} {by}={s:.2f}") for r, (i, s) in enumerate(zip(top, scores))]
    contact_sheet([clip_of(i) for i in top], captions, out / "top_clips.png", title=f"top {len(top)} by {by}")
    rand = np.random.default_rng(seed).permutation(len(windows))[: len(top)]
    contact_sheet([clip_of(int(i)) for i in rand], [_caption(windows[i], "random") for i in rand],
                  out / "random_clips.png", title=f"{len(rand)} random windows (for comparison)")
