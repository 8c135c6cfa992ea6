"""Named weights: ``WeightsEntry(name, url, sha256, size, config)`` and where they are cached.

Weights are data, as torchvision's ``Weights``: each entry carries its full sha256, its
size and the exported ``config.json`` (architecture, preprocessing, training facts), so
``ssl-video weights list`` can describe weights before downloading them.

Sources of entries, later ones may not reuse a name:
1. ``BUILTIN``: empty in this release (no weights are published yet).
2. JSON files named by ``SSL_VIDEO_WEIGHTS_REGISTRY`` (``os.pathsep``-separated)::

       {"weights": [{"name": "drive-future-tiny", "url": "https://.../model.safetensors",
                     "sha256": "<64 hex>", "size": 1234, "config": {...}}]}

3. ``register_weights(...)`` at run time.

``SSL_VIDEO_WEIGHTS_MIRROR=https://mirror/base`` fetches every entry from
``{mirror}/{last path component of its url}`` instead (the sha256 is still checked).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ssl_video.errors import UserError
from ssl_video.hub.download import SCHEMES, download
from ssl_video.paths import ssl_video_home

REGISTRY_ENV = "SSL_VIDEO_WEIGHTS_REGISTRY"
MIRROR_ENV = "SSL_VIDEO_WEIGHTS_MIRROR"
_SHA256 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class WeightsEntry:
    name: str
    url: str  # https://, http://, file:// or hf://org/repo[/file]
    sha256: str  # full hex digest of the file, always checked
    size: int | None = None  # bytes; checked when given
    config: Mapping[str, Any] = field(default_factory=dict, hash=False)  # the exported config.json

    def __post_init__(self) -> None:
        if not self.url.startswith(SCHEMES):
            raise UserError(f"weights {self.name!r}: url {self.url!r} must start with one of {SCHEMES}")
        if not _SHA256.fullmatch(self.sha256):
            raise UserError(f"weights {self.name!r}: sha256 must be 64 lowercase hex digits, got {self.sha256!r}")

    @property
    def filename(self) -> str:
        return self.url.rstrip("/").rsplit("/", 1)[-1]

    def source_url(self) -> str:
        """The URL to fetch: the mirror's when ``SSL_VIDEO_WEIGHTS_MIRROR`` is set."""
        mirror = os.environ.get(MIRROR_ENV)
        return f"{mirror.rstrip('/')}/{self.filename}" if mirror else self.url

    def cache_path(self) -> Path:
        """Where the verified file lives: name + digest prefix, so a changed entry never reuses a stale file."""
        return weights_cache_dir() / f"{self.name}-{self.sha256[:12]}.safetensors"

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "config": dict(self.config)}


BUILTIN: tuple[WeightsEntry, ...] = ()
_RUNTIME: dict[str, WeightsEntry] = {}


def weights_cache_dir() -> Path:
    return ssl_video_home() / "weights"


def read_registry_file(path: str | Path) -> list[WeightsEntry]:
    """Entries of one registry JSON file; errors name the file and the entry."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise UserError(f"weights registry {path}: cannot read ({e})") from e
    if not isinstance(data, dict) or not isinstance(data.get("weights"), list):
        raise UserError(f"weights registry {path}: expected {{\"weights\": [...]}}")
    entries = []
    for i, item in enumerate(data["weights"]):
        try:
            entries.append(WeightsEntry(**item))
        except TypeError as e:
            raise UserError(f"weights registry {path}: entry {i}: {e}") from e
    return entries


def list_weights() -> list[WeightsEntry]:
    """All entries: built-in, then registry files from the environment, then runtime registrations."""
    entries = list(BUILTIN)
    for path in filter(None, os.environ.get(REGISTRY_ENV, "").split(os.pathsep)):
        entries += read_registry_file(path)
    entries += _RUNTIME.values()
    seen: dict[str, WeightsEntry] = {}
    for entry in entries:
        if entry.name in seen and seen[entry.name] != entry:
            raise UserError(f"weights name {entry.name!r} is defined twice with different contents")
        seen[entry.name] = entry
    return list(seen.values())


def register_weights(entry: WeightsEntry | None = None, /, **fields: Any) -> WeightsEntry:
    """Add an entry at run time (``register_weights(WeightsEntry(...))`` or with its fields); duplicates raise."""
    entry = entry if entry is not None else WeightsEntry(**fields)
    if any(e.name == entry.name for e in list_weights()):
        raise ValueError(f"weights {entry.name!r} are already registered")
    _RUNTIME[entry.name] = entry
    return entry


def unregister_weights(name: str) -> None:
    """Remove a runtime registration (tests, notebooks)."""
    _RUNTIME.pop(name, None)


def get_weights(name: str) -> WeightsEntry:
    for entry in list_weights():
        if entry.name == name:
            return entry
    raise UserError(f"unknown weights {name!r}; registered: {[e.name for e in list_weights()]} "
                     f"(add some with {REGISTRY_ENV}=/path/registry.json)")


def fetch_weights(name: str, *, progress: bool = True) -> Path:
    """The verified local file for a registered name: from the cache if present (offline), else downloaded."""
    entry = get_weights(name)
    return download(entry.source_url(), entry.cache_path(), sha256=entry.sha256, size=entry.size, progress=progress)
