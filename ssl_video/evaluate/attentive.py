"""Attentive probe over frozen patch tokens, trained as a grid of (lr, weight decay) in one pass.

Mean pooling understates masked and predictive encoders, whose information sits in
particular tokens; V-JEPA (Bardes et al. 2024, Sec. 4) and V-JEPA 2 (Assran et al. 2025)
evaluate frozen encoders with an attentive probe (reference: facebookresearch/vjepa2
``src/models/attentive_pooler.py``): ``depth - 1`` self-attention blocks over the tokens,
then a cross-attention block in which learned query tokens attend over them (attention +
MLP, pre-norm, residual), then a linear head. V-JEPA 2 trains one probe per point of a
learning-rate x weight-decay grid in parallel and reports the best on validation; so does
:func:`fit_attentive_grid`: the G probes of the grid are stacked along a leading dimension
and trained together on the same batches (one forward, one optimizer step), and the best
one is selected on a validation split carved by sequence from the labeled fraction.

The cross-attention is computed reassociated, which is exact and much cheaper on a CPU:
for a query ``q_h`` of head h, ``softmax(q_h . x W_k,h) x W_v,h = softmax(x . (W_k,h q_h))
x W_v,h``; attention then costs O(K·D) per head instead of projecting every token
(O(K·D²)). LayerNorm's affine on the tokens folds into ``W_k``/``W_v`` (its shift is
constant over the tokens, so the softmax ignores it), so the tokens are normalized without
an affine.

    grid = fit_attentive_grid(tokens, y, train_idx, "classification", 3, val_idx=val_idx)
    y_pred = grid.predict(tokens, test_idx)          # tokens (N, K, D) -> (N,)
"""

from __future__ import annotations

import itertools
import logging
import math
from dataclasses import dataclass, field, replace

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ssl_video.errors import UserError
from ssl_video.evaluate.probes import class_weights, grouped_folds, primary_scores, target_scale
from ssl_video.models import default_device
from ssl_video.optim import decays, warmup_cosine

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AttentiveConfig:
    """Architecture and training grid of the attentive probe (V-JEPA 2's defaults, scaled to small data).

    V-JEPA 2 uses depth 4, 16 heads, lrs (5e-3, 3e-3, 1e-3, 3e-4, 1e-4) x wds (0.01, 0.1, 0.4, 0.8)
    for 20 epochs on 10^5-10^6 clips; the defaults here (1 block, a 3 x 2 grid with higher lrs for a
    few hundred clips) train 6 probes in ~10 s on 2 CPU cores for 576 clips of 256 tokens.
    """

    depth: int = field(default=1, metadata={"help": "blocks: depth - 1 self-attention blocks over the tokens, then "
                                            "the cross-attention block (V-JEPA 2 uses 4)"})
    num_heads: int = field(default=4, metadata={"help": "attention heads (the largest divisor of the width <= this)"})
    num_queries: int = field(default=1, metadata={"name": "queries", "help": "learned query tokens"})
    mlp_ratio: float = field(default=4.0, metadata={"help": "MLP width / token width"})
    lrs: tuple[float, ...] = field(default=(1e-2, 3e-3, 1e-3), metadata={"help": "learning rates of the grid"})
    weight_decays: tuple[float, ...] = field(default=(0.01, 0.1), metadata={"name": "wds",
                                                                            "help": "weight decays of the grid"})
    # quickstart's speed_bucket validation split: 20 epochs 0.534, 40 epochs 0.521 (2.4x the time)
    epochs: int = field(default=20, metadata={"help": "epochs (at least; see --attentive-min-steps)"})
    # a step's cost is mostly fixed (optimizer, launch) on a CPU: 64 is ~2x faster than 32
    batch_size: int = field(default=64, metadata={"help": "clips per step"})
    warmup_epochs: int = field(default=2, metadata={"help": "linear warmup, in epochs (the same share of the steps "
                                                    "when min-steps stretches the run)"})
    # Few labels give few steps an epoch (58 clips: 20 epochs are 20 steps): train at least min_steps when
    # validation folds pick the epoch (BENCHMARKS.md, "The attentive probe on few labels").
    min_steps: int = field(default=300, metadata={"help": "train at least this many steps when validation folds "
                                                  "pick the epoch (more epochs on a few labels; 0: epochs only)"})

    def __post_init__(self):
        if self.depth < 1 or self.num_queries < 1 or self.epochs < 1 or self.batch_size < 1 or self.min_steps < 0:
            raise UserError(f"attentive probe needs depth, num_queries, epochs, batch_size >= 1 and min_steps >= 0: "
                            f"{self}")
        if not self.lrs or not self.weight_decays or min(self.lrs) <= 0 or min(self.weight_decays) < 0:
            raise UserError(f"attentive probe grid needs lrs > 0 and weight_decays >= 0, got {self.lrs}, "
                            f"{self.weight_decays}")

    def epochs_for(self, n_clips: int) -> int:
        """Epochs on ``n_clips`` training clips: ``epochs``, stretched to at least ``min_steps`` steps."""
        return max(self.epochs, math.ceil(self.min_steps / math.ceil(n_clips / self.batch_size)))

    @property
    def grid(self) -> list[tuple[float, float]]:
        return list(itertools.product(self.lrs, self.weight_decays))


def heads_for(dim: int, preferred: int) -> int:
    """The largest number of heads <= ``preferred`` that divides ``dim``."""
    return next(h for h in range(min(preferred, dim), 0, -1) if dim % h == 0)


def _linear(g: int, d_in: int, d_out: int) -> tuple[nn.Parameter, nn.Parameter]:
    w = torch.empty(g, d_in, d_out)
    nn.init.trunc_normal_(w, std=0.02)  # V-JEPA's init_std
    return nn.Parameter(w), nn.Parameter(torch.zeros(g, d_out))


class _Stacked(nn.Module):
    """G independent linear layers, their parameters stacked on dim 0 (probe g's are ``weight[g]``, ``bias[g]``)."""

    def __init__(self, g: int, d_in: int, d_out: int):
        super().__init__()
        self.weight, self.bias = _linear(g, d_in, d_out)  # (G, D_in, D_out), (G, D_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(G, M, D_in) -> (G, M, D_out)."""
        return torch.baddbmm(self.bias[:, None], x, self.weight)


class _StackedNorm(nn.Module):
    def __init__(self, g: int, dim: int):
        super().__init__()
        self.weight, self.bias = nn.Parameter(torch.ones(g, dim)), nn.Parameter(torch.zeros(g, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(G, M, D) -> (G, M, D)."""
        return F.layer_norm(x, x.shape[-1:]) * self.weight[:, None] + self.bias[:, None]


class _SelfBlock(nn.Module):
    """G pre-norm transformer blocks over tokens: (G, B, K, D) -> (G, B, K, D)."""

    def __init__(self, g: int, dim: int, heads: int, mlp_ratio: float):
        super().__init__()
        self.heads, hidden = heads, int(dim * mlp_ratio)
        self.norm1, self.qkv, self.proj = _StackedNorm(g, dim), _Stacked(g, dim, 3 * dim), _Stacked(g, dim, dim)
        self.norm2, self.fc1, self.fc2 = _StackedNorm(g, dim), _Stacked(g, dim, hidden), _Stacked(g, hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        G, B, K, D = x.shape
        h = self.heads
        x = x.reshape(G, B * K, D)
        qkv = self.qkv(self.norm1(x))  # (G, B*K, 3D)
        q, k, v = qkv.reshape(G * B, K, 3, h, D // h).permute(2, 0, 3, 1, 4)  # 3 x (G*B, h, K, D/h)
        a = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(G, B * K, D)  # (G, B*K, D)
        x = x + self.proj(a)
        x = x + self.fc2(F.gelu(self.fc1(self.norm2(x))))
        return x.reshape(G, B, K, D)


class AttentiveProbeGrid(nn.Module):
    """G attentive probes (one per grid point) on the same tokens.

    forward: tokens (B, K, D) float -> logits (G, B, outputs). Probe g is the V-JEPA 2
    attentive classifier: ``depth - 1`` self-attention blocks, a cross-attention block of
    ``num_queries`` learned queries (attention + MLP), the queries' mean, a linear head.
    """

    def __init__(self, g: int, dim: int, outputs: int, cfg: AttentiveConfig = AttentiveConfig()):
        super().__init__()
        self.g, self.heads, self.cfg = g, heads_for(dim, cfg.num_heads), cfg
        self.blocks = nn.ModuleList(_SelfBlock(g, dim, self.heads, cfg.mlp_ratio) for _ in range(cfg.depth - 1))
        self.query = nn.Parameter(torch.zeros(g, cfg.num_queries, dim))
        nn.init.trunc_normal_(self.query, std=0.02)
        self.wq, self.wk = _Stacked(g, dim, dim), _Stacked(g, dim, dim)  # wk's bias cancels in the softmax (unused)
        self.wv, self.proj = _Stacked(g, dim, dim), _Stacked(g, dim, dim)
        hidden = int(dim * cfg.mlp_ratio)
        self.norm_mlp, self.fc1, self.fc2 = _StackedNorm(g, dim), _Stacked(g, dim, hidden), _Stacked(g, hidden, dim)
        self.head = _Stacked(g, dim, outputs)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        B, K, D = tokens.shape
        G, h = self.g, self.heads
        x = tokens.float()
        if self.blocks:
            x = x.unsqueeze(0).expand(G, B, K, D)
            for block in self.blocks:
                x = block(x)  # (G, B, K, D)
        x = F.layer_norm(x, (D,))  # affine folded into wk / wv (module docstring)
        q = self.wq(self.query)  # (G, Q, D); V-JEPA normalizes the tokens, not the queries
        Q = q.shape[1]
        q = q.reshape(G, Q, h, D // h)
        wk = self.wk.weight.reshape(G, D, h, D // h)
        q_in_x = torch.einsum("gdhe,gqhe->ghqd", wk, q) / math.sqrt(D // h)  # (G, h, Q, D): W_k q per head
        x_spec = "bkd" if x.dim() == 3 else "gbkd"
        scores = torch.einsum(f"{x_spec},ghqd->gbhqk", x, q_in_x)  # (G, B, h, Q, K)
        pooled = torch.einsum(f"gbhqk,{x_spec}->gbhqd", scores.softmax(-1), x)  # (G, B, h, Q, D)
        wv = self.wv.weight.reshape(G, D, h, D // h)
        v = torch.einsum("gbhqd,gdhe->gbqhe", pooled, wv).reshape(G, B * Q, D) + self.wv.bias[:, None]  # (G, B*Q, D)
        out = self.query.unsqueeze(1).expand(G, B, Q, D).reshape(G, B * Q, D) + self.proj(v)  # residual on the queries
        out = out + self.fc2(F.gelu(self.fc1(self.norm_mlp(out))))
        out = out.reshape(G, B, Q, D).mean(2)  # (G, B, Q, D) -> (G, B, D)
        return self.head(out)  # (G, B, outputs)

    def decayed(self) -> list[nn.Parameter]:
        """The parameters with weight decay: ``ssl_video.optim.decays`` of each probe's own tensor (matrices and
        query tokens, not biases or norms)."""
        return [p for p in self.parameters() if decays(p[0])]


def _stack_probes(picks: list[tuple[AttentiveProbeGrid, int]]) -> AttentiveProbeGrid:
    """Probe g of each (grid, g), in order: one grid of len(picks) probes (row m: the m-th pick's weights)."""
    first, states = picks[0][0], [(grid.state_dict(), g) for grid, g in picks]
    with torch.device("meta"):  # shapes only (no init, no draw from the RNG): the weights are the picks'
        stacked = AttentiveProbeGrid(len(picks), first.query.shape[-1], first.head.weight.shape[-1], first.cfg)
    stacked.load_state_dict({k: torch.cat([state[k][g : g + 1] for state, g in states]) for k in states[0][0]},
                            assign=True)
    return stacked


class _GridAdamW:
    """AdamW (Loshchilov & Hutter 2019; torch.optim.AdamW's update and defaults) with a learning rate and a
    weight decay per probe of the grid: ``lr``, ``wd`` of shape (G,) broadcast over each stacked parameter."""

    def __init__(self, params: list[nn.Parameter], decayed: list[nn.Parameter], lr: torch.Tensor, wd: torch.Tensor,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8):
        self.params, self.lr, self.betas, self.eps, self.t = params, lr, betas, eps, 0
        ids = {id(p) for p in decayed}
        self.wd = [wd if id(p) in ids else torch.zeros_like(wd) for p in params]
        self.m = [torch.zeros_like(p) for p in params]
        self.v = [torch.zeros_like(p) for p in params]

    @torch.no_grad()
    def step(self, scale: float = 1.0) -> None:
        self.t += 1
        b1, b2 = self.betas
        c1, c2 = 1 - b1 ** self.t, 1 - b2 ** self.t
        for p, m, v, wd in zip(self.params, self.m, self.v, self.wd):
            if p.grad is None:  # as torch's optimizers: e.g. wk's bias, which the softmax cancels
                continue
            shape = (-1,) + (1,) * (p.dim() - 1)
            lr = (self.lr * scale).view(shape)
            p.mul_(1 - lr * wd.view(shape))
            m.lerp_(p.grad, 1 - b1)
            v.mul_(b2).addcmul_(p.grad, p.grad, value=1 - b2)
            p.sub_(lr / c1 * m / ((v / c2).sqrt() + self.eps))
            p.grad = None


def _batches(indices: np.ndarray, batch_size: int, rng: np.random.Generator | None):
    order = rng.permutation(indices) if rng is not None else indices
    for start in range(0, len(order), batch_size):
        yield np.sort(order[start : start + batch_size])  # sorted: fast reads from a memmap


def _rows(tokens, idx: np.ndarray, device) -> torch.Tensor:
    return torch.from_numpy(np.asarray(tokens[idx], dtype=np.float32)).to(device)


@dataclass
class AttentiveGrid:
    """A trained grid: ``model`` (each probe at its best validation epoch), the selected probe
    ``best``, the grid's (lr, wd) points and each probe's validation score and loss at that epoch (None
    without validation)."""

    model: AttentiveProbeGrid
    best: int
    grid: list[tuple[float, float]]
    val_scores: list[float] | None
    task: str
    target_mean: float = 0.0
    target_std: float = 1.0
    batch_size: int = 256
    val_losses: list[float] | None = None

    @torch.no_grad()
    def outputs(self, tokens, indices: np.ndarray) -> torch.Tensor:
        """Raw outputs of every probe for ``tokens[indices]``: (G, N, outputs) on the CPU."""
        device = next(self.model.parameters()).device
        self.model.eval()
        batches = _batches(np.asarray(indices), self.batch_size, None)
        out = [self.model(_rows(tokens, idx, device)).float() for idx in batches]
        return torch.cat(out, dim=1).cpu() if out else torch.zeros(self.model.g, 0, 1)

    def decode(self, out: torch.Tensor) -> np.ndarray:
        """Outputs (..., N, outputs) -> class ids or targets in the label's units (..., N)."""
        if self.task == "classification":
            return out.argmax(-1).numpy()
        return (out.squeeze(-1) * self.target_std + self.target_mean).numpy()

    def predict(self, tokens, indices: np.ndarray) -> np.ndarray:
        """Predictions (N,) of the selected probe."""
        return self.decode(self.outputs(tokens, indices)[self.best])


def fit_attentive_grid(
    tokens,
    labels: np.ndarray,
    train_idx: np.ndarray,
    task: str,
    outputs: int,
    *,
    val_idx: np.ndarray | None = None,
    cfg: AttentiveConfig = AttentiveConfig(),
    seed: int = 0,
    device: str | None = None,
    epochs: int | None = None,
) -> AttentiveGrid:
    """Train one attentive probe per (lr, wd) of ``cfg.grid`` on ``tokens[train_idx]`` ((N, K, D),
    e.g. a float16 memmap); keep each probe's weights from its best epoch on ``val_idx`` and
    select the probe with the best validation balanced accuracy (classification; ties: lower
    loss) or R² (regression). Without validation clips the grid's middle lr and smallest wd is used.
    Classification uses class-balanced cross-entropy, the loss that matches balanced accuracy. With validation
    clips the run is ``cfg.epochs`` epochs or ``cfg.min_steps`` steps, whichever is longer; ``epochs`` sets it."""
    device = default_device(device)
    train_idx = np.asarray(train_idx)
    has_val = val_idx is not None and len(val_idx) > 0
    grid = cfg.grid
    y = torch.as_tensor(np.asarray(labels))
    mean = std = None
    if task == "classification":
        weight = torch.as_tensor(class_weights(labels[train_idx], outputs), dtype=torch.float32, device=device)
        loss_fn = lambda out, t: F.cross_entropy(out.flatten(0, 1), t.long().repeat(len(out)), weight=weight)  # noqa: E731
    else:
        mean, std = target_scale(labels[train_idx])
        loss_fn = lambda out, t: F.mse_loss(out.squeeze(-1), ((t.float() - mean) / std).expand(len(out), -1))  # noqa: E731
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = AttentiveProbeGrid(len(grid), tokens.shape[-1], outputs, cfg).to(device)
    lr = torch.tensor([p[0] for p in grid], device=device)
    wd = torch.tensor([p[1] for p in grid], device=device)
    params = list(model.parameters())
    opt = _GridAdamW(params, model.decayed(), lr, wd)
    rng = np.random.default_rng(seed)
    steps_per_epoch = math.ceil(len(train_idx) / cfg.batch_size)
    # min_steps only with a validation split: its best epoch guards the longer run (without one it scored lower)
    if epochs is None:
        epochs = cfg.epochs_for(len(train_idx)) if has_val else cfg.epochs
    total = epochs * steps_per_epoch
    warmup = math.ceil(total * cfg.warmup_epochs / cfg.epochs)  # = warmup_epochs epochs unless min_steps stretched it
    result = AttentiveGrid(model, 0, grid, None, task, mean or 0.0, std or 1.0)
    best_score = torch.full((len(grid),), -math.inf)
    best_loss = torch.full((len(grid),), math.inf)
    best_state = [p.detach().clone() for p in params]
    step = 0
    for _ in range(epochs):
        model.train()
        for idx in _batches(train_idx, cfg.batch_size, rng):
            # One loss over the grid: probes share nothing, so each gets exactly its own gradient.
            loss = loss_fn(model(_rows(tokens, idx, device)), y[idx].to(device)) * len(grid)
            loss.backward()
            opt.step(warmup_cosine(step, warmup, total))  # down to 0: V-JEPA 2's probe schedule
            step += 1
        if has_val:
            score, vloss = _validate(result, tokens, labels, val_idx, task, loss_fn)
            better = (score > best_score) | ((score == best_score) & (vloss < best_loss))
            best_score, best_loss = torch.where(better, score, best_score), torch.where(better, vloss, best_loss)
            with torch.no_grad():
                for p, b in zip(params, best_state):
                    b[better.to(device)] = p[better.to(device)]
    if has_val:
        with torch.no_grad():
            for p, b in zip(params, best_state):
                p.copy_(b)
        order = sorted(range(len(grid)), key=lambda g: (-float(best_score[g]), float(best_loss[g])))
        result.best, result.val_scores, result.val_losses = order[0], best_score.tolist(), best_loss.tolist()
    else:
        result.best = grid.index((cfg.lrs[len(cfg.lrs) // 2], min(cfg.weight_decays)))
        log.info("attentive probe: lr=%g wd=%g trained without validation clips", *grid[result.best])
    return result


def _validate(result: AttentiveGrid, tokens, labels, val_idx, task, loss_fn) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-probe (score, loss) on the validation clips: balanced accuracy or R², and the training loss."""
    out = result.outputs(tokens, val_idx)  # (G, N, outputs)
    target = torch.as_tensor(np.asarray(labels[val_idx]))
    with torch.no_grad():
        device = result.model.query.device
        losses = torch.stack([loss_fn(out[g : g + 1].to(device), target.to(device)) for g in range(len(out))]).cpu()
    return torch.from_numpy(primary_scores(labels[val_idx], result.decode(out), task)), losses


@dataclass
class AttentiveEnsemble:
    """Attentive probes that vote: ``members`` are (grid, probe index) pairs whose outputs are averaged (class
    probabilities, or targets in the label's units); ``selection`` says how :func:`select_attentive` chose them.
    Members whose grids share a model run in one pass: :func:`select_attentive`'s members share one model of
    exactly the M probes that vote, so a prediction runs no other probe."""

    members: list[tuple[AttentiveGrid, int]]
    task: str
    selection: dict = field(default_factory=dict)

    def outputs(self, tokens, indices: np.ndarray) -> torch.Tensor:
        """Raw outputs of each member: (M, N, outputs) on the CPU."""
        runs = {id(grid.model): grid for grid, _ in self.members}  # one pass per model
        by_model = {key: grid.outputs(tokens, indices) for key, grid in runs.items()}
        return torch.stack([by_model[id(grid.model)][g] for grid, g in self.members])

    def predict(self, tokens, indices: np.ndarray) -> np.ndarray:
        """Predictions (N,): the class of the mean probabilities, or the mean target."""
        out = self.outputs(tokens, indices)
        if self.task == "classification":
            return out.softmax(-1).mean(0).argmax(-1).numpy()
        return np.mean([grid.decode(o) for (grid, _), o in zip(self.members, out)], axis=0)


def select_attentive(
    tokens,
    labels: np.ndarray,
    labeled_idx: np.ndarray,
    groups: np.ndarray,
    task: str,
    outputs: int,
    *,
    cfg: AttentiveConfig = AttentiveConfig(),
    seed: int = 0,
    device: str | None = None,
) -> AttentiveEnsemble:
    """The attentive probe of a label fraction, its (lr, wd) chosen by K-fold over the labeled drives.

    ``groups`` (N,) names each clip's drive. Each fold (:func:`~ssl_video.evaluate.probes.grouped_folds`: at
    most 3, by drive, each training on every class) trains the grid on the other folds' drives with the
    schedule of the whole fraction (``cfg.epochs`` epochs or ``cfg.min_steps`` steps, whichever is longer),
    keeping each probe's weights from its best epoch on the fold's held-out drives. The (lr, wd) with the best
    mean score over the folds (balanced accuracy or R²; ties: lower mean loss) is kept from every fold, and the
    K probes vote (cross-validation bagging): one held-out drive never decides alone, every labeled drive
    trains K - 1 of them, and each keeps the epoch its own validation chose. When the drives cannot form two
    such folds (e.g. three drives, one per time of day) nothing is chosen: the whole grid is trained on every
    labeled clip for ``cfg.epochs`` epochs and all its probes vote.
    """
    labeled_idx = np.asarray(labeled_idx)
    y, drives = np.asarray(labels)[labeled_idx], np.asarray(groups)[labeled_idx]
    folds = grouped_folds(y, task, drives, seed)
    if folds is None:
        grid = fit_attentive_grid(tokens, labels, labeled_idx, task, outputs, cfg=cfg, seed=seed, device=device)
        return AttentiveEnsemble([(grid, g) for g in range(len(cfg.grid))], task,
                                 {"rule": "grid average", "points": cfg.grid, "epochs": cfg.epochs, "val_score": None})
    epochs = cfg.epochs_for(len(labeled_idx))
    fits = [fit_attentive_grid(tokens, labels, labeled_idx[train], task, outputs, val_idx=labeled_idx[val],
                               cfg=cfg, seed=seed, device=device, epochs=epochs)
            for train, val in folds.split(labeled_idx, y, drives)]
    scores = np.mean([fit.val_scores for fit in fits], axis=0)
    losses = np.mean([fit.val_losses for fit in fits], axis=0)
    best = min(range(len(cfg.grid)), key=lambda g: (-scores[g], losses[g]))
    log.info("attentive probe: %d folds chose lr=%g wd=%g (validation %.3f)", len(fits), *cfg.grid[best],
             scores[best])
    # Only the K chosen probes vote: stacked once (the other grid points are dropped), fold m's as row m, each
    # member keeping its fold's target scale, point and validation score and loss.
    voters = _stack_probes([(fit.model, best) for fit in fits])
    val_scores, val_losses = [fit.val_scores[best] for fit in fits], [fit.val_losses[best] for fit in fits]
    members = [(replace(fit, model=voters, best=m, grid=[cfg.grid[best]] * len(fits), val_scores=val_scores,
                        val_losses=val_losses), m) for m, fit in enumerate(fits)]
    return AttentiveEnsemble(members, task, {"rule": f"{len(fits)}-fold", "points": [cfg.grid[best]],
                                             "epochs": epochs, "val_score": float(scores[best])})
