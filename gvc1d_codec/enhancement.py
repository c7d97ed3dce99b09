"""The enhancement layer: a transform-coded residual on top of the token reconstruction.

The tokens carry a frame up to the quality their transform can reach; at a quality above the
model's highest level a frame also codes what they missed (a scalable refinement of the paper's
reconstruction, as SHVC's enhancement layers refine HEVC's base layer). The payload names the
tokens' level (the reference encoder: Q-2, ``quality.ENHANCED_TOKENS_LEVEL``); then

    r      = ycc(x_t) - ycc(x̂_t)                  the residual, in YCbCr (JPEG's full-range matrix,
                                                  0..255 units), Cb and Cr averaged over 2x2
    q      = sign(c) · floor(|c| / Δ + 0.2)        c = the 8x8 orthonormal DCT of each block of r
                                                  (Cb, Cr: Δ/2)
    x̂'_t   = x̂_t + rgb(DCT⁻¹(q · Δ))             chroma repeated over 2x2

``x̂'_t`` is the frame's picture and the next frame's short-term reference, so what one frame
refines the next predicts from (its copy gate and skipped windows keep it). The step
``Δ = 2^(6 - e)`` follows the quality above the highest level, ``e = q - (Q - 1)`` in (0, E]
(``quality.ENHANCEMENT_LEVELS`` = 4: Δ from 61 down to 4 in 8-bit units). Only the integers ``q`` are
entropy coded (:mod:`gvc1d_codec.entropy.residual_syntax`, integer adaptive tables); the transform
and Δ are float and touch pixels only (docs/determinism.md). The rounding offset 0.2 (a dead zone;
x264's is 1/3 intra, 1/6 inter; 0.2 measured best here) is the encoder's choice, not part of the format.
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from .entropy.residual_syntax import BLOCK, ZIGZAG

ROUNDING = 0.2
CHROMA_STEP = 0.5
"""Cb and Cr use half the luma step: measured on carphone (16 frames, qualities 4 and 5), chroma
steps of 1.5, 1, 0.7 and 0.5 times luma's cost -1 %, 0, +1.7 % and +4.5 % bits for -0.3, 0, +0.28
and +0.53 dB PSNR-YUV, and LPIPS-Alex fell with each (0.050, 0.042, 0.040, 0.037 at quality 4):
the half-resolution chroma planes are cheap, and the tokens lose colour (the issue's saturation)."""

_YCC = torch.tensor([[0.299, 0.587, 0.114],
                     [-0.168735892, -0.331264108, 0.5],
                     [0.5, -0.418687589, -0.081312411]], dtype=torch.float64)
_RGB = torch.linalg.inv(_YCC)


def _dct_matrix(n: int = BLOCK) -> torch.Tensor:
    k = torch.arange(n, dtype=torch.float64)
    m = torch.cos(math.pi * (2 * k[None, :] + 1) * k[:, None] / (2 * n)) * math.sqrt(2 / n)
    m[0] /= math.sqrt(2)
    return m


_DCT = _dct_matrix()


def step_size(e: float) -> float:
    """Δ in 8-bit units at ``e`` levels above the model's highest (0 < e <= ENHANCEMENT_LEVELS)."""
    return 2.0 ** (6 - e)


def _blocks(plane: torch.Tensor) -> torch.Tensor:
    """[H, W] -> [H/8, W/8, 64] raster blocks."""
    h, w = plane.shape
    return plane.view(h // BLOCK, BLOCK, w // BLOCK, BLOCK).permute(0, 2, 1, 3).reshape(h // BLOCK, w // BLOCK, 64)


def _unblocks(blocks: torch.Tensor) -> torch.Tensor:
    by, bx, _ = blocks.shape
    return blocks.view(by, bx, BLOCK, BLOCK).permute(0, 2, 1, 3).reshape(by * BLOCK, bx * BLOCK)


def _dct(plane: torch.Tensor) -> torch.Tensor:
    b = _blocks(plane).view(plane.shape[0] // BLOCK, plane.shape[1] // BLOCK, BLOCK, BLOCK)
    return (_DCT @ b @ _DCT.T).reshape(b.shape[0], b.shape[1], 64)[..., ZIGZAG]


def _idct(coefs: torch.Tensor) -> torch.Tensor:
    by, bx, _ = coefs.shape
    raster = torch.empty_like(coefs)
    raster[..., ZIGZAG] = coefs
    b = _DCT.T @ raster.view(by, bx, BLOCK, BLOCK) @ _DCT
    return _unblocks(b.reshape(by, bx, 64))


def analyse(x: torch.Tensor, x_hat: torch.Tensor, height: int, width: int, e: float) -> list[np.ndarray]:
    """The quantised coefficients (Y, Cb, Cr: int64 [blocks y, blocks x, 64], zig-zag order) of
    the residual x - x̂ ([1, 3, H, W] in [0, 1], padded to whole windows; only the top-left
    ``height`` x ``width`` pixels are the picture's, the residual is zero outside them)."""
    delta = step_size(e)
    r = (x - x_hat)[0].double().cpu()
    r[:, height:, :] = 0
    r[:, :, width:] = 0
    ycc = torch.einsum("ij,jhw->ihw", _YCC, r) * 255
    planes = [ycc[0], F.avg_pool2d(ycc[1:], 2)[0], F.avg_pool2d(ycc[1:], 2)[1]]
    out = []
    for p, d in zip(planes, (delta, CHROMA_STEP * delta, CHROMA_STEP * delta)):
        c = _dct(p) / d
        out.append((torch.sign(c) * torch.floor(c.abs() + ROUNDING)).long().numpy())
    return out


def synthesise(planes: list[np.ndarray], e: float, device: torch.device, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """The RGB residual [1, 3, H, W] (0..1 units) that decoded coefficients stand for."""
    delta = step_size(e)
    y, cb, cr = (_idct(torch.from_numpy(p).double() * d)
                 for p, d in zip(planes, (delta, CHROMA_STEP * delta, CHROMA_STEP * delta)))
    chroma = torch.stack([cb, cr]).repeat_interleave(2, dim=1).repeat_interleave(2, dim=2)
    ycc = torch.cat([y[None], chroma]) / 255
    return torch.einsum("ij,jhw->ihw", _RGB, ycc)[None].to(device=device, dtype=dtype)
