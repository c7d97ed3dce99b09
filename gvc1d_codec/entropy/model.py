"""Entropy coding of one frame's tokens with the integer context model (docs/bitstream.md).

Symbol order in a payload: group by group (``ar_groups`` groups of consecutive tokens; 32 groups =
token by token), and inside a group windows in raster order, then tokens, then channels. Each
symbol ``s`` is coded as the residual ``s - floor(mu4 / 4) + RESIDUAL_RANGE`` with the frequency row
``freq_table[scale_index, mu4 mod 4]``. The encoder knows every symbol and predicts all groups in
one pass; the decoder predicts group by group. Both give the same integers, because masked weights
are exactly zero and the arithmetic is exact.

Coding is pure: ``encode(symbols, context) -> payload`` and ``decode(payload, context) -> symbols``
read the :class:`EntropyContext` (what is known before the frame) and change nothing. Advancing the
long-term memory is a separate, explicit part of the frame-coding step (:mod:`gvc1d_codec.step`).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..errors import CorruptPacketError
from .coder import SymbolDecoder, SymbolEncoder
from .definition import RESIDUAL_RANGE
from .prior import IntegerEntropyModel


@dataclass(frozen=True)
class EntropyContext:
    """What the entropy model knows before a frame: the previous frame's symbols and the long-term
    memory (integer-valued float64 CPU tensors; ``None`` at an intra frame), the quality level and
    the frame type."""

    prev_symbols: torch.Tensor | None
    memory: torch.Tensor | None
    quality: int
    intra: bool


class EntropyCoder:
    def __init__(self, model: IntegerEntropyModel):
        self.cm = model
        self.cfg = model.cfg
        self.table = model.freq_table  # float64, exact integers (checked at load)

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

    def encode(self, symbols: torch.Tensor, ctx: EntropyContext) -> tuple[bytes, float]:
        """symbols: integer tensor [N, L, C]. Returns (payload, ideal bits)."""
        s = self.cm.symbols_in(symbols)
        mu4, idx = self.cm.params(self._context(ctx, s.shape[0]), s)
        return self.code(s, mu4, idx)

    def code(self, s: torch.Tensor, mu4: torch.Tensor, idx: torch.Tensor) -> tuple[bytes, float]:
        """Range code symbols [N, L, C] (float64) under the prior's means and scale indices, in the
        bitstream's symbol order (group by group, then windows, tokens, channels)."""
        freqs, base = self._rows(self._group_major(mu4).reshape(-1), self._group_major(idx).reshape(-1))
        residual = self._group_major(s).reshape(-1).numpy().astype(np.int64) - base + RESIDUAL_RANGE
        enc = SymbolEncoder()
        enc.encode(residual, freqs)
        return enc.finish(), enc.ideal_bits

    def decode(self, payload: bytes, windows: int, ctx: EntropyContext, frame_index: int) -> torch.Tensor:
        """The symbols [windows, L, C] (float64 CPU) of a payload; CorruptPacketError if it does not decode."""
        cfg = self.cfg
        L, C, G = cfg.latent_tokens, cfg.token_dim, cfg.ar_groups
        per = L // G
        s = torch.zeros(windows, L, C, dtype=torch.float64)
        dec = SymbolDecoder(payload, frame_index)
        context = self._context(ctx, windows)
        embedded = torch.zeros(windows, L, cfg.prior_hidden, dtype=torch.float64)
        for g in range(G):
            rows = slice(g * per, (g + 1) * per)
            mu4, idx = self.cm.params(context, rows=rows, embedded=embedded)
            freqs, base = self._rows(mu4.reshape(-1), idx.reshape(-1))
            try:
                residual = dec.decode(freqs)
            except Exception as e:  # constriction reports exhausted or invalid data
                raise CorruptPacketError(f"payload of frame {frame_index} does not decode ({e})", frame_index) from None
            values = residual - RESIDUAL_RANGE + base
            if np.abs(values).max(initial=0) > cfg.symbol_max:
                raise CorruptPacketError(f"payload of frame {frame_index} decodes to out-of-range tokens", frame_index)
            s[:, rows] = torch.from_numpy(values.astype(np.float64)).view(windows, per, C)
            embedded[:, rows] = self.cm.embed(s[:, rows])
        return s
