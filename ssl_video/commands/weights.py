"""``ssl-video weights list | download NAME | verify [NAME|PATH] | export CKPT OUT``.

    ssl-video weights export runs/quickstart/checkpoints/last.ckpt runs/quickstart/weights
    SSL_VIDEO_WEIGHTS_REGISTRY=registry.json ssl-video weights download drive-future-tiny
    ssl-video weights verify runs/quickstart/weights
    ssl-video weights export last.ckpt runs/w --name my-encoder --registry team/registry.json  # into a registry folder
    ssl-video weights export last.ckpt runs/w --objectives   # with the predictor, for continued pretraining
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

from ssl_video.errors import MissingInput, UserError
from ssl_video.hub.api import load_encoder_with_config
from ssl_video.hub.download import sha256_file
from ssl_video.hub.format import CHECKPOINT_KEYS, WEIGHTS_FILE, export_weights
from ssl_video.hub.registry import (
    BUILTIN_REGISTRY,
    REGISTRY_ENV,
    WeightsEntry,
    add_to_registry,
    fetch_weights,
    get_weights,
    list_weights,
)


def _score(entry: WeightsEntry) -> str:
    """The first recorded score, e.g. ``speed_bucket 10%: 0.634, 100%: 0.829`` (``-`` when none is recorded)."""
    scores = entry.metrics.get("scores") or {}
    if not scores:
        return "-"
    target, values = next(iter(scores.items()))
    return f"{target} " + ", ".join(f"{k}: {v:.3f}" for k, v in values.items())


def _list(args: argparse.Namespace) -> int:
    entries = list_weights()
    if args.json:
        print(json.dumps([e.to_json() for e in entries], indent=2))
        return 0
    if not entries:
        print(f"no weights registered; point {REGISTRY_ENV} at a registry JSON file to add some")
        return 0
    rows = [("NAME", "VERSION", "ARCH", "SCORE (balanced accuracy, labels used)", "LICENSE", "SHA256", "WHERE")]
    for e in entries:
        where = "built-in" if _is_builtin(e) else "cached" if e.cache_path().exists() else "not downloaded"
        rows.append((e.full_name, "-" if e.version is None else str(e.version), str(e.config.get("architecture", "?")),
                     _score(e), e.license or "unknown", e.sha256[:12], where))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
    newest = {e.name: e for e in sorted(entries, key=lambda e: e.version or 0)}
    for name, e in newest.items():
        if e.version is not None:
            print(f"{name} = {e.full_name} (a bare name loads the newest version)")
    if any(e.metrics for e in entries):
        print("how each score was measured: ssl-video weights list --json")
    return 0


def _is_builtin(entry: WeightsEntry) -> bool:
    return entry.url == (BUILTIN_REGISTRY.parent / entry.filename).as_uri()


def _download(args: argparse.Namespace) -> int:
    path = fetch_weights(args.name, progress=not args.quiet)
    print(path)
    return 0


def _verify_entry(entry: WeightsEntry) -> bool:
    path = entry.cache_path()
    if not path.exists() and _is_builtin(entry):  # not loaded yet: the file shipped in the package
        path = BUILTIN_REGISTRY.parent / entry.filename
    if not path.exists():
        print(f"{entry.full_name}: not downloaded ({path})")
        return False
    ok = sha256_file(path) == entry.sha256
    print(f"{entry.full_name}: {'OK' if ok else 'SHA256 MISMATCH'} {path}")
    return ok


def _verify(args: argparse.Namespace) -> int:
    if args.target is None:
        results = [_verify_entry(e) for e in list_weights()]
        return 0 if all(results) else 1
    if not Path(args.target).exists():
        return 0 if _verify_entry(get_weights(args.target)) else 1
    encoder, config = load_encoder_with_config(args.target, progress=False)  # full strict load
    path = Path(args.target)
    weights = path / WEIGHTS_FILE if path.is_dir() else path
    digest = sha256_file(weights)
    known = [e.full_name for e in list_weights() if e.sha256 == digest]
    n_params = sum(p.numel() for p in encoder.parameters())
    print(f"OK {weights}: {config['architecture']} ({n_params / 1e6:.2f} M params) sha256 {digest} "
          f"size {os.path.getsize(weights)}" + (f" = registered {known}" if known else ""))
    return 0


def _read_extra(path: str) -> dict[str, Any]:
    """The ``--extra`` JSON file: an object merged into config.json; a UserError naming the file otherwise."""
    try:
        extra = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise MissingInput(f"--extra {path}: no such file; give a JSON file such as "
                           '{"training": {"data": "my-drives"}}') from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise UserError(f"--extra {path}: cannot read it as JSON ({e}); give a JSON object file") from None
    if not isinstance(extra, dict):
        raise UserError(f"--extra {path}: expected a JSON object ({{...}}), got {type(extra).__name__}")
    for key in CHECKPOINT_KEYS:  # refused before the checkpoint is read
        if key in extra:
            raise UserError(f"--extra {path}: may not set {key!r} (it comes from the checkpoint); remove it")
    return extra


def _export(args: argparse.Namespace) -> int:
    extra = _read_extra(args.extra) if args.extra else None
    path = export_weights(args.ckpt, args.out, extra, prefix=args.prefix, objectives=args.objectives) / WEIGHTS_FILE
    config = json.loads((path.parent / "config.json").read_text())
    name = args.name or f"{config['architecture']}-{Path(args.out).name}"
    entry = WeightsEntry(name=name.partition("@")[0], url=args.url or path.resolve().as_uri(), sha256=sha256_file(path),
                         size=path.stat().st_size, config=config, license=args.license)
    print(f"exported {path} ({entry.size} bytes, sha256 {entry.sha256})")
    if args.registry:
        entry = add_to_registry(path, args.registry, name=name, config=config, license=args.license)
        print(f"added {entry.full_name!r} to {args.registry} (file {entry.filename} next to it)")
        return 0
    print("registry entry (add to the 'weights' list of a registry JSON file):")
    print(json.dumps(entry.to_json()))
    return 0


def cli_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="ssl-video weights", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("list", help="registered weights: name@version, architecture, recorded score, licence, sha256")
    p.add_argument("--json", action="store_true")
    p.set_defaults(fn=_list)
    p = sub.add_parser("download", help="download and verify registered weights into the cache")
    p.add_argument("name")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(fn=_download)
    p = sub.add_parser("verify", help="check sha256 of cached weights, or fully load a local file/folder")
    p.add_argument("target", nargs="?", help="registered name or path (default: every registered entry)")
    p.set_defaults(fn=_verify)
    p = sub.add_parser("export", help="Lightning checkpoint -> folder with model.safetensors + config.json")
    p.add_argument("ckpt")
    p.add_argument("out")
    p.add_argument("--extra", help="JSON file merged into config.json (e.g. training.probe_metrics)")
    p.add_argument("--prefix", default="encoder.", help="state_dict prefix of the encoder (default: encoder.)")
    p.add_argument("--objectives", action="store_true",
                   help="also write the pretraining objectives' tensors (predictor, heads, EMA target), so that "
                        "continued pretraining can start from them (--model.init_objectives true)")
    p.add_argument("--name", help="name for the printed registry entry; with --registry a new file under an existing "
                                  "name becomes its next version (NAME@N pins the version)")
    p.add_argument("--license", help="SPDX identifier of the weights' licence, recorded in the registry entry")
    p.add_argument("--url", help="URL where the file will be served, for the printed registry entry")
    p.add_argument("--registry", help="copy the weights next to this registry JSON file (created if missing) and add "
                                      "them there as the next version of --name, with a relative url")
    p.set_defaults(fn=_export)
    args = parser.parse_args(argv)
    # A bad file (WeightsFormatError) or a failed download (DownloadError) is a UserError: ssl_video.cli.main prints
    # it as one line and exits 2, like every other command.
    return args.fn(args)
