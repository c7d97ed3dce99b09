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
refines the next predicts from (its copy gate and skipped windows keep it). In a stream with
extended range (``StreamHeader.extended_range``) the layer aims at the source's samples outside the
RGB cube too (``color.frame_to_rgb(..., extended=True)``): ``x̂'_t`` is kept unclamped within
``color.EXTENDED_RANGE`` for the output and the next frame's sub-pel modes, and clamped to [0, 1]
only as the tokens' reference (:func:`gvc1d_codec.step.refine`). The step
``Δ = 2^(6 - e)`` follows the quality above the highest level, ``e = q - (Q - 1)`` in (0, E]
(``quality.ENHANCEMENT_LEVELS`` = 4: Δ from 61 down to 4 in 8-bit units); in a stream with wide
steps (``StreamHeader.wide_steps``, what the encoder writes) ``Δ = 2^(8 - 1.5 e)``, from 238 down
to the same 4: the layer's coarse end, whose P frames are mostly sub-pel prediction with a few
coefficients, beats the tokens' own higher levels (docs/results.md, "Wide layer steps"). Only the integers ``q`` are
entropy coded (:mod:`gvc1d_codec.entropy.residual_syntax`, integer adaptive tables); the transform
and Δ are float and touch pixels only (docs/determinism.md). The rounding offset 0.2 (a dead zone;
x264's is 1/3 intra, 1/6 inter; 0.2 measured best here) is the encoder's choice, not part of the format.

**Sub-pel prediction** (entropy model 5, P frames of models with block motion). A P frame's layer
predicts from a choice per motion block (``motion_block`` px square) instead of x̂_t alone: its
*mode* ``k`` in 0..24 takes the block from the previous picture x̂'_{t-1} moved by the block's
integer vector plus a quarter-pel fraction, and mode 25 keeps x̂_t::

    p_t[b] = x̂_t[b]                                         k_b = 25 (MODE_TOKENS)
    p_t[b] = DCT-IF(x̂'_{t-1}, b + v_b + (fy, fx) / 4)        k_b = 5 (fy + 2) + (fx + 2), fy, fx in -2..2
    r      = ycc(x_t) - ycc(p_t),   x̂'_t = p_t + rgb(DCT⁻¹(q · Δ))

DCT-IF is HEVC's separable 8-tap luma interpolation (quarter, half and three-quarter filters, in
64ths), horizontal then vertical, on each RGB channel; reference samples outside the picture repeat
its edge (:func:`subpel_blocks`). The tokens' motion is
integer and their synthesis smooths; the layer, which has to correct every pixel, gains most from
a sharp, sub-pel prediction: on carphone (12 frames, quality 5) P frames cost 0.391 bpp from x̂_t
alone and 0.277 bpp with the modes (their cost included), PSNR +0.2 dB. The modes are integers coded
with adaptive tables (:mod:`gvc1d_codec.entropy.residual_syntax`); interpolation touches pixels only.
The encoder chooses each block's mode by rate-distortion cost (:func:`choose_modes`).
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from .color import rgb_range
from .entropy.residual_syntax import BLOCK, MODE_TOKENS, MODES, ZIGZAG, mode_bits, mode_contexts

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


STEPS = {False: (6.0, 1.0), True: (8.0, 1.5)}
"""log2 Δ = a - b · e: (a, b) of streams without and with wide steps (``StreamHeader.wide_steps``)."""


def step_size(e: float, wide: bool = False) -> float:
    """Δ in 8-bit units at ``e`` levels above the model's highest (0 < e <= ENHANCEMENT_LEVELS):
    ``2^(6 - e)`` (61 .. 4), or in a stream with wide steps ``2^(8 - 1.5 e)`` (238 .. 4)."""
    a, b = STEPS[wide]
    return 2.0 ** (a - b * e)


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


def analyse(x: torch.Tensor, x_hat: torch.Tensor, height: int, width: int, delta: float) -> list[np.ndarray]:
    """The quantised coefficients (Y, Cb, Cr: int64 [blocks y, blocks x, 64], zig-zag order) of
    the residual x - x̂ ([1, 3, H, W] in [0, 1], padded to whole windows; only the top-left
    ``height`` x ``width`` pixels are the picture's, the residual is zero outside them), at the
    luma step ``delta`` (:func:`step_size`)."""
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


def synthesise(planes: list[np.ndarray], delta: float, device: torch.device, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """The RGB residual [1, 3, H, W] (0..1 units) that decoded coefficients stand for, at the luma
    step ``delta``."""
    y, cb, cr = (_idct(torch.from_numpy(p).double() * d)
                 for p, d in zip(planes, (delta, CHROMA_STEP * delta, CHROMA_STEP * delta)))
    chroma = torch.stack([cb, cr]).repeat_interleave(2, dim=1).repeat_interleave(2, dim=2)
    ycc = torch.cat([y[None], chroma]) / 255
    return torch.einsum("ij,jhw->ihw", _RGB, ycc)[None].to(device=device, dtype=dtype)


# HEVC's luma interpolation filters (DCT-IF) for 0, 1/4, 1/2 and 3/4 pel, in 64ths, taps at -3..+4
_TAPS = ((0, 0, 0, 64, 0, 0, 0, 0), (-1, 4, -10, 58, 17, -5, 1, 0),
         (-1, 4, -11, 40, 40, -11, 4, -1), (0, 1, -5, 17, 58, -10, 4, -1))
SUBPEL = 2
"""Fractions reach +-SUBPEL quarter pels on each axis: 5 x 5 = 25 sub-pel modes."""


def mode_fraction(k):
    """(fy, fx) in quarter pels of a sub-pel mode ``k`` in 0..24 (an int, or an integer array)."""
    return k // (2 * SUBPEL + 1) - SUBPEL, k % (2 * SUBPEL + 1) - SUBPEL


def _patches(previous: torch.Tensor, motion: torch.Tensor, block: int, by: np.ndarray, bx: np.ndarray) -> torch.Tensor:
    """The reference samples every fraction of blocks (``by``, ``bx``) may need: [C, n, block + 8,
    block + 8] from (y + v_y - 4, x + v_x - 4), coordinates clamped to the picture."""
    _, c, h, w = previous.shape
    mv = motion[0].long().cpu().numpy()
    t = np.arange(block + 8)
    rows = np.clip((by * block + mv[0, by, bx] - 4)[:, None] + t, 0, h - 1)
    cols = np.clip((bx * block + mv[1, by, bx] - 4)[:, None] + t, 0, w - 1)
    rows_t, cols_t = torch.from_numpy(rows).to(previous.device), torch.from_numpy(cols).to(previous.device)
    return previous[0][:, rows_t[:, :, None], cols_t[:, None, :]]


def _filter(patch: torch.Tensor, f: int, dim: int, block: int) -> torch.Tensor:
    """One DCT-IF pass over ``dim`` (2: rows, 3: columns) of patches at quarter pels ``f``: the
    ``block`` samples s with sum_i h[i] P[s + whole + i + 1] (patches start 4 samples early)."""
    whole, r = divmod(f, 4)
    if r == 0:
        return patch.narrow(dim, whole + 4, block)
    out = None
    for i, tap in enumerate(_TAPS[r]):
        if tap:
            term = patch.narrow(dim, whole + i + 1, block) * (tap / 64)
            out = term if out is None else out + term
    return out


def subpel_blocks(previous: torch.Tensor, motion: torch.Tensor, block: int, by: np.ndarray, bx: np.ndarray,
                  fy: np.ndarray, fx: np.ndarray, extended: bool = False) -> torch.Tensor:
    """Blocks (``by``, ``bx``: block rows and columns, int [n]) of the previous picture
    ``previous`` [1, C, H, W] moved by their ``motion`` vectors plus (``fy``, ``fx``) quarter pels
    (int [n]): [n, C, block, block], clamped to [0, 1] (``extended``: to ``color.EXTENDED_RANGE``,
    the range of an extended-range stream's pictures). Sample (y, x) of a block is
    ``Σ_i h_ry[i] Σ_j h_rx[j] R[clamp(y + v_y + iy + i - 3), clamp(x + v_x + ix + j - 3)]``
    with ``(iy, ry) = divmod(fy, 4)`` (likewise x) and ``h`` the DCT-IF taps: reference samples
    outside the picture repeat its edge, as HEVC pads its references (float: pixels only)."""
    patch = _patches(previous, motion, block, by, bx)
    out = torch.empty(by.size, patch.shape[0], block, block, dtype=previous.dtype, device=previous.device)
    for a, b in sorted({(int(a), int(b)) for a, b in zip(fy, fx)}):
        sel = torch.from_numpy(np.nonzero((fy == a) & (fx == b))[0]).to(previous.device)
        across = _filter(patch[:, sel].narrow(2, 0, block + 8), b, 3, block)  # rows kept, columns done
        out[sel] = _filter(across, a, 2, block).permute(1, 0, 2, 3)
    return out.clamp(*rgb_range(extended))


def _blocks_view(picture: torch.Tensor, block: int) -> torch.Tensor:
    """[1, C, H, W] -> a view [bh, bw, C, block, block] of its blocks."""
    _, c, h, w = picture.shape
    return picture[0].view(c, h // block, block, w // block, block).permute(1, 3, 0, 2, 4)


def predict(x_hat: torch.Tensor, previous: torch.Tensor, motion: torch.Tensor, modes: np.ndarray,
            block: int, extended: bool = False) -> torch.Tensor:
    """The layer's prediction p_t [1, 3, H, W] of a P frame: per block, x̂_t (``x_hat``, clamped)
    or the ``previous`` picture x̂'_{t-1} moved by the block's ``motion`` vector plus its mode's
    fraction (``modes`` int [bh, bw], see the module doc and :func:`subpel_blocks`; ``extended``:
    its range)."""
    pred = x_hat.clone()
    by, bx = np.nonzero(modes != MODE_TOKENS)
    if by.size:
        fy, fx = mode_fraction(modes[by, bx])
        moved = subpel_blocks(previous, motion, block, by, bx, fy, fx, extended).to(pred.dtype)
        _blocks_view(pred, block)[torch.from_numpy(by), torch.from_numpy(bx)] = moved.to(pred.device)
    return pred


def choose_modes(x: torch.Tensor, x_hat: torch.Tensor, previous: torch.Tensor, motion: torch.Tensor, block: int,
                 delta: float, tables, grid: tuple[int, int], window: int, extended: bool = False) -> np.ndarray:
    """The encoder's modes (int64 [bh, bw]): per block in coding order, the least
    ``SSE + MODE_LAMBDA · Δ² · bits`` (Δ = ``delta``, the layer's luma step; SSE of the prediction over RGB in 8-bit units; bits from the
    state's adaptive ``tables`` in the context the block's left and top modes give)."""
    target = _blocks_view(x, block)  # [bh, bw, C, b, b]
    bh, bw = target.shape[:2]
    by, bx = (a.reshape(-1) for a in np.indices((bh, bw)))
    flat = target.reshape(bh * bw, *target.shape[2:])

    def block_sse(cand: torch.Tensor) -> torch.Tensor:
        return ((flat - cand) * 255).pow(2).sum(dim=(1, 2, 3)).view(bh, bw)

    costs = [None] * MODES
    costs[MODE_TOKENS] = block_sse(_blocks_view(x_hat, block).reshape(bh * bw, *target.shape[2:]))
    patch = _patches(previous, motion, block, by, bx)
    for fx in range(-SUBPEL, SUBPEL + 1):  # as subpel_blocks computes them, one horizontal pass per fx
        across = _filter(patch, fx, 3, block)
        for fy in range(-SUBPEL, SUBPEL + 1):
            cand = _filter(across, fy, 2, block).permute(1, 0, 2, 3).clamp(*rgb_range(extended))
            costs[(fy + SUBPEL) * (2 * SUBPEL + 1) + fx + SUBPEL] = block_sse(cand.to(flat.dtype))
    sse = torch.stack(costs, -1).double().cpu().numpy()  # [bh, bw, MODES]
    lam = MODE_LAMBDA * delta ** 2
    bits = mode_bits(tables)  # [contexts, MODES]
    modes = np.full(sse.shape[:2], MODE_TOKENS, dtype=np.int64)
    m = window // block
    for r in range(grid[0]):  # window by window, blocks in raster order inside (the coding order)
        for c in range(grid[1]):
            for yy in range(r * m, (r + 1) * m):
                for xx in range(c * m, (c + 1) * m):
                    modes[yy, xx] = int(np.argmin(sse[yy, xx] + lam * bits[mode_contexts(modes, yy, xx)]))
    return modes


MODE_LAMBDA = 0.35
"""The weight of a mode's bits against its prediction's SSE, in Δ² (the encoder's choice)."""
