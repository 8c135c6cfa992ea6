"""Where decord has no wheel (Linux aarch64, macOS) it is not installed: decoding must go on with PyAV."""

from __future__ import annotations

import sys

import pytest

from ssl_video.data import decode
from ssl_video.testing import read_frame_number


@pytest.fixture()
def no_decord(monkeypatch):
    monkeypatch.setitem(sys.modules, "decord", None)  # `import decord` now raises ImportError
    with pytest.raises(ImportError):
        import decord  # noqa: F401


def test_auto_falls_back_to_pyav_when_decord_is_missing(no_decord, video_folder, monkeypatch):
    path = video_folder / "h264.mp4"
    monkeypatch.setattr(decode, "DEFAULT_BACKEND", "decord")  # decord first, as a user's choice would make it
    assert decode.backend_order(path) == ["decord", "pyav"]
    with decode.open_video(path) as reader:
        assert reader.backend == "pyav"
        frames = reader.get_frames([3, 17])
    assert [read_frame_number(f) for f in frames] == [3, 17]
    assert [read_frame_number(f) for f in decode.read_frames(path, [5, 6], timeout_s=None)] == [5, 6]


def test_asking_for_decord_without_it_names_the_backend(no_decord, video_folder):
    with pytest.raises(decode.DecodeError, match=r"cannot open video \(decord: ModuleNotFoundError.*decord"):
        decode.open_video(video_folder / "h264.mp4", backend="decord")


@pytest.mark.parametrize(("platform", "machine", "installed"), [
    ("linux", "x86_64", True), ("win32", "AMD64", True),  # the only wheels decord 0.6.0 publishes (no sdist)
    ("linux", "aarch64", False), ("darwin", "arm64", False), ("darwin", "x86_64", False), ("win32", "ARM64", False),
])
def test_decord_is_a_dependency_only_where_it_has_wheels(platform, machine, installed):
    from pathlib import Path

    pyprojecttoml = pytest.importorskip("setuptools.config.pyprojecttoml")
    requirements = pytest.importorskip("packaging.requirements")
    pyproject = Path(__file__).resolve().parents[2] / "pyproject.toml"
    dependencies = pyprojecttoml.read_configuration(pyproject, expand=False)["project"]["dependencies"]
    (decord,) = [requirements.Requirement(d) for d in dependencies if d.startswith("decord")]
    assert decord.marker.evaluate({"sys_platform": platform, "platform_machine": machine}) is installed
