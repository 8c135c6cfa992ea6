"""The ``ssl-video`` command.

Each subcommand lives next to the code it drives; this module only routes to it, so
importing the CLI stays cheap and one broken subcommand cannot break the others.

    ssl-video quickstart --out runs/quickstart
    ssl-video data make-drive data/drive --minutes 30
    ssl-video data index data/drive --json index.json
    ssl-video fit --config configs/pretrain/quickstart.yaml
    ssl-video probe --encoder runs/quickstart/weights --data data/drive --target speed_bucket --out runs/probe

A mistake in the input (a missing file, an unknown column, a bad value) prints one line and
exits 2; add ``--debug`` (or set ``SSL_VIDEO_DEBUG=1``) for the traceback.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
from collections.abc import Sequence

from ssl_video import __version__
from ssl_video.errors import UserError

# (command words) -> ("module", "function", one-line help). The function takes the remaining argv.
COMMANDS: dict[tuple[str, ...], tuple[str, str, str]] = {
    ("quickstart",): ("ssl_video.commands.quickstart", "cli_main",
                      "generate data, pretrain, export, probe: the whole idea in one run"),
    ("data", "index"): ("ssl_video.commands.data", "index_main",
                        "probe a folder or manifest of videos and report usable/skipped files"),
    ("data", "prepare"): ("ssl_video.commands.data", "prepare_main",
                          "raw footage -> training-ready copy (size, fps, short GOP) + manifest"),
    ("data", "merge"): ("ssl_video.commands.data", "merge_main",
                        "merge the shard manifests of `data prepare --num-shards`"),
    ("data", "make-drive"): ("ssl_video.commands.data", "make_drive_main",
                             "render the built-in driving world to mp4 + labels.csv"),
    ("fit",): ("ssl_video.commands.fit", "main", "pretrain an encoder (LightningCLI)"),
    ("validate",): ("ssl_video.commands.fit", "main", "validate a pretraining config/checkpoint (LightningCLI)"),
    ("probe",): ("ssl_video.commands.probe", "probe_main",
                 "label-efficiency report: probes, fine-tuning and scratch baselines"),
    ("finetune",): ("ssl_video.commands.probe", "finetune_main",
                    "fine-tune an encoder plus a head on a label fraction"),
    ("predict",): ("ssl_video.commands.predict", "cli_main", "label new windows with a saved head or fine-tuned model"),
    ("weights",): ("ssl_video.commands.weights", "cli_main", "list, download, verify and export pretrained weights"),
    ("embed",): ("ssl_video.commands.embed", "cli_main", "one feature row per window of a folder or manifest"),
    ("mine",): ("ssl_video.commands.mine", "cli_main", "rank unlabeled clips worth labeling next"),
    ("shadow",): ("ssl_video.commands.shadow", "cli_main",
                  "compare a deployed and a candidate model on the same clips"),
}
# LightningCLI parses its own subcommand, so it receives it in argv.
_PASS_COMMAND_WORD = {("fit",), ("validate",)}


def _usage() -> str:
    lines = ["usage: ssl-video <command> [options]", "", "commands:"]
    for words, (_, _, help_text) in COMMANDS.items():
        lines.append(f"  {' '.join(words):<18} {help_text}")
    lines.append("")
    lines.append("Run `ssl-video <command> --help` for the options of one command.")
    lines.append("`ssl-video --version` prints the version.")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Route to a subcommand. A :class:`~ssl_video.errors.UserError` (bad path, column or value)
    becomes one line on stderr and exit status 2; ``--debug`` (anywhere) or ``SSL_VIDEO_DEBUG=1``
    lets it raise with its traceback. Any other exception is a bug and raises as it is."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv or os.environ.get("SSL_VIDEO_DEBUG", "") not in ("", "0")
    argv = [a for a in argv if a != "--debug"]
    if argv[:1] == ["--version"]:
        print(f"ssl-video {__version__}")
        return 0
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for words, (module_name, function_name, _) in COMMANDS.items():
        if tuple(argv[: len(words)]) == words:
            rest = argv if words in _PASS_COMMAND_WORD else argv[len(words) :]
            function = getattr(importlib.import_module(module_name), function_name)
            try:
                return int(function(rest) or 0)
            except UserError as error:
                if debug:
                    raise
                print(f"ssl-video {' '.join(words)}: error: {error} (--debug shows the traceback)", file=sys.stderr)
                return 2
    print(_usage(), file=sys.stderr if argv and argv[0] not in ("-h", "--help") else sys.stdout)
    return 0 if argv and argv[0] in ("-h", "--help") else 2


if __name__ == "__main__":
    sys.exit(main())
