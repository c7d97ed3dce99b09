"""Continuous quality: a quality is a level of the model plus a fraction, in steps of 1/16.

A model is trained at ``Q`` levels 0..Q-1, each with its own quantiser gains (DCVC-FM style, one
model for every rate) and condition of the entropy model. A quality q between two levels
``lo = floor(q)`` and ``lo + 1`` uses (DCVC-FM's continuous q-scale)::

    log gain_q     = (1 - f) · log gain_lo     + f · log gain_{lo+1}        f = q - lo
    log inv_gain_q = (1 - f) · log inv_gain_lo + f · log inv_gain_{lo+1}
    condition_q    = (16 - k) · e(lo) + k · e(lo + 1)                       k = 16 f, an integer
    lambda_q       = lambda_lo^(1 - f) · lambda_{lo+1}^f                    (encoder decisions)

The entropy model only ever sees the integer ``code = 16 q`` (``k`` and ``lo``; the "two-hot"
condition in ``docs/bitstream.md``), and each packet carries that code, so a decoder needs nothing
else and symbols stay exact on every machine. At a whole level (k = 0) everything is exactly the
level's own. The gains are float, but only the encoder's symbols and the decoder's pixels depend
on them, never a probability.

Torch is imported only by the functions on tensors: ``gvc1d-pipe info`` reads qualities without it.
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch  # deferred: the rest of this module is torch-free (gvc1d-pipe info --qualities)

QUALITY_STEPS = 16
"""A quality is a multiple of 1/QUALITY_STEPS of a level; its code is QUALITY_STEPS · q."""


ENHANCEMENT_LEVELS = 4
"""Qualities above a model's highest level Q-1, up to Q-1+ENHANCEMENT_LEVELS, add the enhancement
layer (:mod:`gvc1d_codec.enhancement`) to that level's tokens."""


def highest(levels: int, enhanced: bool = True) -> int:
    """The highest quality of a model of ``levels`` levels (with the enhancement layer, or not)."""
    return levels - 1 + (ENHANCEMENT_LEVELS if enhanced else 0)


def max_code(levels: int, enhanced: bool = False) -> int:
    """The highest quality code: of the tokens' levels alone, or (``enhanced``) of any frame."""
    return QUALITY_STEPS * highest(levels, enhanced)


def quality_code(quality: float, levels: int, enhanced: bool = False) -> int:
    """The code of a quality (rounded to the nearest 1/16, halves up); ValueError out of range
    (0..Q-1, or with ``enhanced`` 0..Q-1+ENHANCEMENT_LEVELS)."""
    try:
        q = float(quality)
    except (TypeError, ValueError):
        raise ValueError(f"quality {quality!r} is not a number") from None
    top = highest(levels, enhanced)
    if not math.isfinite(q) or not 0 <= q <= top:
        raise ValueError(f"quality {q:g} out of range (this model has 0..{top}, in steps of 1/{QUALITY_STEPS})")
    return min(math.floor(q * QUALITY_STEPS + 0.5), max_code(levels, enhanced))


ENHANCED_TOKENS_LEVEL = -2
"""The encoder's choice of the tokens' level under an enhancement layer: Q-2, the second highest
(each frame's payload names it). Measured on carphone and cockatoo (docs/results.md): the layer
on level Q-2 reaches the same PSNR as on Q-1 for 5-40 % fewer bits, since the highest level's
tokens cost 2-4x the second's for 0.3-2 dB that the layer buys more cheaply."""


def enhanced_tokens_level(levels: int) -> int:
    """The tokens' level under an enhancement layer for a model of ``levels`` levels (``ENHANCED_TOKENS_LEVEL``)."""
    return max(0, levels + ENHANCED_TOKENS_LEVEL)


def split_enhanced(quality: float, levels: int) -> tuple[float, float]:
    """The encoder's split of a quality -> (the tokens' quality, e): above the highest level Q-1,
    ``e = quality - (Q-1)`` > 0 levels of enhancement layer on the tokens of level
    ``ENHANCED_TOKENS_LEVEL``; else (quality, 0)."""
    if quality > levels - 1:
        return float(enhanced_tokens_level(levels)), quality - (levels - 1)
    return quality, 0.0


def coding_point(quality: float, levels: int) -> float:
    """The quality a frame is coded at (its payload's code / 16, what the decoder reads) for the
    encoder's quality setting ``quality`` in 0..Q-1+E (E = ``ENHANCEMENT_LEVELS``; a multiple of
    1/16): the tokens' own levels up to ``b = Q-2`` (``ENHANCED_TOKENS_LEVEL``), then the
    enhancement layer on level b's tokens, its ``e`` spread over the rest of the scale::

        quality <= b:   the tokens alone at ``quality``
        quality >  b:   Q-1 + e,   e = max(1/16, round16((quality - b) · E / (Q-1+E-b)))

    so the highest setting is still e = E. The tokens' highest level Q-1 (and the qualities
    between b and Q-1) are never chosen by a fixed setting: they are dominated. Measured on
    training clips (foreman and bikes, 9 frames, and foreman 32; docs/results.md, "Quality scale"):
    the layer's coarsest step on level Q-2's tokens costs less than level Q-1 alone for 3-4 dB
    more PSNR-YUV and lower LPIPS (foreman: 0.084 bpp, 35.0 dB, LPIPS 0.116 against 0.184 bpp,
    32.0 dB, 0.178), and the layer on lower levels' tokens is worse at every step
    (e.g. on level 0's tokens LPIPS stays at level 0's). Rate control chooses coding points
    itself, among the tokens' levels (:mod:`gvc1d_codec.ratecontrol`)."""
    base = enhanced_tokens_level(levels)
    if quality <= base:
        return float(quality)
    top = highest(levels)
    e = max(1, math.floor((quality - base) * ENHANCEMENT_LEVELS / (top - base) * QUALITY_STEPS + 0.5))
    return levels - 1 + from_code(min(e, QUALITY_STEPS * ENHANCEMENT_LEVELS))


def from_code(code: int) -> float:
    """The quality of a code (exact in binary floating point)."""
    return code / QUALITY_STEPS


def split(quality: torch.Tensor, levels: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Qualities (a tensor of levels, whole or multiples of 1/16) -> integer (lo, hi, k) with
    q = lo + k / 16 and hi = min(lo + 1, levels - 1)."""
    code = (quality.double() * QUALITY_STEPS + 0.5).floor().long()
    lo = code.div(QUALITY_STEPS, rounding_mode="floor")
    return lo, (lo + 1).clamp(max=levels - 1), code - QUALITY_STEPS * lo


def interpolate(table: torch.Tensor, quality: torch.Tensor) -> torch.Tensor:
    """Rows of a per-level ``table`` [Q, C] at ``quality`` [N] -> [N, C], linear between levels
    (exactly the level's row at a whole level)."""
    if not quality.is_floating_point():
        return table[quality]
    lo, hi, k = split(quality, table.shape[0])
    f = (k.to(table.dtype) / QUALITY_STEPS)[:, None]
    return table[lo] * (1 - f) + table[hi] * f


def condition(quality: int | float | torch.Tensor, intra: bool, levels: int, n: int, one: int,
              device: torch.device | str = "cpu", dtype: torch.dtype | None = None) -> torch.Tensor:
    """The entropy model's condition input [n, 2·levels] (integers): ``one`` at index
    2·level + intra for a whole level; for lo + k/16, ``one · (16 - k) / 16`` at lo's index and
    ``one · k / 16`` at lo + 1's (``one`` is a multiple of 16). Order: q0-P, q0-I, q1-P, ..."""
    import torch

    q = torch.as_tensor(quality, device=device).reshape(-1).expand(n)
    lo, hi, k = split(q, levels)
    out = torch.zeros(n, 2 * levels, dtype=torch.long, device=device)
    unit = one // QUALITY_STEPS
    out.scatter_add_(1, (2 * lo + int(intra))[:, None], ((QUALITY_STEPS - k) * unit)[:, None])
    out.scatter_add_(1, (2 * hi + int(intra))[:, None], (k * unit)[:, None])
    return out.to(torch.float64 if dtype is None else dtype)


def level_lambda(lambdas: tuple[float, ...] | list[float], quality: float) -> float:
    """The rate-distortion lambda at a quality: geometric between the levels' lambdas."""
    lo = min(int(math.floor(quality)), len(lambdas) - 1)
    f = quality - lo
    if f <= 0 or lo + 1 >= len(lambdas):
        return float(lambdas[lo])
    return float(lambdas[lo]) ** (1 - f) * float(lambdas[lo + 1]) ** f


MOTION_LAMBDA_SCALE = 0.5
"""The motion vectors' lambda relative to the tokens' level's, in frames without the enhancement
layer (the encoder's choice: ``model/motion.py: choose_motion_rd``). Measured on training clips
(``python benchmarks/encoder_choice.py --constant quality.MOTION_LAMBDA_SCALE --values 1,0.5``, 8-12 frames of foreman, bikes, mobile,
zhling720p, qualities 0, 1, 2): half the level's lambda costs BD-rate -1.7 / +0.3 / -0.4 / -0.1 %
under PSNR-YUV and -5.1 / -1.2 / -7.5 / -2.3 % under LPIPS-Alex against the full one (under format 3,
a quarter and twice the lambda were worse than half; docs/results.md, "Motion format 4")."""
LAYER_MOTION_LAMBDA_SCALE = 4.0
"""The same in frames with the enhancement layer, whose sub-pel prediction starts from the vectors:
there half the lambda was worse than the full one (LPIPS-Alex at quality 4: foreman 0.0397 against
0.0373, bikes 0.0951 against 0.0899), and four times it beats the full one on training clips
(``python benchmarks/encoder_choice.py --constant quality.LAYER_MOTION_LAMBDA_SCALE --values 1,4,16,64 --qualities 3,4,5,6 --clips
foreman:12,bikes:10,zhling720p:8``: BD-rate -1.1 / -3.3 / -0.3 % under PSNR-YUV and -6.6 / -7.2 /
-5.8 % under LPIPS-Alex; 16 times: -0.7 / -5.2 / +0.7 % and -6.6 / -8.0 / -8.4 %; docs/results.md,
"Motion format 4")."""


def motion_lambda(lambdas: tuple[float, ...] | list[float], quality: float, e: float = 0.0) -> float:
    """The lambda the encoder weighs the motion vectors' bits with, at the tokens' ``quality`` and
    the enhancement layer's step ``e`` (0: no layer)."""
    return level_lambda(lambdas, quality) * (LAYER_MOTION_LAMBDA_SCALE if e > 0 else MOTION_LAMBDA_SCALE)


def header_quality(code: int) -> float | None:
    """The stream header's informative ``quality`` field: the encoder's fixed quality, or ``None``
    for 255 (each frame's quality chosen by rate control)."""
    return None if code == 255 else from_code(code)
