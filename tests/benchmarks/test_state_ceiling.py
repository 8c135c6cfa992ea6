"""benchmarks/state_ceiling.py: a label the ego state holds is read from it; one it does not hold is not."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np


def _drives(folder: Path, drives: int = 10, windows: int = 12, fps: float = 5.0) -> Path:
    """Drives whose speed holds ``speed_bucket`` and whose ``coin`` label is a coin flip."""
    rng = np.random.default_rng(0)
    rows = []
    for d in range(drives):
        name = f"drive_{d:03d}"
        per = int(2 * fps)
        speed = np.repeat(rng.choice([5.0, 15.0, 25.0], windows), per) + rng.normal(0, 0.5, windows * per)
        t = np.arange(windows * per) / fps
        np.savez(folder / f"{name}.npz", fps=fps, t=t, speed=speed, heading=np.zeros_like(t),
                 x=np.cumsum(speed) / fps, y=rng.normal(0, 0.1, len(t)))
        for w in range(windows):
            mean = speed[w * per:(w + 1) * per].mean()
            rows.append({"video": f"{name}.mp4", "start_s": 2.0 * w, "end_s": 2.0 * (w + 1), "sequence": name,
                         "speed_bucket": "slow" if mean < 10 else "medium" if mean < 20 else "fast",
                         "coin": str(rng.choice(["heads", "tails"]))})
    path = folder / "labels.csv"
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def test_reads_what_the_state_holds_and_not_a_coin(tmp_path, capsys, script):
    path = _drives(tmp_path)
    assert script("state_ceiling").main(["--data", str(path), "--target", "speed_bucket", "coin", "--fractions", "1.0",
                           "--seeds", "2"]) == 0
    table = {}
    for line in capsys.readouterr().out.splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) == 3 and "±" in cells[2]:
            table[cells[0], cells[1].split()[0]] = float(cells[2].split()[0])
    assert table["speed_bucket", "linear"] > 0.9 and table["speed_bucket", "boosted"] > 0.9
    assert table["coin", "linear"] < 0.75 and table["coin", "boosted"] < 0.75


def test_missing_data_or_label_is_one_line(tmp_path, capsys, script):
    assert script("state_ceiling").main(["--data", str(tmp_path / "labels.csv")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "external_drives.py" in err[0]
    path = _drives(tmp_path)
    assert script("state_ceiling").main(["--data", str(path), "--target", "turn_now"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "turn_now" in err[0]
