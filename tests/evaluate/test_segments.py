"""--clips-per-window: a labeled window read as K evenly spaced clips, by every row of the report."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from ssl_video.commands.probe import probe_main
from ssl_video.data.datasets import ClipDataset
from ssl_video.data.index import probe_video
from ssl_video.data.transforms import normalize_clip
from ssl_video.errors import UserError
from ssl_video.evaluate.features import Clips, embed, pixel_features, split_segments
from ssl_video.evaluate.finetune import EncoderHead
from ssl_video.evaluate.label_efficiency import ProbeConfig, prepare
from ssl_video.models import get_encoder

TINY = {"img_size": 32, "num_frames": 8, "tubelet": (2, 8, 8), "depth": 1, "embed_dim": 32, "num_heads": 2}


def test_split_segments_puts_each_windows_clips_in_rows():
    video = torch.arange(2 * 3 * 6 * 1 * 1).reshape(2, 3, 6, 1, 1)  # 2 windows, 2 clips of 3 frames
    clips = split_segments(video, 2)
    assert clips.shape == (4, 3, 3, 1, 1)
    assert torch.equal(clips[1], video[0, :, 3:]) and torch.equal(clips[2], video[1, :, :3])
    assert split_segments(video, 1) is video
    with pytest.raises(ValueError, match="do not split"):
        split_segments(video, 4)


def test_prepare_decodes_evenly_spaced_clips_of_each_window(labeled_videos, tiny_checkpoint, tmp_path):
    cfg = ProbeConfig(encoder=str(tiny_checkpoint), data=str(labeled_videos), targets=["direction"], out=tmp_path,
                      cache_dir=str(tmp_path / "cache"), num_workers=0, clips_per_window=2)
    prep = prepare(cfg)
    assert prep.clips.segments == 2 and prep.clips.array.shape == (32, 3, 16, 32, 32) and prep.clips.ok.all()
    infos = {video: probe_video(video) for video in {w.video for w in prep.windows}}
    direct = ClipDataset(prep.windows, infos, prep.spec, mode="eval", clips_per_video=2)
    for window in (0, 5, 31):
        for j in range(2):
            clip = direct[2 * window + j]["video"].numpy()  # (C, T, H, W)
            np.testing.assert_array_equal(prep.clips.array[window, :, 8 * j : 8 * (j + 1)], clip)
    assert not np.array_equal(prep.clips.array[:, :, :8], prep.clips.array[:, :, 8:])  # two places in time
    one = prepare(ProbeConfig(encoder=str(tiny_checkpoint), data=str(labeled_videos), targets=["direction"],
                              out=tmp_path, cache_dir=str(tmp_path / "cache"), num_workers=0))
    assert one.clips.segments == 1 and one.clips.key != prep.clips.key and one.clips.array.shape[2] == 8


def test_every_reader_of_segmented_clips_equals_its_clips_read_one_by_one():
    torch.manual_seed(0)
    encoder = get_encoder("vit_tiny", **TINY).eval()
    video = torch.randint(0, 256, (3, 3, 16, 32, 32), dtype=torch.uint8)  # 3 windows x 2 clips of 8 frames
    first, second = video[:, :, :8], video[:, :, 8:]
    mean, std = (0.5,) * 3, (0.25,) * 3
    pooled, temporal, tokens = embed(encoder, video, mean, std, tokens=True, segments=2)
    (p0, t0, k0), (p1, t1, k1) = (embed(encoder, v, mean, std, tokens=True) for v in (first, second))
    torch.testing.assert_close(pooled, (p0 + p1) / 2)
    torch.testing.assert_close(temporal, torch.cat([t0, t1], 1))  # per time step, the clips in time order
    torch.testing.assert_close(tokens, torch.cat([k0, k1], 1))  # 2 x 64 tokens <= max_tokens: nothing pooled

    ok = np.ones(3, dtype=bool)
    joined = pixel_features(Clips("k", video.numpy(), ok, segments=2))
    torch.testing.assert_close(torch.from_numpy(joined), torch.from_numpy(np.concatenate(
        [pixel_features(Clips("a", first.numpy(), ok)), pixel_features(Clips("b", second.numpy(), ok))], 1)))

    head = EncoderHead(encoder, 2, mean=mean, std=std, segments=2).eval()
    with torch.no_grad():
        features = (encoder(normalize_clip(first, mean, std)) + encoder(normalize_clip(second, mean, std))) / 2
        torch.testing.assert_close(head(video), head.head(head.norm(features)))


def test_probe_main_with_clips_per_window(labeled_videos, tiny_checkpoint, tmp_path):
    out = tmp_path / "report"
    argv = ["--encoder", str(tiny_checkpoint), "--data", str(labeled_videos), "--target", "direction",
            "--modes", "pixels,linear,temporal,attentive,scratch", "--seeds", "1", "--fractions", "1.0",
            "--clips-per-window", "2", "--finetune-steps", "2", "--attentive-epochs", "2", "--num-workers", "0",
            "--cache-dir", str(tmp_path / "cache"), "--out", str(out)]
    assert probe_main(argv) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["meta"]["clip"]["clips_per_window"] == 2
    assert {r["method"] for r in report["results"]} == {"pixels", "linear", "linear-random", "temporal",
                                                         "temporal-random", "attentive", "attentive-random", "scratch"}
    with pytest.raises(UserError, match="--clips-per-window must be >= 1"):
        ProbeConfig(encoder="vit_tiny", data="x", targets=["t"], out=tmp_path, clips_per_window=0)


def test_features_of_clips_none_of_which_decoded_is_one_line(tmp_path):
    """Every window broken or shorter than one clip: a UserError, not a KeyError from an empty feature table."""
    from ssl_video.evaluate.features import extract_features, load_eval_encoder

    clips = Clips("none", np.zeros((3, 3, 8, 32, 32), dtype=np.uint8), np.zeros(3, dtype=bool))
    with pytest.raises(UserError, match="none of the 3 windows has a clip"):
        extract_features(load_eval_encoder("vit_tiny", args=TINY), clips, cache_dir=tmp_path, device="cpu")
    with pytest.raises(UserError, match="--test-size"):
        ProbeConfig(encoder="vit_tiny", data="x.csv", targets=["speed"], out=str(tmp_path), test_size=20.0)
