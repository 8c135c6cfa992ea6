"""Named weights: ``WeightsEntry`` (name, url, sha256, size, config, version, license, metrics) and their cache.

Weights are data, as torchvision's ``Weights``: each entry carries its full sha256, its
size, the exported ``config.json`` (architecture, preprocessing, training facts), its
version, licence and recorded probe scores, so ``ssl-video weights list`` can describe
weights before downloading them.

Versions: a name that has meant several files gives each an integer ``version``;
``name@3`` pins one (the ``pip``/``npm``/Hugging Face revision spelling, and the name stays one
token that shells and YAML leave alone) and the bare ``name`` loads the newest.

Sources of entries, later ones may not reuse a name:
1. ``BUILTIN_REGISTRY``: the weights shipped inside the package (``ssl_video/hub/builtin/registry.json``
   and its safetensors files). They load offline, through the same sha256 and size check
   as a download (the file is copied into the cache).
2. JSON files named by ``SSL_VIDEO_WEIGHTS_REGISTRY`` (``os.pathsep``-separated)::

       {"weights": [{"name": "drive-future-tiny", "url": "https://.../model.safetensors",
                     "sha256": "<64 hex>", "size": 1234, "config": {...},
                     "version": 1, "license": "Apache-2.0", "metrics": {...}}]}

   A ``url`` without a scheme is a path relative to the registry file (a registry folder
   that holds its own weights files).

3. ``register_weights(...)`` at run time.

``SSL_VIDEO_WEIGHTS_MIRROR=https://mirror/base`` fetches every entry from
``{mirror}/{last path component of its url}`` instead (the sha256 is still checked).
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ssl_video._io import atomic_path, atomic_write_json
from ssl_video.errors import UserError
from ssl_video.hub.download import SCHEMES, download, sha256_file
from ssl_video.paths import ssl_video_home

REGISTRY_ENV = "SSL_VIDEO_WEIGHTS_REGISTRY"
MIRROR_ENV = "SSL_VIDEO_WEIGHTS_MIRROR"
_SHA256 = re.compile(r"[0-9a-f]{64}")
VERSION_SEP = "@"


@dataclass(frozen=True)
class WeightsEntry:
    name: str
    url: str  # https://, http://, file:// or hf://org/repo[/file]
    sha256: str  # full hex digest of the file, always checked
    size: int | None = None  # bytes; checked when given
    config: Mapping[str, Any] = field(default_factory=dict, hash=False)  # the exported config.json
    version: int | None = None  # 1, 2, ...: the files a name has meant; the bare name loads the newest
    license: str | None = None  # SPDX identifier of the weights' licence
    # Recorded probe scores: {"protocol": what was measured, "command": how, "scores": {target: {"10%": x, ...}}}
    metrics: Mapping[str, Any] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        if VERSION_SEP in self.name:
            raise UserError(f"weights name {self.name!r}: {VERSION_SEP!r} is reserved for the version "
                            f"(give \"version\": N instead)")
        if self.version is not None and (isinstance(self.version, bool) or not isinstance(self.version, int)
                                         or self.version < 1):
            raise UserError(f"weights {self.name!r}: version must be a positive integer, got {self.version!r}")
        if not self.url.startswith(SCHEMES):
            raise UserError(f"weights {self.name!r}: url {self.url!r} must start with one of {SCHEMES}")
        if not _SHA256.fullmatch(self.sha256):
            raise UserError(f"weights {self.name!r}: sha256 must be 64 lowercase hex digits, got {self.sha256!r}")

    @property
    def full_name(self) -> str:
        """``name@version`` (``name`` for an unversioned entry): the name that always means this file."""
        return self.name if self.version is None else f"{self.name}{VERSION_SEP}{self.version}"

    @property
    def filename(self) -> str:
        return self.url.rstrip("/").rsplit("/", 1)[-1]

    def source_url(self) -> str:
        """The URL to fetch: the mirror's when ``SSL_VIDEO_WEIGHTS_MIRROR`` is set, for entries that live on a
        server (a ``file://`` entry, such as the weights shipped in the package, is read where it is)."""
        mirror = os.environ.get(MIRROR_ENV)
        if not mirror or self.url.startswith("file://"):
            return self.url
        return f"{mirror.rstrip('/')}/{self.filename}"

    def cache_path(self) -> Path:
        """Where the verified file lives: name + digest prefix, so a changed entry never reuses a stale file."""
        return weights_cache_dir() / f"{self.name}-{self.sha256[:12]}.safetensors"

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "config": dict(self.config)}


BUILTIN_REGISTRY = Path(__file__).resolve().parent / "builtin" / "registry.json"
_RUNTIME: dict[str, WeightsEntry] = {}


def weights_cache_dir() -> Path:
    return ssl_video_home() / "weights"


def _read_registry_json(path: str | Path) -> dict[str, Any]:
    """The parsed ``{"weights": [...]}`` of a registry file; a UserError naming the file when it is not that."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise UserError(f"weights registry {path}: cannot read it as JSON ({e}); fix or remove the file") from None
    if not isinstance(data, dict) or not isinstance(data.get("weights"), list):
        raise UserError(f"weights registry {path}: expected {{\"weights\": [...]}}; fix or remove the file")
    return data


def read_registry_file(path: str | Path) -> list[WeightsEntry]:
    """Entries of one registry JSON file; errors name the file and the entry."""
    data = _read_registry_json(path)
    entries = []
    for i, item in enumerate(data["weights"]):
        if isinstance(item, dict) and isinstance(item.get("url"), str) and not item["url"].startswith(SCHEMES):
            item = {**item, "url": (Path(path).resolve().parent / item["url"]).as_uri()}  # relative to the file
        try:
            entries.append(WeightsEntry(**item))
        except TypeError as e:
            raise UserError(f"weights registry {path}: entry {i}: {e}") from e
    return entries


def builtin_weights() -> list[WeightsEntry]:
    """The entries shipped inside the package (their files sit next to ``BUILTIN_REGISTRY``)."""
    return read_registry_file(BUILTIN_REGISTRY) if BUILTIN_REGISTRY.is_file() else []


def list_weights() -> list[WeightsEntry]:
    """All entries: built-in, then registry files from the environment, then runtime registrations. A name belongs
    to the first source that defines it: a later one may not add versions to it (the bare name would silently load
    another source's file)."""
    sources = [("the built-in registry", builtin_weights())]
    for path in filter(None, os.environ.get(REGISTRY_ENV, "").split(os.pathsep)):
        sources.append((f"weights registry {path}", read_registry_file(path)))
    sources.append(("register_weights", list(_RUNTIME.values())))
    seen: dict[str, WeightsEntry] = {}
    owner: dict[str, str] = {}
    for source, entries in sources:
        for entry in entries:
            if entry.full_name in seen and seen[entry.full_name] != entry:
                raise UserError(f"weights name {entry.full_name!r} is defined twice with different contents")
            if owner.setdefault(entry.name, source) != source and entry.full_name not in seen:
                raise UserError(f"{source}: weights name {entry.name!r} belongs to {owner[entry.name]}; give your "
                                f"entry another name")
            seen[entry.full_name] = entry
    for name in owner:
        versions = [e.version for e in seen.values() if e.name == name]
        if None in versions and len(versions) > 1:
            raise UserError(f"weights name {name!r} has entries with and without a version; give each a "
                            f"\"version\" (an entry without one is unreachable next to versioned ones)")
    return list(seen.values())


def split_version(name: str) -> tuple[str, int | None] | None:
    """``"a@3"`` -> ``("a", 3)``, ``"a"`` -> ``("a", None)``; None when the text after ``@`` is not a version."""
    base, sep, version = name.partition(VERSION_SEP)
    if not sep:
        return name, None
    return (base, int(version)) if version.isdigit() and int(version) > 0 else None


def find_weights(name: str) -> WeightsEntry | None:
    """The entry ``name`` means (``name@N``: that version; a bare name: its newest version), or None."""
    parsed = split_version(str(name))
    if parsed is None:
        return None
    base, version = parsed
    matches = [e for e in list_weights() if e.name == base and (version is None or e.version == version)]
    return max(matches, key=lambda e: e.version or 0) if matches else None


def add_to_registry(weights: str | Path, registry: str | Path, *, name: str, config: Mapping[str, Any],
                    license: str | None = None) -> WeightsEntry:
    """Copy ``weights`` next to the registry JSON file (created if missing) and add them as the next version of
    ``name`` (version 1, file ``<name>.safetensors``; version N > 1, file ``<name>-vN.safetensors``; with the
    sha256's start added when another entry has that file), with a url
    relative to it. Earlier versions stay; the same file again replaces its own entry (same version), and
    ``name@N`` replaces version N. Both writes are atomic."""
    parsed = split_version(name)
    if parsed is None:
        raise UserError(f"weights name {name!r}: the text after {VERSION_SEP!r} must be a version number")
    name, version = parsed
    registry = Path(registry)
    registry.parent.mkdir(parents=True, exist_ok=True)
    data = _read_registry_json(registry) if registry.exists() else {"weights": []}
    digest = sha256_file(weights)
    same = [e for e in data["weights"] if e.get("name") == name]
    for e in same:  # an entry written before versions existed is version 1
        e["version"] = e.get("version") or 1
    if version is None:
        version = next((e["version"] for e in same if e.get("sha256") == digest),
                       1 + max((e["version"] for e in same), default=0))
    stem = name if version == 1 else f"{name}-v{version}"
    taken = {e.get("url") for e in data["weights"] if (e.get("name"), e.get("version") or 1) != (name, version)}
    if f"{stem}.safetensors" in taken:  # another entry's file (name "a-v2" vs "a" version 2) is never overwritten
        stem = f"{stem}-{digest[:12]}"
    dest = registry.parent / f"{stem}.safetensors"
    with atomic_path(dest) as tmp:
        shutil.copyfile(weights, tmp)
    item = {"name": name, "version": version, "url": dest.name, "sha256": digest, "size": dest.stat().st_size,
            "config": dict(config), **({"license": license} if license else {})}
    data["weights"] = [e for e in data["weights"] if e.get("name") != name or (e.get("version") or 1) != version]
    data["weights"].append(item)
    atomic_write_json(registry, data, indent=1)
    return next(e for e in read_registry_file(registry) if e.name == name and e.version == version)


def register_weights(entry: WeightsEntry | None = None, /, **fields: Any) -> WeightsEntry:
    """Add an entry at run time (``register_weights(WeightsEntry(...))`` or with its fields); duplicates raise."""
    entry = entry if entry is not None else WeightsEntry(**fields)
    if any(e.full_name == entry.full_name for e in list_weights()):
        raise ValueError(f"weights {entry.full_name!r} are already registered")
    _RUNTIME[entry.full_name] = entry
    return entry


def unregister_weights(name: str) -> None:
    """Remove a runtime registration (tests, notebooks); ``name`` as registered (``name@N`` when versioned)."""
    _RUNTIME.pop(name, None)


def weights_names() -> list[str]:
    """Every registered ``name@version`` (``name`` when unversioned), for messages and listings."""
    return [e.full_name for e in list_weights()]


def get_weights(name: str) -> WeightsEntry:
    """The entry ``name`` means: ``name@N`` that version, a bare name its newest. Raises UserError naming the
    registered ones otherwise."""
    entry = find_weights(name)
    if entry is not None:
        return entry
    base = name.partition(VERSION_SEP)[0]
    versions = [e.full_name for e in list_weights() if e.name == base]
    if versions:
        raise UserError(f"weights {name!r}: no such version; {base!r} has {versions} (a bare {base!r} loads "
                        f"the newest)")
    raise UserError(f"unknown weights {name!r}; registered: {weights_names()} "
                     f"(add some with {REGISTRY_ENV}=/path/registry.json)")


def fetch_weights(name: str, *, progress: bool = True) -> Path:
    """The verified local file for a registered name: from the cache if present (offline), else downloaded."""
    entry = get_weights(name)
    return download(entry.source_url(), entry.cache_path(), sha256=entry.sha256, size=entry.size, progress=progress)
