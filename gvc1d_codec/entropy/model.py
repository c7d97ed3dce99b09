"""Entropy coding of one frame's tokens with the integer context model (docs/bitstream.md).

Symbol order in a payload: group by group (``ar_groups`` groups of consecutive tokens; 32 groups =
token by token), and inside a group windows in raster order, then tokens, then channels. Each
symbol ``s`` is coded as the residual ``s - floor(mu4 / 4) + RESIDUAL_RANGE`` with the frequency row
``freq_table[scale_index, mu4 mod 4]``. The encoder knows every symbol and predicts all groups in
one pass; the decoder predicts group by group. Both give the same integers, because masked weights
are exactly zero and the arithmetic is exact.

Every payload starts with one byte, the frame's quality code (16 x the quality, a level plus a
fraction in steps of 1/16: :mod:`gvc1d_codec.quality`); the range-coded data follows.
A P frame's range-coded data starts, for models with block motion, with the motion field (window vectors,
then block deltas: :mod:`gvc1d_codec.entropy.motion_syntax`), then one skip flag per window (raster order, before any token), coded
with the fixed table ``SKIP_FREQ`` of :mod:`gvc1d_codec.entropy.definition`; the tokens of skipped
windows are not coded (they repeat the previous frame's). Intra frames have no flags.

Coding is pure: ``encode(symbols, context) -> payload`` and ``decode(payload, context) -> symbols``
read the :class:`EntropyContext` (what is known before the frame) and change nothing. Advancing the
long-term memory is a separate, explicit part of the frame-coding step (:mod:`gvc1d_codec.step`).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .. import adaptation
from ..errors import CorruptPacketError
from ..quality import from_code, max_code, quality_code
from . import motion_syntax, residual_syntax
from .coder import SymbolDecoder, SymbolEncoder
from .definition import (ENTROPY_MODEL_ID, EXPLICIT_FREQ, MERGE_FREQ, MERGE_MOTION_ID, MV_FREQ, MV_MAX,
                         NEIGHBOUR_CLASSES_ID, RESIDUAL_RANGE,
                         SKIP_FREQ, UPDATE_FREQ, UPDATE_IDS, UPDATE_MAX, UPDATE_SPREAD_FREQ, skip_contexts)
from .prior import IntegerPrior


@dataclass(frozen=True)
class EntropyContext:
    """What the entropy model knows before a frame: the previous frame's symbols and the long-term
    memory (integer-valued float64 CPU tensors; ``None`` at an intra frame), the quality (a level,
    or a multiple of 1/16 between levels) and the frame type."""

    prev_symbols: torch.Tensor | None
    memory: torch.Tensor | None
    quality: int | float
    intra: bool
    prev_skip: np.ndarray | None = None  # bool [N]: the previous frame's skip flags (None: none)
    prev_motion: torch.Tensor | None = None  # long [1, 2, bh, bw]: the previous frame's vectors (None: zero)
    residual_tables: residual_syntax.Tables | None = None  # the enhancement layer's tables (None: initial)


class EntropyCoder:
    def __init__(self, model: IntegerPrior, stream_id: int = ENTROPY_MODEL_ID):
        self.cm = model
        self.cfg = model.cfg
        self.table = model.freq_table  # float64, exact integers (checked at load)
        # -log2 of each entry's probability (the encoder's ideal bits, window_bits): the same division
        # and log per entry as computing it per symbol, once per table
        with np.errstate(divide="ignore"):
            self.table_bits = -np.log2(self.table / self.table.sum(axis=-1, keepdims=True))
        # the enhancement layer of a P frame has prediction modes from entropy model 5 on (models with motion)
        self.mode_block = self.cfg.motion_block if stream_id >= 5 else 0
        self.byte_terminated = stream_id >= 6  # payloads end at a byte, big-endian (entropy/coder.py)
        # intra frames start with a decoder update (or its absence) in entropy models 7, 9 and 11
        self.updates = stream_id in UPDATE_IDS
        self.update_size = adaptation.update_size(self.cfg.conv_width) if self.updates else 0
        # motion fields with merge modes (motion format 4) from entropy model 8 on
        self.merge_motion = stream_id >= MERGE_MOTION_ID
        # the enhancement layer's classes coded by their neighbours from entropy model 10 on
        self.neighbour_classes = stream_id >= NEIGHBOUR_CLASSES_ID

    def residual_tables(self, tables: residual_syntax.Tables | None) -> residual_syntax.Tables:
        """The enhancement layer's tables a frame starts from: the state's, else (after an intra
        frame) this stream's initial tables."""
        return residual_syntax.Tables(neighbour_classes=self.neighbour_classes) if tables is None else tables

    def _rows(self, mu4: torch.Tensor, idx: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        mu4 = mu4.numpy().astype(np.int64)
        base = np.floor_divide(mu4, 4)
        return self.table[idx.numpy().astype(np.int64), mu4 - 4 * base], base

    def _group_major(self, t: torch.Tensor) -> torch.Tensor:
        n, L, C = t.shape
        g = self.cfg.ar_groups
        return t.view(n, g, L // g, C).transpose(0, 1)

    def _context(self, ctx: EntropyContext, n: int) -> torch.Tensor:
        return self.cm.context(ctx.prev_symbols, ctx.memory, ctx.quality, ctx.intra, n)

    def encode(self, symbols: torch.Tensor, ctx: EntropyContext, skip: np.ndarray | None = None,
               grid: tuple[int, int] | None = None, motion: torch.Tensor | None = None,
               enhancement: tuple[float, list[np.ndarray]] | None = None,
               update: np.ndarray | None = None) -> tuple[bytes, float]:
        """symbols: integer tensor [N, L, C]; ``skip`` (P frames): bool [N], the windows whose tokens
        are not coded, on a ``grid`` of (rows, columns) windows; ``motion`` (P frames of models
        with block motion): long [1, 2, bh, bw].
        ``enhancement``: (e, layer) of a frame above the highest level (``ctx`` at the tokens'
        level; :mod:`gvc1d_codec.enhancement`), coded after the tokens: the layer is the coefficient
        planes Y, Cb, Cr, then the prediction modes in a P frame with them (:attr:`layer_modes`).
        ``update`` (intra frames of streams that have them, :attr:`updates`): the integers of a
        decoder update (:mod:`gvc1d_codec.adaptation`), coded first; None: no update.
        Returns (payload, ideal bits)."""
        s = self.cm.symbols_in(symbols)
        enc = SymbolEncoder()
        coded = slice(None)
        if update is not None and not (ctx.intra and self.update_size):
            raise ValueError("a decoder update is sent with an intra frame of a stream of entropy model 7 "
                             "and a model with the conv decoder")
        if ctx.intra and self.updates:
            self._encode_update(enc, update)
        if not ctx.intra and self.cfg.motion_block:
            if motion is None or tuple(motion.shape) != self.motion_shape(grid):
                raise ValueError(f"a P frame of this model needs a motion field of shape {self.motion_shape(grid)}")
            motion = motion.cpu().long()
            if int(motion.abs().max()) > MV_MAX:
                raise ValueError(f"motion vectors beyond +-{MV_MAX}")
            m = self.cfg.window // self.cfg.motion_block
            if self.merge_motion:
                windows = motion_syntax.choose_windows(motion, ctx.prev_motion, m, merged=True)
                (r_win, k_win), (modes, k_blk), deltas = motion_syntax.to_merged(motion, windows, ctx.prev_motion, m)
                enc.encode(r_win.numpy(), MV_FREQ[k_win.numpy()])
                enc.encode(modes.numpy(), MERGE_FREQ[k_blk.numpy()])
                if deltas.numel():
                    enc.encode(deltas.numpy(), np.broadcast_to(EXPLICIT_FREQ, (deltas.numel(), EXPLICIT_FREQ.shape[1])))
            else:
                windows = motion_syntax.choose_windows(motion, ctx.prev_motion, m)
                residual, rows = motion_syntax.to_residuals(motion, windows, ctx.prev_motion, m)
                enc.encode(residual.numpy(), MV_FREQ[rows.numpy()])
        if not ctx.intra:
            skip = np.zeros(s.shape[0], dtype=bool) if skip is None else np.asarray(skip, dtype=bool)
            enc.encode(skip.astype(np.int64), SKIP_FREQ[skip_contexts(skip, ctx.prev_skip, *grid)])
            coded = torch.from_numpy(~skip)
        elif skip is not None and np.any(skip):
            raise ValueError("an intra frame has no skipped windows")
        mu4, idx = self.token_params(ctx, s)
        self._encode_tokens(enc, s[coded], mu4[coded], idx[coded])
        codes = [quality_code(ctx.quality, self.cfg.qualities)]
        if enhancement is not None:
            e, layer = enhancement
            if len(layer) != 3 + self.layer_modes(ctx.intra):
                raise ValueError(f"this frame's enhancement layer has {3 + self.layer_modes(ctx.intra)} planes, got {len(layer)}")
            code = quality_code(self.cfg.qualities - 1 + e, self.cfg.qualities, enhanced=True)
            if code <= max_code(self.cfg.qualities):
                raise ValueError("an enhancement layer needs e >= 1/16")
            codes.insert(0, code)  # the frame's code, then the tokens'
            residual_syntax.encode(enc, layer, grid, self.cfg.window, self.residual_tables(ctx.residual_tables))
        return bytes(codes) + enc.finish(self.byte_terminated), enc.ideal_bits

    def _encode_update(self, enc: SymbolEncoder, update: np.ndarray | None) -> None:
        """The spread k (0: no update), then the values with row k - 1 (docs/bitstream.md)."""
        if update is None:
            enc.encode(np.zeros(1, dtype=np.int64), UPDATE_SPREAD_FREQ)
            return
        v = np.asarray(update, dtype=np.int64).reshape(-1)
        if v.size != self.update_size or np.abs(v).max(initial=0) > UPDATE_MAX:
            raise ValueError(f"a decoder update of this model is {self.update_size} integers in +-{UPDATE_MAX}")
        k, _ = adaptation.spread_bits(v)
        enc.encode(np.array([k]), UPDATE_SPREAD_FREQ)
        enc.encode(v + UPDATE_MAX, np.broadcast_to(UPDATE_FREQ[k - 1], (v.size, UPDATE_FREQ.shape[1])))

    def _decode_update(self, dec: SymbolDecoder, frame_index: int) -> np.ndarray | None:
        k = int(_decode(dec, UPDATE_SPREAD_FREQ, frame_index)[0])
        if k == 0:
            return None
        if not self.update_size:
            raise CorruptPacketError(f"frame {frame_index} sends a decoder update, which this model cannot apply", frame_index)
        rows = np.broadcast_to(UPDATE_FREQ[k - 1], (self.update_size, UPDATE_FREQ.shape[1]))
        return _decode(dec, rows, frame_index) - UPDATE_MAX

    def token_params(self, ctx: EntropyContext, s: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The prior's (mu4, scale index) [N, L, C] of symbols ``s`` in context ``ctx``: what
        :meth:`encode` codes the tokens with."""
        return self.cm.params(self._context(ctx, s.shape[0]), s)

    def layer_modes(self, intra: bool) -> bool:
        """Whether a frame's enhancement layer has prediction modes (P frames, from entropy model 5)."""
        return bool(self.mode_block) and not intra

    def payload_quality(self, payload: bytes, frame_index: int) -> float:
        """The quality a payload was coded at (its first byte); CorruptPacketError if there is
        none or it is beyond the model's levels."""
        if not payload:
            raise CorruptPacketError(f"payload of frame {frame_index} is empty (no quality code)", frame_index)
        if payload[0] > max_code(self.cfg.qualities, enhanced=True):
            raise CorruptPacketError(f"payload of frame {frame_index} has quality code {payload[0]} "
                                     f"(this model has 0..{max_code(self.cfg.qualities, enhanced=True)})", frame_index)
        return from_code(payload[0])

    def tokens_quality(self, payload: bytes, frame_index: int) -> float:
        """The quality the tokens of a payload were coded at: the frame's own, or, in a payload
        with an enhancement layer (a frame quality above the highest level), its second byte."""
        if self.payload_quality(payload, frame_index) <= self.cfg.qualities - 1:
            return from_code(payload[0])
        if len(payload) < 2 or payload[1] > max_code(self.cfg.qualities):
            raise CorruptPacketError(f"payload of frame {frame_index} has no valid tokens' quality code "
                                     f"(0..{max_code(self.cfg.qualities)})", frame_index)
        return from_code(payload[1])

    def motion_shape(self, grid: tuple[int, int]) -> tuple[int, int, int, int]:
        """Shape of a frame's motion field: one vector per ``motion_block`` block of the padded frame."""
        b, win = self.cfg.motion_block, self.cfg.window
        return (1, 2, -(-grid[0] * win // b), -(-grid[1] * win // b))

    def window_bits(self, symbols: torch.Tensor, ctx: EntropyContext) -> np.ndarray:
        """Ideal bits of each window's tokens [N] (float64; for the encoder's decisions only)."""
        s = self.cm.symbols_in(symbols)
        mu4, idx = self.cm.params(self._context(ctx, s.shape[0]), s)
        n = s.shape[0]
        mu4 = mu4.reshape(-1).numpy().astype(np.int64)
        base = np.floor_divide(mu4, 4)
        residual = s.reshape(-1).numpy().astype(np.int64) - base + RESIDUAL_RANGE
        return self.table_bits[idx.reshape(-1).numpy().astype(np.int64), mu4 - 4 * base, residual].reshape(n, -1).sum(axis=1)

    def _encode_tokens(self, enc: SymbolEncoder, s: torch.Tensor, mu4: torch.Tensor, idx: torch.Tensor) -> None:
        if s.shape[0] == 0:
            return
        freqs, base = self._rows(self._group_major(mu4).reshape(-1), self._group_major(idx).reshape(-1))
        residual = self._group_major(s).reshape(-1).numpy().astype(np.int64) - base + RESIDUAL_RANGE
        enc.encode(residual, freqs)

    def decode(self, payload: bytes, grid: tuple[int, int], ctx: EntropyContext,
               frame_index: int) -> tuple[torch.Tensor, np.ndarray | None, torch.Tensor | None, list[np.ndarray] | None,
                                          np.ndarray | None, residual_syntax.Tables | None]:
        """The symbols [windows, L, C] (float64 CPU) of a payload (``ctx`` at the payload's quality:
        :meth:`payload_quality`, or at the highest level for a payload above it), its skip flags (bool [windows],
        ``None`` for an intra frame), its motion field (long [1, 2, bh, bw], ``None`` for an
        intra frame or a model without motion) and its enhancement layer (coefficient planes, then
        any modes, as :meth:`encode` takes it; ``None`` at or below the highest level), its
        decoder update (the integers, ``None``: none) and the layer's adaptive tables after the
        frame (``None`` without a layer; :func:`residual_syntax.adapt`'s result, derived while
        decoding); CorruptPacketError if it does not decode."""
        cfg = self.cfg
        L, C, G = cfg.latent_tokens, cfg.token_dim, cfg.ar_groups
        per = L // G
        windows = grid[0] * grid[1]
        enhanced = self.payload_quality(payload, frame_index) > cfg.qualities - 1  # checks the code
        if quality_code(ctx.quality, cfg.qualities) != quality_code(self.tokens_quality(payload, frame_index), cfg.qualities):
            raise ValueError("decode with the context of the payload's tokens' quality (tokens_quality)")
        dec = SymbolDecoder(payload[2 if enhanced else 1:], frame_index, self.byte_terminated)
        s = torch.zeros(windows, L, C, dtype=torch.float64)
        skip = motion = update = None
        coded = torch.ones(windows, dtype=torch.bool)
        if ctx.intra and self.updates:
            update = self._decode_update(dec, frame_index)
        if not ctx.intra and cfg.motion_block:
            shape = self.motion_shape(grid)
            m = cfg.window // cfg.motion_block
            if self.merge_motion:
                k_win, k_blk = motion_syntax.merge_rows(ctx.prev_motion, shape, m)
                r_win = torch.from_numpy(_decode(dec, MV_FREQ[k_win.numpy()], frame_index))
                window_mv = motion_syntax.window_vectors(r_win, ctx.prev_motion, shape, m)
                modes = torch.from_numpy(_decode(dec, MERGE_FREQ[k_blk.numpy()], frame_index))
                n = 2 * int((modes == motion_syntax.MODE_EXPLICIT).sum())
                deltas = torch.from_numpy(_decode(dec, np.broadcast_to(EXPLICIT_FREQ, (n, EXPLICIT_FREQ.shape[1])),
                                                  frame_index)) if n else torch.zeros(0, dtype=torch.long)
                motion = motion_syntax.merge_field(window_mv, modes, deltas, m)
            else:
                rows = motion_syntax.residual_rows(ctx.prev_motion, shape, m)
                symbols = torch.from_numpy(_decode(dec, MV_FREQ[rows.numpy()], frame_index))
                motion, window_mv = motion_syntax.from_residuals(symbols, ctx.prev_motion, shape, m)
            if int(motion.abs().max()) > MV_MAX or int(window_mv.abs().max()) > MV_MAX:
                raise CorruptPacketError(f"payload of frame {frame_index} decodes to out-of-range motion vectors", frame_index)
        if not ctx.intra:
            skip = self._decode_skip(dec, grid, ctx.prev_skip, frame_index)
            coded = torch.from_numpy(~skip)
            if skip.any():
                if ctx.prev_symbols is None:
                    raise CorruptPacketError(f"frame {frame_index} skips windows but has no previous symbols", frame_index)
                s[~coded] = ctx.prev_symbols[~coded]
        n = int(coded.sum())
        context = self._context(ctx, windows)[coded]
        embedded = torch.zeros(n, L, cfg.prior_hidden, dtype=torch.float64)
        t = torch.zeros(n, L, C, dtype=torch.float64)
        for g in range(G if n else 0):
            rows = slice(g * per, (g + 1) * per)
            mu4, idx = self.cm.params(context, rows=rows, embedded=embedded)
            freqs, base = self._rows(mu4.reshape(-1), idx.reshape(-1))
            residual = _decode(dec, freqs, frame_index)
            values = residual - RESIDUAL_RANGE + base
            if np.abs(values).max(initial=0) > cfg.symbol_max:
                raise CorruptPacketError(f"payload of frame {frame_index} decodes to out-of-range tokens", frame_index)
            t[:, rows] = torch.from_numpy(values.astype(np.float64)).view(n, per, C)
            embedded[:, rows] = self.cm.embed(t[:, rows])
        s[coded] = t
        planes = tables = None
        if enhanced:
            planes, tables = residual_syntax.decode(dec, grid, cfg.window, frame_index, self.residual_tables(ctx.residual_tables),
                                                    self.mode_block if self.layer_modes(ctx.intra) else 0)
        return s, skip, motion, planes, update, tables

    @staticmethod
    def _decode_skip(dec: SymbolDecoder, grid: tuple[int, int], prev_skip: np.ndarray | None, frame_index: int) -> np.ndarray:
        """The skip flags, window by window (each one's context needs its left and top neighbours)."""
        rows, cols = grid
        f = np.zeros((rows, cols), dtype=np.int64)
        prev = np.zeros((rows, cols), dtype=np.int64) if prev_skip is None else np.asarray(prev_skip, dtype=np.int64).reshape(rows, cols)
        for r in range(rows):
            for c in range(cols):
                k = (f[r, c - 1] if c else 0) + (f[r - 1, c] if r else 0) + 3 * prev[r, c]
                f[r, c] = _decode(dec, SKIP_FREQ[k : k + 1], frame_index)[0]
        return f.reshape(-1).astype(bool)


def _decode(dec: SymbolDecoder, freqs: np.ndarray, frame_index: int) -> np.ndarray:
    try:
        return dec.decode(freqs)
    except Exception as e:  # constriction reports exhausted or invalid data
        raise CorruptPacketError(f"payload of frame {frame_index} does not decode ({e})", frame_index) from None
