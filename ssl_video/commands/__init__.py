"""Every ``ssl-video`` command's argument parsing, one module per command; ``ssl_video.cli`` routes to them.

The library below (``data``, ``models``, ``hub``, ``pretrain``, ``evaluate``, ``engine``) never
imports from here.
"""

import logging


class _NoAdvertisements(logging.Filter):
    """Drops the tips for Lightning's hosted services that every Trainer logs at INFO ("💡 Tip: For seamless cloud
    ... try installing [litlogger]" / "[litmodels]"): nothing a user of these commands can act on."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("💡 Tip:")


_NO_ADVERTISEMENTS = _NoAdvertisements()
for _name in ("pytorch_lightning.utilities.rank_zero", "lightning.pytorch.utilities.rank_zero"):
    logging.getLogger(_name).addFilter(_NO_ADVERTISEMENTS)
