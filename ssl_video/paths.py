"""Where ssl_video keeps its caches: ``$SSL_VIDEO_HOME`` (default ``~/.cache/ssl_video``)."""

from __future__ import annotations

import os
from pathlib import Path


def ssl_video_home() -> Path:
    """The cache root for probe results, features and downloaded weights."""
    return Path(os.environ.get("SSL_VIDEO_HOME", Path.home() / ".cache" / "ssl_video")).expanduser()
