"""The compact packet syntax of format version 5 (docs/bitstream.md, "Packet (version 5)").

A packet is a *unit* (what a container such as Matroska, NUT or MP4 carries as one frame) wrapped
in the raw stream's framing:

    unit   = head  quality[q]  data                           (head: X = 0, n = 0)
    packet = head  [index]  [length]  quality[q]  data  crc

* ``head``: one byte, ``n << 4 | X << 3 | q << 1 | I``. ``I`` is 1 for an intra frame; ``q`` is how
  many quality bytes follow (0: the same as the previous packet's, in a P frame only; 3 is
  reserved); ``X`` is 1 where the raw packet states its frame index (:func:`carries_index`);
  ``n`` is the length of quality bytes plus data when below 15, and 15 when a ``length`` follows.
* ``index`` and ``length`` are unsigned LEB128 varints of at most 5 bytes, minimally encoded;
  ``length`` is at least 15.
* ``crc`` covers the frame index as 4 little-endian bytes (stated or implied) and every packet
  byte before it: CRC-32 on a packet with ``X`` or a length of 4096 or more, CRC-16/CCITT-FALSE
  from 32, CRC-8 (polynomial 0x07) below; stored little-endian.

A packet's *payload* (what :class:`Packet` holds and the entropy decoder reads) is its quality
bytes, stated or carried over, followed by the data: elision is invisible above this module.
"""
from __future__ import annotations

import binascii
import zlib

from ..errors import BitstreamError, CorruptPacketError

HEAD_INDEX = 0x08  # X: the raw packet states its frame index
HEAD_QUALITY_SHIFT = 1  # q in bits 1-2
HEAD_INTRA = 0x01
HEAD_LENGTH_SHIFT = 4  # n in bits 4-7
LENGTH_FOLLOWS = 15  # n = 15: a varint length follows
INDEX_PERIOD = 8  # a P frame whose index is a multiple of this states its index (a resync point)
CRC8_BELOW = 32  # packets shorter than this (quality + data) without X end with a CRC-8 ...
CRC16_BELOW = 4096  # ... shorter than this a CRC-16, else a CRC-32
VARINT_MAX_BYTES = 5
MIN_PACKET_SIZE = 2  # head and CRC-8: the smallest packet
MAX_QUALITY_BYTES = 2


def carries_index(frame_type: str, index: int) -> bool:
    """Whether the raw packet of frame ``index`` states its index (and its quality): every intra
    frame, and every P frame whose index is a multiple of :data:`INDEX_PERIOD`."""
    return frame_type == "I" or index % INDEX_PERIOD == 0


def crc_size(has_index: bool, length: int) -> int:
    if has_index or length >= CRC16_BELOW:
        return 4
    return 2 if length >= CRC8_BELOW else 1


def _crc8_table() -> bytes:
    table = bytearray(256)
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c << 1 ^ 0x07) & 0xFF if c & 0x80 else c << 1 & 0xFF
        table[i] = c
    return bytes(table)


_CRC8 = _crc8_table()


def crc8(data: bytes | bytearray | memoryview, crc: int = 0) -> int:
    """CRC-8 with polynomial x^8 + x^2 + x + 1 (0x07), initial value 0, no reflection."""
    for b in bytes(data):
        crc = _CRC8[crc ^ b]
    return crc


def framing_bytes(frame_type: str, index: int, length: float) -> int:
    """The bytes a packet of frame ``index`` spends around ``length`` bytes of stated quality and
    data: head, any index, the length field and the CRC."""
    x = carries_index(frame_type, index)
    n = int(length)
    return 1 + (len(varint(index)) if x else 0) + (len(varint(n)) if n >= LENGTH_FOLLOWS else 0) + crc_size(x, n)


def packet_crc(index: int, data: bytes | bytearray | memoryview, size: int) -> bytes:
    """The CRC field of a packet of frame ``index`` whose bytes before the CRC are ``data``."""
    seed = index.to_bytes(4, "little")
    if size == 4:
        return zlib.crc32(data, zlib.crc32(seed)).to_bytes(4, "little")
    if size == 2:
        return binascii.crc_hqx(data, binascii.crc_hqx(seed, 0xFFFF)).to_bytes(2, "little")
    return bytes([crc8(data, crc8(seed))])


def varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def read_varint(read, what: str, n: int) -> tuple[int, bytes] | None:
    """Read a varint through ``read(1)``; (value, its bytes), ``None`` if the input ends inside it.
    CorruptPacketError for one longer than 5 bytes, above 2**32-1 or not minimally encoded."""
    raw = bytearray()
    while True:
        b = read(1)
        if not b:
            return None
        raw += b
        if not b[0] & 0x80:
            break
        if len(raw) == VARINT_MAX_BYTES:
            raise CorruptPacketError(f"{what} in frame {n} is longer than {VARINT_MAX_BYTES} bytes", n)
    if len(raw) > 1 and raw[-1] == 0:
        raise CorruptPacketError(f"{what} in frame {n} is not minimally encoded", n)
    value = sum((b & 0x7F) << (7 * k) for k, b in enumerate(raw))
    if value > 0xFFFFFFFF:
        raise CorruptPacketError(f"{what} in frame {n} is above 2**32-1", n)
    return value, bytes(raw)


def head_byte(frame_type: str, quality_bytes: int, has_index: bool, length: int | None = None) -> int:
    """The head of a raw packet of ``length`` bytes after its length field, or of a unit (``None``)."""
    n = 0 if length is None else min(length, LENGTH_FOLLOWS)
    return n << HEAD_LENGTH_SHIFT | (HEAD_INDEX if has_index else 0) | quality_bytes << HEAD_QUALITY_SHIFT | (frame_type == "I")


def parse_head(head: int, n: int) -> tuple[str, int, bool, int]:
    """(frame type, quality bytes, X, length nibble) of a head byte; CorruptPacketError for q = 3."""
    q = (head >> HEAD_QUALITY_SHIFT) & 3
    if q > MAX_QUALITY_BYTES:
        raise CorruptPacketError(f"bad packet head 0x{head:02x} in frame {n} (reserved quality length 3)", n)
    return ("I" if head & HEAD_INTRA else "P"), q, bool(head & HEAD_INDEX), head >> HEAD_LENGTH_SHIFT


class Elision:
    """The quality bytes a stream carries over from packet to packet, on either side of the
    framing: :meth:`split` what a writer sends, :meth:`join` what a reader got."""

    def __init__(self) -> None:
        self.previous: bytes | None = None  # the last packet's quality bytes (None: none yet or lost)

    def split(self, frame_type: str, payload: bytes, quality_length: int, must_state: bool) -> tuple[int, bytes]:
        """(q, bytes after the head) for a payload whose first ``quality_length`` bytes are its
        quality: q = 0 (elided) where a P frame repeats the previous packet's quality."""
        if not 1 <= quality_length <= MAX_QUALITY_BYTES or len(payload) < quality_length:
            raise BitstreamError(f"a version-5 packet needs 1..{MAX_QUALITY_BYTES} quality bytes at the start "
                                 f"of its payload (quality_length {quality_length}, payload of {len(payload)} bytes)")
        quality = payload[:quality_length]
        elide = frame_type == "P" and not must_state and quality == self.previous
        self.previous = quality
        return (0, payload[quality_length:]) if elide else (quality_length, payload)

    def join(self, frame_type: str, q: int, body: bytes, n: int) -> tuple[bytes, int]:
        """(payload, quality_length) of a packet whose head says ``q`` and whose bytes after the
        length field are ``body``; CorruptPacketError if it elides what is not known."""
        if q == 0:
            if frame_type == "I":
                raise CorruptPacketError(f"intra frame {n} does not state its quality", n)
            if self.previous is None:
                raise CorruptPacketError(f"frame {n} repeats the quality of a frame that was not read", n)
            return self.previous + body, len(self.previous)
        if len(body) < q:
            raise CorruptPacketError(f"frame {n} is shorter than its {q} quality bytes", n)
        self.previous = bytes(body[:q])
        return bytes(body), q

    def forget(self) -> None:
        self.previous = None


def frame(frame_type: str, index: int, payload: bytes, quality_length: int, elision: Elision) -> bytes:
    """The raw packet of a frame."""
    x = carries_index(frame_type, index)
    q, body = elision.split(frame_type, payload, quality_length, must_state=x)
    out = bytearray([head_byte(frame_type, q, x, len(body))])
    if x:
        out += varint(index)
    if len(body) >= LENGTH_FOLLOWS:
        out += varint(len(body))
    out += body
    out += packet_crc(index, out, crc_size(x, len(body)))
    return bytes(out)


def unit(frame_type: str, payload: bytes, quality_length: int, elision: Elision, must_state: bool = False) -> bytes:
    """The container unit of a frame: head (X = 0), quality bytes where stated, data."""
    q, body = elision.split(frame_type, payload, quality_length, must_state)
    return bytes([head_byte(frame_type, q, False)]) + body


def from_unit(data: bytes, n: int, elision: Elision) -> tuple[str, bytes, int]:
    """(frame type, payload, quality_length) of the unit of frame ``n``; CorruptPacketError for a
    unit that is empty, has X set or elides what is not known."""
    if not data:
        raise CorruptPacketError(f"empty gvc1d unit in frame {n}", n)
    frame_type, q, x, length = parse_head(data[0], n)
    if x or length:
        raise CorruptPacketError(f"gvc1d unit of frame {n} has the raw stream's index or length bits set "
                                 f"(head 0x{data[0]:02x})", n)
    payload, quality_length = elision.join(frame_type, q, bytes(data[1:]), n)
    return frame_type, payload, quality_length
