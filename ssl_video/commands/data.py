"""``ssl-video data index|prepare|merge|make-drive``: the data commands.

    ssl-video data index /data/dashcam --json index.json
    ssl-video data prepare /data/dashcam data/prepared --size 128 --fps 10
    ssl-video data merge data/prepared
    ssl-video data make-drive data/drive --minutes 30
"""

from __future__ import annotations

import argparse
import collections
import csv
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from ssl_video._io import atomic_write_json
from ssl_video.data import drive_world
from ssl_video.data.drive_world import LABEL_COLUMNS, Camera, drive_count, make_drive_dataset, write_preview
from ssl_video.data.index import VIDEO_EXTENSIONS, index_videos, video_candidates
from ssl_video.data.manifest import read_manifest
from ssl_video.data.prepare import PrepareSettings, merge_shards, prepare_dataset
from ssl_video.errors import MissingInput, UserError


def index_main(argv: list[str] | None = None) -> int:
    """``ssl-video data index PATH [--json FILE] [--min-frames N] [--no-cache] [--full-decode]``"""
    parser = argparse.ArgumentParser(prog="ssl-video data index", description=(
        "Probe every video under a folder (recursive: " + " ".join(VIDEO_EXTENSIONS) + ") or listed in a "
        "manifest CSV, and report which are usable and why the others are skipped."))
    parser.add_argument("path", help="folder of videos or manifest CSV (column `video`)")
    parser.add_argument("--json", type=Path, help="write {usable: [...], skipped: [...]} to this file")
    parser.add_argument("--min-frames", type=int, default=2, help="skip videos with fewer frames (default 2)")
    parser.add_argument("--no-cache", action="store_true", help="probe every file again, ignore the cache")
    parser.add_argument("--full-decode", action="store_true",
                        help="decode every frame of every file, to find damage in the middle of a file (slower; "
                             "later scans, training's included, reuse the cached result)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    source = Path(args.path)
    if not source.exists():
        raise MissingInput(f"{source}: no such folder or manifest CSV; give a folder of videos or a CSV with a "
                           "`video` column")
    if source.is_dir():
        paths = video_candidates(source)
    else:
        try:
            paths = list(dict.fromkeys(w.video for w in read_manifest(source)))
        except OSError as error:
            raise UserError(f"{source}: cannot read it ({error.strerror or error}); check its permissions") from None
    index = index_videos(paths, min_frames=args.min_frames, use_cache=not args.no_cache,
                         progress=not args.no_progress and sys.stderr.isatty(), full_decode=args.full_decode)
    print(index.summary())
    if args.json:
        atomic_write_json(args.json, index.to_json(), indent=1, ensure_ascii=False)
        print(f"wrote {args.json}")
    return 0


def prepare_main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ssl-video data prepare",
                                     description="Raw footage -> a training-ready copy "
                                                 "(size, constant frame rate, short GOP) + manifest.csv.")
    parser.add_argument("src", help="folder of videos or manifest CSV (windows and labels are carried over)")
    parser.add_argument("out", help="output folder: videos/, manifest.csv, skipped.csv")
    parser.add_argument("--size", type=int, required=True, help="short side in pixels (aspect ratio kept)")
    parser.add_argument("--fps", type=float, required=True, help="constant output frame rate")
    parser.add_argument("--keyframe-s", type=float, default=1.0,
                        help="seconds between keyframes (default: %(default)s)")
    parser.add_argument("--crf", type=int, default=PrepareSettings.crf, help="libx264 quality (default: %(default)s)")
    parser.add_argument("--workers", type=int, default=None, help="parallel processes (default: one per core)")
    parser.add_argument("--num-shards", type=int, default=1, help="split the videos over this many machines/jobs")
    parser.add_argument("--shard-id", type=int, default=0, help="this job's shard, 0..num-shards-1")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(list(argv) if argv is not None else None)
    settings = PrepareSettings(size=args.size, fps=args.fps, keyframe_s=args.keyframe_s, crf=args.crf)
    summary = prepare_dataset(args.src, args.out, settings, num_workers=args.workers, num_shards=args.num_shards,
                              shard_id=args.shard_id, progress=not args.quiet)
    print(f"prepared {summary['videos']} videos ({summary['skipped']} skipped), {summary['windows']} windows -> "
          f"{summary['manifest']}")
    if args.num_shards > 1:
        print(f"when every shard has finished: ssl-video data merge {args.out}")
    return 0


def merge_main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ssl-video data merge", description="merge the shard manifests of "
                                     "`ssl-video data prepare --num-shards` into OUT/manifest.csv")
    parser.add_argument("out")
    args = parser.parse_args(list(argv) if argv is not None else None)
    print(f"wrote {merge_shards(args.out)}")
    return 0


def make_drive_main(argv: list[str] | None = None) -> int:
    """``ssl-video data make-drive OUT --minutes M --seed S --size PX --fps F [--window-s W] [--preview PNG]``."""
    parser = argparse.ArgumentParser(prog="ssl-video data make-drive", description=drive_world.__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="output folder (mp4 files + labels.csv)")
    parser.add_argument("--minutes", type=float, default=30.0, help="total video length (default 30)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--size", type=int, default=128, help="frame height (and width) in pixels (default 128)")
    parser.add_argument("--width", type=int, default=None, help="frame width when not square, e.g. 228 for 16:9 at 128")
    parser.add_argument("--camera", type=float, nargs=3, default=None, metavar=("FOCAL", "HORIZON", "HEIGHT_M"),
                        help="another dash camera: focal length (fraction of the width, default 0.9), horizon row "
                             "(fraction of the height, 0.42), mounting height in metres (1.4)")
    parser.add_argument("--fps", type=float, default=10.0)
    parser.add_argument("--drive-s", type=float, default=60.0, help="length of one drive (one mp4) in seconds")
    parser.add_argument("--window-s", type=float, default=2.0, help="length of a labelled clip window in seconds")
    parser.add_argument("--preview", type=Path, default=None,
                        help="also write a PNG grid of frames from several drives")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    begin = time.perf_counter()
    try:
        cam = Camera(*args.camera) if args.camera else Camera()
        csv_path = make_drive_dataset(args.out, minutes=args.minutes, seed=args.seed, size=args.size, fps=args.fps,
                                      drive_s=args.drive_s, window_s=args.window_s, progress=not args.quiet,
                                      width=args.width, camera=cam)
    except ValueError as error:
        parser.error(str(error))
    seconds = time.perf_counter() - begin
    frames = drive_count(args.minutes, args.drive_s) * round(args.drive_s * args.fps)
    with open(csv_path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    print(f"wrote {csv_path} ({len(rows)} windows) in {seconds:.1f} s (~{frames / seconds:.0f} frames/s)")
    for column in LABEL_COLUMNS[1:]:
        counts = collections.Counter(row[column] for row in rows)
        print(f"  {column:<13} " + "  ".join(f"{k}={v}" for k, v in sorted(counts.items())))
    if args.preview is not None:
        preview = write_preview(args.preview, seed=args.seed, size=args.size, fps=args.fps, drive_s=args.drive_s,
                                width=args.width, camera=cam)
        print(f"preview: {preview}")
    return 0
