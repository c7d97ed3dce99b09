"""Entropy coding of one frame's tokens with the integer context model (docs/bitstream.md).

Symbol order in a payload: group by group (``ar_groups`` groups of consecutive tokens; 32 groups =
token by token), and inside a group windows in raster order, then tokens, then channels. Each
symbol ``s`` is coded as the residual ``s - floor(mu4 / 4) + RESIDUAL_RANGE`` with the frequency row
``freq_table[scale_index, mu4 mod 4]``. The encoder knows every symbol and predicts all groups in
one pass; the decoder predicts group by group. Both give the same integers, because masked weights
are exactly zero and the arithmetic is exact.
"""
from __future__ import annotations

import numpy as np
import torch

from ..errors import CorruptPacketError
from .coder import SymbolDecoder, SymbolEncoder
from .prior import IntegerContextModel
from .tables import RESIDUAL_RANGE


class ContextState:
    """What the entropy model knows before a frame: previous symbols and the long-term memory.
    Integer-valued float64 tensors on the CPU; ``None`` after an intra refresh."""

    def __init__(self):
        self.prev_symbols: torch.Tensor | None = None
        self.memory: torch.Tensor | None = None

    def reset(self) -> None:
        self.prev_symbols = self.memory = None


class EntropyCoder:
    def __init__(self, context_model: IntegerContextModel, freq_table: np.ndarray):
        if context_model.exported is None:
            raise ValueError("the entropy coder needs the exported integer context model")
        self.cm = context_model
        self.cfg = context_model.cfg
        self.table = np.ascontiguousarray(freq_table, dtype=np.float64)

    def _rows(self, mu4: torch.Tensor, idx: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        mu4 = mu4.numpy().astype(np.int64)
        base = np.floor_divide(mu4, 4)
        return self.table[idx.numpy().astype(np.int64), mu4 - 4 * base], base

    def _group_major(self, t: torch.Tensor) -> torch.Tensor:
        n, L, C = t.shape
        g = self.cfg.ar_groups
        return t.view(n, g, L // g, C).transpose(0, 1)

    def encode(self, symbols: torch.Tensor, state: ContextState, quality: int, intra: bool) -> tuple[bytes, float]:
        """symbols: integer tensor [N, L, C]. Returns (payload, ideal bits). Updates ``state``."""
        s = symbols.to(torch.float64).cpu()
        n = s.shape[0]
        if intra:
            state.reset()
        ctx = self.cm.context(state.prev_symbols, state.memory, quality, intra, n)
        mu4, idx = self.cm.params(ctx, s)
        coded = self.code(s, mu4, idx)
        self._advance(state, s)
        return coded

    def code(self, s: torch.Tensor, mu4: torch.Tensor, idx: torch.Tensor) -> tuple[bytes, float]:
        """Range code symbols [N, L, C] (float64) under the prior's means and scale indices, in the
        bitstream's symbol order (group by group, then windows, tokens, channels)."""
        freqs, base = self._rows(self._group_major(mu4).reshape(-1), self._group_major(idx).reshape(-1))
        residual = self._group_major(s).reshape(-1).numpy().astype(np.int64) - base + RESIDUAL_RANGE
        enc = SymbolEncoder()
        enc.encode(residual, freqs)
        return enc.finish(), enc.ideal_bits

    def decode(self, payload: bytes, windows: int, state: ContextState, quality: int, intra: bool, frame_index: int) -> torch.Tensor:
        cfg = self.cfg
        L, C, G = cfg.latent_tokens, cfg.token_dim, cfg.ar_groups
        per = L // G
        if intra:
            state.reset()
        s = torch.zeros(windows, L, C, dtype=torch.float64)
        dec = SymbolDecoder(payload, frame_index)
        ctx = self.cm.context(state.prev_symbols, state.memory, quality, intra, windows)
        embedded = torch.zeros(windows, L, self.cfg.prior_hidden, dtype=torch.float64)
        for g in range(G):
            rows = slice(g * per, (g + 1) * per)
            mu4, idx = self.cm.params(ctx, rows=rows, embedded=embedded)
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
        self._advance(state, s)
        return s

    def _advance(self, state: ContextState, s: torch.Tensor) -> None:
        state.memory = self.cm.memory_update(state.memory, s)
        state.prev_symbols = s
