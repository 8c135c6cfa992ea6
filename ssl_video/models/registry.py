"""Encoders by name, as timm's ``register_model`` / torchvision's ``get_model``.

A builder is a keyword-only function whose keyword arguments are fields of the encoder's
config dataclass; ``get_encoder(name, **overrides)`` calls it. Each built encoder remembers
its registered name, so ``encoder_config`` can record how to rebuild it in a checkpoint:

    >>> enc = get_encoder("vit_tiny", depth=2)
    >>> name, args = encoder_config(enc)
    >>> rebuilt = get_encoder(name, **args)

``get_encoder(name, weights=...)`` (or ``vit_tiny(weights=...)``) loads weights through
``ssl_video.hub`` (a registered weights name, exported folder, file or URL); ``overrides``
then only change fields that keep the weights' shapes (e.g. ``drop_path``).
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
        def builder(*, weights: str | None = None, **overrides: Any) -> nn.Module:
            if weights is not None:
                return _with_weights(name, weights, overrides)
            encoder = fn(**overrides)
            encoder.registry_name = name
            return encoder

        _BUILDERS[name] = builder
        return builder

    return decorate


def _with_weights(name: str, weights: str, overrides: dict[str, Any]) -> nn.Module:
    """torchvision-style ``vit_tiny(weights="drive-future-tiny")``: the architecture args come from the weights."""
    from ssl_video.hub import load_encoder_with_config  # lazy: the hub builds on this registry

    encoder, config = load_encoder_with_config(weights, **overrides)
    if config["architecture"] != name:
        raise UserError(f"weights {weights!r} are for {config['architecture']!r}, not {name!r}")
    return encoder.train()  # like any freshly built module; load_encoder returns eval mode


def apply_overrides(config: C, overrides: dict[str, Any]) -> C:
    """``dataclasses.replace`` that names the valid fields when given an unknown one."""
    fields = [f.name for f in dataclasses.fields(config)]
    unknown = sorted(set(overrides) - set(fields))
    if unknown:
        raise UserError(f"unknown {type(config).__name__} field(s) {unknown}; valid fields: {fields}")
    return dataclasses.replace(config, **overrides)


def list_encoders() -> list[str]:
    return sorted(_BUILDERS)


def get_encoder(name: str, *, weights: str | None = None, **overrides: Any) -> nn.Module:
    """Build the encoder registered as ``name``; ``overrides`` are fields of its config dataclass;
    ``weights`` (optional) names pretrained weights to load (see module docstring)."""
    if name not in _BUILDERS:
        raise UserError(f"unknown encoder {name!r}; registered encoders: {list_encoders()}")
    return _BUILDERS[name](weights=weights, **overrides)


def _jsonable(value: Any) -> Any:
    return [_jsonable(v) for v in value] if isinstance(value, (tuple, list)) else value


def encoder_config(encoder: nn.Module) -> tuple[str, dict[str, Any]]:
    """-> (registered name, all config fields as JSON-friendly values) so ``get_encoder(name, **args)`` rebuilds it."""
    name = getattr(encoder, "registry_name", None)
    if name is None or not dataclasses.is_dataclass(getattr(encoder, "config", None)):
        raise ValueError(f"{type(encoder).__name__} was not built by a registered builder (use get_encoder)")
    return name, {k: _jsonable(v) for k, v in dataclasses.asdict(encoder.config).items()}
