"""How a P frame's motion field is coded (format 3; docs/bitstream.md, "Motion vectors").

Two layers, both predicted from the previous frame's field only, so every residual's frequency
row is known before decoding starts (a decoder decodes them all at once):

* one **window vector** ``V[n]`` per window, coded as the residual against ``P[n]``, the lower
  median (component-wise) of the previous frame's block vectors inside the window (zero after an
  intra frame), with the row ``MV_FREQ[0 if P[n] == (0, 0) else 1]``;
* one **block delta** ``d[b] = v[b] - V[n(b)]`` per block, with the row ``MV_FREQ[0]`` when the
  previous frame's vector of the block equalled its window's ``P`` (the block moved with its
  window, or nothing moved), else ``MV_FREQ[1]``.

A still or uniformly moving picture thus costs about 0.1 bit per block and window component; the
format-2 syntax (each block against its own previous vector) cost 5-10 bits per block whenever the
motion changed. Integers only: encoder and decoder compute the same predictions and rows.
"""
from __future__ import annotations

import torch

from .definition import MV_BITS16, MV_MAX


def window_blocks(field: torch.Tensor, m: int) -> torch.Tensor:
    """[B, 2, bh, bw] -> [B, 2, rows, cols, m * m]: each window's blocks (raster order)."""
    b, c, bh, bw = field.shape
    return field.view(b, c, bh // m, m, bw // m, m).permute(0, 1, 2, 4, 3, 5).reshape(b, c, bh // m, bw // m, m * m)


def expand_windows(v: torch.Tensor, m: int) -> torch.Tensor:
    """Window vectors [B, 2, rows, cols] -> the block field [B, 2, rows * m, cols * m]."""
    return v.repeat_interleave(m, dim=2).repeat_interleave(m, dim=3)


def _window_median(field: torch.Tensor, m: int) -> torch.Tensor:
    """The lower median (component-wise) of each window's block vectors, [B, 2, rows, cols]."""
    return window_blocks(field.long(), m).sort(dim=-1).values[..., (m * m - 1) // 2]


def window_prediction(prev: torch.Tensor | None, shape: tuple[int, int, int, int], m: int) -> torch.Tensor:
    """``P``: the lower median of the previous field's vectors in each window, [B, 2, rows, cols]
    (long); zero when ``prev`` is None. ``shape`` is the block field's, ``m`` blocks per window side."""
    b, _, bh, bw = shape
    if prev is None:
        return torch.zeros(b, 2, bh // m, bw // m, dtype=torch.long)
    return _window_median(prev.cpu(), m)


def contexts(prev: torch.Tensor | None, shape: tuple[int, int, int, int], m: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(P [B, 2, rows, cols], window rows k_n [B, rows, cols], block rows k_b [B, bh, bw]): the
    prediction and the MV_FREQ row index of every window vector and block delta."""
    pred = window_prediction(prev, shape, m)
    k_win = (pred != 0).any(dim=1).long()
    if prev is None:
        k_blk = torch.zeros(shape[0], shape[2], shape[3], dtype=torch.long)
    else:
        k_blk = (prev.long().cpu() != expand_windows(pred, m)).any(dim=1).long()
    return pred, k_win, k_blk


def bits16(residual: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    """Cost in 1/16 bits (``MV_BITS16``) of offset residuals (2 MV_MAX = zero) under rows, elementwise."""
    table = torch.from_numpy(MV_BITS16).to(residual.device)
    return table[rows.to(residual.device), residual.clamp(0, 4 * MV_MAX)]


def residual_bits16(value: torch.Tensor, prediction: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    """Cost in 1/16 bits of coding vectors ``value`` [B, 2, ...] against ``prediction`` with the
    rows ``rows`` [B, ...], dy + dx: [B, ...]."""
    return bits16(value - prediction + 2 * MV_MAX, rows[:, None].expand_as(value)).sum(dim=1)


def window_candidates(mv: torch.Tensor, pred: torch.Tensor, m: int) -> list[torch.Tensor]:
    """Window vectors worth trying for a block field: the prediction, the lower median of the
    field's blocks in the window, zero ([B, 2, rows, cols] each)."""
    median = _window_median(mv, m)
    return [pred.to(mv.device), median, torch.zeros_like(median)]


def choose_windows(mv: torch.Tensor, prev: torch.Tensor | None, m: int) -> torch.Tensor:
    """The encoder's window vectors for a block field: per window, the candidate of
    :func:`window_candidates` that codes the window's vector and its blocks' deltas in the fewest
    bits (the first on ties). Any choice decodes to the same field."""
    mv = mv.long().cpu()
    pred, k_win, k_blk = contexts(prev, tuple(mv.shape), m)
    best, best_bits = None, None
    for v in window_candidates(mv, pred, m):
        own = residual_bits16(v, pred, k_win)
        blocks = residual_bits16(mv, expand_windows(v, m), k_blk)
        total = own + window_blocks(blocks[:, None], m)[:, 0].sum(dim=-1)
        if best is None:
            best, best_bits = v, total
        else:
            better = total < best_bits
            best, best_bits = torch.where(better[:, None], v, best), torch.where(better, total, best_bits)
    return best


def to_residuals(mv: torch.Tensor, windows: torch.Tensor, prev: torch.Tensor | None, m: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The coded symbols of a field ``mv`` [1, 2, bh, bw] with window vectors ``windows``
    [1, 2, rows, cols], in payload order (windows raster, then blocks raster; dy before dx),
    offset by 2 MV_MAX, and their MV_FREQ row indices."""
    pred, k_win, k_blk = contexts(prev, tuple(mv.shape), m)
    r_win = (windows.long().cpu() - pred + 2 * MV_MAX).permute(0, 2, 3, 1).reshape(-1)
    r_blk = (mv.long().cpu() - expand_windows(windows.long().cpu(), m) + 2 * MV_MAX).permute(0, 2, 3, 1).reshape(-1)
    return torch.cat([r_win, r_blk]), _rows(k_win, k_blk)


def residual_rows(prev: torch.Tensor | None, shape: tuple[int, int, int, int], m: int) -> torch.Tensor:
    """The MV_FREQ row index of every coded symbol (payload order), known before decoding."""
    _, k_win, k_blk = contexts(prev, shape, m)
    return _rows(k_win, k_blk)


def _rows(k_win: torch.Tensor, k_blk: torch.Tensor) -> torch.Tensor:
    """Row indices in payload order: both components of every window, then of every block."""
    return torch.cat([k_win.repeat_interleave(2).reshape(-1), k_blk.repeat_interleave(2).reshape(-1)])


def from_residuals(symbols: torch.Tensor, prev: torch.Tensor | None, shape: tuple[int, int, int, int],
                   m: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Inverse of :func:`to_residuals`: (block field [1, 2, bh, bw], window vectors [1, 2, rows,
    cols]), long; components beyond +-MV_MAX are the caller's to refuse."""
    b, _, bh, bw = shape
    rows, cols = bh // m, bw // m
    pred = window_prediction(prev, shape, m)
    s = symbols.long() - 2 * MV_MAX
    windows = s[: 2 * rows * cols].view(b, rows, cols, 2).permute(0, 3, 1, 2) + pred
    delta = s[2 * rows * cols:].view(b, bh, bw, 2).permute(0, 3, 1, 2)
    return expand_windows(windows, m) + delta, windows


__all__ = ["bits16", "residual_bits16", "choose_windows", "contexts", "window_blocks", "expand_windows", "from_residuals", "residual_rows", "to_residuals", "window_candidates", "window_prediction"]
