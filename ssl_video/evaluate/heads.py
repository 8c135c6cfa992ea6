"""Trained heads kept with everything they need, and loaded back as one classifier.

``ssl-video probe --save-heads DIR`` keeps, per target and label fraction, one frozen probe as
``DIR/<target>/<fraction>/head.json`` (what it reads: the encoder's source and fingerprint, the preprocessing
record, the classes, the mode and its settings) and ``head.safetensors`` (its weights: the attentive probe's
tensors, or a scikit-learn probe's scaler, coefficients or neighbours as arrays; never a pickle).
``ssl-video finetune --out DIR`` writes ``DIR/model.safetensors`` (encoder + head) with its record in the
header. :func:`load_classifier` reads either into a :class:`Classifier`, the same computation as the probe
that was scored (float64 scikit-learn maths, float16 tokens for the attentive probe, as its cache stores them).

    clf = load_classifier("runs/heads/speed_bucket/0.1")
    logits = clf(clips)            # normalized float (B, C, T, H, W) -> (B, len(clf.classes))
    clf.classes, clf.preprocessing  # class names; the ClipSpec that reads clips from a video
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file
from torch import nn

from ssl_video._io import atomic_path, atomic_write_json
from ssl_video.data.transforms import normalize_clip
from ssl_video.errors import UserError
from ssl_video.evaluate.attentive import AttentiveConfig, AttentiveProbeGrid
from ssl_video.evaluate.features import decode_clips, embed_normalized, load_eval_encoder
from ssl_video.evaluate.finetune import EncoderHead
from ssl_video.models import default_device, get_encoder
from ssl_video.spec import ClipSpec

HEAD_FORMAT = 1
READS = {"linear": "pooled", "temporal": "temporal", "knn": "pooled", "attentive": "tokens"}  # mode -> features


def _standardize(x: torch.Tensor, mean: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """StandardScaler.transform as scikit-learn computes it: on float32 features each step is done in float64
    and rounded to float32 (numpy's in-place ufuncs), so a probe's decisions are reproduced exactly."""
    if x.dtype != torch.float32:
        return (x.double() - mean) / scale
    return ((x.double() - mean).float().double() / scale).float().double()


class LinearHead(nn.Module):
    """A fitted StandardScaler + LogisticRegression (or Ridge), in float64 as scikit-learn computes it.

    forward: features (B, F) -> logits (B, n_classes) (classes the probe never saw: -inf), or (B,) targets."""

    def __init__(self, mean, scale, coef, intercept, class_ids=None, n_classes: int = 0):
        super().__init__()
        for name, value in (("mean", mean), ("scale", scale), ("coef", coef), ("intercept", intercept)):
            self.register_buffer(name, torch.as_tensor(np.asarray(value), dtype=torch.float64))
        self.register_buffer("class_ids", torch.as_tensor(np.asarray([] if class_ids is None else class_ids)).long())
        self.n_classes = n_classes

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = _standardize(x, self.mean, self.scale) @ self.coef.reshape(-1, self.mean.shape[0]).T + self.intercept
        if not self.n_classes:
            return z.squeeze(-1)  # (B,)
        if z.shape[1] == 1:  # binary: P(second) = sigmoid(z) = softmax([0, z])
            z = torch.cat([torch.zeros_like(z), z], dim=1)
        out = z.new_full((len(x), self.n_classes), -math.inf)
        out[:, self.class_ids] = z
        return out  # float64: scikit-learn's decisions, to the last bit


class KnnHead(nn.Module):
    """A fitted StandardScaler + cosine k-NN with distance weights (scikit-learn's rules, ties included).

    forward: features (B, F) -> log class probabilities (B, n_classes), or (B,) targets."""

    def __init__(self, mean, scale, points, targets, k: int, n_classes: int = 0):
        super().__init__()
        for name, value in (("mean", mean), ("scale", scale), ("points", points), ("targets", targets)):
            self.register_buffer(name, torch.as_tensor(np.asarray(value), dtype=torch.float64))
        self.k, self.n_classes = k, n_classes

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = _standardize(x, self.mean, self.scale)
        cos = nn.functional.normalize(x, dim=1) @ nn.functional.normalize(self.points, dim=1).T  # (B, n)
        dist, idx = (1 - cos).clamp(0, 2).topk(self.k, dim=1, largest=False)  # (B, k)
        exact = dist == 0  # sklearn: a row with exact matches weighs only them
        weight = torch.where(exact.any(1, keepdim=True), exact.double(), 1 / dist)
        if not self.n_classes:
            return (weight * self.targets[idx]).sum(1) / weight.sum(1)  # (B,)
        votes = torch.zeros(len(x), self.n_classes, dtype=torch.float64, device=x.device)
        votes.scatter_add_(1, self.targets[idx].long(), weight)
        return (votes / votes.sum(1, keepdim=True)).log()


class AttentiveHead(nn.Module):
    """M attentive probes that vote (:class:`~ssl_video.evaluate.attentive.AttentiveEnsemble`): tokens (B, K, D) ->
    log mean class probabilities (B, n_classes), or (B,) mean targets in the label's units."""

    def __init__(self, probes: AttentiveProbeGrid, task: str, target_means, target_stds):
        super().__init__()
        self.probes, self.task = probes, task
        self.register_buffer("target_mean", torch.as_tensor(target_means, dtype=torch.float32)[:, None])  # (M, 1)
        self.register_buffer("target_std", torch.as_tensor(target_stds, dtype=torch.float32)[:, None])

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        out = self.probes(tokens.half().float())  # trained on float16 cached tokens; (M, B, outputs)
        if self.task == "classification":
            return out.softmax(-1).mean(0).log()
        return (out.squeeze(-1) * self.target_std + self.target_mean).mean(0)


class Classifier(nn.Module):
    """Encoder + head: a normalized float clip (B, C, T, H, W) -> logits (B, len(classes)) (log-probabilities
    for k-NN), or (B,) targets for a regression label.

    ``preprocessing`` is the ClipSpec its clips are read with; ``clips_per_window`` K > 1 means a row is a
    window's K clips joined in time, (B, C, K * T, H, W). ``info`` is the saved record. A fine-tuned model
    (``reads="encoder"``) has its :class:`~ssl_video.evaluate.finetune.EncoderHead` as ``encoder``."""

    def __init__(self, encoder: nn.Module, head: nn.Module, *, reads: str, info: dict[str, Any]):
        super().__init__()
        self.encoder, self.head, self.reads, self.info = encoder.eval(), head.eval(), reads, info
        self.task: str = info["task"]
        self.classes: list[str] | None = info.get("classes")
        self.preprocessing = ClipSpec.from_dict(info["preprocessing"])
        self.clips_per_window: int = int(info.get("clips_per_window", 1))
        self.max_tokens: int = int(info.get("max_tokens", 256))

    @torch.no_grad()
    def forward(self, clip: torch.Tensor) -> torch.Tensor:
        if self.reads == "encoder":  # fine-tuned: the EncoderHead's own computation, the clip already normalized
            return self.head(self.encoder.normalized_forward(clip))
        pooled, temporal, tokens = embed_normalized(self.encoder, clip, max_tokens=self.max_tokens,
                                                    tokens=self.reads == "tokens", segments=self.clips_per_window)
        return self.head({"pooled": pooled, "temporal": temporal, "tokens": tokens}[self.reads])

    def predict_proba(self, clip: torch.Tensor) -> torch.Tensor:
        """(B, C, T, H, W) -> class probabilities (B, len(classes))."""
        if self.task != "classification":
            raise UserError(f"{self.info.get('target')}: a regression head has no class probabilities")
        return self(clip).float().softmax(-1)


def _head_arrays(mode: str, probe, train: tuple[np.ndarray, np.ndarray] | None) -> tuple[dict, dict]:
    """A fitted probe -> (tensors, settings) for head.safetensors and head.json."""
    if mode == "attentive":  # each member's probe g: row g of its grid's stacked parameters; members stacked
        model = probe.members[0][0].model
        states = [(grid.model.state_dict(), g) for grid, g in probe.members]
        tensors = {k: torch.cat([state[k][g : g + 1] for state, g in states]).cpu().contiguous() for k in states[0][0]}
        dim = int(model.query.shape[-1])
        architecture = {"depth": len(model.blocks) + 1, "num_heads": model.heads, "num_queries": model.query.shape[1],
                        "mlp_ratio": model.fc1.weight.shape[-1] / dim}
        settings = {"dim": dim, "outputs": int(tensors["head.weight"].shape[-1]), "architecture": architecture,
                    "target_means": [grid.target_mean for grid, _ in probe.members],
                    "target_stds": [grid.target_std for grid, _ in probe.members], "selection": probe.selection}
        return tensors, settings
    scaler, model = probe[0], probe[-1]
    arrays = {"mean": scaler.mean_, "scale": scaler.scale_}
    if mode == "knn":
        X, y = train
        arrays |= {"points": scaler.transform(X), "targets": y}
        settings = {"k": int(model.n_neighbors)}
    else:
        arrays |= {"coef": model.coef_, "intercept": np.atleast_1d(model.intercept_)}
        settings = {"class_ids": model.classes_.tolist()} if hasattr(model, "classes_") else {}
    # scikit-learn keeps some arrays in Fortran order (coef_ of 3+ classes); safetensors wants them packed
    return {k: torch.as_tensor(np.ascontiguousarray(v, dtype=np.float64)) for k, v in arrays.items()}, settings


def save_head(out_dir: str | Path, mode: str, probe, info: dict[str, Any], *,
              train: tuple[np.ndarray, np.ndarray] | None = None) -> Path:
    """Write ``out_dir/head.safetensors`` and ``out_dir/head.json`` for a fitted frozen probe.

    ``probe``: the scikit-learn pipeline (linear, temporal, knn; ``train`` = its (X, y) for knn) or the
    :class:`~ssl_video.evaluate.attentive.AttentiveEnsemble` (attentive). ``info``: target,
    task, classes, encoder reference, preprocessing, clips_per_window, max_tokens, and anything to keep."""
    if mode not in READS:
        raise ValueError(f"no saved head for mode {mode!r}; one of {', '.join(READS)}")
    tensors, settings = _head_arrays(mode, probe, train)
    out = Path(out_dir)
    with atomic_path(out / "head.safetensors") as tmp:
        save_file(tensors, str(tmp))
    atomic_write_json(out / "head.json", {"format": HEAD_FORMAT, **info, "mode": mode, "reads": READS[mode],
                                          "head": settings}, default=str)
    return out


def _frozen_encoder(info: dict[str, Any], encoder: str | None) -> nn.Module:
    ref = info["encoder"]
    source = encoder or (ref["path"] if ref.get("path") and Path(ref["path"]).exists() else ref["source"])
    enc = load_eval_encoder(source, args=ref.get("encoder_args") or None)
    if ref.get("fingerprint") and enc.fingerprint() != ref["fingerprint"]:
        raise UserError(f"{source}: not the encoder this head was trained on (fingerprint {enc.fingerprint()[:12]}, "
                        f"the head's {ref['fingerprint'][:12]}); pass the encoder it was trained with")
    return enc.encoder


def _probe_head(info: dict[str, Any], tensors: dict[str, torch.Tensor]) -> nn.Module:
    n, head = len(info["classes"] or []), info["head"]
    if info["mode"] == "knn":
        return KnnHead(tensors["mean"], tensors["scale"], tensors["points"], tensors["targets"], head["k"], n)
    if info["mode"] in ("linear", "temporal"):
        return LinearHead(tensors["mean"], tensors["scale"], tensors["coef"], tensors["intercept"],
                          head.get("class_ids"), n)
    probes = AttentiveProbeGrid(len(head["target_means"]), head["dim"], head["outputs"],
                                AttentiveConfig(**head["architecture"]))
    probes.load_state_dict(tensors, strict=True)
    return AttentiveHead(probes, info["task"], head["target_means"], head["target_stds"])


def _read_tensors(path: Path) -> dict[str, torch.Tensor]:
    """A saved model's tensors; a UserError naming the file when it is missing or not safetensors."""
    try:
        return load_file(str(path))
    except (SafetensorError, OSError) as e:
        raise UserError(f"{path}: not a readable safetensors file ({e}); save the model again (a cut-off copy, or "
                        f"the file missing next to its record?)") from None


def _finetuned(path: Path) -> Classifier:
    state = _read_tensors(path)  # a readable file before its record is trusted
    with safe_open(str(path), "pt") as f:
        meta = f.metadata() or {}
    if "ssl_video_finetune" not in meta:
        raise UserError(f"{path}: not a model written by `ssl-video finetune` (no ssl_video_finetune record)")
    info = json.loads(meta["ssl_video_finetune"])
    # older files keep the clip settings only under "clip" (with clips_per_window) + "normalize"
    info.setdefault("preprocessing", {**info.get("clip", {}), **info.get("normalize", {})})
    info.setdefault("clips_per_window", info.get("clip", {}).get("clips_per_window", 1))
    spec = ClipSpec.from_dict(info["preprocessing"])
    model = EncoderHead(get_encoder(info["architecture"], **info["args"]), len(info["classes"] or []) or 1,
                        mean=spec.mean, std=spec.std, segments=int(info["clips_per_window"]))
    model.load_state_dict({k.removeprefix("model."): v for k, v in state.items() if k.startswith("model.")})
    head = (nn.Identity() if info["task"] == "classification"
            else _Unstandardize(float(state["target_mean"]), float(state["target_std"])))
    return Classifier(model, head, reads="encoder", info={**info, "mode": info.get("mode", "finetune")})


class _Unstandardize(nn.Module):
    """(B, 1) standardized output -> (B,) in the label's units."""

    def __init__(self, mean: float, std: float):
        super().__init__()
        self.mean, self.std = mean, std

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.squeeze(-1) * self.std + self.mean


def load_classifier(path: str | Path, *, encoder: str | None = None) -> Classifier:
    """A saved head (a ``--save-heads`` folder or its ``head.json``) or fine-tuned model (a ``finetune --out``
    folder or its ``model.safetensors``) as a :class:`Classifier`. ``encoder`` replaces the recorded encoder
    source (e.g. the weights moved); its fingerprint must still match."""
    path = Path(path)
    folder = path.parent if path.is_file() else path
    if (folder / "head.json").is_file():
        try:
            info = json.loads((folder / "head.json").read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise UserError(f"{folder / 'head.json'}: not readable JSON ({e}); save the heads again "
                            f"(`ssl-video probe --save-heads`)") from None
        if not isinstance(info, dict) or info.get("format") != HEAD_FORMAT:
            found = info.get("format") if isinstance(info, dict) else None
            raise UserError(f"{folder / 'head.json'}: head format {found}, this version reads {HEAD_FORMAT}")
        tensors = _read_tensors(folder / "head.safetensors")
        return Classifier(_frozen_encoder(info, encoder), _probe_head(info, tensors), reads=info["reads"], info=info)
    if (folder / "model.safetensors").is_file():
        return _finetuned(folder / "model.safetensors")
    raise UserError(f"{path}: no head.json (from `ssl-video probe --save-heads`) or model.safetensors (from "
                    f"`ssl-video finetune --out`) there")


@torch.no_grad()
def predict_windows(clf: Classifier, windows, infos, *, batch_size: int = 16, num_workers: int = 2,
                    cache_dir: str | Path | None = None, device: str | None = None) -> tuple[np.ndarray, torch.Tensor]:
    """Run ``clf`` on each window's centred clip(s), read as the probe read them -> (ok (N,) bool: the window
    decoded, outputs (ok.sum(), ...) on the CPU: logits or targets)."""
    device = default_device(device)
    spec = clf.preprocessing
    clips = decode_clips(windows, infos, spec, cache_dir=cache_dir, num_workers=num_workers, batch_size=batch_size,
                         segments=clf.clips_per_window)
    clf = clf.to(device)
    rows, out = np.flatnonzero(clips.ok), []
    for start in range(0, len(rows), batch_size):
        video = torch.from_numpy(np.ascontiguousarray(clips.array[rows[start : start + batch_size]])).to(device)
        out.append(clf(normalize_clip(video, spec.mean, spec.std)).cpu())
    width = (len(clf.classes),) if clf.task == "classification" else ()
    return clips.ok, torch.cat(out) if out else torch.zeros(0, *width)

