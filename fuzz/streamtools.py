"""Byte-level surgery on .gvc streams for the fuzzers and the property tests.

Versions 4 and 5 are walked (version 5: the compact packets of docs/bitstream.md, "Packet, version
5", with CRC-8/16/32 over the frame index and the packet; header fields by name only for version 4).
The container (docs/bitstream.md) protects the header and every packet with a CRC, so random
mutations die at the CRC check and never reach the entropy decoder or the model. The helpers here
walk a (possibly damaged) stream by its length fields without validating anything, and rewrite
the CRCs after a mutation, so that a mutated stream is judged on its content.

Only the layout of docs/bitstream.md is used here; the parser under test is not.
"""
from __future__ import annotations

import binascii
import io
import random
import struct
import zlib
from dataclasses import dataclass

from gvc1d_codec.errors import BitstreamError, LimitError

# --- layout (docs/bitstream.md, "Stream header" and "Packet") -----------------------------------
MAGIC = b"GVC1"
PREFIX_SIZE = 7  # magic, format_version, header_length
HEADER_FIELDS = {  # name -> (offset, struct format) in a version-1 header
    "format_version": (4, "<B"),
    "header_length": (5, "<H"),
    "width": (7, "<H"),
    "height": (9, "<H"),
    "fps_num": (11, "<I"),
    "fps_den": (15, "<I"),
    "pix_fmt": (19, "<B"),
    "color_matrix": (20, "<B"),
    "color_range": (21, "<B"),
    "quality": (22, "<B"),
    "intra_period": (23, "<i"),
    "entropy_model_id": (27, "<H"),
    "config_id_length": (29, "<B"),
}
CONFIG_ID = slice(30, 62)
WEIGHTS_PREFIX = slice(62, 78)
HEADER_SIZE_V1 = 82
PACKET_HEAD = struct.Struct("<BBII")  # sync, frame_type, frame_index, payload_length
PACKET_OVERHEAD = PACKET_HEAD.size + 4
SYNC, TYPE_I, TYPE_P = 0xA5, 0x49, 0x50

# --- what a decoder may raise on hostile input ----------------------------------------------------
# BitstreamError and its subclasses (Unsupported-, Truncated-, CorruptPacket-), and LimitError: a
# valid stream above the decoder's pixels-per-frame budget. Any other exception is a finding.
ALLOWED_ERRORS = (BitstreamError, LimitError)


@dataclass
class Layout:
    """Where things are in a stream, found by following length fields without any check."""

    header_end: int | None  # None: the header's length field is cut or the magic is wrong
    packets: list[tuple[int, int]]  # (start, end) of each complete packet, end = after its CRC
    tail: int  # offset where the walk stopped (== len(data) for a clean stream)


def version(data: bytes) -> int:
    return data[4] if len(data) > 4 else 0


def _varint_at(data: bytes, pos: int) -> tuple[int, int] | None:
    """(value, position after it) of a varint of at most 5 bytes at ``pos``; None if cut or longer."""
    value = 0
    for k in range(5):
        if pos + k >= len(data):
            return None
        value |= (data[pos + k] & 0x7F) << (7 * k)
        if not data[pos + k] & 0x80:
            return value, pos + k + 1
    return None


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        out.append(value & 0x7F | (0x80 if value > 0x7F else 0))
        value >>= 7
        if not value:
            return bytes(out)


@dataclass
class Compact:
    """The fields of one version-5 packet."""

    head: int
    index: int | None  # stated frame index (X = 1)
    body: bytes  # quality bytes and data
    crc: bytes

    @property
    def crc_size(self) -> int:
        return 4 if self.index is not None or len(self.body) >= 4096 else 2 if len(self.body) >= 32 else 1

    def before_crc(self) -> bytes:
        n = min(len(self.body), 15)
        head = self.head & 0x0F | n << 4
        return (bytes([head]) + (b"" if self.index is None else _varint(self.index))
                + (_varint(len(self.body)) if n == 15 else b"") + self.body)


def parse_compact(data: bytes, pos: int) -> tuple[Compact, int] | None:
    """The version-5 packet at ``pos`` and where it ends, following its fields without checks."""
    if pos >= len(data):
        return None
    head, p = data[pos], pos + 1
    index = None
    if head & 0x08:
        got = _varint_at(data, p)
        if got is None:
            return None
        index, p = got
    length = head >> 4
    if length == 15:
        got = _varint_at(data, p)
        if got is None:
            return None
        length, p = got
    c = Compact(head, index, b"", b"")
    size = 4 if index is not None or length >= 4096 else 2 if length >= 32 else 1
    if p + length + size > len(data):
        return None
    c.body, c.crc = data[p:p + length], data[p + length:p + length + size]
    return c, p + length + size


def compact_crc(index: int, data: bytes, size: int) -> bytes:
    seed = (index & 0xFFFFFFFF).to_bytes(4, "little")
    if size == 4:
        return struct.pack("<I", zlib.crc32(data, zlib.crc32(seed)))
    if size == 2:
        return struct.pack("<H", binascii.crc_hqx(data, binascii.crc_hqx(seed, 0xFFFF)))
    crc = 0
    for b in seed + data:
        crc ^= b
        for _ in range(8):
            crc = (crc << 1 ^ 0x07) & 0xFF if crc & 0x80 else crc << 1 & 0xFF
    return bytes([crc])


def is_intra(data: bytes, start: int) -> bool:
    """Whether the packet at ``start`` says it is an intra frame."""
    return bool(data[start] & 1) if version(data) >= 5 else data[start + 1] == TYPE_I


def layout(data: bytes, max_packets: int = 1 << 16) -> Layout:
    if len(data) < PREFIX_SIZE or data[:4] != MAGIC:
        return Layout(None, [], 0)
    (hlen,) = struct.unpack_from("<H", data, 5)
    end = PREFIX_SIZE + hlen
    if hlen < 4 or end > len(data):
        return Layout(None, [], 0)
    packets, pos = [], end
    if version(data) >= 5:
        while len(packets) < max_packets:
            got = parse_compact(data, pos)
            if got is None:
                break
            packets.append((pos, got[1]))
            pos = got[1]
        return Layout(end, packets, pos)
    while pos + PACKET_HEAD.size <= len(data) and len(packets) < max_packets:
        _, _, _, length = PACKET_HEAD.unpack_from(data, pos)
        stop = pos + PACKET_HEAD.size + length + 4
        if stop > len(data):
            break
        packets.append((pos, stop))
        pos = stop
    return Layout(end, packets, pos)


def fix_crcs(data: bytes) -> bytes:
    """Recompute the header CRC and the CRC of every complete packet; leave the rest alone."""
    lay = layout(data)
    if lay.header_end is None:
        return data
    out = bytearray(data)
    h = lay.header_end
    struct.pack_into("<I", out, h - 4, zlib.crc32(bytes(out[:h - 4])))
    if version(data) >= 5:
        for n, (start, stop) in enumerate(lay.packets):
            c, _ = parse_compact(data, start)
            size = len(c.crc)
            out[stop - size:stop] = compact_crc(n if c.index is None else c.index, bytes(out[start:stop - size]), size)
        return bytes(out)
    for start, stop in lay.packets:
        struct.pack_into("<I", out, stop - 4, zlib.crc32(bytes(out[start:stop - 4])))
    return bytes(out)


def renumber(data: bytes) -> bytes:
    """Set every complete packet's frame_index to its position (CRCs are not fixed here; version
    5: each packet is re-framed by the writer rules for its new index, its CRC left as it was)."""
    if version(data) >= 5:
        lay = layout(data)
        if lay.header_end is None:
            return data
        parts, quality = [data[:lay.header_end]], b""
        for n, (start, _stop) in enumerate(lay.packets):
            c, _ = parse_compact(data, start)
            q = c.head >> 1 & 3
            if q in (1, 2):
                quality = c.body[:q]
            x = bool(c.head & 1) or n % 8 == 0
            if x and q == 0 and quality:  # a resync point states its quality
                c.body, c.head = quality + c.body, c.head | len(quality) << 1
            c.head = c.head & ~0x08 | (0x08 if x else 0)
            c.index = n if x else None
            parts.append(c.before_crc() + c.crc.ljust(c.crc_size, b"\0")[:c.crc_size])
        return b"".join(parts) + data[lay.tail:]
    out = bytearray(data)
    for n, (start, _stop) in enumerate(layout(data).packets):
        struct.pack_into("<I", out, start + 2, n & 0xFFFFFFFF)
    return bytes(out)


def set_header_field(data: bytes, name: str, value: int) -> bytes:
    """Overwrite one fixed-width header field (value wrapped to the field's width; CRC not fixed).
    Version 5 packs its fields: only ``format_version`` and ``header_length`` are set there."""
    if version(data) >= 5 and name not in ("format_version", "header_length"):
        return data
    off, fmt = HEADER_FIELDS[name]
    size = struct.calcsize(fmt)
    if len(data) < off + size:
        return data
    bits = 8 * size
    value &= (1 << bits) - 1
    if fmt[-1].islower() and value >= 1 << (bits - 1):  # signed field
        value -= 1 << bits
    out = bytearray(data)
    struct.pack_into(fmt, out, off, value)
    return bytes(out)


def header_field(data: bytes, name: str) -> int:
    off, fmt = HEADER_FIELDS[name]
    return struct.unpack_from(fmt, data, off)[0]


def set_identity(data: bytes, identity: bytes) -> bytes:
    """Copy config_id_length, config_id, weights prefix and entropy model id (bytes 27..78) from a
    valid header, so the stream still names the decoder's weights (CRC not fixed)."""
    if len(data) < HEADER_SIZE_V1:
        return data
    out = bytearray(data)
    out[27:78] = identity[27:78]
    return bytes(out)


def packets_of(data: bytes) -> list[bytes]:
    lay = layout(data)
    return [data[a:b] for a, b in lay.packets]


def header_of(data: bytes) -> bytes:
    lay = layout(data)
    return data[:lay.header_end] if lay.header_end is not None else b""


def make_packet(frame_type: int, index: int, payload: bytes) -> bytes:
    head = PACKET_HEAD.pack(SYNC, frame_type, index & 0xFFFFFFFF, len(payload))
    return head + payload + struct.pack("<I", zlib.crc32(head + payload))


# --- structure-aware mutations (used by the fuzzers' custom mutator) -------------------------------

INTERESTING_U16 = (0, 1, 2, 15, 16, 17, 127, 128, 129, 255, 256, 1023, 1024, 4096, 16383, 16384, 16385, 0xFFFF)
INTERESTING_U32 = (0, 1, 2, 3, 4, 5, 7, 8, 255, 256, 0x7FFF, 0xFFFF, 0x10000, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF)


def _put_u32(out: bytearray, off: int, value: int) -> None:
    if off + 4 <= len(out):
        struct.pack_into("<I", out, off, value & 0xFFFFFFFF)


def structured_mutate(data: bytes, rng: random.Random, other: bytes | None = None,
                      max_size: int = 1 << 20) -> bytes:
    """One mutation that knows the layout: header fields, packet fields, packet order, splices.
    CRCs are NOT fixed here (call :func:`fix_crcs`)."""
    lay = layout(data)
    if lay.header_end is None:
        return data
    out = bytearray(data)
    pk = lay.packets
    op = rng.randrange(11)
    if op == 0:  # a header field to an interesting or random value
        name = rng.choice([n for n in HEADER_FIELDS if n not in ("format_version", "header_length")])
        size = struct.calcsize(HEADER_FIELDS[name][1])
        pool = INTERESTING_U16 if size <= 2 else INTERESTING_U32
        value = rng.choice(pool) if rng.random() < 0.7 else rng.getrandbits(8 * size)
        return set_header_field(bytes(out), name, value)
    if op == 1:  # frame size: keep it small most of the time, sometimes the limits
        w = rng.choice((1, 2, 16, 64, 127, 128, 129, 176, 255, 256, 352, 16384)) if rng.random() < 0.8 \
            else rng.randrange(1, 1 << 16)
        h = rng.choice((1, 2, 16, 48, 127, 128, 129, 144, 288, 16384)) if rng.random() < 0.8 \
            else rng.randrange(1, 1 << 16)
        return set_header_field(set_header_field(bytes(out), "width", w), "height", h)
    if not pk:
        return data
    i = rng.randrange(len(pk))
    start, stop = pk[i]
    if version(data) >= 5 and 2 <= op <= 5:
        return bytes(out[:start]) + _mutate_compact(data, start, rng) + bytes(out[stop:])
    if op == 2:  # payload_length to an interesting value (the packet's CRC no longer lines up)
        _put_u32(out, start + 6, rng.choice(INTERESTING_U32) if rng.random() < 0.5
                 else (stop - start - PACKET_OVERHEAD) + rng.randint(-8, 8))
        return bytes(out)
    if op == 3:  # frame type
        out[start + 1] = rng.choice((TYPE_I, TYPE_P, TYPE_P, rng.randrange(256)))
        return bytes(out)
    if op == 4:  # frame index
        _put_u32(out, start + 2, rng.choice((i, i + 1, i - 1, 0, 0xFFFFFFFF, rng.getrandbits(32))))
        return bytes(out)
    if op == 5:  # flip bits in one payload
        n = stop - start - PACKET_OVERHEAD
        if n > 0:
            for _ in range(rng.randint(1, 4)):
                out[start + PACKET_HEAD.size + rng.randrange(n)] ^= 1 << rng.randrange(8)
        return bytes(out)
    if op == 6:  # drop a packet (later frames renumbered half of the time)
        res = bytes(out[:start] + out[stop:])
        return renumber(res) if rng.random() < 0.5 else res
    if op == 7:  # duplicate a packet
        res = bytes(out[:stop] + out[start:stop] + out[stop:])
        return renumber(res) if rng.random() < 0.5 else res
    if op == 8:  # swap two packets
        j = rng.randrange(len(pk))
        parts = [bytes(out[a:b]) for a, b in pk]
        parts[i], parts[j] = parts[j], parts[i]
        res = bytes(out[:lay.header_end]) + b"".join(parts) + bytes(out[lay.tail:])
        return renumber(res) if rng.random() < 0.5 else res
    if op == 9:  # truncate inside or between packets
        return bytes(out[:rng.randrange(lay.header_end, len(out) + 1)])
    # op == 10: splice the packets of another stream after packet i
    if other is None:
        other = data
    opk = packets_of(other)
    if not opk:
        return data
    j = rng.randrange(len(opk))
    res = bytes(out[:stop]) + b"".join(opk[j:j + rng.randint(1, 4)])
    res = res[:max_size]
    return renumber(res) if rng.random() < 0.7 else res


def _mutate_compact(data: bytes, start: int, rng: random.Random) -> bytes:
    """One version-5 packet with its length, type, index or data changed (CRC as it was)."""
    c, _ = parse_compact(data, start)
    op = rng.randrange(4)
    if op == 0:  # claim another length over the same bytes
        length = rng.choice(INTERESTING_U32) if rng.random() < 0.5 else max(len(c.body) + rng.randint(-8, 8), 0)
        rest = c.body + c.crc
        return bytes([c.head | 0xF0]) + (b"" if c.index is None else _varint(c.index)) + _varint(length & 0xFFFFFFFF) + rest
    if op == 1:  # frame type, or the quality count
        c.head ^= rng.choice((0x01, 0x02, 0x04, 0x06))
    elif op == 2:  # stated index: another value, or stated where it is implied (and back)
        if c.index is None or rng.random() < 0.3:
            c.head ^= 0x08
            c.index = None if c.index is not None else rng.choice((0, 1, 7, 8, 0xFFFFFFFF, rng.getrandbits(32)))
        else:
            c.index = rng.choice((c.index + 1, max(c.index - 1, 0), 0, 0xFFFFFFFF, rng.getrandbits(32)))
    elif c.body:  # flip bits in the quality bytes and data
        body = bytearray(c.body)
        for _ in range(rng.randint(1, 4)):
            body[rng.randrange(len(body))] ^= 1 << rng.randrange(8)
        c.body = bytes(body)
    return c.before_crc() + c.crc.ljust(c.crc_size, b"\0")[:c.crc_size]


def crossover(a: bytes, b: bytes, rng: random.Random) -> bytes:
    """Header and first packets of ``a``, then packets of ``b`` (renumbered, CRCs not fixed)."""
    la, pb = layout(a), packets_of(b)
    if la.header_end is None:
        return a
    keep = rng.randint(0, len(la.packets))
    head = a[:la.packets[keep - 1][1]] if keep else a[:la.header_end]
    j = rng.randint(0, len(pb))
    return renumber(head + b"".join(pb[j:j + rng.randint(1, 8)]))


# --- the reference way to decode a whole stream ----------------------------------------------------

class ShortReads(io.RawIOBase):
    """A non-seekable stream that returns at most ``chunk`` bytes per read, like a pipe."""

    def __init__(self, data: bytes, chunk: int):
        self.data, self.chunk, self.pos = data, max(1, chunk), 0

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            n = len(self.data)
        out = self.data[self.pos:self.pos + min(n, self.chunk)]
        self.pos += len(out)
        return out


DECODE_MODES = ("packets", "stop", "skip", "conceal")


def decode_all(data: bytes, weights=None, *, mode: str = "packets", max_frames: int | None = None,
               max_pixels: int | None = None, chunk: int | None = None, on_frame=None) -> int:
    """Decode ``data`` as a user would and return the number of frames that came out.

    ``mode``: ``"packets"`` is the loop of the README (``read_header``, ``Decoder``,
    ``PacketReader``, ``Decoder.decode`` per packet); ``"stop"``, ``"skip"`` and ``"conceal"`` use
    ``Decoder.decode_stream(on_error=mode)`` (concealed frames count as frames). ``max_frames``:
    stop after that many frames. ``max_pixels``: the decoder's pixels-per-frame budget (None: its
    default). ``chunk``: read through a pipe-like stream of at most that many bytes per read
    instead of a seekable ``BytesIO``. ``on_frame(index, frame)`` sees each frame (a VideoFrame, or
    None for a skipped one). Raises what the decoder raises."""
    from gvc1d_codec.bitstream import PacketReader, read_header
    from gvc1d_codec.codec import Decoder

    stream = io.BytesIO(data) if chunk is None else ShortReads(data, chunk)
    header = read_header(stream)
    dec = Decoder(header, weights=weights) if max_pixels is None else \
        Decoder(header, weights=weights, max_pixels=max_pixels)
    n = 0
    if mode == "packets":
        items = ((p.frame_index, dec.decode(p)) for p in PacketReader(stream, header))
    else:
        items = ((d.frame_index, d.frame) for d in dec.decode_stream(stream, on_error=mode))
    for index, frame in items:
        if on_frame is not None:
            on_frame(index, frame)
        n += 1
        if max_frames is not None and n >= max_frames:
            break
    return n
