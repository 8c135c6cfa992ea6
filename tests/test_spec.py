"""spec.py: the preprocessing record round-trips through JSON and reads every record written so far."""

from __future__ import annotations

import json

import pytest

from ssl_video.errors import UserError
from ssl_video.spec import CLIP_FIELDS, IMAGENET_MEAN, IMAGENET_STD, ClipSpec, size_hw


def test_to_dict_from_dict_round_trip_through_json():
    spec = ClipSpec(context=3, future=5, fps=7.5, size=(48, 64), mean=(0.5, 0.4, 0.3), std=(0.2, 0.25, 0.3))
    record = json.loads(json.dumps(spec.to_dict()))
    assert set(record) == {"context", "future", "fps", "size", "resize", "mean", "std"}
    assert record["size"] == [48, 64] and record["resize"] == "squash"
    assert ClipSpec.from_dict(record) == spec


def test_an_old_record_with_an_int_size_and_no_resize_mean_std_gets_what_those_versions_used():
    spec = ClipSpec.from_dict({"fps": 10, "size": 64, "context": 4, "future": 2})
    assert (spec.context, spec.future, spec.fps, spec.size) == (4, 2, 10.0, (64, 64))
    assert spec.resize == "squash" and spec.mean == IMAGENET_MEAN and spec.std == IMAGENET_STD
    assert isinstance(spec.fps, float) and ClipSpec.from_dict(None) == ClipSpec()


def test_the_0_1_0_record_keeps_its_mean_std_and_ignores_keys_it_does_not_know():
    record = {"fps": 5.0, "size": [32, 48], "mean": [0.45, 0.45, 0.45], "std": [0.225, 0.225, 0.225],
              "context": 2, "future": 2, "crop": "centre"}  # a key of some later version: ignored
    spec = ClipSpec.from_dict(record)
    assert spec == ClipSpec(context=2, future=2, fps=5.0, size=(32, 48), mean=(0.45,) * 3, std=(0.225,) * 3)


def test_overrides_that_are_set_win_and_none_keeps_the_record():
    record = ClipSpec(context=4, future=4, fps=10.0, size=(64, 64)).to_dict()
    spec = ClipSpec.from_dict(record, size=[32], fps=None, context=2)
    assert (spec.context, spec.future, spec.fps, spec.size) == (2, 4, 10.0, (32, 32))
    assert ClipSpec.from_dict(record).replace(size=[16, 24], fps=None).size == (16, 24)


def test_from_checkpoint_reads_the_record_and_the_older_clip_normalize_pair():
    spec = ClipSpec(context=2, future=2, fps=10.0, size=(32, 32), mean=(0.5,) * 3, std=(0.25,) * 3)
    new = {"encoder": {}, "preprocessing": spec.to_dict()}
    old = {"encoder": {}, "clip": {"context": 2, "future": 2, "fps": 10.0, "size": [32, 32]},
           "normalize": {"mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25]}}
    assert ClipSpec.from_checkpoint(new) == ClipSpec.from_checkpoint(old) == spec
    no_normalize = {"clip": {"context": 2, "future": 2, "fps": 10.0, "size": [32, 32]}}
    assert ClipSpec.from_checkpoint(no_normalize).mean == IMAGENET_MEAN


def test_clip_fields_decide_the_pixels_and_leave_normalization_out():
    spec = ClipSpec(context=2, future=2, fps=10.0, size=(32, 32))
    assert tuple(spec.clip_fields()) == CLIP_FIELDS
    assert spec.replace(mean=(0.5,) * 3, std=(0.5,) * 3).clip_fields() == spec.clip_fields()
    assert spec.replace(resize="short_side_crop").clip_fields() != spec.clip_fields()
    assert spec.replace(size=(32, 48)).clip_fields() != spec.clip_fields()


def test_size_hw_and_refused_records():
    assert size_hw(64) == (64, 64) and size_hw([48]) == (48, 48) and size_hw((32, 48)) == (32, 48)
    assert size_hw([32.0, 48.0]) == (32, 48)
    with pytest.raises(UserError, match="size must be an int or"):
        size_hw([1, 2, 3])
    with pytest.raises(UserError, match="resize"):
        ClipSpec(resize="stretch")
    with pytest.raises(UserError, match="mean/std"):
        ClipSpec.from_dict({"mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5]})
