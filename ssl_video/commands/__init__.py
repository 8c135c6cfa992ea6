"""Every ``ssl-video`` command's argument parsing, one module per command; ``ssl_video.cli`` routes to them.

The library below (``data``, ``models``, ``hub``, ``pretrain``, ``evaluate``, ``engine``) never
imports from here.
"""

from ssl_video._logging import silence_lightning_tips

silence_lightning_tips()
