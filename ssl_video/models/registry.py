"""Encoders by name, as timm's ``register_model`` / torchvision's ``get_model``.

A builder is a keyword-only function whose keyword arguments are fields of the encoder's
config dataclass; ``get_encoder(name, **overrides)`` calls it. Each built encoder remembers
its registered name, so ``encoder_config`` can record how to rebuild it in a checkpoint:

    >>> enc = get_encoder("vit_tiny", depth=2)
    >>> name, args = encoder_config(enc)
    >>> rebuilt = get_encoder(name, **args)

Pure architecture: weights are loaded by ``ssl_video.hub`` (``ssl_video.get_encoder(name, weights=...)``),
which builds on this registry, never the reverse.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any, TypeVar

from torch import nn

from ssl_video.errors import UserError

_BUILDERS: dict[str, Callable[..., nn.Module]] = {}
C = TypeVar("C")


def register_encoder(name: str) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Decorator registering a keyword-only builder under ``name``; a duplicate name raises ValueError."""

    def decorate(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        if name in _BUILDERS:
            raise ValueError(f"encoder {name!r} is already registered by {_BUILDERS[name].__module__}")

        @functools.wraps(fn)
        def builder(**overrides: Any) -> nn.Module:
            encoder = fn(**overrides)
            encoder.registry_name = name
            return encoder

        _BUILDERS[name] = builder
        return builder

    return decorate


def apply_overrides(config: C, overrides: dict[str, Any]) -> C:
    """``dataclasses.replace`` that names the valid fields when given an unknown one."""
    fields = [f.name for f in dataclasses.fields(config)]
    unknown = sorted(set(overrides) - set(fields))
    if unknown:
        raise UserError(f"unknown {type(config).__name__} field(s) {unknown}; valid fields: {fields}")
    return dataclasses.replace(config, **overrides)


def list_encoders() -> list[str]:
    return sorted(_BUILDERS)


def get_encoder(name: str, **overrides: Any) -> nn.Module:
    """Build the encoder registered as ``name`` with random weights; ``overrides`` are fields of its config
    dataclass."""
    if name not in _BUILDERS:
        raise UserError(f"unknown encoder {name!r}; registered encoders: {list_encoders()}")
    return _BUILDERS[name](**overrides)


def _jsonable(value: Any) -> Any:
    return [_jsonable(v) for v in value] if isinstance(value, (tuple, list)) else value


def encoder_config(encoder: nn.Module) -> tuple[str, dict[str, Any]]:
    """-> (registered name, all config fields as JSON-friendly values) so ``get_encoder(name, **args)`` rebuilds it."""
    name = getattr(encoder, "registry_name", None)
    if name is None or not dataclasses.is_dataclass(getattr(encoder, "config", None)):
        raise ValueError(f"{type(encoder).__name__} was not built by a registered builder (use get_encoder)")
    return name, {k: _jsonable(v) for k, v in dataclasses.asdict(encoder.config).items()}
