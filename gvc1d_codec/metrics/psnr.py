"""PSNR on float R'G'B' and on 8-bit Y'CbCr 4:2:0 planes.

Both compute the MSE per image (per frame) in float64, turn it into PSNR against the peak
(1.0 for float RGB, 255 for 8-bit planes), cap it at :data:`MAX_PSNR` dB (identical images give
exactly :data:`MAX_PSNR`) and then average the per-image PSNRs over the batch/frames, the
convention of DCVC and the CompressAI evaluation scripts (mean of PSNRs, not PSNR of the mean MSE).
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

MAX_PSNR = 100.0  # dB, for identical images (MSE 0) and anything closer than that
YUV_WEIGHTS = (6.0, 1.0, 1.0)  # PSNR-YUV = (6 Y + U + V) / 8

PlaneLike = np.ndarray | torch.Tensor


def psnr_from_mse(mse: np.ndarray | float, peak: float) -> np.ndarray:
    """``10 log10(peak^2 / mse)`` elementwise, capped at :data:`MAX_PSNR` (MSE 0 -> the cap)."""
    mse = np.asarray(mse, dtype=np.float64)
    with np.errstate(divide="ignore"):
        psnr = 10.0 * np.log10(peak * peak / mse)
    return np.minimum(psnr, MAX_PSNR)


def psnr_uint8(a: PlaneLike, b: PlaneLike) -> float:
    """PSNR (dB, peak 255) of two arrays of 8-bit code values taken as one image (e.g. one frame's
    Y plane, or all its planes' bytes), capped at :data:`MAX_PSNR` like the rest of this module."""
    r, d = _as_uint8_array(a), _as_uint8_array(b)
    if r.shape != d.shape:
        raise ValueError(f"shapes differ: {r.shape} vs {d.shape}")
    return float(psnr_from_mse(np.square(r.astype(np.float64) - d.astype(np.float64)).mean(), 255.0))


def psnr_rgb(a: torch.Tensor, b: torch.Tensor) -> float:
    """Mean over images of the PSNR (dB, peak 1.0) of float RGB ``[..., 3, H, W]`` in [0, 1].

    Leading dimensions are the batch; one image ``[3, H, W]`` is a batch of one.
    """
    if a.shape != b.shape or a.dim() < 3 or a.shape[-3] != 3:
        raise ValueError(f"psnr_rgb needs two [..., 3, H, W] tensors, got {tuple(a.shape)} "
                         f"and {tuple(b.shape)}")
    diff = a.detach().to(torch.float64) - b.detach().to(torch.float64)
    mse = diff.square().mean(dim=(-3, -2, -1)).cpu().numpy()
    return float(psnr_from_mse(mse, 1.0).mean())


def _as_uint8_array(plane: PlaneLike) -> np.ndarray:
    """A plane as a numpy integer array (CPU); floats are refused (8-bit code values expected)."""
    if isinstance(plane, torch.Tensor):
        plane = plane.detach().cpu().numpy()
    arr = np.asarray(plane)
    if arr.dtype.kind not in "iu":
        raise TypeError(f"YUV planes must hold 8-bit code values (an integer dtype), got {arr.dtype}")
    return arr


def psnr_planes(ref_planes: Sequence[PlaneLike],
                dist_planes: Sequence[PlaneLike]) -> tuple[float, float, float]:
    """PSNR (dB, peak 255) of the Y, U and V planes, each averaged over frames.

    Each plane is ``[..., h, w]`` (leading dimensions are frames); the MSE is taken per frame over
    the last two dimensions, so 4:2:0 chroma planes simply have their own (smaller) ``h x w``.
    """
    if len(ref_planes) != 3 or len(dist_planes) != 3:
        raise ValueError("psnr_planes needs (Y, U, V) planes for both the reference and the distorted")
    out = []
    for ref, dist in zip(ref_planes, dist_planes):
        r, d = _as_uint8_array(ref), _as_uint8_array(dist)
        if r.shape != d.shape or r.ndim < 2:
            raise ValueError(f"plane shapes differ or are not [..., h, w]: {r.shape} vs {d.shape}")
        mse = np.square(r.astype(np.float64) - d.astype(np.float64)).mean(axis=(-2, -1))
        out.append(float(psnr_from_mse(mse, 255.0).mean()))
    return out[0], out[1], out[2]


def psnr_yuv(ref_planes: Sequence[PlaneLike], dist_planes: Sequence[PlaneLike]) -> float:
    """PSNR-YUV = (6 PSNR_Y + PSNR_U + PSNR_V) / 8 of 8-bit 4:2:0 planes (see :func:`psnr_planes`).

    Per frame the weighted PSNR is the same linear combination, so this equals the mean over
    frames of the per-frame PSNR-YUV.
    """
    y, u, v = psnr_planes(ref_planes, dist_planes)
    wy, wu, wv = YUV_WEIGHTS
    return (wy * y + wu * u + wv * v) / (wy + wu + wv)
