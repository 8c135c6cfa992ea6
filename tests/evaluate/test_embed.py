from __future__ import annotations

import csv
import os
import subprocess
import sys

import numpy as np
import pytest
import pytorch_lightning as pl
import torch

from ssl_video.cli import main
from ssl_video.data.read import read_clip
from ssl_video.errors import UserError
from ssl_video.evaluate.embed import PartWriter, embed_windows
from ssl_video.hub import load_encoder_with_config

# The tiny checkpoint's clip: 4 + 4 frames at 10 fps = 0.8 s; 8 drives of 6 s -> 7 windows of one clip each.
WINDOWS_PER_DRIVE, DRIVES = 7, 8
FAST = {"batch_size": 4, "num_workers": 0, "progress": False, "trainer_kwargs": {"accelerator": "cpu"}}


def _index(out) -> list[dict[str, str]]:
    with open(out / "index.csv", newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def embedded(labeled_videos, tiny_checkpoint, tmp_path_factory):
    """The drives folder embedded in one uninterrupted run, with tokens."""
    out = tmp_path_factory.mktemp("embed") / "full"
    result = embed_windows(str(tiny_checkpoint), labeled_videos.parent, out, tokens=True, max_tokens=8, **FAST)
    return out, result


def test_one_row_per_window_as_the_encoder_computes_it(embedded, tiny_checkpoint):
    out, result = embedded
    features, tokens, index = np.load(out / "features.npy"), np.load(out / "tokens.npy"), _index(out)
    assert result.rows == result.windows == len(index) == WINDOWS_PER_DRIVE * DRIVES and result.skipped == 0
    assert features.shape == (len(index), 32) and features.dtype == np.float32
    assert tokens.shape == (len(index), 8, 32) and tokens.dtype == np.float16  # 4x4x4 token grid pooled to 2x2x2
    assert [int(r["row"]) for r in index] == list(range(len(index)))
    assert {(r["video"].rsplit("/", 1)[-1], float(r["start_s"])) for r in index} == {
        (f"drive_{d}.mp4", round(0.8 * k, 6)) for d in range(DRIVES) for k in range(WINDOWS_PER_DRIVE)}
    # A row is what the encoder computes on the window's clip read by ssl_video.read_clip.
    encoder, config = load_encoder_with_config(tiny_checkpoint)
    for row in (0, 9, len(index) - 1):
        clip = read_clip(index[row]["video"], float(index[row]["start_s"]), config)
        with torch.no_grad():
            np.testing.assert_allclose(features[row], encoder(clip)[0].numpy(), atol=1e-5, rtol=1e-5)
    assert not (out / "parts").exists()  # joined into the output files


class _Killed(pl.Callback):
    """Stops the run as a kill would, once the first part of results is on disk."""

    def on_predict_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0):
        writer = next(c for c in trainer.callbacks if isinstance(c, PartWriter))
        if any(writer.folder.glob("part-*.npz")):
            raise RuntimeError("killed")


def test_killed_and_rerun_finishes_with_the_same_rows(embedded, labeled_videos, tiny_checkpoint, tmp_path):
    full, _ = embedded
    out = tmp_path / "resumed"
    with pytest.raises(RuntimeError, match="killed"):
        embed_windows(str(tiny_checkpoint), labeled_videos.parent, out, tokens=True, max_tokens=8, rows_per_part=8,
                      callbacks=[_Killed()], **FAST)
    assert len(list((out / "parts").glob("part-*.npz"))) == 1 and not (out / "index.csv").exists()
    result = embed_windows(str(tiny_checkpoint), labeled_videos.parent, out, tokens=True, max_tokens=8, **FAST)
    assert result.computed == result.windows - 8  # the first part was kept, not computed again
    assert _index(out) == _index(full)
    np.testing.assert_array_equal(np.load(out / "features.npy"), np.load(full / "features.npy"))
    np.testing.assert_array_equal(np.load(out / "tokens.npy"), np.load(full / "tokens.npy"))
    again = embed_windows(str(tiny_checkpoint), labeled_videos.parent, out, tokens=True, max_tokens=8, **FAST)
    assert again.computed == 0 and again.rows == result.rows  # a finished folder is left as it is
    with pytest.raises(UserError, match="holds embeddings made with another .*tokens"):
        embed_windows(str(tiny_checkpoint), labeled_videos.parent, out, **FAST)
    video = next(labeled_videos.parent.glob("*.mp4"))
    stat = video.stat()
    os.utime(video, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # the video replaced since: not a finished run
    try:
        with pytest.raises(UserError, match="another window list or videos"):
            embed_windows(str(tiny_checkpoint), labeled_videos.parent, out, tokens=True, max_tokens=8, **FAST)
    finally:
        os.utime(video, ns=(stat.st_atime_ns, stat.st_mtime_ns))


def test_command_on_a_manifest_writes_safetensors(labeled_videos, tiny_checkpoint, tmp_path, capsys):
    from safetensors.numpy import load_file

    out = tmp_path / "manifest"
    assert main(["embed", "--encoder", str(tiny_checkpoint), "--data", str(labeled_videos), "--out", str(out),
                 "--format", "safetensors", "--num-workers", "0", "--accelerator", "cpu"]) == 0
    assert "embedded 32 of 32 windows" in capsys.readouterr().out
    with open(labeled_videos, newline="") as f:
        rows = list(csv.DictReader(f))
    index = _index(out)
    times = lambda table: [(r["video"].rsplit("/", 1)[-1], float(r["start_s"]), float(r["end_s"])) for r in table]
    assert times(index) == times(rows)  # a row per manifest row, in its order
    assert load_file(str(out / "features.safetensors"))["features"].shape == (32, 32)


@pytest.mark.parametrize("argv, message", [
    (["--encoder", "drive-future-vit-tiny", "--data", "{tmp}/no such folder"], "no such folder or manifest"),
    (["--encoder", "no-such-weights", "--data", "{tmp}"], "'no-such-weights' is neither"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, argv, message):
    code = main(["embed", *[a.format(tmp=tmp_path) for a in argv], "--out", str(tmp_path / "out")])
    captured = capsys.readouterr()
    assert code == 2 and captured.out == ""
    assert len(captured.err.strip().splitlines()) == 1 and message in captured.err


@pytest.mark.slow
def test_two_processes_give_the_same_features_as_one(embedded, labeled_videos, tiny_checkpoint, tmp_path):
    """``--devices 2 --strategy ddp`` on CPU (gloo): Lightning relaunches the command once per extra process."""
    full, _ = embedded
    out = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "ssl_video.cli", "embed", "--encoder", str(tiny_checkpoint), "--data",
           str(labeled_videos.parent), "--out", str(out), "--tokens", "--max-tokens", "8", "--num-workers", "0",
           "--batch-size", "4", "--rows-per-part", "8", "--devices", "2", "--strategy", "ddp", "--accelerator", "cpu"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "MEMBER: 2/2" in done.stderr and done.stdout.count("embedded 56 of 56 windows") == 1
    assert _index(out) == _index(full)
    np.testing.assert_allclose(np.load(out / "features.npy"), np.load(full / "features.npy"), atol=1e-5, rtol=1e-5)


def test_a_public_model_is_pooled_as_its_head_reads_it(labeled_videos, tmp_path):
    """TimeSformer's pooled feature is its class token: embed's rows are ``encoder(x)``, not the tokens' mean."""
    transformers = pytest.importorskip("transformers")
    folder = tmp_path / "tsf"
    config = transformers.TimesformerConfig(image_size=32, patch_size=8, num_frames=4, hidden_size=48,
                                            num_hidden_layers=1, num_attention_heads=3, intermediate_size=96)
    torch.manual_seed(0)
    transformers.TimesformerModel(config).save_pretrained(folder)
    source = f"{folder}?fps=10"  # a window of one clip starts where the clip does (as in the test above)
    embed_windows(source, labeled_videos.parent, tmp_path / "out", **FAST)
    features, index = np.load(tmp_path / "out" / "features.npy"), _index(tmp_path / "out")
    encoder, config = load_encoder_with_config(source)
    clip = read_clip(index[0]["video"], float(index[0]["start_s"]), config)
    with torch.no_grad():
        pooled, tokens = encoder(clip)[0], encoder.forward_features(clip)[0].mean(0)
    np.testing.assert_allclose(features[0], pooled.numpy(), atol=1e-4, rtol=1e-4)
    assert not np.allclose(features[0], tokens.numpy(), atol=1e-2)
