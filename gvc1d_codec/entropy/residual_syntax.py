"""How the enhancement layer's quantised transform coefficients are coded (docs/bitstream.md,
"Enhancement layer").

The enhancement layer (:mod:`gvc1d_codec.enhancement`) codes what the token reconstruction missed:
8x8 DCT coefficients of three residual planes (Y at full resolution, Cb and Cr at half), integers.
They follow the tokens in the same range coder, window by window in raster order (a window is
``window`` luma pixels square: ``(window/8)²`` luma blocks and ``(window/16)²`` blocks of each
chroma plane). Per window:

1. a **window flag** (any non-zero coefficient in the window's blocks of the three planes), its
   row chosen by the flags of the left and top windows (0..2);
2. if set, per plane (Y, Cb, Cr) the **class** of each block in raster order,
   ``0`` for an all-zero block, else ``min(11, bit_length(sum |q|))``; in streams of entropy model
   10 and later (*neighbour classes*, :data:`NEIGHBOUR_CLASSES_ID`) each class's row is chosen by its
   neighbours (:func:`class_rows`): the bucket of the left and top blocks' classes in the same plane
   (0 outside the frame and in windows without coefficients), and for Cb and Cr also the bucket of
   twice the largest class of the four luma blocks it covers, so the classes are decoded one by
   one; before, one row per plane kind (luma, chroma) served every block;
3. then the **coefficients** of the blocks of non-zero class (plane by plane, blocks in raster
   order, 64 zig-zag coefficients each): value ``v`` as symbol ``v + 16`` for ``|v| <= 15``, else
   an escape (``0`` below, ``32`` above) and the magnitude ``|v| - 16`` in Exp-Golomb order 0
   (its prefix ``k`` with the fixed row ``ESCAPE_K_FREQ``, then ``k`` bits of frequency 1/2 each),
   after all the window's coefficient symbols. Each coefficient's row is chosen by its context
   (plane kind: luma or chroma, the block's class, the coefficient's frequency band).

In a P frame of entropy model 5 (models with block motion), each window starts with the **modes**
of its motion blocks (``window / motion_block`` squared, raster order): the layer's prediction per
block (:mod:`gvc1d_codec.enhancement`: 25 quarter-pel fractions of the previous picture, or the
tokens' picture, ``MODE_TOKENS``), each with the row chosen by how many of its left and top
neighbours in the frame (0..2) have a sub-pel mode.

Every row is an **adaptive integer count table**: it starts from a fixed integer initialisation
at each intra frame, is used unchanged for a whole window, and after the window each coded symbol
adds ``INCREMENT`` to its count; a row whose total exceeds ``COUNT_LIMIT`` is halved
(``(n + 1) // 2``, so no count drops below 1). Every intra frame starts from the initial tables
and so does the first P frame after it; then the tables carry over from each P frame with an
enhancement layer to the next (:func:`adapt`, part of the decoding state like the long-term
memory). Measured at qualities 4 and 5 (9 frames): carried over between P frames they save 9 %
of carphone's bits and 0.5-0.7 % of cisco_men's against tables reset at every frame; carried out
of the intra frame too, they cost cisco_men 2-3.5 % more than reset tables (an intra frame's
statistics mislead the P frames). Integers only: encoder and decoder hold the same
tables, so the probabilities never depend on a float (docs/determinism.md). Neighbour classes make
whole streams 0.1-4.7 % smaller at the same pictures (foreman, zhling720p, vtest and bikes at
qualities 3-6, intra period 32: mean -2.4 %; docs/results.md, "Neighbour classes").
"""
from __future__ import annotations

import bisect

import numpy as np

from ..errors import CorruptPacketError
from .coder import SymbolDecoder, SymbolEncoder, categorical

BLOCK = 8
CLASSES = 12
VMAX = 15  # |v| <= VMAX is coded directly; beyond it an escape and Exp-Golomb magnitude
ALPHABET = 2 * VMAX + 3
ESCAPE_BITS_MAX = 24  # Exp-Golomb prefix k <= 23: |v| < 2**24 + 16
INCREMENT = 16
COUNT_LIMIT = 1 << 16
INIT_TOTAL = 256

# zig-zag order of an 8x8 block: ZIGZAG[i] is the raster index of the i-th coefficient
ZIGZAG = np.array(sorted(range(64), key=lambda r: (r // 8 + r % 8, (r % 8) if (r // 8 + r % 8) % 2 == 0 else r // 8)),
                  dtype=np.int64)
_BAND_STARTS = (0, 1, 3, 6, 10, 15, 28, 43)  # zig-zag index where each of the 8 bands starts
BANDS = len(_BAND_STARTS)
BAND = np.searchsorted(np.array(_BAND_STARTS), np.arange(64), side="right") - 1
_BAND_BOOST4 = (12, 10, 8, 6, 4, 2, -2, -6)  # 4 · log2 of a band's share of a block's magnitude, roughly


def _geometric_row(t: int, half: int) -> list[int]:
    """f(0) = 2**15, f(k) = max(1, f(k-1) · a // 2**16) for k = 1..half, with ``a / 2**16`` about
    ``1 - 2**(-t/4)`` (a = 2**16 - r, r the largest integer with r**4 · 2**t <= 2**64): integers only."""
    lo, hi = 0, 1 << 16
    while lo < hi:  # largest r with r**4 * 2**t <= 2**64
        mid = (lo + hi + 1) // 2
        if mid**4 << t <= 1 << 64:
            lo = mid
        else:
            hi = mid - 1
    a = (1 << 16) - lo
    row = [1 << 15]
    for _ in range(half):
        row.append(max(1, row[-1] * a >> 16))
    return row


def _scaled(row: list[int], total: int) -> np.ndarray:
    s = sum(row)
    return np.array([max(1, f * total // s) for f in row], dtype=np.int64)


def _coef_init() -> np.ndarray:
    """Initial counts of the coefficient rows [2 · (CLASSES - 1) · BANDS, ALPHABET]: a two-sided
    geometric whose mean grows with the class and falls with the band."""
    rows = []
    for _kind in range(2):
        for c in range(1, CLASSES):
            for b in range(BANDS):
                t = min(63, max(0, 4 * c - 26 + _BAND_BOOST4[b]))
                half = _geometric_row(t, VMAX + 1)
                rows.append(_scaled(half[:0:-1] + half, INIT_TOTAL))
    return np.stack(rows)


COEF_INIT = _coef_init()
CLASS_INIT = np.array([_scaled([1 << (CLASSES - k) for k in range(CLASSES)], INIT_TOTAL)] * 2)  # luma, chroma
FLAG_INIT = np.array([[192, 64], [128, 128], [64, 192]], dtype=np.int64)  # left + top flags set: 0, 1, 2
ESCAPE_K_FREQ = np.array([[1 << max(0, 16 - k) for k in range(ESCAPE_BITS_MAX)]], dtype=np.int64)
BIT_FREQ = np.array([[1, 1]], dtype=np.int64)
_CLASS_BUCKET_STARTS = np.array([1, 3, 5, 8, 12, 16])  # buckets 0, 1-2, 3-4, 5-7, 8-11, 12-15, 16+
CLASS_BUCKETS = len(_CLASS_BUCKET_STARTS) + 1
NEIGHBOUR_CLASS_INIT = np.concatenate([np.repeat(CLASS_INIT[:1], CLASS_BUCKETS, axis=0),
                                       np.repeat(CLASS_INIT[1:], CLASS_BUCKETS * CLASS_BUCKETS, axis=0)])
MODES = 26
MODE_TOKENS = MODES - 1  # the tokens' picture; modes 0..24 are sub-pel fractions (enhancement.py)
MODE_INIT = np.array([[8] * MODE_TOKENS + [64], [10] * MODE_TOKENS + [32], [10] * MODE_TOKENS + [16]], dtype=np.int64)
MODE_INIT[:, MODE_TOKENS // 2] += 16  # the whole-pel vector itself


def mode_contexts(modes: np.ndarray, by: int, bx: int) -> int:
    """The row of block (by, bx)'s mode: how many of its left and top neighbours have a sub-pel mode."""
    return int(bx > 0 and modes[by, bx - 1] != MODE_TOKENS) + int(by > 0 and modes[by - 1, bx] != MODE_TOKENS)


def mode_bits(tables: "Tables | None") -> np.ndarray:
    """Ideal bits of each mode in each context [3, MODES] under ``tables`` (float: the encoder's
    decisions only)."""
    t = (tables or Tables()).mode
    return np.log2(t.sum(axis=1, keepdims=True) / t)


def class_bucket(n):
    """The bucket (0..6) of a sum of classes ``n`` (an int or an integer array): 0, 1-2, 3-4, 5-7,
    8-11, 12-15, 16 and more."""
    return np.searchsorted(_CLASS_BUCKET_STARTS, n, side="right")


def class_rows(plane: int, classes: np.ndarray, luma: np.ndarray, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """The rows (neighbour classes) of blocks (``ys``, ``xs``) of ``plane`` (0: Y, 1: Cb, 2: Cr)
    whose class map so far is ``classes`` [by, bx] (blocks not yet coded: 0) and the frame's luma
    class map ``luma``: luma ``bucket(left + top)``; chroma ``7 + 7 · bucket(left + top) +
    bucket(2 · max of the 2x2 luma blocks)``."""
    left = np.where(xs > 0, classes[ys, np.maximum(xs - 1, 0)], 0)
    top = np.where(ys > 0, classes[np.maximum(ys - 1, 0), xs], 0)
    near = class_bucket(left + top)
    if plane == 0:
        return near.astype(np.int64)
    co = np.maximum(np.maximum(luma[2 * ys, 2 * xs], luma[2 * ys, 2 * xs + 1]),
                    np.maximum(luma[2 * ys + 1, 2 * xs], luma[2 * ys + 1, 2 * xs + 1]))
    return (CLASS_BUCKETS + CLASS_BUCKETS * near + class_bucket(2 * co)).astype(np.int64)


_STARTS = [int(v) for v in _CLASS_BUCKET_STARTS]


def _class_row(plane: int, classes: np.ndarray, luma: np.ndarray, y: int, x: int) -> int:
    """:func:`class_rows` of one block (the decoder's, one at a time)."""
    near = bisect.bisect_right(_STARTS, (int(classes[y, x - 1]) if x else 0) + (int(classes[y - 1, x]) if y else 0))
    if plane == 0:
        return near
    co = int(luma[2 * y:2 * y + 2, 2 * x:2 * x + 2].max())
    return CLASS_BUCKETS + CLASS_BUCKETS * near + bisect.bisect_right(_STARTS, 2 * co)


def block_class(q: np.ndarray) -> np.ndarray:
    """Class of each block of ``q`` [..., 64]: 0 when all zero, else min(11, bit_length(sum |q|))."""
    s = np.abs(q).sum(axis=-1)
    bits = np.zeros(s.shape, dtype=np.int64)
    nz = s > 0
    bits[nz] = np.floor(np.log2(s[nz])).astype(np.int64) + 1  # exact for integers below 2**52
    return np.minimum(bits, CLASSES - 1)


class Tables:
    """The adaptive count rows (int64): ``flag`` [3, 2], ``cls`` [2, CLASSES] (with
    ``neighbour_classes``: [7 + 49, CLASSES], :func:`class_rows`), ``coef`` [176, ALPHABET],
    ``mode`` [3, MODES]. Immutable by convention: coding works on a copy (:meth:`copy`); :func:`adapt`
    returns new tables."""

    def __init__(self, flag: np.ndarray | None = None, cls: np.ndarray | None = None, coef: np.ndarray | None = None,
                 mode: np.ndarray | None = None, neighbour_classes: bool = False):
        self.neighbour_classes = neighbour_classes
        self.flag = FLAG_INIT.copy() if flag is None else flag
        self.cls = (NEIGHBOUR_CLASS_INIT if neighbour_classes else CLASS_INIT).copy() if cls is None else cls
        self.coef = COEF_INIT.copy() if coef is None else coef
        self.mode = MODE_INIT.copy() if mode is None else mode

    def copy(self) -> "Tables":
        return Tables(self.flag.copy(), self.cls.copy(), self.coef.copy(), self.mode.copy(), self.neighbour_classes)

    @staticmethod
    def _add(table: np.ndarray, rows: np.ndarray, symbols: np.ndarray) -> None:
        if rows.size == 1:
            table[rows[0], symbols[0]] += INCREMENT
        elif rows.size:  # a count per (row, symbol): np.add.at's sum, faster
            table += INCREMENT * np.bincount(rows * table.shape[1] + symbols, minlength=table.size).reshape(table.shape)
        over = table.sum(axis=1) > COUNT_LIMIT
        if over.any():
            table[over] = (table[over] + 1) // 2

    def update_window(self, flag_row: int, flag: int, classes: list[np.ndarray], coef_rows: np.ndarray,
                      symbols: np.ndarray, modes: tuple[np.ndarray, np.ndarray] | None = None,
                      cls_rows: list[np.ndarray] | None = None) -> None:
        """The update after one window (in place, on a working copy): +INCREMENT for every symbol
        it coded (``modes``: (rows, symbols) of its modes, if any; ``cls_rows``: the classes' rows
        per plane, with neighbour classes), then halving of the rows above COUNT_LIMIT."""
        if modes is not None:
            self._add(self.mode, *modes)
        self._add(self.flag, np.array([flag_row]), np.array([flag]))
        if not flag:
            return
        self._add(self.coef, coef_rows, symbols)
        for i, cl in enumerate(classes):
            self._add(self.cls, np.full(cl.size, min(i, 1)) if cls_rows is None else cls_rows[i], cl)


def _coef_rows(kind: int, classes: np.ndarray) -> np.ndarray:
    """Row of every coefficient [n, 64] of blocks of non-zero ``classes`` [n] in plane ``kind``."""
    return ((kind * (CLASSES - 1) + classes[:, None] - 1) * BANDS + BAND[None, :]).astype(np.int64)


def _window_blocks(plane: np.ndarray, r: int, c: int, per: int) -> np.ndarray:
    """The blocks [per², 64] of window (r, c) of a plane [by, bx, 64] (zig-zag coefficients)."""
    return plane[r * per:(r + 1) * per, c * per:(c + 1) * per].reshape(-1, 64)


def _pers(window: int) -> tuple[int, int, int]:
    return window // BLOCK, window // (2 * BLOCK), window // (2 * BLOCK)


def _window_modes(modes: np.ndarray | None, r: int, c: int, m: int) -> tuple[np.ndarray, np.ndarray] | None:
    """(rows, symbols) of window (r, c)'s modes in raster order (None: the frame has none)."""
    if modes is None:
        return None
    blocks = [(by, bx) for by in range(r * m, (r + 1) * m) for bx in range(c * m, (c + 1) * m)]
    return (np.array([mode_contexts(modes, by, bx) for by, bx in blocks], dtype=np.int64),
            np.array([modes[by, bx] for by, bx in blocks], dtype=np.int64))


def _split(layer: list[np.ndarray], grid: tuple[int, int]) -> tuple[list[np.ndarray], np.ndarray | None, int]:
    """The layer's coefficient planes, its modes (None: none) and motion blocks per window side."""
    if len(layer) == 3:
        return layer, None, 0
    modes = layer[3]
    m = modes.shape[0] // grid[0]
    if modes.shape != (grid[0] * m, grid[1] * m) or m < 1:
        raise ValueError(f"modes of shape {modes.shape} do not fit a grid of {grid} windows")
    if modes.min(initial=0) < 0 or modes.max(initial=0) >= MODES:
        raise ValueError(f"modes beyond 0..{MODES - 1}")
    return layer[:3], modes, m


def _windows(layer: list[np.ndarray], grid: tuple[int, int], window: int, neighbour_classes: bool = False):
    """Per window in raster order: (r, c, flag row, flag, classes per plane, coefficient rows, symbols,
    escape magnitudes, modes' (rows, symbols) or None, the classes' rows per plane or None), as the
    encoder codes them (``neighbour_classes``: rows by :func:`class_rows`)."""
    rows, cols = grid
    pers = _pers(window)
    planes, modes, m = _split(layer, grid)
    maps = [block_class(p) for p in planes] if neighbour_classes else None
    flags = np.zeros((rows, cols), dtype=np.int64)
    for r in range(rows):
        for c in range(cols):
            wm = _window_modes(modes, r, c, m)
            blocks = [_window_blocks(p, r, c, per) for p, per in zip(planes, pers)]
            flag = int(any(b.any() for b in blocks))
            ctx = int((flags[r, c - 1] if c else 0) + (flags[r - 1, c] if r else 0))
            flags[r, c] = flag
            if not flag:
                yield r, c, ctx, 0, [], np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64), wm, None
                continue
            classes = [block_class(b) for b in blocks]
            cls_rows = None
            if maps is not None:  # the whole frame's maps: a block's left and top are coded before it
                cls_rows = []
                for i, per in enumerate(pers):
                    ys, xs = (a.reshape(-1) for a in np.indices((per, per)))
                    cls_rows.append(class_rows(i, maps[i], maps[0], ys + r * per, xs + c * per))
            syms, ctxs, escapes = [], [], []
            for i, (b, cl) in enumerate(zip(blocks, classes)):
                nz = cl > 0
                v = b[nz].reshape(-1)
                syms.append(np.clip(v, -VMAX - 1, VMAX + 1) + VMAX + 1)
                ctxs.append(_coef_rows(min(i, 1), cl[nz]).reshape(-1))
                escapes.append(np.abs(v[np.abs(v) > VMAX]) - VMAX - 1)
            yield (r, c, ctx, 1, classes, np.concatenate(ctxs), np.concatenate(syms), np.concatenate(escapes), wm,
                   cls_rows)


def encode(enc: SymbolEncoder, layer: list[np.ndarray], grid: tuple[int, int], window: int,
           tables: Tables | None = None) -> None:
    """Append a frame's ``layer`` to the range coder ``enc``: its coefficient planes (Y, Cb, Cr:
    int64 [blocks y, blocks x, 64], zig-zag order), then, in a P frame of entropy model 5, its
    modes (int64 [motion blocks y, x]), on ``grid`` windows, starting from ``tables`` (the
    state's; ``None``: the initial tables)."""
    t = (tables or Tables()).copy()
    for _r, _c, ctx, flag, classes, rows_, sym, esc, wm, cls_rows in _windows(layer, grid, window, t.neighbour_classes):
        if wm is not None:
            enc.encode(wm[1], t.mode[wm[0]])
        enc.encode(np.array([flag]), t.flag[ctx:ctx + 1])
        if flag:
            for i, cl in enumerate(classes):
                enc.encode(cl, t.cls[np.full(cl.size, min(i, 1)) if cls_rows is None else cls_rows[i]])
            if sym.size:
                enc.encode(sym, t.coef[rows_])
            _encode_escapes(enc, esc)
        t.update_window(ctx, flag, classes, rows_, sym, wm, cls_rows)


def adapt(tables: Tables | None, layer: list[np.ndarray], grid: tuple[int, int], window: int) -> Tables:
    """The tables after a frame with this ``layer`` (as :func:`encode` takes it): what the next
    frame with an enhancement layer starts from (encoder and decoder alike; reset at intra frames)."""
    t = (tables or Tables()).copy()
    for _r, _c, ctx, flag, classes, rows_, sym, _esc, wm, cls_rows in _windows(layer, grid, window, t.neighbour_classes):
        t.update_window(ctx, flag, classes, rows_, sym, wm, cls_rows)
    return t


def _encode_escapes(enc: SymbolEncoder, m: np.ndarray) -> None:
    if m.size == 0:
        return
    u = m.astype(np.int64) + 1
    k = np.floor(np.log2(u)).astype(np.int64)
    if int(k.max()) >= ESCAPE_BITS_MAX:
        raise ValueError("enhancement coefficient out of range")
    enc.encode(k, ESCAPE_K_FREQ[np.zeros(k.size, dtype=np.int64)])
    bits = np.concatenate([(uu >> np.arange(kk - 1, -1, -1)) & 1 for uu, kk in zip(u, k)]) if int(k.sum()) else np.zeros(0, dtype=np.int64)
    if bits.size:
        enc.encode(bits, BIT_FREQ[np.zeros(bits.size, dtype=np.int64)])


def decode(dec: SymbolDecoder, grid: tuple[int, int], window: int, frame_index: int,
           tables: Tables | None = None, mode_block: int = 0) -> tuple[list[np.ndarray], Tables]:
    """The layer (as :func:`encode` takes it) of a frame of ``grid`` windows, from ``tables`` (as
    :func:`encode`), with modes of ``mode_block`` px blocks (0: none), and the tables after it (what
    :func:`adapt` gives for that layer, without walking it again); CorruptPacketError when the data
    do not decode."""
    rows, cols = grid
    pers = _pers(window)
    planes = [np.zeros((rows * per, cols * per, 64), dtype=np.int64) for per in pers]
    m = window // mode_block if mode_block else 0
    modes = np.zeros((rows * m, cols * m), dtype=np.int64) if m else None
    t = (tables or Tables()).copy()
    maps = [np.zeros((rows * per, cols * per), dtype=np.int64) for per in pers]  # classes so far (neighbour classes)
    flags = np.zeros((rows, cols), dtype=np.int64)
    for r in range(rows):
        for c in range(cols):
            wm = None
            if m:  # one at a time: a block's row depends on its left and top neighbours
                models = [None] * len(t.mode)  # the rows change only between windows
                for by in range(r * m, (r + 1) * m):
                    for bx in range(c * m, (c + 1) * m):
                        k = mode_contexts(modes, by, bx)
                        if models[k] is None:
                            models[k] = categorical(t.mode[k])
                        modes[by, bx] = _decode_one(dec, models[k], frame_index)
                wm = _window_modes(modes, r, c, m)
            ctx = int((flags[r, c - 1] if c else 0) + (flags[r - 1, c] if r else 0))
            flag = int(_decode(dec, t.flag[ctx:ctx + 1], frame_index)[0])
            flags[r, c] = flag
            if not flag:
                t.update_window(ctx, 0, [], np.zeros(0, np.int64), np.zeros(0, np.int64), wm)
                continue
            if t.neighbour_classes:
                classes, cls_rows = _decode_neighbour_classes(dec, t, maps, r, c, pers, frame_index)
            else:
                classes, cls_rows = [_decode(dec, t.cls[np.full(per * per, min(i, 1))], frame_index)
                                     for i, per in enumerate(pers)], None
            rows_ = np.concatenate([_coef_rows(min(i, 1), cl[cl > 0]).reshape(-1) for i, cl in enumerate(classes)])
            sym = _decode(dec, t.coef[rows_], frame_index) if rows_.size else np.zeros(0, dtype=np.int64)
            v = sym - VMAX - 1
            esc = np.abs(v) > VMAX
            if esc.any():
                v[esc] = np.sign(v[esc]) * (_decode_escapes(dec, int(esc.sum()), frame_index) + VMAX + 1)
            at = 0
            for i, (cl, per) in enumerate(zip(classes, pers)):
                nz = cl > 0
                n = int(nz.sum()) * 64
                blocks = np.zeros((per * per, 64), dtype=np.int64)
                blocks[nz] = v[at:at + n].reshape(-1, 64)
                at += n
                planes[i][r * per:(r + 1) * per, c * per:(c + 1) * per] = blocks.reshape(per, per, 64)
            t.update_window(ctx, 1, classes, rows_, sym, wm, cls_rows)
    return (planes if modes is None else planes + [modes]), t


def _decode_neighbour_classes(dec: SymbolDecoder, t: Tables, maps: list[np.ndarray], r: int, c: int,
                              pers: tuple[int, int, int], frame_index: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Window (r, c)'s classes (filled into the frame's class ``maps`` as they come) and their rows,
    one block at a time: each row needs the classes of the block's left and top neighbours."""
    classes, rows = [], []
    models: dict[int, object] = {}  # the rows change only between windows
    for i, per in enumerate(pers):
        cl, rw = np.empty(per * per, dtype=np.int64), np.empty(per * per, dtype=np.int64)
        for k in range(per * per):
            y, x = r * per + k // per, c * per + k % per
            row = _class_row(i, maps[i], maps[0], y, x)
            model = models.get(row)
            if model is None:
                model = models[row] = categorical(t.cls[row])
            cl[k] = maps[i][y, x] = _decode_one(dec, model, frame_index)
            rw[k] = row
        classes.append(cl)
        rows.append(rw)
    return classes, rows


def _decode_escapes(dec: SymbolDecoder, n: int, frame_index: int) -> np.ndarray:
    k = _decode(dec, ESCAPE_K_FREQ[np.zeros(n, dtype=np.int64)], frame_index)
    total = int(k.sum())
    bits = _decode(dec, BIT_FREQ[np.zeros(total, dtype=np.int64)], frame_index) if total else np.zeros(0, dtype=np.int64)
    out, at = np.empty(n, dtype=np.int64), 0
    for j, kk in enumerate(k):
        u = 1
        for b in bits[at:at + kk]:
            u = (u << 1) | int(b)
        at += kk
        out[j] = u - 1
    return out


def _decode_one(dec: SymbolDecoder, model, frame_index: int) -> int:
    return _checked(dec.decode_one, model, frame_index)


def _decode(dec: SymbolDecoder, freqs: np.ndarray, frame_index: int) -> np.ndarray:
    return _checked(dec.decode, freqs, frame_index)


def _checked(decode, arg, frame_index: int):
    """``decode(arg)``, with constriction's report of exhausted or invalid data as CorruptPacketError."""
    try:
        return decode(arg)
    except Exception as e:
        raise CorruptPacketError(f"payload of frame {frame_index} does not decode ({e})", frame_index) from None
