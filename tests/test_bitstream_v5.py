"""Tests of the version-5 container (compact header and packets; docs/bitstream.md, "Stream header,
version 5", "Packet, version 5", "Units in containers"): what writers write now."""
from __future__ import annotations

import binascii
import io
import random
import struct
import zlib

import pytest

from gvc1d_codec.bitstream import (
    FORMAT_VERSION,
    Framer,
    Packet,
    PacketLoss,
    PacketReader,
    StreamHeader,
    StreamWriter,
    compact,
    read_header,
)
from gvc1d_codec.errors import BitstreamError, CorruptPacketError, TruncatedStreamError


def make_header(**changes) -> StreamHeader:
    fields = dict(width=64, height=48, fps_num=30000, fps_den=1001, pix_fmt="yuv420p",
                  color_matrix="bt709", color_range="limited", quality=50, intra_period=-1,
                  config_id="tiny", weights_sha256_prefix=bytes(16), entropy_model_id=6)
    fields.update(changes)
    return StreamHeader(**fields)


def stream_bytes(header: StreamHeader, packets: list[Packet]) -> bytes:
    buf = io.BytesIO()
    w = StreamWriter(buf, header)
    for p in packets:
        w.write_packet(p)
    return buf.getvalue()


def read_all(data: bytes, **kw) -> list:
    s = io.BytesIO(data)
    h = read_header(s)
    return list(PacketReader(s, h, **kw))


def sample_packets(n: int = 40, seed: int = 1) -> list[Packet]:
    """Intra every 13 frames, quality changing now and then (one or two bytes), payload lengths
    across every threshold of the syntax."""
    rng = random.Random(seed)
    sizes = [0, 1, 13, 14, 15, 30, 31, 32, 126, 127, 128, 4093, 4094, 4095, 5000, 20000]
    out, quality = [], b"\x10"
    for i in range(n):
        if rng.random() < 0.3:
            quality = bytes([rng.randrange(0, 96)]) if rng.random() < 0.7 else bytes([rng.randrange(97, 120), 0x30])
        data = bytes(rng.randrange(256) for _ in range(rng.choice(sizes)))
        out.append(Packet("I" if i % 13 == 0 else "P", i, quality + data, quality_length=len(quality)))
    return out


PACKETS = sample_packets()


def test_version_5_is_what_writers_write_and_4_still_reads():
    assert FORMAT_VERSION == 5 and make_header().format_version == 5
    for version in (4, 5):
        h = make_header(format_version=version)
        assert read_header(io.BytesIO(h.pack())) == h


def test_header_round_trip_and_golden_bytes():
    """The example of docs/bitstream.md: 45 bytes where version 4 needed 82."""
    h = make_header()
    raw = h.pack()
    assert raw.hex() == ("47564331052600" "40" "30" "b0ea01" "e907" "00" "00" "00" "32" "00" "06" "04" "74696e79"
                         + "00" * 16 + "a7c1599d")
    assert len(raw) == 45 and raw[4] == 5 and struct.unpack_from("<H", raw, 5)[0] == len(raw) - 7
    assert zlib.crc32(raw[:-4]) == struct.unpack("<I", raw[-4:])[0]
    big = make_header(width=16384, height=16384, fps_num=2**32 - 1, fps_den=2**32 - 1, pix_fmt="rgb24",
                      color_matrix="bt601", color_range="full", quality=255, intra_period=2**31 - 1,
                      config_id="x" * 32, entropy_model_id=65535, sample_aspect=(2288, 1575),
                      chroma_location="bottom", weights_sha256_prefix=bytes(range(16)))
    assert StreamHeader.unpack(big.pack() + b"trailing")[0] == big


def test_header_extension_is_skipped_and_every_truncation_reported():
    h = make_header(sample_aspect=(4, 3), chroma_location="left")
    raw = h.pack()
    body = raw[7:-4] + b"future-field"
    ext = raw[:5] + struct.pack("<H", len(body) + 4) + body
    ext += struct.pack("<I", zlib.crc32(ext))
    assert read_header(io.BytesIO(ext)) == h
    for cut in range(len(raw)):
        with pytest.raises(TruncatedStreamError if raw[:cut] == raw[:4][:cut] or cut >= 4 else BitstreamError):
            read_header(io.BytesIO(raw[:cut]))


def _patched(raw: bytes, offset: int, value: bytes) -> bytes:
    data = bytearray(raw[:-4])
    data[offset:offset + len(value)] = value
    return bytes(data) + struct.pack("<I", zlib.crc32(bytes(data)))


@pytest.mark.parametrize("offset, value, what", [
    (7, b"\x00", "width"),
    (7, b"\x80\x80\x80\x80\x80", "width"),  # a varint longer than 5 bytes
    (16, b"\x38", "chroma_location"),  # chroma location 7
    (20, b"\x00", "config_id"),  # length 0
    (21, b"t\x7f", "config_id"),
])
def test_header_bad_fields(offset, value, what):
    raw = _patched(make_header().pack(), offset, value)
    with pytest.raises(BitstreamError, match=what):
        read_header(io.BytesIO(raw))


def test_header_crc_and_field_checks():
    raw = bytearray(make_header().pack())
    raw[8] ^= 1
    with pytest.raises(BitstreamError, match="CRC"):
        read_header(io.BytesIO(bytes(raw)))
    with pytest.raises(BitstreamError, match="sample_aspect"):
        make_header(sample_aspect=(1, 0))
    with pytest.raises(BitstreamError, match="version-4"):
        make_header(format_version=4, chroma_location="left")
    with pytest.raises(BitstreamError, match="version-4"):
        make_header(format_version=4, extended_range=True)


@pytest.mark.parametrize("field, bit", [("extended_range", 0x40), ("wide_steps", 0x80)])
def test_header_flags_bits_6_and_7(field, bit):
    plain, flagged = make_header().pack(), make_header(**{field: True}).pack()
    assert len(plain) == len(flagged)
    diff = [i for i, (a, b) in enumerate(zip(plain[:-4], flagged[:-4])) if a != b]
    assert diff == [16] and flagged[16] == plain[16] | bit
    assert getattr(read_header(io.BytesIO(flagged)), field) is True
    assert getattr(read_header(io.BytesIO(plain)), field) is False
    with pytest.raises(BitstreamError, match="version-4"):
        make_header(format_version=4, **{field: True})


def test_crc_check_values_of_the_spec():
    assert binascii.crc_hqx(b"123456789", 0xFFFF) == 0x29B1
    assert compact.crc8(b"123456789") == 0xF4


def test_packets_round_trip_and_cost_what_the_spec_says():
    h = make_header()
    data = stream_bytes(h, PACKETS)
    got = read_all(data)
    assert got == PACKETS
    framer, pos = Framer(h), len(h.pack())
    previous = None
    for p in PACKETS:
        raw = framer.frame(p)
        assert data[pos:pos + len(raw)] == raw
        pos += len(raw)
        x = compact.carries_index(p.frame_type, p.frame_index)
        quality = p.payload[:p.quality_length]
        elided = p.frame_type == "P" and not x and quality == previous
        previous = quality
        body = len(p.payload) - (p.quality_length if elided else 0)
        expect = (1 + (len(compact.varint(p.frame_index)) if x else 0) + (len(compact.varint(body)) if body >= 15 else 0)
                  + (4 if x or body >= 4096 else 2 if body >= 32 else 1))
        assert len(raw) - body == expect == compact.framing_bytes(p.frame_type, p.frame_index, body)
        assert raw[0] & 1 == (p.frame_type == "I") and bool(raw[0] & 8) == x
        assert (raw[0] >> 1 & 3) == (0 if elided else p.quality_length)
    assert pos == len(data)
    assert any(not (raw[0] >> 1 & 3) for raw in [Framer(h).frame(p) for p in PACKETS[:1]] + [b"\x20"])


def test_small_p_packets_cost_two_bytes():
    h = make_header()
    packets = [Packet("I", 0, b"\x10abc")] + [Packet("P", i, b"\x10" + bytes(10)) for i in range(1, 8)]
    data = stream_bytes(h, packets)
    framer = Framer(h)
    sizes = [len(framer.frame(p)) for p in packets]
    assert sizes[1:] == [2 + 10] * 7  # head + data + CRC-8
    assert read_all(data) == packets


def test_truncation_at_every_offset_names_the_frame():
    h = make_header()
    packets = PACKETS[:12]
    data = stream_bytes(h, [Packet(p.frame_type, p.frame_index, p.payload[:200], p.quality_length) for p in packets])
    good = read_all(data)
    start = len(h.pack())
    bounds, pos, framer = {start}, start, Framer(h)
    for p in good:
        pos += len(framer.frame(p))
        bounds.add(pos)
    for cut in range(start, len(data)):
        s = io.BytesIO(data[:cut])
        reader = PacketReader(s, read_header(s))
        if cut in bounds:
            assert len(list(reader)) == sorted(bounds).index(cut)
            continue
        with pytest.raises(TruncatedStreamError) as info:
            list(reader)
        assert info.value.frame_index == max(k for k, b in enumerate(sorted(bounds)) if b < cut)


def test_damage_is_detected_never_decoded_silently():
    """Every single-bit flip after the header and every lost packet is an error (CRCs cover the
    implied frame index, so a missing packet is caught at the next one)."""
    h = make_header()
    packets = [Packet(p.frame_type, p.frame_index, p.payload[:40], p.quality_length) for p in PACKETS[:10]]
    data = stream_bytes(h, packets)
    start = len(h.pack())
    for offset in range(start, len(data)):
        for bit in range(8):
            bad = bytearray(data)
            bad[offset] ^= 1 << bit
            try:
                got = read_all(bytes(bad))
            except BitstreamError:
                continue
            assert got != packets, f"flip at {offset}.{bit} went unnoticed"
    framer = Framer(h)
    raws = [framer.frame(p) for p in packets]
    for k in range(1, len(raws) - 1):  # (a stream holds no frame count: losing the last packet is a clean end)
        cut = h.pack() + b"".join(raws[:k] + raws[k + 1:])
        with pytest.raises(CorruptPacketError) as info:
            read_all(cut)
        assert info.value.frame_index == k


@pytest.mark.parametrize("raw, match", [
    (bytes([0x26]), "reserved quality length"),  # q = 3
    (bytes([0x49, 0x00, 0x00]), "index but not its quality"),  # I with q = 0 and X
    (bytes([0xFB, 0x00, 0x05]), "belongs in the packet head"),  # I, X, index 0, length 5 in a varint
    (bytes([0xFB, 0x00, 0x80, 0x80, 0x80, 0x80, 0x80]), "longer than"),
    (bytes([0xFB, 0x00, 0x8F, 0x00]), "minimally"),
    (bytes([0x13, 0x00]), "lacks its frame index"),  # an I frame without X
    (bytes([0x1B, 0x01]), "out of order"),  # frame 0 stating index 1
])
def test_bad_packet_heads(raw, match):
    data = make_header().pack() + raw + bytes(64)
    with pytest.raises(CorruptPacketError, match=match):
        read_all(data)


def test_length_limit_checked_before_reading():
    h = make_header(width=8, height=8)
    limit = 4 * 64 + 65536
    raw = bytes([0xFB, 0x00]) + compact.varint(limit + 3)
    with pytest.raises(CorruptPacketError, match="exceeds the limit"):
        read_all(h.pack() + raw)


def test_resync_finds_the_next_resync_point():
    h = make_header()
    packets = [Packet("I" if i == 0 else "P", i, bytes([16 + (i // 5)]) + bytes([i]) * (5 + i % 7), 1) for i in range(30)]
    framer = Framer(h)
    raws = [framer.frame(p) for p in packets]
    data = bytearray(h.pack() + b"".join(raws))
    at = len(h.pack()) + sum(map(len, raws[:3]))
    damaged = bytearray(data)
    damaged[at + 2] ^= 0xFF  # frame 3's data: its CRC fails, its length holds, so frame 4 follows it
    items = read_all(bytes(damaged), resync=True)
    assert [(x.frame_index, x.count) for x in items if isinstance(x, PacketLoss)] == [(3, 1)]
    assert [x for x in items if isinstance(x, Packet)] == packets[:3] + packets[4:]
    damaged = bytearray(data)
    damaged[at] = 0x06  # frame 3's head (q = 3): where it ends is unknown
    items = read_all(bytes(damaged), resync=True)
    loss = [x for x in items if isinstance(x, PacketLoss)]
    assert loss[0].frame_index == 3 and loss[0].count == 5  # frames 3..7 lost: 8 is the next resync point
    assert [x for x in items if isinstance(x, Packet)] == packets[:3] + packets[8:]


def test_units_are_the_raw_packets_without_index_length_and_crc():
    """raw -> unit is head & 7 and the stated quality and data; unit -> payload restores the
    elided quality; a unit stream from an intra frame on decodes alone."""
    h = make_header()
    framer, writer_side, reader_side = Framer(h), compact.Elision(), compact.Elision()
    for p in PACKETS:
        raw = framer.frame(p)
        x = compact.carries_index(p.frame_type, p.frame_index)
        u = compact.unit(p.frame_type, p.payload, p.quality_length, writer_side, must_state=x)
        nibble = raw[0] >> 4
        body_at = 1 + (len(compact.varint(p.frame_index)) if x else 0)
        length = nibble
        if nibble == 15:
            length = compact.read_varint(io.BytesIO(raw[body_at:]).read, "length", 0)[0]
            body_at += len(compact.varint(length))
        assert u == bytes([raw[0] & 7]) + raw[body_at:body_at + length]
        assert compact.from_unit(u, p.frame_index, reader_side) == (p.frame_type, p.payload, p.quality_length)
    with pytest.raises(CorruptPacketError, match="does not state its quality"):
        compact.from_unit(bytes([0x01]) + b"x", 0, compact.Elision())
    with pytest.raises(CorruptPacketError, match="was not read"):
        compact.from_unit(bytes([0x00]) + b"x", 5, compact.Elision())
    with pytest.raises(CorruptPacketError, match="index or length"):
        compact.from_unit(bytes([0x0B]) + b"x", 0, compact.Elision())
