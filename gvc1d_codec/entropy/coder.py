"""Range coding of residuals with integer frequency rows (constriction 0.5, ``perfect=False``).

constriction builds its fixed-point model from each probability row with plain IEEE arithmetic in
a fixed order; fed exact integers (as float64) it builds the same model on every machine. The
compressed ``uint32`` words are serialised little-endian.
"""
from __future__ import annotations

import constriction
import numpy as np

from ..errors import CorruptPacketError

_CATEGORICAL = constriction.stream.model.Categorical(perfect=False)


class SymbolEncoder:
    def __init__(self):
        self._coder = constriction.stream.queue.RangeEncoder()
        self.ideal_bits = 0.0

    def encode(self, residuals: np.ndarray, freqs: np.ndarray) -> None:
        """residuals: int array in [0, A); freqs: [n, A] integer frequencies."""
        probs = np.ascontiguousarray(freqs, dtype=np.float64)
        sym = np.ascontiguousarray(residuals, dtype=np.int32).reshape(-1)
        self._coder.encode(sym, _CATEGORICAL, probs.reshape(sym.size, -1))
        rows = probs.reshape(sym.size, -1)
        self.ideal_bits += float(-np.log2(rows[np.arange(sym.size), sym] / rows.sum(axis=1)).sum())

    def finish(self) -> bytes:
        return self._coder.get_compressed().astype("<u4").tobytes()


class SymbolDecoder:
    def __init__(self, payload: bytes, frame_index: int):
        if len(payload) % 4:
            raise CorruptPacketError(f"payload of frame {frame_index} is not a whole number of 32-bit words", frame_index)
        self._coder = constriction.stream.queue.RangeDecoder(np.frombuffer(payload, dtype="<u4").astype(np.uint32))

    def decode(self, freqs: np.ndarray) -> np.ndarray:
        probs = np.ascontiguousarray(freqs, dtype=np.float64)
        probs = probs.reshape(-1, probs.shape[-1])
        return self._coder.decode(_CATEGORICAL, probs).astype(np.int64)
