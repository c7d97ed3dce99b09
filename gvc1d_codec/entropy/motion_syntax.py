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

**Format 4** (entropy model 8 on) keeps the window vectors and replaces the block deltas by a
**merge mode** per block (raster order over the frame, row ``MERGE_FREQ[k_b]``):

* ``0`` the window's vector ``V[n(b)]``;
* ``1`` the vector of the block to its left, ``2`` of the block above (the window's vector at the
  picture's first column or row): a foreground moving apart from its window's background costs
  a mode per block, not a delta;
* ``3`` explicit: ``v - V[n(b)]``, dy then dx, after all the modes (raster order), with the one row
  ``EXPLICIT_FREQ`` whose tail is geometric (ratio 3/4), where format 3's row 0 spent about 15 bits
  on any component of 3 or more.

Every mode's and delta's row is known before decoding (the previous frame and the count of explicit
blocks); the vectors are then rebuilt row by row (:func:`merge_field`). On training clips (foreman,
mobile, bikes, zhling720p) the fields the format-3 encoder chose cost 0-25 % fewer bits this way
(the encoder's choice for format 4, model/motion.py: choose_motion_rd, saves more: docs/results.md).
"""
from __future__ import annotations

import torch

from .definition import EXPLICIT_BITS16, MERGE_BITS16, MV_BITS16, MV_MAX

MODE_WINDOW, MODE_LEFT, MODE_TOP, MODE_EXPLICIT = range(4)  # format 4's merge modes


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


def choose_windows(mv: torch.Tensor, prev: torch.Tensor | None, m: int, merged: bool = False) -> torch.Tensor:
    """The encoder's window vectors for a block field: per window, the candidate of
    :func:`window_candidates` that codes the window's vector and its blocks in the fewest bits
    (the first on ties): as format 3's block deltas, or (``merged``) as format 4's merge modes and
    explicit deltas. Any choice decodes to the same field."""
    mv = mv.long().cpu()
    pred, k_win, k_blk = contexts(prev, tuple(mv.shape), m)
    block_bits = merge_bits16 if merged else residual_bits16
    best, best_bits = None, None
    for v in window_candidates(mv, pred, m):
        own = residual_bits16(v, pred, k_win)
        blocks = block_bits(mv, expand_windows(v, m), k_blk)
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
    r_blk = (mv.long().cpu() - expand_windows(windows.long().cpu(), m) + 2 * MV_MAX).permute(0, 2, 3, 1).reshape(-1)
    return torch.cat([_window_symbols(windows, pred), r_blk]), _rows(k_win, k_blk)


def _window_symbols(windows: torch.Tensor, pred: torch.Tensor) -> torch.Tensor:
    """The window vectors' coded symbols (both formats): residuals against ``pred``, offset by
    2 MV_MAX, windows raster, dy before dx."""
    return (windows.long().cpu() - pred + 2 * MV_MAX).permute(0, 2, 3, 1).reshape(-1)


def window_vectors(symbols: torch.Tensor, prev: torch.Tensor | None, shape: tuple[int, int, int, int],
                   m: int) -> torch.Tensor:
    """Inverse of :func:`_window_symbols`: the window vectors [1, 2, rows, cols] (long) of the
    first ``2 · rows · cols`` symbols."""
    b, _, bh, bw = shape
    rows, cols = bh // m, bw // m
    s = symbols[: 2 * rows * cols].long() - 2 * MV_MAX
    return s.view(b, rows, cols, 2).permute(0, 3, 1, 2) + window_prediction(prev, shape, m)


def residual_rows(prev: torch.Tensor | None, shape: tuple[int, int, int, int], m: int) -> torch.Tensor:
    """The MV_FREQ row index of every coded symbol (payload order), known before decoding."""
    _, k_win, k_blk = contexts(prev, shape, m)
    return _rows(k_win, k_blk)


def _rows(k_win: torch.Tensor, k_blk: torch.Tensor) -> torch.Tensor:
    """Row indices in payload order: both components of every window, then of every block."""
    return torch.cat([_pairs(k_win), _pairs(k_blk)])


def _pairs(k: torch.Tensor) -> torch.Tensor:
    """Each row index twice (dy, dx), raster order."""
    return k.repeat_interleave(2).reshape(-1)


def from_residuals(symbols: torch.Tensor, prev: torch.Tensor | None, shape: tuple[int, int, int, int],
                   m: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Inverse of :func:`to_residuals`: (block field [1, 2, bh, bw], window vectors [1, 2, rows,
    cols]), long; components beyond +-MV_MAX are the caller's to refuse."""
    b, _, bh, bw = shape
    windows = window_vectors(symbols, prev, shape, m)
    delta = symbols[windows.numel():].long().view(b, bh, bw, 2).permute(0, 3, 1, 2) - 2 * MV_MAX
    return expand_windows(windows, m) + delta, windows


# Format 4 (entropy model 8 on): merge modes ------------------------------------------------------


def neighbours(field: torch.Tensor, base: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(left, top) [B, 2, bh, bw]: each block's left and top neighbours' vectors in ``field``, the
    block's window vector (``base``, the expanded window field) at the picture's first column / row."""
    left = torch.cat([base[..., :1], field[..., :-1]], dim=-1)
    top = torch.cat([base[..., :1, :], field[..., :-1, :]], dim=-2)
    return left, top


def merge_modes(mv: torch.Tensor, base: torch.Tensor, left: torch.Tensor | None = None,
                top: torch.Tensor | None = None) -> torch.Tensor:
    """The encoder's mode of every block [B, bh, bw] (long): the first of window, left, top that
    equals the block's vector, else explicit. ``left``, ``top``: the neighbours' vectors (default:
    ``mv``'s own, as coded; the encoder's search passes those of another field)."""
    if left is None or top is None:
        left, top = neighbours(mv, base)
    mode = torch.full(mv[:, 0].shape, MODE_EXPLICIT, dtype=torch.long, device=mv.device)
    for k, ref in ((MODE_TOP, top), (MODE_LEFT, left), (MODE_WINDOW, base)):  # the first match wins
        mode = torch.where((mv == ref).all(dim=1), k, mode)
    return mode


def merge_bits16(mv: torch.Tensor, base: torch.Tensor, k_blk: torch.Tensor, left: torch.Tensor | None = None,
                 top: torch.Tensor | None = None) -> torch.Tensor:
    """Cost in 1/16 bits of every block of ``mv`` under format 4, [B, bh, bw]: its mode
    (:func:`merge_modes`), and for an explicit block its delta against ``base``."""
    mode = merge_modes(mv, base, left, top)
    bits = torch.from_numpy(MERGE_BITS16).to(mv.device)[k_blk.to(mv.device), mode]
    table = torch.from_numpy(EXPLICIT_BITS16).to(mv.device)
    delta = table[(mv - base + 2 * MV_MAX).clamp(0, 4 * MV_MAX)].sum(dim=1)
    return bits + torch.where(mode == MODE_EXPLICIT, delta, torch.zeros_like(delta))


def no_merge_bits16(mv: torch.Tensor, base: torch.Tensor, k_blk: torch.Tensor) -> torch.Tensor:
    """:func:`merge_bits16` of blocks coded as their window's vector or explicitly (no merge)."""
    never = torch.full_like(mv, 4 * MV_MAX + 1)  # equals no vector
    return merge_bits16(mv, base, k_blk, never, never)


def to_merged(mv: torch.Tensor, windows: torch.Tensor, prev: torch.Tensor | None, m: int
              ) -> tuple[tuple[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor], torch.Tensor]:
    """The coded symbols of a field ``mv`` [1, 2, bh, bw] under format 4, in payload order: (window
    residuals, their MV_FREQ rows), (modes, their MERGE_FREQ rows), explicit deltas offset by
    2 MV_MAX (dy, dx of each explicit block, raster order; row EXPLICIT_FREQ)."""
    mv, windows = mv.long().cpu(), windows.long().cpu()
    pred, k_win, k_blk = contexts(prev, tuple(mv.shape), m)
    base = expand_windows(windows, m)
    mode = merge_modes(mv, base)
    explicit = mode == MODE_EXPLICIT
    deltas = (mv - base + 2 * MV_MAX).permute(0, 2, 3, 1)[explicit].reshape(-1)
    return (_window_symbols(windows, pred), _pairs(k_win)), (mode.reshape(-1), k_blk.reshape(-1)), deltas


def merge_rows(prev: torch.Tensor | None, shape: tuple[int, int, int, int], m: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(the window residuals' MV_FREQ rows, the modes' MERGE_FREQ rows) of a format-4 field."""
    _, k_win, k_blk = contexts(prev, shape, m)
    return _pairs(k_win), k_blk.reshape(-1)


def merge_field(windows: torch.Tensor, modes: torch.Tensor, deltas: torch.Tensor, m: int) -> torch.Tensor:
    """Inverse of :func:`to_merged`: window vectors [1, 2, rows, cols], modes [bh * bw] (raster) and
    the explicit blocks' deltas [2 n] (offset by 2 MV_MAX) -> the block field [1, 2, bh, bw], long.
    Rebuilt row by row: a top block copies the finished row above; a left block the nearest block
    to its left that is not itself a left block (or the row's first block)."""
    base = expand_windows(windows.long(), m)[0]
    _, bh, bw = base.shape
    mode = modes.long().view(bh, bw)
    field = base.clone()
    explicit = mode == MODE_EXPLICIT
    field.permute(1, 2, 0)[explicit] += (deltas.long() - 2 * MV_MAX).view(-1, 2)
    col = torch.arange(bw)
    for r in range(bh):
        row = field[:, r]
        if r:
            row[:, mode[r] == MODE_TOP] = field[:, r - 1, mode[r] == MODE_TOP]
        left = (mode[r] == MODE_LEFT) & (col > 0)
        source = torch.cummax(torch.where(left, 0, col), dim=0).values
        field[:, r] = row[:, source]
    return field[None]


__all__ = ["merge_modes", "merge_bits16", "no_merge_bits16", "neighbours", "to_merged", "merge_rows", "merge_field", "window_vectors",
           "MODE_WINDOW", "MODE_LEFT", "MODE_TOP", "MODE_EXPLICIT",
           "bits16", "residual_bits16", "choose_windows", "contexts", "window_blocks", "expand_windows", "from_residuals", "residual_rows", "to_residuals", "window_candidates", "window_prediction"]
