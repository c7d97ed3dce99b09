"""Block motion: encoder-side estimation and the decoder's warp (block copy).

The short-term reference of a predicted frame is the previous reconstruction moved by one
integer motion vector per ``block`` x ``block`` block::

    mv     = estimate_motion(x_t, x̂_{t-1}, block, search)   encoder only: [B, 2, ceil(H/b), ceil(W/b)]
    x̄_t    = warp(x̂_{t-1}, mv, block)                       encoder and decoder

``mv[:, 0]`` is the vertical and ``mv[:, 1]`` the horizontal displacement in whole pixels:
``x̄_t[y, x] = x̂_{t-1}[clamp(y + mv_y), clamp(x + mv_x)]`` (clamp to the picture's edge).

* :func:`warp` is a gather with integer indices: no float arithmetic touches a pixel, so the
  decoder's reference is exactly the encoder's (given the same x̂_{t-1}), on every machine.
* :func:`warp_overlapped` (configs with ``motion_overlap``): overlapped block motion
  compensation. Each pixel blends the predictions of the four blocks whose centres surround it,
  with bilinear (triangular) window weights in 1/(2*block) steps, so block edges do not appear in
  the reference. The weights are exact dyadic fractions and the sum runs in a fixed order; only
  pixels are computed in float (the entropy model never sees them).
* :func:`estimate_motion` compares integer luma (R + G + B in 8-bit steps, 0..765) by integer
  SAD, so its choice does not depend on float summation order either. It is hierarchical: an
  exhaustive search of +-``search / 2^levels`` on a 2^levels-downsampled picture, then +-1
  refinement at every finer level (plus the neighbouring blocks' vectors as candidates), with a bias towards the zero vector (static content, and
  cheap to code) and, on equal cost, towards the shorter vector. It runs without gradients.

The vectors are integers within +-(search + levels) (int16 range); coding them is the
bitstream's business (an integer model), never a float probability.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..entropy import motion_syntax as syntax  # the coded syntax's predictions and costs (integers)

__all__ = ["estimate_motion", "search_range", "choose_motion_rd", "warp", "warp_overlapped", "compensate", "ZERO_MV_BIAS"]

ZERO_MV_BIAS = 2
"""The zero vector wins unless another one saves more than this many luma steps per pixel of the
block (in R + G + B 8-bit units, so about 2/3 of a grey level)."""

SEARCH_REFERENCE_PIXELS = 416 * 240
"""The picture size at which the encoder searches the config's ``motion_search``: larger pictures
search proportionally to their side (:func:`search_range`)."""
SEARCH_MAX = 48
"""The widest search: its vectors (within +-(search + 3) after the hierarchical refinement) stay
inside the syntax's +-MV_MAX = 63 (entropy/definition.py)."""


def search_range(base: int, height: int, width: int) -> int:
    """The encoder's search radius for a ``height`` x ``width`` picture: ``base`` (the config's
    ``motion_search``) at 416x240 and below, growing with the picture's side up to SEARCH_MAX.
    Motion in pixels grows with the resolution: on cockatoo 720p, frames 1-2 move by more than 19
    px, and a +-16 search predicted them at 27.1 / 23.3 dB (source to source) where +-32 reached
    32.0 / 30.5 dB (see docs/results.md, "Motion search range")."""
    scale = math.sqrt(height * width / SEARCH_REFERENCE_PIXELS)
    return int(min(SEARCH_MAX, max(base, round(base * scale))))


def _expand(mv: torch.Tensor, block: int, h: int, w: int) -> torch.Tensor:
    """[B, 2, bh, bw] -> per-pixel [B, 2, h, w] (each block's vector repeated over its pixels)."""
    return mv.repeat_interleave(block, dim=2).repeat_interleave(block, dim=3)[:, :, :h, :w]


def warp(reference: torch.Tensor, mv: torch.Tensor, block: int) -> torch.Tensor:
    """Block copy: ``reference`` [B, C, H, W] (any dtype), ``mv`` integer [B, 2, ceil(H/block),
    ceil(W/block)] -> [B, C, H, W] with every block taken from ``reference`` displaced by its
    vector, indices clamped to the edge. A pure gather (differentiable w.r.t. ``reference``)."""
    b, c, h, w = reference.shape
    if mv.shape != (b, 2, -(-h // block), -(-w // block)):
        raise ValueError(f"motion field {tuple(mv.shape)} does not fit a {h}x{w} picture in {block} px blocks")
    mv = _expand(mv.long(), block, h, w)
    iy = (torch.arange(h, device=mv.device)[:, None] + mv[:, 0]).clamp_(0, h - 1)
    ix = (torch.arange(w, device=mv.device)[None, :] + mv[:, 1]).clamp_(0, w - 1)
    index = (iy * w + ix).view(b, 1, h * w).expand(b, c, h * w)
    return reference.reshape(b, c, h * w).gather(2, index).view(b, c, h, w)


def _edge_padded(t: torch.Tensor, pad: int) -> torch.Tensor:
    """``t`` [..., H, W] with ``pad`` copies of its edge pixels on every side (any dtype): index
    i of the result is pixel clamp(i - pad), as :func:`warp` clamps its indices."""
    h, w = t.shape[-2:]
    rows = torch.arange(-pad, h + pad, device=t.device).clamp_(0, h - 1)
    cols = torch.arange(-pad, w + pad, device=t.device).clamp_(0, w - 1)
    return t[..., rows, :][..., cols]


def warp_overlapped(reference: torch.Tensor, mv: torch.Tensor, block: int) -> torch.Tensor:
    """Overlapped block motion compensation (see the module doc): ``reference`` [B, C, H, W]
    (float), ``mv`` as for :func:`warp`. Where the four surrounding blocks share a vector, this is
    that vector's block copy (up to float rounding of weights that sum to 1)."""
    b, c, h, w = reference.shape
    bh, bw = -(-h // block), -(-w // block)
    if mv.shape != (b, 2, bh, bw):
        raise ValueError(f"motion field {tuple(mv.shape)} does not fit a {h}x{w} picture in {block} px blocks")
    mv = mv.long()
    dev = mv.device

    def axis(n: int, blocks: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        # pixel p lies between the centres of blocks k0 and k0 + 1 (clamped at the picture's edge),
        # at fraction a = ((2p + 1) - block * (2 k0 + 1)) / (2 block): exact in float
        p2 = 2 * torch.arange(n, device=dev) + 1
        k0 = torch.div(p2 - block, 2 * block, rounding_mode="floor")
        a = (p2 - block * (2 * k0 + 1)).to(reference.dtype) / (2 * block)
        return k0.clamp(0, blocks - 1), (k0 + 1).clamp(0, blocks - 1), a

    y0, y1, ay = axis(h, bh)
    x0, x1, ax = axis(w, bw)
    # the reference padded by the longest vector's length with its edge pixels, so that a vector's
    # pixel is base + (its flat offset), with no clamp: the same pixels as clamping to the edge
    pad = int(mv.abs().max()) if mv.numel() and mv.device.type != "meta" else 0  # meta: shapes only
    pw = w + 2 * pad
    flat = _edge_padded(reference, pad).reshape(b, c, -1)
    base = (torch.arange(h, device=dev)[:, None] + pad) * pw + (torch.arange(w, device=dev)[None, :] + pad)
    offset = (mv[:, 0] * pw + mv[:, 1]).reshape(b, bh * bw)  # each block's vector as a flat offset
    out = torch.zeros_like(reference)
    for ky, wy in ((y0, 1 - ay), (y1, ay)):
        for kx, wx in ((x0, 1 - ax), (x1, ax)):
            index = base + offset[:, (ky[:, None] * bw + kx[None, :]).view(-1)].view(b, h, w)  # this neighbour's vector
            gathered = flat.gather(2, index.view(b, 1, h * w).expand(b, c, h * w)).view(b, c, h, w)
            if torch.is_grad_enabled() and (reference.requires_grad or out.requires_grad):
                out = out + (wy[:, None] * wx[None, :]) * gathered
            else:  # the same products and sums, in place
                out.add_(gathered.mul_(wy[:, None] * wx[None, :]))
    return out


def compensate(reference: torch.Tensor, mv: torch.Tensor, block: int, overlapped: bool) -> torch.Tensor:
    """The motion-compensated reference of a model: block copy, or overlapped when the config says."""
    return warp_overlapped(reference, mv, block) if overlapped else warp(reference, mv, block)


def _luma(x: torch.Tensor) -> torch.Tensor:
    """RGB in [0, 1] [B, 3, H, W] -> integer luma R + G + B in 8-bit steps [B, H, W] (int32)."""
    return (x.detach().float().clamp(0, 1) * 255).round().to(torch.int32).sum(1, dtype=torch.int32)


def _down(luma: torch.Tensor) -> torch.Tensor:
    """2x2 integer sum (odd edges replicated): one level coarser, still exact."""
    h, w = luma.shape[-2:]
    luma = F.pad(luma[:, None].float(), (0, w % 2, 0, h % 2), mode="replicate")[:, 0].to(luma.dtype)
    return luma[:, 0::2, 0::2] + luma[:, 1::2, 0::2] + luma[:, 0::2, 1::2] + luma[:, 1::2, 1::2]


def _block_sums(d: torch.Tensor, block: int, hdim: int = -2) -> torch.Tensor:
    """Sums over ``block`` x ``block`` tiles of ``d``, whose last dimension is the picture's width
    and dimension ``hdim`` its height (edge tiles padded with zeros): [..., H, W] -> [..., bh, bw].
    Two reductions over neighbouring elements, in float: the integers this module sums stay below
    2^24 in float32 (:func:`_sum_dtype`) and 2^53 in float64, so every partial sum is exact and
    the order does not matter (torch's integer reductions over strided tiles were 4x slower)."""
    if d.shape[-1] % block:
        d = F.pad(d, (0, (-d.shape[-1]) % block))
    d = d.unflatten(-1, (-1, block)).sum(-1)
    hdim %= d.ndim
    if d.shape[hdim] % block:
        d = F.pad(d, (0, 0) * (d.ndim - 1 - hdim) + (0, (-d.shape[hdim]) % block))
    return d.unflatten(hdim, (-1, block)).sum(hdim + 1)


def _sum_dtype(block: int) -> torch.dtype:
    """The float type whose sums of a block's absolute luma differences are exact: a level's luma
    sums 4^l pixels of at most 765 over a block of (block / 2^l)^2, so at most block^2 * 765."""
    return torch.float32 if block * block * 765 < 1 << 24 else torch.float64


def _block_sad(cur: torch.Tensor, pred: torch.Tensor, block: int) -> torch.Tensor:
    """Integer SAD per block: [B, H, W] x2 -> [B, ceil(H/block), ceil(W/block)] (int64).
    Edge blocks are padded with zero difference."""
    return _block_sums((cur - pred).abs(), block).to(torch.int64)


def _candidates(radius: int, device) -> torch.Tensor:
    """All integer vectors within +-radius, shortest first (ties: raster order): [K, 2]."""
    r = torch.arange(-radius, radius + 1, device=device)
    cand = torch.stack(torch.meshgrid(r, r, indexing="ij"), dim=-1).reshape(-1, 2)
    key = cand.abs().sum(1) * (4 * radius + 4) ** 2 + (cand[:, 0] + radius) * (2 * radius + 1) + (cand[:, 1] + radius)
    return cand[key.argsort()]


def _cost(cur: torch.Tensor, ref: torch.Tensor, mv: torch.Tensor, block: int, zero_bias: int) -> torch.Tensor:
    """Integer cost per block of the vectors ``mv``: SAD minus the zero-vector bias."""
    cost = _block_sad(cur, warp(ref[:, None], mv, block)[:, 0], block)
    return cost - (mv == 0).all(dim=1) * (zero_bias * block * block)


def _keep_better(best: tuple[torch.Tensor, torch.Tensor], mv: torch.Tensor, cost: torch.Tensor):
    """Strictly lower cost wins, so the earlier candidate keeps ties."""
    better = cost < best[1]
    return torch.where(better[:, None], mv, best[0]), torch.where(better, cost, best[1])


SEARCH_CHUNK_PIXELS = 1 << 21
"""Candidate pictures gathered at once by :func:`_search` (2 M pixels: 16 MiB of int64 indices),
so the search runs in bounded memory at any size; larger chunks measured slower at 720p."""


def _search(cur: torch.Tensor, ref: torch.Tensor, base: torch.Tensor, block: int, radius: int,
            zero_bias: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Best vector per block among base + every offset within +-radius (integer SAD, zero-vector
    bias, shortest offset on ties). cur, ref: [B, H, W] int32; base: [B, 2, bh, bw] long.
    Returns (vectors, costs).

    Every candidate is one gather from the reference padded by 2 ``radius`` edge pixels: with
    i = p + base clamped to [-radius, size - 1 + radius], clamp(i + offset) to the picture is the
    same pixel as clamp(p + base + offset), so a candidate's index is the base's plus a constant.
    Candidates are compared at once; ``argmin`` keeps the first of equal costs, as trying them
    one by one in :func:`_candidates`' order and keeping only a strictly lower cost would."""
    b, h, w = cur.shape
    dev = cur.device
    r = radius
    offsets = _candidates(r, dev)
    padded = _edge_padded(ref, 2 * r).reshape(b, 1, -1)  # [B, 1, (H + 4r)(W + 4r)]
    pw = w + 4 * r
    mv = _expand(base.long(), block, h, w)
    iy = (torch.arange(h, device=dev)[:, None] + mv[:, 0]).clamp_(-r, h - 1 + r) + 2 * r
    ix = (torch.arange(w, device=dev)[None, :] + mv[:, 1]).clamp_(-r, w - 1 + r) + 2 * r
    index = (iy * pw + ix).view(b, 1, h * w)
    shifts = offsets[:, 0] * pw + offsets[:, 1]
    costs = []
    step = max(1, SEARCH_CHUNK_PIXELS // (b * h * w))
    for i in range(0, len(offsets), step):
        k = shifts[i:i + step]
        pred = padded.expand(b, len(k), -1).gather(2, index + k.view(1, -1, 1)).view(b, len(k), h, w)
        costs.append(_block_sums((cur[:, None] - pred).abs_(), block))
    costs = torch.cat(costs, 1).to(torch.int64)  # [B, K, bh, bw]
    vectors = base[:, None] + offsets.view(1, -1, 2, 1, 1)  # [B, K, 2, bh, bw]
    costs = costs - (vectors == 0).all(dim=2) * (zero_bias * block * block)
    choice = costs.argmin(dim=1)  # [B, bh, bw]: the first candidate of least cost
    best = vectors.gather(1, choice[:, None, None].expand(b, 1, 2, *choice.shape[1:]))[:, 0]
    return best, costs.gather(1, choice[:, None])[:, 0]


def _exhaustive(cur: torch.Tensor, ref: torch.Tensor, block: int, radius: int,
                zero_bias: int) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`_search` around the zero field (the coarsest level), the same vectors and costs:
    a uniform displacement is a slice of the reference padded by its edge pixels, so each row of
    candidates (one dy, every dx) is one batched difference over a strided view, with no gather
    index per candidate. Ties go to the earlier candidate of :func:`_candidates` (``argmin``
    returns the first minimum), as there."""
    b, h, w = cur.shape
    n = 2 * radius + 1
    dev = cur.device
    padded = _edge_padded(ref, radius)  # [B, H + 2r, W + 2r]
    costs = []
    for dy in range(n):
        shifted = padded[:, dy : dy + h].unfold(2, w, 1)  # [B, H, n (dx), W], a view
        costs.append(_block_sums((cur[:, :, None] - shifted).abs_(), block, hdim=1))  # [B, bh, n, bw]
    costs = torch.stack(costs, 1).transpose(2, 3).to(torch.int64)  # [B, n (dy), n (dx), bh, bw]
    costs = costs.reshape(b, n * n, *costs.shape[-2:])  # candidate (dy, dx) in raster order
    costs[:, radius * n + radius] -= zero_bias * block * block
    offsets = _candidates(radius, dev)
    costs = costs[:, (offsets[:, 0] + radius) * n + offsets[:, 1] + radius]  # in _candidates' order
    choice = costs.argmin(dim=1)  # [B, bh, bw]: the first candidate of least cost
    return offsets[choice].permute(0, 3, 1, 2).contiguous(), costs.gather(1, choice[:, None])[:, 0]


def _neighbours(cur: torch.Tensor, ref: torch.Tensor, best: tuple[torch.Tensor, torch.Tensor], block: int,
                zero_bias: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Try each block's four neighbours' vectors (fixes the hierarchy's local minima)."""
    mv0 = best[0]
    padded = F.pad(mv0.float(), (1, 1, 1, 1), mode="replicate").long()  # small integers: exact
    h, w = mv0.shape[-2:]
    for dy, dx in ((0, 1), (1, 0), (1, 2), (2, 1)):
        mv = padded[:, :, dy : dy + h, dx : dx + w]
        best = _keep_better(best, mv, _cost(cur, ref, mv, block, zero_bias))
    return best


@torch.no_grad()
def estimate_motion(x: torch.Tensor, ref: torch.Tensor, block: int = 16, search: int = 16,
                    zero_bias: int = ZERO_MV_BIAS, effort: float = 1.0) -> torch.Tensor:
    """Integer block motion from ``ref`` to ``x`` (both RGB [B, 3, H, W] in [0, 1]).

    Returns a LongTensor [B, 2, ceil(H/block), ceil(W/block)] (dy, dx) such that
    ``warp(ref, mv, block)`` approximates ``x``. Hierarchical: ``levels`` halvings while the
    search radius stays above 4 and the block above 4 px; exhaustive at the coarsest level, +-1
    refinement at each finer one. Deterministic (integer arithmetic only). ``effort`` < 1 (an
    encoder preset): one pass of the neighbours' vectors per level instead of two. (Halving the
    coarsest radius as well saved little time and cost cockatoo 720p +7 % BD-rate under PSNR-YUV,
    where frames move by 20 px and more.)
    """
    if x.shape != ref.shape:
        raise ValueError(f"picture {tuple(x.shape)} and reference {tuple(ref.shape)} differ")
    if block < 1 or search < 0:
        raise ValueError("need block >= 1 and search >= 0")
    levels = 0
    while search >> levels > 4 and block >> (levels + 1) >= 4 and block % (2 << levels) == 0:
        levels += 1
    cur_pyr, ref_pyr = [_luma(x)], [_luma(ref)]
    for _ in range(levels):
        cur_pyr.append(_down(cur_pyr[-1]))
        ref_pyr.append(_down(ref_pyr[-1]))
    exact = _sum_dtype(block)  # the integers compared in a float type whose sums are exact
    cur_pyr, ref_pyr = [c.to(exact) for c in cur_pyr], [r.to(exact) for r in ref_pyr]
    b, _, h, w = x.shape
    mv = torch.zeros(b, 2, -(-h // block), -(-w // block), dtype=torch.long, device=x.device)
    for level in range(levels, -1, -1):
        radius = -(-search // (1 << levels)) if level == levels else 1
        bias = zero_bias << (2 * level)  # luma at level l sums 4^l pixels
        if level == levels:  # around the zero field
            best = _exhaustive(cur_pyr[level], ref_pyr[level], block >> level, radius, bias)
        else:
            best = _search(cur_pyr[level], ref_pyr[level], mv, block >> level, radius, bias)
        for _ in range(2 if effort >= 1 else 1):
            best = _neighbours(cur_pyr[level], ref_pyr[level], best, block >> level, bias)
        mv = best[0]
        if level:
            mv = mv * 2
    return mv.clamp_(-32768, 32767)


# Encoder-side rate-distortion choice of the vectors (the codec's encoder; training keeps the plain
# search). The reference's squared error and the vectors' bits are weighed with the level's lambda,
# as the skip decision weighs a window's (codec.py): J = bits + lambda / 3 · SSE over RGB in [0, 1].
# In the integer luma of this module (R + G + B in 8-bit steps) an error e on every channel is
# (3 · 255 · e)^2 = 585225 / 3 · (3 e^2), so J · 16 · 585225 = lambda16 · SSE_luma + 585225 · bits16.
_LUMA_SSE_PER_BIT = 585225


def _block_sse(cur: torch.Tensor, pred: torch.Tensor, block: int) -> torch.Tensor:
    """Integer SSE per block ([B, H, W] x2 -> [B, bh, bw], int64); edges padded with zero difference.
    Summed in float64 (:func:`_block_sums`): exact below 2^53."""
    d = (cur - pred).to(torch.float64)
    return _block_sums(d * d, block).to(torch.int64)


def choose_motion_rd(x: torch.Tensor, ref: torch.Tensor, mv: torch.Tensor, prev: torch.Tensor | None,
                     block: int, window: int, lam: float) -> torch.Tensor:
    """The encoder's field: per block, the vector of least rate-distortion cost
    ``lambda16 · SSE_luma + 585225 · bits16`` (integers; bits of the coded syntax, motion format 4:
    :mod:`gvc1d_codec.entropy.motion_syntax`) among its window's vector, zero, the previous
    frame's vector of the block, the search's vector ``mv`` and its four neighbours'; per window,
    the window vector (prediction, median of ``mv``, zero) whose blocks cost least in all. Then
    twice, per block, its left and top neighbours' vectors in that field as merge candidates
    (a mode, no delta). Without it a search against a lossy reconstruction picks small non-zero
    vectors that buy almost nothing and cost most of a P frame's bytes (tiny2, cockatoo 720p:
    70-95 % of them). ``prev``: [B, 2, bh, bw] or None (zero); ``window``: the window size in px."""
    m = window // block
    dev = mv.device
    cur, rl = _luma(x), _luma(ref)
    shape = tuple(mv.shape)
    pred, k_win, k_blk = syntax.contexts(prev, shape, m)
    pred, k_win, k_blk = pred.to(dev), k_win.to(dev), k_blk.to(dev)
    lam16 = int(round(16 * lam))
    padded = F.pad(mv.float(), (1, 1, 1, 1), mode="replicate").long()  # small integers: exact
    h, w = mv.shape[-2:]
    blocks = [torch.zeros_like(mv), mv] + [padded[:, :, dy:dy + h, dx:dx + w] for dy, dx in ((0, 1), (1, 0), (1, 2), (2, 1))]
    if prev is not None:
        blocks.append(prev.to(dev, torch.long))

    def sse(v: torch.Tensor) -> torch.Tensor:
        return _block_sse(cur, warp(rl[:, None], v, block)[:, 0], block)

    errors = [sse(v) for v in blocks]
    best_field, best_total, best_base = None, None, None
    for wv in syntax.window_candidates(mv, pred, m):
        base = syntax.expand_windows(wv, m)

        def cost(v: torch.Tensor, err: torch.Tensor) -> torch.Tensor:  # window vector or explicit, no merges
            return lam16 * err + _LUMA_SSE_PER_BIT * syntax.no_merge_bits16(v, base, k_blk)

        choice = (base, cost(base, sse(base)))
        for v, err in zip(blocks, errors):
            choice = _keep_better(choice, v, cost(v, err))
        own = syntax.residual_bits16(wv, pred, k_win)
        total = _LUMA_SSE_PER_BIT * own + syntax.window_blocks(choice[1][:, None], m)[:, 0].sum(dim=-1)
        if best_field is None:
            best_field, best_total, best_base = choice[0], total, base
        else:
            better = syntax.expand_windows((total < best_total)[:, None], m)[:, 0]
            best_field = torch.where(better[:, None], choice[0], best_field)
            best_base = torch.where(better[:, None], base, best_base)
            best_total = torch.minimum(total, best_total)
    field, field_err = best_field, sse(best_field)
    for _ in range(2):  # merge candidates: the neighbours' vectors in the field so far
        left, top = syntax.neighbours(field, best_base)
        best = None
        for v, err in ((field, field_err), (left, sse(left)), (top, sse(top))):
            c = lam16 * err + _LUMA_SSE_PER_BIT * syntax.merge_bits16(v, best_base, k_blk, left, top)
            if best is None:
                best = (v, c, err)
            else:  # a strictly lower cost wins, as in _keep_better; the block's error goes with it
                better = c < best[1]
                best = (torch.where(better[:, None], v, best[0]), torch.where(better, c, best[1]),
                        torch.where(better, err, best[2]))
        field, field_err = best[0], best[2]
    return field
