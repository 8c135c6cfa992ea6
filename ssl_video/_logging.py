"""Logging settings shared by the commands and the library's own Trainers."""

from __future__ import annotations

import logging


class _NoAdvertisements(logging.Filter):
    """Drops the tips for Lightning's hosted services that every Trainer logs at INFO ("💡 Tip: For seamless cloud
    ... try installing [litlogger]" / "[litmodels]"): nothing a user can act on."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("💡 Tip:")


_NO_ADVERTISEMENTS = _NoAdvertisements()


def silence_lightning_tips() -> None:
    """Install the filter on Lightning's rank-zero logger (both package names); calling it again changes nothing."""
    for name in ("pytorch_lightning.utilities.rank_zero", "lightning.pytorch.utilities.rank_zero"):
        logging.getLogger(name).addFilter(_NO_ADVERTISEMENTS)  # addFilter ignores a filter already installed
