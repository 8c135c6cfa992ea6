"""``ssl-video predict``: label new windows with a saved head or a fine-tuned model.

    ssl-video probe --encoder drive-future-vit-tiny --data data/drive/labels.csv --target speed_bucket \\
        --fractions 0.1 --out runs/probe --save-heads runs/heads
    ssl-video predict --model runs/heads/speed_bucket/0.1 --data new_drives/ --out predictions.csv

``--data`` is a manifest CSV (its windows) or a folder of videos, cut into consecutive windows as long as
the head's labeled windows. Each window's clip is read as the probe read it (the head's preprocessing
record), and the CSV gets the predicted class and one ``p_<class>`` probability column per class (or the
predicted value of a regression label). When the manifest has the head's label column, its metrics print.
"""

from __future__ import annotations

import argparse
import logging
import os
import tempfile
from collections.abc import Sequence

from ssl_video.commands.options import add_dataclass_arguments, add_threads_argument, apply_threads, field_values
from ssl_video.data.manifest import window_row
from ssl_video.evaluate.config import ProbeConfig

log = logging.getLogger(__name__)

RUNTIME_FIELDS = {"batch_size", "num_workers"}  # ProbeConfig's, so help and defaults are the probe's


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="ssl-video predict", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="a `probe --save-heads` folder (DIR/<target>/<fraction>) or "
                                                       "a `finetune --out` folder")
    parser.add_argument("--data", required=True, help="manifest CSV of windows, or a folder of videos")
    parser.add_argument("--out", required=True, help="predictions CSV to write")
    parser.add_argument("--encoder", default=None, help="where the head's encoder is now, if it moved (default: "
                                                        "the recorded source; its fingerprint must match)")
    parser.add_argument("--window-s", type=float, default=None, help="window length for a folder of videos "
                                                                      "(default: the head's labeled windows)")
    add_dataclass_arguments(parser, ProbeConfig, only=RUNTIME_FIELDS)
    parser.add_argument("--cache-dir", default=None, help="keep the decoded clips here (default: a temporary folder)")
    add_threads_argument(parser)
    return parser.parse_args(list(argv) if argv is not None else None)


def cli_main(argv: Sequence[str] | None = None) -> int:
    args = _parse(argv)
    import numpy as np

    from ssl_video._io import write_csv
    from ssl_video.data.datasets import class_name
    from ssl_video.data.windows import load_sliding_windows
    from ssl_video.evaluate.heads import load_classifier, predict_windows
    from ssl_video.evaluate.probes import metrics

    apply_threads(args)
    clf = load_classifier(args.model, encoder=args.encoder)
    window_s = None  # a manifest's rows are the windows; a folder is cut as the head's training windows were
    if os.path.isdir(args.data):
        window_s = args.window_s or clf.info.get("window_s") or clf.preprocessing.duration_s
    windows, infos = load_sliding_windows(args.data, window_s=window_s, stride_s=None,
                                          spec=clf.preprocessing)
    with tempfile.TemporaryDirectory() as tmp:
        ok, out = predict_windows(clf, windows, infos, **field_values(ProbeConfig, args, RUNTIME_FIELDS),
                                  cache_dir=args.cache_dir or tmp)
    target, classes = clf.info.get("target", "label"), clf.classes
    rows, truth, pred = [], [], []
    for window, output in zip((w for w, good in zip(windows, ok) if good), out):
        row = window_row(window)
        if classes:
            probs = output.double().softmax(-1)
            guess = int(output.argmax())
            row |= {"prediction": classes[guess], **{f"p_{c}": float(p) for c, p in zip(classes, probs)}}
            name = class_name(window.labels[target]) if target in window.labels else None
            known = classes.index(name) if name in classes else None
        else:
            guess = float(output)
            row["prediction"] = guess
            known = float(window.labels[target]) if target in window.labels else None
        if known is not None:
            row[target] = window.labels[target]
            truth.append(known)
            pred.append(guess)
        rows.append(row)
    columns = ["video", "start_s", "end_s", "sequence", "prediction", *(f"p_{c}" for c in classes or [])]
    columns += [target] if truth else []
    write_csv(args.out, columns, rows, float_format=".6g")
    failed = f" ({int((~ok).sum())} windows could not be decoded)" if (~ok).any() else ""
    print(f"wrote {len(rows)} predictions of {target} ({clf.info.get('mode')} head) to {args.out}{failed}")
    if truth:
        found = metrics(np.asarray(truth), np.asarray(pred), clf.task)
        print(f"  on the {len(truth)} labeled windows: " + ", ".join(f"{k} {v:.4f}" for k, v in found.items()))
    return 0
