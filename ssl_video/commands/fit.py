"""``ssl-video fit|validate`` : LightningCLI over VideoPretrainer and UnlabeledClipDataModule.

    ssl-video fit --config configs/pretrain/quickstart.yaml
    ssl-video fit --config configs/pretrain/quickstart.yaml --ckpt_path last   # resume after a crash
    ssl-video fit --config configs/pretrain/quickstart.yaml --trainer.max_steps 50 --model.lr 1e-3
    ssl-video fit --config configs/pretrain/vit_b_16x224.yaml --trainer.strategy ddp --trainer.devices 8
    ssl-video fit --config configs/pretrain/quickstart.yaml --print_config

Run layout under ``trainer.default_root_dir`` (the run directory):
``checkpoints/last.ckpt`` (+ the latest step checkpoint), ``tb/version_N/`` (TensorBoard,
``predictions/step_*.png``, ``config.yaml``) and ``csv/version_N/metrics.csv``. The
checkpoint folder does not depend on the logger version, so ``--ckpt_path last`` finds
the previous run's last checkpoint. The clip fields (context, future, fps, size, resize) and ``seed``
are set on the data module only and linked to the model: ``--data.seed`` picks the split, the
clip order and augmentations and the model's masks; ``--seed_everything`` the initial weights.
"""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path

from pytorch_lightning import Trainer
from pytorch_lightning.callbacks import ModelCheckpoint, ProgressBar, TQDMProgressBar
from pytorch_lightning.cli import LightningCLI
from pytorch_lightning.loggers import CSVLogger, TensorBoardLogger

from ssl_video.data.datamodules import UnlabeledClipDataModule
from ssl_video.data.manifest import check_source
from ssl_video.errors import UserError
from ssl_video.pretrain.callbacks import PredictionPictures, Throughput
from ssl_video.pretrain.module import VideoPretrainer
from ssl_video.pretrain.objectives import ObjectiveConfigError
from ssl_video.spec import CLIP_FIELDS

LINKED_FIELDS = (*CLIP_FIELDS, "seed")  # data.<field> -> model.<field>; Lightning refuses two different values
DEFAULT_ROOT = "runs/pretrain"


def check_objectives(objectives) -> None:
    """Build each entry of ``model.objectives`` once, so that an out-of-range init argument is one line naming its
    place (``model.objectives[1].init_args.context_mask``) instead of jsonargparse's multi-line Union error."""
    for i, spec in enumerate(objectives or []):
        class_path = getattr(spec, "class_path", None)
        if not isinstance(class_path, str):
            continue
        init_args = getattr(spec, "init_args", None)
        kwargs = init_args.as_dict() if hasattr(init_args, "as_dict") else dict(init_args or {})
        module, _, name = class_path.rpartition(".")
        try:
            getattr(importlib.import_module(module), name)(**kwargs)
        except ObjectiveConfigError as error:
            raise UserError(f"model.objectives[{i}].init_args.{error.key} ({error.objective}): {error.problem}; "
                            "fix it in the config") from None
        except Exception:  # noqa: BLE001 - anything else is reported as before, when the model is built
            continue


class PretrainCLI(LightningCLI):
    def add_arguments_to_parser(self, parser) -> None:
        parser.add_lightning_class_args(ModelCheckpoint, "checkpoint")
        parser.set_defaults({"checkpoint.save_last": True, "trainer.default_root_dir": DEFAULT_ROOT})
        parser.add_lightning_class_args(PredictionPictures, "pictures")
        parser.add_lightning_class_args(Throughput, "throughput")
        for field in LINKED_FIELDS:
            parser.link_arguments(f"data.{field}", f"model.{field}")

    def parse_arguments(self, parser, args) -> None:
        """Parse, then check the data (it exists; a manifest's rows read) before the seed, the Trainer and their
        log lines: a user error is the first and only thing the command prints."""
        super().parse_arguments(parser, args)
        subcommand = self.config.get("subcommand")
        config = self.config[subcommand] if subcommand else self.config
        check_source(config["data"]["data"], option="data.data")
        check_objectives(config["model"].get("objectives"))

    def instantiate_trainer(self, **kwargs) -> Trainer:
        trainer_config = self._get(self.config_init, "trainer", default={})
        root = Path(trainer_config.get("default_root_dir") or DEFAULT_ROOT)
        if trainer_config.get("logger") in (None, True):  # default loggers: TensorBoard + CSV in the run directory
            kwargs["logger"] = [TensorBoardLogger(root, name="tb"), CSVLogger(root, name="csv")]
        callbacks = trainer_config.get("callbacks") or []
        callbacks = callbacks if isinstance(callbacks, list) else [callbacks]
        has_bar = any(isinstance(c, ProgressBar) for c in callbacks)
        if trainer_config.get("enable_progress_bar") is not False and not has_bar:
            # Each refresh of the bar reads the loss off the device (a host sync on a GPU): at the logging steps, not
            # at every step. A progress bar in trainer.callbacks (or enable_progress_bar: false) takes precedence.
            every = trainer_config.get("log_every_n_steps") or 50
            kwargs["callbacks"] = [*callbacks, TQDMProgressBar(refresh_rate=every)]
        checkpoint = self._get(self.config_init, "checkpoint")
        if checkpoint.dirpath is None:  # a fixed folder, so `--ckpt_path last` finds the previous run's checkpoint
            checkpoint.dirpath = os.path.realpath(root / "checkpoints")
        return super().instantiate_trainer(**kwargs)


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``ssl-video fit|validate``; ``argv`` starts with the subcommand."""
    if argv is not None and list(argv) == sys.argv[1:]:
        argv = None  # the process's own command line: let LightningCLI read it (and not warn about both)
    PretrainCLI(VideoPretrainer, UnlabeledClipDataModule, args=argv, save_config_kwargs={"overwrite": True})
    return 0


if __name__ == "__main__":  # DDP launches `python -m ssl_video.commands.fit ...` once per extra process
    sys.exit(main(sys.argv[1:]))
