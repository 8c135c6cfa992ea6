"""Command-line options from a config dataclass: each option is declared once, as a field.

The field's type and default come from the dataclass; its ``metadata`` carries what only the command line
needs. A nested dataclass field (e.g. a training budget) becomes a group of options prefixed with its
``prefix``. Options the user leaves out are not passed on, so the dataclass's defaults apply, and
``--help`` shows them.

    @dataclass
    class Config:
        data: str = field(metadata={"help": "folder of videos"})                     # required: --data
        seeds: int = field(default=3, metadata={"help": "seeds 0..N-1"})              # --seeds (default: 3)

    parser = argparse.ArgumentParser()
    add_dataclass_arguments(parser, Config)
    cfg = dataclass_from_args(Config, parser.parse_args(argv))

Metadata keys, all optional: ``help``; ``group`` (the title of the argument group; a nested dataclass gets
its own); ``name`` (the option's name when it is not the field's, before the prefix); ``flag`` (the whole
option string, no prefix); ``aliases`` (more option strings; for a nested field, a dict field -> strings);
``parse`` (turns what argparse read, a string or a list of strings, into the field's value); ``nargs``,
``metavar``, ``action`` (argparse's); ``prefix`` (a nested dataclass's option prefix); ``cli: False`` (not an
option).

A command that takes a few of a config's options without building the config reads them with
:func:`field_values`. ``--threads`` (:func:`add_threads_argument`) is how a run uses the machine, not
configuration, and is shared by the commands that run torch.
"""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from pathlib import Path
from typing import Any

_SEP = "."  # dest of a nested field: "<field>.<subfield>"


def _default(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return dataclasses.MISSING


def _strip_optional(tp: Any) -> Any:
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if Path in args:
            return Path
        return args[0] if len(args) == 1 else str
    return tp


def _shown(value: Any) -> str:
    if isinstance(value, (tuple, list)):
        return " ".join(map(str, value)) if value else "none"
    if isinstance(value, dict):
        return " ".join(f"{k}={v}" for k, v in value.items()) if value else "none"
    return str(value)


def _argparse_kwargs(f: dataclasses.Field, tp: Any, default: Any) -> dict[str, Any]:
    meta = f.metadata
    help_text = meta.get("help", "")
    kwargs: dict[str, Any] = {"dest": f.name, "default": argparse.SUPPRESS}
    if default is dataclasses.MISSING:
        kwargs["required"] = True
    elif default is not None and tp is not bool:
        help_text += f" (default: {_shown(default)})"
    kwargs["help"] = help_text.replace("%", "%%").strip() or None
    if tp is bool:
        kwargs["action"] = "store_false" if default is True else "store_true"
        return kwargs
    origin = typing.get_origin(tp)
    element = typing.get_args(tp)[0] if origin in (tuple, list) and typing.get_args(tp) else str
    if "parse" in meta:
        kwargs["type"] = str
    elif origin in (tuple, list):
        kwargs["type"] = element
        fixed = origin is tuple and Ellipsis not in typing.get_args(tp)
        kwargs["nargs"] = len(typing.get_args(tp)) if fixed else "+"
    elif tp in (int, float, str, Path):
        kwargs["type"] = tp
    else:
        raise TypeError(f"{f.name}: no command-line type for {tp}; give metadata 'parse'")
    for key in ("nargs", "metavar", "action", "choices"):
        if key in meta:
            kwargs[key] = meta[key]
    return kwargs


def _groups(parser: argparse.ArgumentParser) -> dict[str, Any]:
    groups = getattr(parser, "_dataclass_groups", None)
    if groups is None:
        groups = {}
        parser._dataclass_groups = groups  # type: ignore[attr-defined]
    return groups


def add_dataclass_arguments(parser: argparse.ArgumentParser, cls: type, *, only: set[str] | None = None,
                            prefix: str = "", dest: str = "", aliases: dict[str, tuple[str, ...]] | None = None,
                            group: str | None = None, defaults: Any = None) -> None:
    """One option per field of ``cls`` (``only`` those), in declaration order; ``defaults`` (an instance) replaces
    the fields' own defaults in the help."""
    hints = typing.get_type_hints(cls)
    groups = _groups(parser)
    for f in dataclasses.fields(cls):
        if (only is not None and f.name not in only) or not f.metadata.get("cli", True):
            continue
        tp = _strip_optional(hints[f.name])
        default = _default(f) if defaults is None else getattr(defaults, f.name)
        if dataclasses.is_dataclass(tp):
            sub = f.metadata.get("prefix", f.name.replace("_", "-"))
            add_dataclass_arguments(parser, tp, prefix=f"{sub}-", dest=f"{dest}{f.name}{_SEP}",
                                    aliases=f.metadata.get("aliases", {}), group=f.metadata.get("help", sub),
                                    defaults=default)
            continue
        title = group or f.metadata.get("group", "options")
        target = groups.setdefault(title, parser.add_argument_group(title))
        flags = [f.metadata.get("flag") or f"--{prefix}{f.metadata.get('name', f.name).replace('_', '-')}"]
        more = (aliases or {}).get(f.name, ()) if dest else f.metadata.get("aliases", ())
        kwargs = _argparse_kwargs(f, tp, default)
        kwargs["dest"] = f"{dest}{f.name}"
        if kwargs.get("action") not in ("store_true", "store_false") and "choices" not in kwargs:
            kwargs.setdefault("metavar", f.metadata.get("name", f.name).upper())
        target.add_argument(*flags, *more, **kwargs)


def _value(f: dataclasses.Field, tp: Any, raw: Any) -> Any:
    if "parse" in f.metadata:
        return f.metadata["parse"](raw)
    if typing.get_origin(tp) is tuple:
        return tuple(raw)
    return raw


def dataclass_from_args(cls: type, args: argparse.Namespace, *, base: Any = None, dest: str = "", **extra: Any):
    """``cls`` from the options the user gave (the others keep ``base``'s values, or the defaults) and ``extra``."""
    hints = typing.get_type_hints(cls)
    given = vars(args)
    values: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        tp = _strip_optional(hints[f.name])
        if dataclasses.is_dataclass(tp):
            prefix = f"{dest}{f.name}{_SEP}"
            if any(key.startswith(prefix) for key in given):
                inner = getattr(base, f.name) if base is not None else _default(f)
                values[f.name] = dataclass_from_args(tp, args, base=inner, dest=prefix)
        elif f"{dest}{f.name}" in given:
            values[f.name] = _value(f, tp, given[f"{dest}{f.name}"])
    values.update(extra)
    if base is not None:
        return dataclasses.replace(base, **values)
    return cls(**values)


def field_values(cls: type, args: argparse.Namespace, names: set[str]) -> dict[str, Any]:
    """The (not nested) fields ``names`` of ``cls`` as the user gave them, else their defaults: for a command that
    takes a few of a config's options (``add_dataclass_arguments(only=names)``) without building the config."""
    hints = typing.get_type_hints(cls)
    given = vars(args)
    return {f.name: _value(f, _strip_optional(hints[f.name]), given[f.name]) if f.name in given else _default(f)
            for f in dataclasses.fields(cls) if f.name in names}


def add_threads_argument(parser: argparse.ArgumentParser) -> None:
    """``--threads``: torch's CPU threads for the run (``torch.set_num_threads``; None: torch's own)."""
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads (default: torch's own, one per core; lower it on a machine shared "
                             "with other jobs, where oversubscribed threads are several times slower)")


def apply_threads(args: argparse.Namespace) -> None:
    """Set torch's CPU threads from ``--threads`` (:func:`add_threads_argument`) when given."""
    if args.threads is not None:
        import torch

        torch.set_num_threads(args.threads)
