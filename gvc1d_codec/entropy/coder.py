"""Range coding of residuals with integer frequency rows (constriction 0.5, ``perfect=False``).

constriction builds its fixed-point model from each probability row with plain IEEE arithmetic in
a fixed order; fed exact integers (as float64) it builds the same model on every machine.

Serialisation. Up to entropy model 5 a payload is constriction's ``uint32`` words, little-endian.
From model 6 on it is *byte-terminated*: the coder's output read as one big-endian number, cut to
the fewest bytes that still lie in the final coding interval (:func:`terminate`); the decoder reads
the bytes big-endian and pads with zeros, as constriction's decoder pads the end of its words.
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

    def finish(self, byte_terminated: bool = True) -> bytes:
        if byte_terminated:
            return terminate(self._coder)
        return self._coder.get_compressed().astype("<u4").tobytes()


def terminate(coder: constriction.stream.queue.RangeEncoder) -> bytes:
    """The shortest byte string whose value, zero-padded, lies in the coder's final interval.

    constriction's state is (``lower``, ``range``) over the 64 bits after the ``position`` words it
    has emitted; its sealed output ``S`` lies in that interval. Over the whole ``T`` bits the
    interval is [``low``, ``low + range``) with ``low`` the one number at or below ``S``, within
    2**64 of it, that equals ``lower`` modulo 2**64. The payload is the first ``k`` bytes of the
    smallest multiple of 2**(T - 8k) at or above ``low``, for the smallest ``k`` that keeps it
    below ``low + range``. Integer arithmetic only."""
    if coder.is_empty():
        return b""
    words = coder.get_compressed()
    position, (lower, width) = coder.pos()
    n = position + 2  # words: those emitted and the two of the state
    total = 32 * n
    sealed = int.from_bytes(np.asarray(words, dtype=">u4").tobytes(), "big") << (32 * (n - len(words)))
    low = sealed - ((sealed - lower) % (1 << 64))
    high = low + width
    best = None
    for k in range(4 * n, -1, -1):  # shorter while it still fits (a fit at k is one at k + 1)
        shift = total - 8 * k
        value = -(-low >> shift)
        if value << shift >= high:
            break
        best = k, value
    k, value = best
    return value.to_bytes(k, "big")


class SymbolDecoder:
    def __init__(self, payload: bytes, frame_index: int, byte_terminated: bool = True):
        if byte_terminated:
            words = np.frombuffer(payload + bytes(-len(payload) % 4), dtype=">u4")
        elif len(payload) % 4:
            raise CorruptPacketError(f"payload of frame {frame_index} is not a whole number of 32-bit words", frame_index)
        else:
            words = np.frombuffer(payload, dtype="<u4")
        self._coder = constriction.stream.queue.RangeDecoder(words.astype(np.uint32))

    def decode(self, freqs: np.ndarray) -> np.ndarray:
        probs = np.ascontiguousarray(freqs, dtype=np.float64)
        probs = probs.reshape(-1, probs.shape[-1])
        return self._coder.decode(_CATEGORICAL, probs).astype(np.int64)

    def decode_one(self, model: "constriction.stream.model.Categorical") -> int:
        """One symbol with a model made by :func:`categorical` (a symbol that depends on the one
        before it: about 40x faster than :meth:`decode` of one row)."""
        return int(self._coder.decode(model))


def categorical(freqs: np.ndarray) -> "constriction.stream.model.Categorical":
    """constriction's model of one integer frequency row, made once for many symbols: the same
    model :meth:`SymbolEncoder.encode` and :meth:`SymbolDecoder.decode` build from that row."""
    return constriction.stream.model.Categorical(np.asarray(freqs, dtype=np.float64), perfect=False)
