"""The pretraining LightningModule: one encoder, a weighted sum of objectives.

    ssl-video fit --config configs/pretrain/quickstart.yaml

Batches are dict(video=(B, C, T, H, W) uint8) with T = context + future frames; they are
normalized on the device in ``on_after_batch_transfer``. The encoder comes from the
registry by name + args so that a checkpoint can say how to rebuild it; objectives
(``future_pixels``, ``future_features``, ``masked``) are injected, each with its weight.
Optimizer: AdamW, weight decay only on tensors with dim >= 2, linear warmup then cosine
decay, as in nanoGPT (``ssl_video.optim``).
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence

import numpy as np
import pytorch_lightning as pl
import torch
from torch import nn

from ssl_video.data.transforms import normalize_clip
from ssl_video.errors import UserError
from ssl_video.hub.format import WeightsFormatError, read_checkpoint
from ssl_video.models.compile import compile_modules
from ssl_video.models.conv3d import Conv3dEncoder
from ssl_video.models.registry import encoder_config, get_encoder
from ssl_video.optim import no_weight_decay, param_groups, warmup_cosine
from ssl_video.pretrain.metrics import FutureFrameMetrics, effective_rank, feature_std
from ssl_video.pretrain.objectives import OBJECTIVES, FuturePixels, Objective, ObjectiveOutput
from ssl_video.spec import IMAGENET_MEAN, IMAGENET_STD, ClipSpec

log = logging.getLogger(__name__)

def _load_encoder_weights(encoder: nn.Module, source: str, mean: Sequence[float], std: Sequence[float]) -> None:
    """Copy the weights of ``source`` (anything ``ssl_video.load_encoder`` reads) into ``encoder``,
    same architecture."""
    from ssl_video.hub import load_encoder_with_config

    try:
        pretrained, config = load_encoder_with_config(source)
    except UserError as error:
        raise UserError(f"model.init_encoder={source}: {error}") from None
    try:
        encoder.load_state_dict(pretrained.state_dict(), strict=True)
    except RuntimeError as error:
        first = str(error).strip().splitlines()[-1].strip()
        raise UserError(f"model.init_encoder={source}: its architecture ({config.get('architecture')} "
                        f"{config.get('args')}) does not fit model.encoder / "
                        f"model.encoder_args; set them to the weights' architecture ({first})") from None
    pre = ClipSpec.from_dict(config.get("preprocessing"))
    if list(pre.mean) != [float(v) for v in mean] or list(pre.std) != [float(v) for v in std]:
        log.warning("model.init_encoder=%s was trained with mean/std %s/%s, this run normalizes with %s/%s",
                    source, list(pre.mean), list(pre.std), list(mean), list(std))
    log.info("encoder initialised from %s", source)


def _converted_start(source: str | None, encoder_args: dict | None) -> tuple[dict, dict] | None:
    """``model.init_encoder`` naming a public VideoMAE (a transformers folder or ``hf://org/repo``) -> (encoder_args
    with its converted VideoViT architecture, which wins over the configured one, VideoViT state dict); None for
    ssl_video weights. Other public models are refused with the reason (``ssl_video.hub.foreign.to_videovit``)."""
    from ssl_video.hub.foreign import is_foreign, to_videovit

    if not source or not is_foreign(source):
        return None
    try:
        args, state = to_videovit(source)
    except UserError as error:
        raise UserError(f"model.init_encoder={source}: {error}") from None
    replaced = {k: v for k, v in (encoder_args or {}).items() if k in args and v != args[k]}
    if replaced:
        log.warning("model.init_encoder=%s: the VideoMAE's architecture replaces model.encoder_args %s with %s",
                    source, replaced, {k: args[k] for k in replaced})
    return {**(encoder_args or {}), **args}, state


def _load_objective_weights(objectives: nn.ModuleList, source: str) -> None:
    """Copy the objectives' tensors of ``source`` (a fit checkpoint, weights exported with them) into ``objectives``."""
    from ssl_video.hub import load_objectives_state

    try:
        state, described = load_objectives_state(source)
    except UserError as error:
        raise UserError(f"model.init_objectives: {error}") from None
    names = [d.get("name") for d in described]
    if names and names != [o.name for o in objectives]:
        raise UserError(f"model.init_objectives: {source} was trained with objectives {names}, this run has "
                        f"{[o.name for o in objectives]}; set model.objectives to match or drop model.init_objectives")
    try:
        objectives.load_state_dict(state, strict=True)
    except RuntimeError as error:
        first = str(error).strip().splitlines()[-1].strip()
        raise UserError(f"model.init_objectives: the objectives' weights of {source} do not fit model.objectives "
                        f"(their init_args differ: {described}); set them as trained or drop "
                        f"model.init_objectives ({first})") from None
    log.info("objectives (%s) initialised from %s", ", ".join(o.name for o in objectives), source)


class VideoPretrainer(pl.LightningModule):
    """Pretrain ``encoder`` on clips of ``context`` + ``future`` frames with the given objectives.

    The clip fields (context, future, fps, size, resize) and ``seed`` are linked from the data module by
    ``ssl-video fit``: set them as ``--data.*``, never twice.

    Args:
        encoder: registry name of the encoder architecture, e.g. "vit_tiny" (``ssl_video.list_encoders()``); a
            ViT, since the objectives mask tokens (r3d_18 / r2plus1d_18 are offered for probes and fine-tuning only).
        encoder_args: overrides of the architecture's fields, e.g. {"tubelet": [2, 8, 8]}; null keeps its defaults.
        objectives: objective modules with their weights, e.g. future_pixels, future_features, masked
            (default: ``FuturePixels()``, the built-in weights' recipe).
        context: frames the model sees (the first ``context`` frames of each clip); linked from ``data.context``.
        future: frames after the context that the objectives predict; linked from ``data.future``.
        fps: frame rate the clips are sampled at; linked from ``data.fps``.
        size: clip frame size, an int (square) or (H, W); linked from ``data.size``.
        resize: how the data module's frames reached ``size`` ("squash" or "short_side_crop"), recorded in the
            checkpoint so that evaluation, mining and ``ssl_video.read_clip`` read clips the same way.
        mean: per-channel pixel mean for normalization (ImageNet by default), recorded in the checkpoint.
        std: per-channel pixel std for normalization (ImageNet by default), recorded in the checkpoint.
        lr: peak learning rate (AdamW), reached after ``warmup_steps``.
        weight_decay: AdamW weight decay, on tensors with dim >= 2 only (not biases or norms).
        betas: AdamW betas.
        warmup_steps: steps of linear warmup from 0 to ``lr``; then a cosine down to ``lr * min_lr_ratio``.
        min_lr_ratio: the cosine's floor as a fraction of ``lr``.
        health_every: steps between feature-health logs (feat_std, eff_rank; an SVD, so not every step);
            a multiple of ``trainer.log_every_n_steps``, or Lightning drops the values.
        compile: torch.compile ``forward_features`` of the encoder and of its copies in the objectives
            (EMA target), the calls the objectives make, and the objectives' predictors (GPU; slow to start on CPU).
        seed: seed of the per-step mask generators (seeded by (seed, step, rank): resumable, no shared state);
            linked from ``data.seed``.
        init_encoder: start from these encoder weights instead of random ones (continued pretraining on your
            own footage): a weights name (``ssl-video weights list``), an exported folder, a ``.safetensors``
            or ``.ckpt`` file or a URL, loaded as ``ssl_video.load_encoder`` does (sha256-checked, no code
            runs). Its architecture must be ``encoder`` / ``encoder_args``; the objectives' heads start fresh
            unless ``init_objectives``. A public VideoMAE (a transformers folder or ``hf://org/repo``) is
            converted to VideoViT (``ssl_video.hub.foreign.convert``); its architecture replaces ``encoder_args``.
        init_objectives: with ``init_encoder``, start the objectives' tensors (predictors, heads, EMA targets) from
            the same source too: an ``ssl-video fit`` checkpoint, or weights exported with ``--objectives``. The
            objectives must be configured as they were trained.
        freeze_encoder_steps: the encoder's learning rate is 0 for this many steps, then warms up over
            ``warmup_steps`` to the common schedule, so that fresh objective heads first learn against the
            encoder they will train instead of pulling it with random gradients (linear probing then
            fine-tuning, Kumar et al. 2022). For short ``init_encoder`` runs (measured: helped at 1,000 steps,
            not at 4,000; BENCHMARKS.md); 0 (default) trains everything from step 0.
    """

    def __init__(self, encoder: str = "vit_tiny", encoder_args: dict | None = None,
                 objectives: Sequence[Objective] | None = None,
                 context: int = 8, future: int = 8, fps: float = 10.0, size: int | Sequence[int] = 128,
                 resize: str = "squash", mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD,
                 lr: float = 1.5e-4,
                 weight_decay: float = 0.05, betas: Sequence[float] = (0.9, 0.95), warmup_steps: int = 100,
                 min_lr_ratio: float = 0.01, health_every: int = 50, compile: bool = False, seed: int = 0,
                 init_encoder: str | None = None, init_objectives: bool = False, freeze_encoder_steps: int = 0):
        super().__init__()
        self.save_hyperparameters(ignore=["objectives"])
        if context < 1 or future < 1:
            raise UserError(f"data.context / data.future: need at least 1 frame each, got {context} / {future}")
        if lr <= 0 or warmup_steps < 0 or not 0 <= min_lr_ratio <= 1 or freeze_encoder_steps < 0:
            raise UserError(f"model.lr / warmup_steps / min_lr_ratio / freeze_encoder_steps: need lr > 0, warmup_steps "
                            f">= 0, 0 <= min_lr_ratio <= 1, freeze_encoder_steps >= 0; got {lr}, {warmup_steps}, "
                            f"{min_lr_ratio}, {freeze_encoder_steps}")
        start = _converted_start(init_encoder, encoder_args)  # a VideoMAE converted to VideoViT, or None
        if start is not None:
            encoder_args = self.hparams.encoder_args = start[0]  # recorded, so the checkpoint rebuilds this encoder
        self.encoder = get_encoder(encoder, **(encoder_args or {}))
        if isinstance(self.encoder, Conv3dEncoder):
            raise UserError(f"model.encoder: {encoder} is offered for probes and fine-tuning only: its tokens "
                            f"cannot be masked; pretrain vit_*")
        if start is not None:
            if init_objectives:
                raise UserError(f"model.init_objectives: {init_encoder} is a VideoMAE, it has no ssl_video objectives; "
                                f"drop model.init_objectives")
            self.encoder.load_state_dict(start[1], strict=True)  # before the objectives copy it (EMA target)
            log.info("encoder initialised from %s (VideoMAE converted to VideoViT)", init_encoder)
        elif init_encoder:
            _load_encoder_weights(self.encoder, init_encoder, mean, std)  # before the objectives copy it (EMA target)
        self.objectives = nn.ModuleList(objectives if objectives is not None else [FuturePixels()])
        if not self.objectives:
            raise UserError("model.objectives is empty: give at least one (FuturePixels, FutureFeatures, Masked)")
        names = [o.name for o in self.objectives]
        if len(set(names)) != len(names):
            raise UserError(f"model.objectives: each objective may appear once, got {names}")
        for objective in self.objectives:
            objective.attach(self.encoder)
        if init_objectives:
            if not init_encoder:
                raise UserError("model.init_objectives needs model.init_encoder: the weights to start both from")
            _load_objective_weights(self.objectives, init_encoder)
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1, 1), persistent=False)
        self.val_metrics = FutureFrameMetrics()
        self.example: tuple[torch.Tensor, torch.Tensor] | None = None  # (pixels, predicted future) of a val clip, CPU

    # -- data ---------------------------------------------------------------------------------
    @property
    def clip_spec(self) -> ClipSpec:
        """The clips this module trains on and how it normalizes them: the preprocessing record it saves."""
        h = self.hparams
        return ClipSpec(context=h.context, future=h.future, fps=h.fps, size=h.size, resize=h.resize, mean=h.mean,
                        std=h.std)

    def setup(self, stage: str) -> None:
        # Normalizing on the device is this module's job whatever data module feeds it, which is what Lightning
        # does when only the module overrides the hook; its warning on every run says nothing to act on.
        warnings.filterwarnings("ignore", message="You have overridden `on_after_batch_transfer` in `LightningModule`")
        # Lightning's own pytree helper builds torch's deprecated LeafSpec on newer torch: nothing a user can change.
        warnings.filterwarnings("ignore", message=r"`isinstance\(treespec, LeafSpec\)` is deprecated",
                                category=FutureWarning)

    def on_after_batch_transfer(self, batch: dict, dataloader_idx: int) -> dict:
        video = batch["video"]  # (B, C, T, H, W) uint8, already on the device
        expected = self.hparams.context + self.hparams.future
        if video.ndim != 5 or video.shape[2] != expected:
            raise ValueError(f"batch['video'] must be (B, C, T={expected}, H, W) (context + future), "
                             f"got {tuple(video.shape)}")
        return {**batch, "video": normalize_clip(video, self.hparams.mean, self.hparams.std)}

    def to_pixels(self, video: torch.Tensor) -> torch.Tensor:
        """Normalized (B, C, T, H, W) -> pixels in [0, 1], float32."""
        return (video.float() * self.std + self.mean).clamp(0, 1)

    def _generator(self, *key: int) -> torch.Generator:
        seed = np.random.SeedSequence([self.hparams.seed, *key]).generate_state(1)[0]
        return torch.Generator().manual_seed(int(seed))

    # -- steps --------------------------------------------------------------------------------
    def _run(self, video: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, dict[str, ObjectiveOutput]]:
        outputs = {o.name: o(self.encoder, video, self.hparams.context, generator) for o in self.objectives}
        loss = sum(o.weight * outputs[o.name].loss for o in self.objectives)
        return loss, outputs

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor | None:
        if batch.get("dropped"):  # clips whose file failed to decode (each file logged once by the dataset)
            self.log("train/dropped_clips", float(batch["dropped"]), on_step=False, on_epoch=True, reduce_fx="sum")
        if batch["video"].shape[0] == 0:  # every clip failed: no step on no data
            if self.trainer.world_size == 1:
                return None
            # under DDP every rank must reach the gradient all-reduce: a zero loss connected to every parameter
            return sum(p.sum() for p in self.parameters() if p.requires_grad) * 0.0
        accumulate = self.trainer.accumulate_grad_batches  # the batches of one accumulated step draw their own masks
        micro = (batch_idx % accumulate,) if accumulate > 1 else ()
        loss, outputs = self._run(batch["video"], self._generator(0, self.global_step, self.global_rank, *micro))
        self._log_losses("train", loss, outputs, batch["video"].shape[0])
        groups = self.optimizers().param_groups
        self.log("train/lr", groups[0]["lr"], on_step=True, on_epoch=False)  # the objectives' (and unfrozen encoder's)
        if self.hparams.freeze_encoder_steps:
            self.log("train/lr_encoder", groups[-1]["lr"], on_step=True, on_epoch=False)
        # Lightning keeps on_step values only at its logging steps, which end when (step + 1) % log_every_n_steps == 0.
        if self.hparams.health_every and (self.global_step + 1) % self.hparams.health_every == 0:
            features = next(o.features for o in outputs.values() if o.features is not None)
            self.log("train/feat_std", feature_std(features), on_step=True, on_epoch=False)
            self.log("train/eff_rank", effective_rank(features), on_step=True, on_epoch=False)
        return loss

    def on_validation_epoch_start(self) -> None:
        self.example = None  # the first non-empty val batch of this validation gives the prediction picture

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        video = batch["video"]
        if video.shape[0] == 0:  # every clip of the batch failed to decode: nothing to score
            return
        loss, outputs = self._run(video, self._generator(1, batch_idx))  # fixed masks: comparable val losses
        self._log_losses("val", loss, outputs, video.shape[0])
        future = outputs.get(FuturePixels.name)
        if future is None or future.future is None:  # no pixel prediction (norm_pix): no PSNR/SSIM or picture
            return
        pixels, predicted = self.to_pixels(video), self.to_pixels(future.future)
        self.val_metrics.update(predicted, pixels, self.hparams.context)
        for name, metric in self.val_metrics.items():
            self.log(f"val/{name}", metric, on_step=False, on_epoch=True, batch_size=video.shape[0])
        if self.example is None:
            self.example = (pixels[:4].cpu(), predicted[:4].cpu())

    def _log_losses(self, stage: str, loss: torch.Tensor, outputs: dict[str, ObjectiveOutput], batch_size: int) -> None:
        train = stage == "train"  # train: per step, no cross-process sync; val: epoch means over all processes
        kwargs = dict(on_step=train, on_epoch=not train, sync_dist=not train, batch_size=batch_size)
        self.log(f"{stage}/loss", loss, prog_bar=True, **kwargs)
        for name, output in outputs.items():
            self.log(f"{stage}/loss_{name}", output.loss, **kwargs)
            if output.copy_last_loss is not None:  # the loss to beat: predicting that nothing moves
                self.log(f"{stage}/loss_{name}_copy_last", output.copy_last_loss, **kwargs)

    def optimizer_step(self, *args, **kwargs) -> None:
        super().optimizer_step(*args, **kwargs)
        progress = self.global_step / max(1, self.trainer.estimated_stepping_batches)
        for objective in self.objectives:
            objective.after_optimizer_step(self.encoder, progress)

    @torch.no_grad()
    def future_errors(self, video: torch.Tensor) -> dict[str, torch.Tensor]:
        """uint8 clips (B, C, T, H, W) on the module's device -> {objective name: (B,) per-clip loss}.

        The training losses, one number per clip (eval mode, no gradient); masks are seeded
        by the hparams seed, so repeated calls agree. Used to mine surprising clips.
        """
        video = self.on_after_batch_transfer({"video": video}, 0)["video"]
        _, outputs = self._run(video, self._generator(2))
        return {name: output.per_sample for name, output in outputs.items()}

    # -- optimizer ----------------------------------------------------------------------------
    def configure_optimizers(self):
        h = self.hparams
        total = int(self.trainer.estimated_stepping_batches)
        warmup, min_ratio, frozen = h.warmup_steps, h.min_lr_ratio, h.freeze_encoder_steps

        def common(step: int) -> float:
            return warmup_cosine(step, warmup, total, min_ratio)

        def encoder(step: int) -> float:  # 0 while frozen (AdamW leaves the weights exactly as they are), then a ramp
            return 0.0 if step < frozen else min(1.0, (step - frozen + 1) / max(1, warmup)) * common(step)

        # AdamW groups (ssl_video.optim: weight decay on dim >= 2, position tables excepted); the encoder is a part of
        # its own only when it starts frozen (its lr multiplier differs), and comes last.
        in_encoder = {id(p) for p in self.encoder.parameters()} if frozen else set()
        parts = [("", common, [p for p in self.parameters() if id(p) not in in_encoder]),
                 ("encoder ", encoder, [p for p in self.parameters() if id(p) in in_encoder])]
        groups, lambdas, described, no_decay = [], [], [], no_weight_decay(self)
        for label, schedule, part in parts:
            for group in param_groups(part, h.weight_decay, no_decay=no_decay):
                groups.append(group)
                lambdas.append(schedule)
                described.append(f"{len(group['params'])} {label}tensors ({sum(p.numel() for p in group['params'])} "
                                 f"params, weight decay {group['weight_decay']})")
        log.info("optimizer: %s", ", ".join(described))
        optimizer = torch.optim.AdamW(groups, lr=h.lr, betas=tuple(h.betas),
                                      fused=(self.device.type == "cuda") or None)  # one kernel for all params on GPU
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambdas)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    def configure_model(self) -> None:
        if self.hparams.compile:
            # forward_features of the encoder and of the objectives' copies (EMA target), and the predictors;
            # in place, so state_dict keys and checkpoints are the same as without compile
            names = compile_modules(self)
            if names:
                log.info("torch.compile: %s", ", ".join(names))

    # -- checkpoint contract ------------------------------------------------------------------
    def on_save_checkpoint(self, checkpoint: dict) -> None:
        name, args = encoder_config(self.encoder)
        h = self.hparams
        checkpoint["ssl_video"] = {
            "encoder": {"name": name, "args": args},
            "preprocessing": self.clip_spec.to_dict(),  # read back with ClipSpec.from_checkpoint
            "objectives": [o.describe() for o in self.objectives],
        }
        if h.init_encoder:
            checkpoint["ssl_video"]["init_encoder"] = str(h.init_encoder)  # the weights it continued from


# FuturePixels options that ssl_video <= 0.1 recorded and this version no longer builds, with the one value it
# builds; a record holding them was written by such a version, and the options it lacks had their old defaults then.
_FUTURE_PIXELS_REMOVED = {"target": "pixels", "last_patch_skip": False}
_FUTURE_PIXELS_OLD_DEFAULTS = {"last_patch_skip": False, "zero_head": True, "latent_copy": False,
                               "predictor_dim": 192, "predictor_depth": 2, "predictor_heads": 3}


def _legacy_future_pixels(init_args: dict, source) -> dict:
    """A future_pixels record written by ssl_video <= 0.1 -> this version's init_args for the same objective."""
    args = {**_FUTURE_PIXELS_OLD_DEFAULTS, **init_args}
    del args["zero_head"]  # it acted on target='residual' only
    for key, built in _FUTURE_PIXELS_REMOVED.items():
        value = args.pop(key)
        if value != built:
            raise UserError(f"{source}: its future_pixels objective was trained with {key}={value!r}, which this "
                            f"version no longer builds; use ssl_video <= 0.1")
    return args


def build_objectives(described: Sequence[dict], source) -> list[Objective]:
    """Objectives from their ``describe()`` records (checkpoint or exported config) through the ``OBJECTIVES``
    table, never by import path; an objective this version does not know is a ``UserError`` naming ``source``.
    Records of earlier versions load when they describe what this version builds (``_legacy_future_pixels``)."""
    objectives = []
    for entry in described:
        name, init_args = entry.get("name"), dict(entry.get("init_args", {}))
        if name not in OBJECTIVES:
            raise UserError(f"{source}: unknown objective {name!r}; known: {sorted(OBJECTIVES)}")
        if name == FuturePixels.name and "target" in init_args:
            init_args = _legacy_future_pixels(init_args, source)
        objectives.append(OBJECTIVES[name](**init_args))
    return objectives


def load_pretrainer(path, map_location: str | torch.device = "cpu") -> VideoPretrainer:
    """Rebuild a VideoPretrainer (encoder, objectives, EMA target) from a ``ssl-video fit`` checkpoint, in eval mode.

    Loads with ``torch.load(weights_only=True)`` (no code runs) and ``strict=True``; objectives are
    rebuilt from ``checkpoint["ssl_video"]["objectives"]`` through the ``OBJECTIVES`` table, never by import path.
    """
    checkpoint = read_checkpoint(path)
    if "ssl_video" not in checkpoint or "state_dict" not in checkpoint:
        raise WeightsFormatError(f"{path}: not an `ssl-video fit` checkpoint (no 'ssl_video' / 'state_dict' entry)")
    objectives = build_objectives(checkpoint["ssl_video"]["objectives"], path)
    hparams = dict(checkpoint.get("hyper_parameters", {}))
    hparams.pop("_instantiator", None)
    hparams["compile"] = False
    hparams["init_encoder"], hparams["init_objectives"] = None, False  # the checkpoint's weights replace them anyway
    model = VideoPretrainer(**hparams, objectives=objectives)
    model.load_state_dict(checkpoint["state_dict"], strict=True)
    return model.to(map_location).eval()


def pretrainer_from_weights(source: str, map_location: str | torch.device = "cpu") -> VideoPretrainer | None:
    """Rebuild a VideoPretrainer (encoder + objectives) from exported weights that hold their objectives
    (``ssl-video weights export --objectives``; the built-in weights do), in eval mode; None when they hold none.

    Everything comes from the weights' config (architecture, preprocessing, ``training.objectives``, rebuilt
    through the ``OBJECTIVES`` table) and is loaded strictly, as ``model.init_encoder`` + ``model.init_objectives``.
    """
    from ssl_video.hub import load_encoder_with_config, load_objectives_state

    try:
        described = load_objectives_state(source, progress=False)[1]
    except UserError:
        return None
    objectives = build_objectives(described, source)
    config = load_encoder_with_config(source, progress=False)[1]
    pre = ClipSpec.from_dict(config["preprocessing"])
    model = VideoPretrainer(encoder=config["architecture"], encoder_args=config["args"], objectives=objectives,
                            context=pre.context, future=pre.future, fps=pre.fps, size=list(pre.size),
                            resize=pre.resize, mean=list(pre.mean), std=list(pre.std), init_encoder=str(source),
                            init_objectives=True)
    return model.to(map_location).eval()
