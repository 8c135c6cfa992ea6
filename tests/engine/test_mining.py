import csv

import numpy as np
import pytest
import torch

from ssl_video.commands import mine as mine_command
from ssl_video.data.manifest import read_manifest
from ssl_video.engine import mining

CLIP = ["--context", "4", "--future", "4", "--fps", "5", "--size", "32"]  # 1.6 s clips of 32x32


def _mine(tmp_path, videos, by, *extra):
    torch.manual_seed(0)
    out = tmp_path / by
    assert mine_command.cli_main(["--encoder", "vit_tiny", "--data", str(videos), "--out", str(out), "--top", "4",
                            "--by", by, *CLIP, *extra]) == 0
    return out


def test_mine_surprise_finds_the_event_and_writes_a_manifest(tmp_path, engine_videos):
    out = _mine(tmp_path, engine_videos, "surprise")
    ranked = read_manifest(out / "ranking.csv")
    assert len(ranked) == 4
    top = ranked[0]
    assert top.video.endswith("drive_0.mp4") and top.start_s <= 5.2 < top.end_s  # the red flash at 5.2 s
    assert top.labels["rank"] == 1 and "surprise z=" in top.labels["reason"]
    assert [w.labels["score"] for w in ranked] == sorted((w.labels["score"] for w in ranked), reverse=True)
    scores = list(csv.DictReader((out / "scores.csv").open()))
    assert len(scores) == 30 and "surprise" in scores[0]  # 6 videos x 8 s / 1.6 s windows
    for name in ("top_clips.png", "random_clips.png"):
        assert (out / name).read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("by", ["diversity", "mixed"])
def test_mine_diversity_and_mixed_pick_distinct_windows(tmp_path, engine_videos, by):
    ranked = read_manifest(_mine(tmp_path, engine_videos, by) / "ranking.csv")
    keys = {(w.video, w.start_s) for w in ranked}
    assert len(keys) == 4
    if by == "diversity":
        assert len({w.video for w in ranked}) >= 2  # k-center spreads over drives


def test_mine_uncertainty_uses_labels_and_skips_labeled_windows(tmp_path, engine_videos):
    rows = list(csv.DictReader((engine_videos / "labels.csv").open()))
    labeled = [r for r in rows if float(r["start_s"]) < 4.0]  # the first half of every drive
    labels_csv = tmp_path / "labeled.csv"
    with labels_csv.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows({**r, "video": str(engine_videos / r["video"])} for r in labeled)
    out = _mine(tmp_path, engine_videos, "uncertainty", "--labels", str(labels_csv), "--target", "direction")
    with pytest.raises(ValueError, match="all .* --data windows overlap --labels"):
        _mine(tmp_path, engine_videos, "uncertainty", "--labels", str(labels_csv), "--target", "direction",
              "--data", str(labels_csv))  # the labeled windows themselves: nothing left to rank
    ranked = read_manifest(out / "ranking.csv")
    assert ranked and all(w.start_s >= 4.0 for w in ranked)  # labeled windows are never proposed again
    assert all("probe entropy" in w.labels["reason"] for w in ranked)
    entropy = [w.labels["score"] for w in ranked]
    assert entropy == sorted(entropy, reverse=True) and 0 <= min(entropy) and max(entropy) <= 1


def test_mine_refuses_bad_requests(tmp_path, engine_videos):
    with pytest.raises(ValueError, match="--labels"):
        _mine(tmp_path, engine_videos, "uncertainty")
    with pytest.raises(SystemExit):
        mine_command.cli_main(["--encoder", "vit_tiny", "--data", str(engine_videos), "--out", str(tmp_path),
                               "--by", "best"])
    with pytest.raises(ValueError, match=r"not divisible by tubelet .*--size"):  # before any clip is decoded
        _mine(tmp_path, engine_videos, "surprise", "--size", "36")
    with pytest.raises(ValueError, match="--batch-size >= 1"):
        _mine(tmp_path, engine_videos, "surprise", "--batch-size", "0")


def test_overlap_mask():
    from ssl_video.data.manifest import ClipWindow

    windows = [ClipWindow("/v/a.mp4", 0.0, 2.0), ClipWindow("/v/a.mp4", 2.0, 4.0), ClipWindow("/v/b.mp4", 0.0, None)]
    mask = mining.overlap_mask(windows, [ClipWindow("/v/a.mp4", 1.0, 2.0), ClipWindow("/v/b.mp4", 10.0, 11.0)])
    assert mask.tolist() == [True, False, True]
    assert not mining.overlap_mask(windows, []).any()
    assert np.asarray(mining.overlap_mask([], windows)).shape == (0,)


def test_mine_surprise_uses_the_predictor_shipped_with_exported_weights(tmp_path, engine_videos):
    """Weights exported with their objectives (as the built-in ones) mine with the objective's own future error,
    the same numbers as the fit checkpoint they came from; weights without them fall back to linear dynamics."""
    from ssl_video.hub import export_weights
    from ssl_video.pretrain.module import VideoPretrainer
    from ssl_video.pretrain.objectives.future_pixels import FuturePixels

    torch.manual_seed(0)
    model = VideoPretrainer(encoder_args={"img_size": 32, "num_frames": 8, "tubelet": [2, 8, 8], "embed_dim": 48,
                                          "depth": 1, "num_heads": 3},
                            objectives=[FuturePixels(predictor_dim=24, predictor_depth=1)],
                            context=4, future=4, fps=5.0, size=32)
    ckpt = {"state_dict": model.state_dict(), "global_step": 0, "epoch": 0, "hyper_parameters": dict(model.hparams)}
    model.on_save_checkpoint(ckpt)  # the checkpoint contract that `ssl-video fit` writes
    torch.save(ckpt, tmp_path / "last.ckpt")
    sources = {"ckpt": tmp_path / "last.ckpt",
               "with": export_weights(tmp_path / "last.ckpt", tmp_path / "with", objectives=True),
               "plain": export_weights(tmp_path / "last.ckpt", tmp_path / "plain")}
    surprise = {}
    for name, source in sources.items():
        out = tmp_path / name
        assert mine_command.cli_main(["--encoder", str(source), "--data", str(engine_videos), "--out", str(out),
                                      "--top", "4", "--by", "surprise", *CLIP]) == 0
        surprise[name] = [float(r["surprise"]) for r in csv.DictReader((out / "scores.csv").open())]
        reason = read_manifest(out / "ranking.csv")[0].labels["reason"]
        assert ("[linear_dynamics]" if name == "plain" else "[future_pixels]") in reason, (name, reason)
    np.testing.assert_allclose(surprise["with"], surprise["ckpt"], rtol=1e-5, atol=1e-6)
    # clips other than the predictors were trained on: the encoder's own surprise, not a shape error
    args = ["--encoder", str(sources["ckpt"]), "--data", str(engine_videos), "--out", str(tmp_path / "ctx6")]
    assert mine_command.cli_main([*args, "--top", "4", "--by", "surprise", *CLIP, "--context", "6"]) == 0
    assert "[linear_dynamics]" in read_manifest(tmp_path / "ctx6" / "ranking.csv")[0].labels["reason"]


def test_mine_and_shadow_run_on_the_gpu_when_there_is_one(monkeypatch):
    """load_model puts the encoder on CUDA when torch sees a GPU, and run_windows then uses the model's device."""
    from ssl_video.engine.clips import load_model

    moved = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.nn.Module, "to", lambda self, *args, **kwargs: moved.append(args[0]) or self)
    model = load_model("vit_tiny")
    assert model.device == "cuda" and moved == ["cuda"]
    assert load_model("vit_tiny", device="cpu").device == "cpu"


def test_mine_keeps_its_clips_and_features_in_cache_dir(tmp_path, engine_videos):
    _mine(tmp_path, engine_videos, "diversity", "--cache-dir", str(tmp_path / "cache"))
    names = sorted(p.name.split("-")[0] for p in (tmp_path / "cache").glob("*.npy"))
    assert "clips" in names and "features" in names
