from __future__ import annotations

import os
import pickle

import numpy as np
import pytest
import torch

import ssl_video.data.decode as decode
from ssl_video.data.datasets import (
    ClipDataset,
    EpochSampler,
    ShardedEpochSampler,
    collate_clips,
    encode_labels,
    eval_loader,
    infer_task,
)
from ssl_video.data.manifest import load_windows
from ssl_video.data.transforms import ClipAugment
from ssl_video.spec import ClipSpec
from ssl_video.testing import read_frame_number, write_numbered_video


@pytest.fixture()
def two_rates(tmp_path, monkeypatch):
    """A 30 fps and a 10 fps file of the same 6 seconds, indexed."""
    monkeypatch.setenv("SSL_VIDEO_HOME", str(tmp_path / "home"))
    folder = tmp_path / "videos"
    folder.mkdir()
    write_numbered_video(folder / "a30.mp4", 180, fps=30.0, gop=250)
    write_numbered_video(folder / "b10.mp4", 60, fps=10.0, gop=250)
    windows, index = load_windows(folder)
    return windows, index.by_path()


def _numbers(video):  # (C, T, H, W) uint8 -> frame numbers
    return [read_frame_number(video[:, t].permute(1, 2, 0).numpy()) for t in range(video.shape[1])]


def test_encode_labels():
    codes, classes, task = encode_labels(["right", "left", "straight", "left"])
    assert classes == ["left", "right", "straight"] and codes.tolist() == [1, 0, 2, 0] and task == "classification"
    codes, classes, task = encode_labels([2.0, 10.0, 1.0])  # numeric classes sorted as numbers
    assert classes == ["1", "2", "10"] and codes.tolist() == [1, 2, 0] and codes.dtype == np.int64
    values, classes, task = encode_labels([0.5, 1.25, 3.0])
    assert task == "regression" and classes is None and values.dtype == np.float32
    assert infer_task([float(i) for i in range(50)]) == "regression"  # many distinct integers
    with pytest.raises(ValueError, match="'speed'.*'fast'"):
        encode_labels(["fast", 1.0], "regression", column="speed")
    with pytest.raises(ValueError, match="'speed'.*'inf'.*finite"):  # a text cell the manifest kept as text
        encode_labels(["0.05", "1.5", "inf"], column="speed")


def test_eval_clips_frame_exact_and_same_seconds(two_rates):
    windows, infos = two_rates
    spec = ClipSpec(context=4, future=4, fps=5.0, size=(64, 96))
    ds = ClipDataset(windows, infos, spec, mode="eval", clips_per_video=2)
    assert len(ds) == 4
    for key in range(len(ds)):
        item = ds[key]
        path, indices, _ = ds.clip_indices(key)
        assert item["video"].shape == (3, 8, 64, 96) and item["video"].dtype == torch.uint8
        assert _numbers(item["video"]) == indices.tolist()
        fps = infos[path].fps
        assert np.diff(indices).tolist() == [round(fps / 5.0)] * 7  # resampled to 5 fps
    a = [ds.clip_indices(k)[1] / infos[ds.clip_indices(k)[0]].fps for k in (0, 1)]
    b = [ds.clip_indices(k)[1] / infos[ds.clip_indices(k)[0]].fps for k in (2, 3)]
    np.testing.assert_allclose(a, b, atol=0.1 + 1e-6)  # same seconds, to one frame of the 10 fps file
    assert ds[0]["video"].equal(ds[0]["video"])
    ds.close()


def test_train_clips_seeded_by_epoch_and_index(two_rates):
    windows, infos = two_rates
    spec = ClipSpec(context=2, future=2, fps=10.0, size=(64, 96))
    ds = ClipDataset(windows, infos, spec, mode="train", clips_per_video=3, seed=7)
    same = ClipDataset(windows, infos, spec, mode="train", clips_per_video=3, seed=7)
    starts = {e: [ds.clip_indices((e, i))[1][0] for i in range(len(ds))] for e in (0, 1)}
    assert starts[0] == [same.clip_indices((0, i))[1][0] for i in range(len(ds))]
    assert starts[0] != starts[1]
    item = ds[(1, 4)]
    assert _numbers(item["video"]) == ds.clip_indices((1, 4))[1].tolist() and item["index"] == 4
    augmented = ClipDataset(windows, infos, spec, mode="train", transform=ClipAugment((32, 32)), seed=7)
    assert augmented[(0, 0)]["video"].equal(augmented[(0, 0)]["video"])  # augmentation seeded too
    assert augmented[(0, 0)]["video"].shape == (3, 4, 32, 32)
    sampler = EpochSampler(6, shuffle=True, seed=0)
    first, second = list(sampler), list(sampler)
    assert [e for e, _ in first] == [0] * 6 and [e for e, _ in second] == [1] * 6
    assert sorted(i for _, i in first) == list(range(6))
    assert [i for _, i in first] != [i for _, i in second]  # reshuffled each epoch
    sampler.set_epoch(0)
    assert list(sampler) == first


def test_frame_cache_gives_the_same_clips_within_its_budget(two_rates):
    windows, infos = two_rates
    spec = ClipSpec(context=2, future=2, fps=10.0, size=(64, 96))
    plain = ClipDataset(windows, infos, spec, mode="train", clips_per_video=3, seed=7, transform=ClipAugment((32, 32)))
    # 2 MiB hold the 60-frame file (1.1 MB at 64x96), not the 180-frame one (3.3 MB)
    cached = ClipDataset(windows, infos, spec, mode="train", clips_per_video=3, seed=7, transform=ClipAugment((32, 32)),
                         frame_cache_mb=2)
    for key in [(e, i) for e in (0, 1) for i in range(len(plain))]:
        assert cached[key]["video"].equal(plain[key]["video"]), key
    assert len(cached._frames) == 1 and cached._frames.bytes == 60 * 64 * 96 * 3
    exact = ClipDataset(windows, infos, spec, mode="train", clips_per_video=3, seed=7, frame_cache_mb=8)
    for i in range(len(exact)):
        assert _numbers(exact[(0, i)]["video"]) == exact.clip_indices((0, i))[1].tolist()
    assert len(exact._frames) == 2
    assert pickle.loads(pickle.dumps(exact))._frames is None  # decoded frames stay in the process that decoded them
    with pytest.raises(ValueError, match="frame_cache_mb"):
        ClipDataset(windows, infos, spec, frame_cache_mb=-1)


def test_frame_cache_folder_is_decoded_once_and_shared(two_rates, tmp_path, monkeypatch, caplog):
    windows, infos = two_rates
    spec = ClipSpec(context=2, future=2, fps=10.0, size=(64, 96))
    folder = tmp_path / "frames"
    kwargs = dict(mode="train", clips_per_video=3, seed=7, transform=ClipAugment((32, 32)), frame_cache_mb=8)
    plain = ClipDataset(windows, infos, spec, mode="train", clips_per_video=3, seed=7, transform=ClipAugment((32, 32)))
    first = ClipDataset(windows, infos, spec, frame_cache_dir=str(folder), **kwargs)
    keys = [(e, i) for e in (0, 1) for i in range(len(plain))]
    for key in keys:
        assert first[key]["video"].equal(plain[key]["video"]), key
    entries = sorted(folder.glob("*.npy"))
    assert len(entries) == 2 and not list(folder.glob(".*.tmp"))  # one file per video, no leftovers
    assert all(isinstance(f, np.memmap) for f in first._frames._frames.values())  # mapped, not copied
    # another process (a worker, a rank, a later run) maps the same files and decodes nothing
    def no_decoding(*args, **kwargs):
        raise AssertionError("decoded again")

    monkeypatch.setattr(decode, "read_frames", no_decoding)
    second = ClipDataset(windows, infos, spec, frame_cache_dir=str(folder), **kwargs)
    for key in keys:
        assert second[key]["video"].equal(plain[key]["video"]), key
    assert len(second._frames) == 2  # served from the folder, not by the clip-by-clip decoder
    monkeypatch.undo()
    # an entry that does not read back (a disk that filled up) is decoded and written again
    entry = first._frames.entry(windows[0].video, spec.size, "auto")
    entry.write_bytes(entry.read_bytes()[:1000])
    third = ClipDataset(windows, infos, spec, frame_cache_dir=str(folder), **kwargs)
    with caplog.at_level("WARNING"):
        assert third[keys[0]]["video"].equal(plain[keys[0]]["video"])
    assert "frame cache entry" in caplog.text and entry.stat().st_size > 1000
    # a changed video is a new entry
    os.utime(windows[0].video, ns=(1, 1))
    assert first._frames.entry(windows[0].video, spec.size, "auto") != entry


def test_frame_cache_skips_a_broken_file_like_the_decoder(two_rates, caplog):
    windows, infos = two_rates
    spec = ClipSpec(context=2, future=2, fps=10.0, size=(64, 96))
    ds = ClipDataset(windows, infos, spec, mode="eval", frame_cache_mb=64)
    bad = windows[0].video
    data = open(bad, "rb").read()
    with open(bad, "wb") as f:
        f.write(data[:2000])
    with caplog.at_level("WARNING"):
        items = [ds[0], ds[1]]
    assert items[0] is None and items[1] is not None and ds.failures[bad] == 1 and bad in caplog.text
    assert len(ds._frames) == 1  # the good file only


def test_sharded_epoch_sampler_splits_the_epoch_order_and_resumes_its_shard():
    whole = EpochSampler(7, shuffle=True, seed=3)
    whole.set_epoch(2)
    order = list(whole)
    shards = [ShardedEpochSampler(7, shuffle=True, seed=3, num_replicas=3, rank=r) for r in range(3)]
    for shard in shards:
        shard.set_epoch(2)
    keys = [list(shard) for shard in shards]
    assert [len(k) for k in keys] == [len(s) for s in shards] == [3, 3, 3]
    padded = order + order[:2]  # padded to a multiple of 3 by repeating the first keys, as DistributedSampler
    assert keys == [padded[r::3] for r in range(3)]
    shards[1].set_epoch(2)
    shards[1].resume(2, 2)
    assert list(shards[1]) == keys[1][2:]  # the rest of this process's shard, once
    after = list(shards[1])
    assert len(after) == 3 and {e for e, _ in after} == {3}  # the pass after it: all of epoch 3
    with pytest.raises(ValueError, match="consumed"):
        shards[0].resume(2, 4)


def test_corrupt_file_returns_none_counted_and_collate_drops(two_rates, caplog):
    windows, infos = two_rates
    spec = ClipSpec(context=2, future=2, fps=10.0, size=(64, 96))
    labels = np.array([0, 1])
    ds = ClipDataset(windows, infos, spec, mode="eval", labels=labels)
    bad = windows[0].video
    data = open(bad, "rb").read()
    with open(bad, "wb") as f:  # broken after indexing: the header survives, the frames do not
        f.write(data[:2000])
    with caplog.at_level("WARNING"):
        items = [ds[0], ds[1], ds[0]]
    assert items[0] is None and items[2] is None and items[1]["label"] == 1
    assert ds.failures[bad] == 2 and bad in caplog.text
    batch = collate_clips(items, clip_shape=ds.clip_shape)
    assert batch["video"].shape == (1, 3, 4, 64, 96) and batch["dropped"] == 2 and batch["label"].tolist() == [1]
    empty = collate_clips([None, None], clip_shape=ds.clip_shape)
    assert empty["video"].shape == (0, 3, 4, 64, 96) and empty["dropped"] == 2


def test_eval_loader_keeps_window_ids_and_gives_empty_batches_their_shape(two_rates):
    windows, infos = two_rates
    spec = ClipSpec(context=2, future=2, fps=10.0, size=(32, 48))
    bad = windows[0].video
    with open(bad, "r+b") as f:  # broken after indexing
        f.truncate(2000)
    loader = eval_loader(windows, infos, spec, batch_size=1, num_workers=0, clips_per_video=2, window_ids=[7, 9])
    batches = list(loader)
    assert [b["video"].shape for b in batches] == [(0, 3, 4, 32, 48)] * 2 + [(1, 3, 4, 32, 48)] * 2
    assert [b["dropped"] for b in batches] == [1, 1, 0, 0]
    assert [b["window"].tolist() for b in batches[2:]] == [[9], [9]]


def test_short_windows_dropped_or_clamped(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("SSL_VIDEO_HOME", str(tmp_path / "home"))
    (tmp_path / "v").mkdir()
    write_numbered_video(tmp_path / "v" / "short.mp4", 5, fps=10.0)
    windows, index = load_windows(tmp_path / "v")
    spec = ClipSpec(context=4, future=4, fps=10.0, size=(64, 96))
    with caplog.at_level("WARNING"):
        dropped = ClipDataset(windows, index.by_path(), spec, mode="eval")
    assert len(dropped) == 0 and dropped.num_short == 1 and "shorter than one clip" in caplog.text
    clamped = ClipDataset(windows, index.by_path(), spec, mode="eval", short="clamp")
    assert _numbers(clamped[0]["video"]) == [0, 1, 2, 3, 4, 4, 4, 4]


@pytest.mark.parametrize("frame_cache_mb", [0, 8])
def test_clips_follow_the_spec_resize_mode(wide_video, tmp_path, monkeypatch, frame_cache_mb):
    monkeypatch.setenv("SSL_VIDEO_HOME", str(tmp_path / "home"))
    windows, index = load_windows(wide_video.path.parent)
    spec = ClipSpec(context=2, future=2, fps=10.0, size=(64, 64), resize="short_side_crop")
    ds = ClipDataset(windows, index.by_path(), spec, mode="eval", frame_cache_mb=frame_cache_mb)
    item = ds[0]
    _, indices, _ = ds.clip_indices(0)
    expected = decode.read_frames(wide_video.path, indices, size=(64, 64), resize="short_side_crop")
    assert np.array_equal(item["video"].permute(1, 2, 3, 0).numpy(), expected)  # (C, T, H, W) -> (T, H, W, C)
    height, width, _, _ = wide_video.measure(expected[0])
    assert width / height == pytest.approx(1.0, abs=0.06)
    squashed = ClipDataset(windows, index.by_path(), spec.replace(resize="squash"), mode="eval")[0]["video"]
    assert not squashed.equal(item["video"])
    ds.close()


def test_only_a_decode_timeout_skips_the_retry_not_a_path_that_says_timeout(tmp_path, monkeypatch):
    """A mid-file failure is retried with a fresh reader, whatever the path; a DecodeTimeout is not (its reader may
    still be busy in its thread). A folder called "timeout tests" once made every failure look like a timeout."""
    import ssl_video.data.datasets as datasets

    monkeypatch.setenv("SSL_VIDEO_HOME", str(tmp_path / "home"))
    folder = tmp_path / "timeout tests"
    folder.mkdir()
    write_numbered_video(folder / "a.mp4", 60, fps=10.0, gop=250)
    windows, index = load_windows(folder)
    spec = ClipSpec(context=2, future=2, fps=10.0, size=(64, 96))
    retries = []
    real_read_frames = datasets.read_frames
    monkeypatch.setattr(datasets, "read_frames", lambda *a, **k: retries.append(a[0]) or real_read_frames(*a, **k))

    def broken_reader(self, path, *args, **kwargs):
        raise decode.DecodeError(f"{path}: frame 3 could not be decoded")

    monkeypatch.setattr(decode.ReaderCache, "get", broken_reader)
    ds = ClipDataset(windows, index.by_path(), spec, mode="eval")
    item = ds[0]
    assert item is not None and len(retries) == 1 and not ds.failures  # the retry decoded the clip
    assert _numbers(item["video"]) == ds.clip_indices(0)[1].tolist()

    def stuck_reader(self, path, *args, **kwargs):
        raise decode.DecodeTimeout(f"{path}: decoding took longer than 1 s (timeout); treated as a failed file")

    monkeypatch.setattr(decode.ReaderCache, "get", stuck_reader)
    ds = ClipDataset(windows, index.by_path(), spec, mode="eval")
    assert ds[0] is None and len(retries) == 1 and ds.failures[windows[0].video] == 1  # no retry after a timeout
