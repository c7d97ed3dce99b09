"""Tests of the .gvc version-4 container (gvc1d_codec.bitstream) against docs/bitstream.md: the
82-byte header and 14-byte packets that versions 1 to 4 share, which readers still read.
Version 5 (what writers write now) is tested in test_bitstream_v5.py."""
from __future__ import annotations

import dataclasses
import io
import os
import struct
import threading
import tracemalloc
import zlib

import pytest

from gvc1d_codec.bitstream import (
    FORMAT_VERSION,
    HEADER_SIZE_V1,
    MAGIC,
    MAX_PAYLOAD_CAP,
    PACKET_OVERHEAD,
    Packet,
    PacketReader,
    StreamHeader,
    StreamWriter,
    default_max_payload,
    pack_packet,
    read_header,
)
from gvc1d_codec.errors import (
    BitstreamError,
    CorruptPacketError,
    TruncatedStreamError,
    UnsupportedStreamError,
)

WEIGHTS_PREFIX = bytes(range(16))

# Byte offsets inside a v1 header (docs/bitstream.md, "Stream header").
OFF_VERSION, OFF_HLEN, OFF_WIDTH, OFF_HEIGHT, OFF_FPS_NUM, OFF_FPS_DEN = 4, 5, 7, 9, 11, 15
OFF_PIX_FMT, OFF_MATRIX, OFF_RANGE, OFF_QUALITY, OFF_INTRA, OFF_ENTROPY = 19, 20, 21, 22, 23, 27
OFF_CFG_LEN, OFF_CFG, OFF_WEIGHTS, OFF_HCRC = 29, 30, 62, 78


def make_header(**changes) -> StreamHeader:
    fields = dict(width=64, height=48, fps_num=30000, fps_den=1001, pix_fmt="yuv420p",
                  color_matrix="bt709", color_range="limited", quality=42, intra_period=-1,
                  config_id="tiny", weights_sha256_prefix=WEIGHTS_PREFIX, entropy_model_id=7, format_version=4)
    fields.update(changes)
    return StreamHeader(**fields)


PACKETS = [Packet("I", 0, b"intra-frame-payload" * 3), Packet("P", 1, b""),
           Packet("P", 2, bytes(range(256)) * 2)]


def encode(header: StreamHeader, packets: list[Packet]) -> bytes:
    buf = io.BytesIO()
    writer = StreamWriter(buf, header)
    for p in packets:
        writer.write_packet(p)
    return buf.getvalue()


def decode(data: bytes, **kwargs) -> tuple[StreamHeader, list[Packet]]:
    stream = io.BytesIO(data)
    header = read_header(stream)
    return header, list(PacketReader(stream, header, **kwargs))


def patch_header(raw: bytes, offset: int, value: bytes) -> bytes:
    """Overwrite header bytes and recompute the header CRC so only the field is wrong."""
    data = bytearray(raw[:HEADER_SIZE_V1])
    data[offset:offset + len(value)] = value
    data[OFF_HCRC:OFF_HCRC + 4] = struct.pack("<I", zlib.crc32(bytes(data[:OFF_HCRC])))
    return bytes(data) + raw[HEADER_SIZE_V1:]


class TrickleStream(io.RawIOBase):
    """A non-seekable stream returning at most ``step`` bytes per read; logs requested sizes."""

    def __init__(self, data: bytes, step: int = 3):
        self._data, self._pos, self._step = data, 0, step
        self.requests: list[int] = []

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        self.requests.append(n)
        n = self._step if n < 0 else min(n, self._step)
        chunk = self._data[self._pos:self._pos + n]
        self._pos += len(chunk)
        return chunk


# --- header ---------------------------------------------------------------------------------------

def test_header_round_trip_and_layout():
    h = make_header(width=16384, height=1, fps_num=2**32 - 1, fps_den=1, pix_fmt="rgb24",
                    color_matrix="bt601", color_range="full", quality=255,
                    intra_period=2**31 - 1, config_id="x" * 32, entropy_model_id=65535)
    raw = h.pack()
    assert len(raw) == HEADER_SIZE_V1 == 82
    assert raw[:4] == MAGIC == b"GVC1" and raw[4] == 4 and FORMAT_VERSION == 5
    assert struct.unpack_from("<H", raw, OFF_HLEN)[0] == 75
    assert struct.unpack_from("<HH", raw, OFF_WIDTH) == (16384, 1)
    assert struct.unpack_from("<I", raw, OFF_HCRC)[0] == zlib.crc32(raw[:OFF_HCRC])
    assert raw[OFF_WEIGHTS:OFF_WEIGHTS + 16] == WEIGHTS_PREFIX
    parsed, consumed = StreamHeader.unpack(raw + b"trailing packets")
    assert parsed == h and consumed == 82
    assert read_header(io.BytesIO(raw)) == h
    for h2 in (make_header(), make_header(width=1, quality=0, intra_period=1, config_id="a",
                                          entropy_model_id=0, fps_num=1, fps_den=2**32 - 1)):
        assert StreamHeader.unpack(h2.pack()) == (h2, 82)
    assert make_header().frame_rate.numerator == 30000


def test_header_accepts_bytes_like_weights_prefix():
    h = make_header(weights_sha256_prefix=bytearray(WEIGHTS_PREFIX))
    assert type(h.weights_sha256_prefix) is bytes and h == make_header()


@pytest.mark.parametrize("field, value", [
    ("width", 0), ("width", 16385), ("width", -1), ("width", 64.0), ("width", True),
    ("height", 0), ("height", 16385),
    ("fps_num", 0), ("fps_num", 2**32), ("fps_den", 0), ("fps_den", 2**32),
    ("pix_fmt", "yuv444p"), ("pix_fmt", None),
    ("color_matrix", "bt2020"), ("color_range", "tv"),
    ("quality", -1), ("quality", 256),
    ("intra_period", 0), ("intra_period", -2), ("intra_period", 2**31),
    ("config_id", ""), ("config_id", "x" * 33), ("config_id", "tïny"), ("config_id", "a b"),
    ("config_id", "a\x00"), ("config_id", b"tiny"),
    ("weights_sha256_prefix", bytes(15)), ("weights_sha256_prefix", bytes(17)),
    ("weights_sha256_prefix", "0" * 16),
    ("entropy_model_id", -1), ("entropy_model_id", 65536),
])
def test_header_field_limits_on_construction(field, value):
    with pytest.raises(BitstreamError, match=field.split("_sha")[0]):
        make_header(**{field: value})


def test_header_format_version_field():
    assert make_header().format_version == 4
    for other in (1, 2, 3):
        with pytest.raises(UnsupportedStreamError):
            make_header(format_version=other)


@pytest.mark.parametrize("offset, value, what", [
    (OFF_WIDTH, struct.pack("<H", 0), "width"),
    (OFF_WIDTH, struct.pack("<H", 16385), "width"),
    (OFF_HEIGHT, struct.pack("<H", 65535), "height"),
    (OFF_FPS_NUM, struct.pack("<I", 0), "fps_num"),
    (OFF_FPS_DEN, struct.pack("<I", 0), "fps_den"),
    (OFF_PIX_FMT, b"\x02", "pix_fmt"),
    (OFF_MATRIX, b"\x02", "color_matrix"),
    (OFF_RANGE, b"\xff", "color_range"),
    (OFF_INTRA, struct.pack("<i", 0), "intra_period"),
    (OFF_INTRA, struct.pack("<i", -7), "intra_period"),
    (OFF_CFG_LEN, b"\x00", "config_id"),
    (OFF_CFG_LEN, b"\x21", "config_id"),
    (OFF_CFG + 4, b"x", "config_id"),  # non-zero padding after "tiny"
    (OFF_CFG, b"t\x80", "config_id"),
    (OFF_CFG, b"t ", "config_id"),
])
def test_header_field_limits_on_unpack(offset, value, what):
    raw = patch_header(make_header().pack(), offset, value)
    with pytest.raises(BitstreamError, match=what) as info:
        StreamHeader.unpack(raw)
    assert not isinstance(info.value, (TruncatedStreamError, UnsupportedStreamError))
    with pytest.raises(BitstreamError, match=what):
        read_header(io.BytesIO(raw))


def test_bad_magic():
    raw = make_header().pack()
    for bad in (b"GVC2" + raw[4:], b"RIFF" + raw[4:], b"\x00" * 100, b"X", b"GVX"):
        with pytest.raises(BitstreamError, match=r"not a \.gvc stream \(bad magic\)"):
            StreamHeader.unpack(bad)
        with pytest.raises(BitstreamError, match="bad magic"):
            read_header(io.BytesIO(bad))


@pytest.mark.parametrize("version", [0, 1, 2, 3, 255])
def test_wrong_version(version):
    raw = bytearray(make_header().pack())
    raw[OFF_VERSION] = version
    for parse in (lambda: StreamHeader.unpack(bytes(raw)), lambda: read_header(io.BytesIO(raw))):
        with pytest.raises(UnsupportedStreamError) as info:
            parse()
        assert f"version {version}" in str(info.value) and "versions 4, 5" in str(info.value)


def test_header_crc_mismatch():
    raw = make_header().pack()
    for offset in (OFF_WIDTH, OFF_QUALITY, OFF_ENTROPY, OFF_WEIGHTS + 15, OFF_HCRC + 3):
        bad = bytearray(raw)
        bad[offset] ^= 0x10
        with pytest.raises(BitstreamError, match="CRC") as info:
            StreamHeader.unpack(bytes(bad))
        assert not isinstance(info.value, TruncatedStreamError)


def test_header_length_too_small_and_extension_skipped():
    raw = make_header().pack()
    with pytest.raises(BitstreamError, match="header length"):
        StreamHeader.unpack(raw[:OFF_HLEN] + struct.pack("<H", 74) + raw[OFF_WIDTH:])
    # A longer header_length (extension bytes before the CRC) is accepted and skipped.
    body = raw[:OFF_HLEN] + struct.pack("<H", 75 + 5) + raw[OFF_WIDTH:OFF_HCRC] + b"extra"
    extended = body + struct.pack("<I", zlib.crc32(body))
    stream = io.BytesIO(extended + pack_packet(PACKETS[0], 4))
    assert StreamHeader.unpack(extended) == (make_header(), 87)
    assert read_header(stream) == make_header()
    assert list(PacketReader(stream, make_header())) == [PACKETS[0]]


def test_header_truncated_at_every_offset():
    raw = make_header().pack()
    for cut in range(len(raw)):
        for parse in (lambda: StreamHeader.unpack(raw[:cut]),
                      lambda: read_header(io.BytesIO(raw[:cut]))):
            with pytest.raises(TruncatedStreamError) as info:
                parse()
            assert info.value.frame_index is None


# --- packets --------------------------------------------------------------------------------------

def test_packet_layout():
    raw = pack_packet(Packet("P", 5, b"abc"), 4)
    assert raw[:10] == bytes([0xA5, ord("P")]) + struct.pack("<II", 5, 3)
    assert raw[10:13] == b"abc" and len(raw) == 3 + PACKET_OVERHEAD
    assert struct.unpack_from("<I", raw, 13)[0] == zlib.crc32(raw[:13])


@pytest.mark.parametrize("kwargs", [
    dict(frame_type="B", frame_index=0, payload=b""),
    dict(frame_type="I", frame_index=-1, payload=b""),
    dict(frame_type="I", frame_index=2**32, payload=b""),
    dict(frame_type="I", frame_index=0, payload="text"),
])
def test_packet_validation(kwargs):
    with pytest.raises(BitstreamError):
        Packet(**kwargs)


def test_packet_round_trip():
    header = make_header()
    data = encode(header, PACKETS)
    assert len(data) == HEADER_SIZE_V1 + sum(len(p.payload) + PACKET_OVERHEAD for p in PACKETS)
    assert decode(data) == (header, PACKETS)
    assert decode(encode(header, [])) == (header, [])


def test_round_trip_over_short_reads():
    stream = TrickleStream(encode(make_header(), PACKETS), step=3)
    header = read_header(stream)
    assert list(PacketReader(stream, header)) == PACKETS


def test_round_trip_over_os_pipe():
    data = encode(make_header(), PACKETS)
    read_fd, write_fd = os.pipe()

    def feed() -> None:
        with os.fdopen(write_fd, "wb", buffering=0) as w:
            for i in range(0, len(data), 7):
                w.write(data[i:i + 7])

    thread = threading.Thread(target=feed)
    thread.start()
    with os.fdopen(read_fd, "rb") as r:
        header = read_header(r)
        got = list(PacketReader(r, header))
    thread.join()
    assert got == PACKETS


def test_writer_flushes_each_packet_and_validates_order():
    class CountingIO(io.BytesIO):
        flushes = 0

        def flush(self) -> None:
            self.flushes += 1
            super().flush()

    buf = CountingIO()
    writer = StreamWriter(buf, make_header())
    assert len(buf.getvalue()) == HEADER_SIZE_V1 and buf.flushes == 1
    writer.write_header()  # idempotent
    assert len(buf.getvalue()) == HEADER_SIZE_V1
    with pytest.raises(BitstreamError, match="I frame"):
        writer.write_packet(Packet("P", 0, b""))
    with pytest.raises(BitstreamError, match="order"):
        writer.write_packet(Packet("I", 1, b""))
    for i, p in enumerate(PACKETS):
        assert writer.write_packet(p) == len(p.payload) + PACKET_OVERHEAD
        assert buf.flushes == 2 + i
    with pytest.raises(BitstreamError, match="order"):
        writer.write_packet(Packet("P", 2, b""))
    with pytest.raises(BitstreamError, match="limit"):
        writer.write_packet(Packet("P", 3, bytes(default_max_payload(make_header()) + 1)))


def test_truncation_at_every_offset():
    data = encode(make_header(), PACKETS)
    ends = []  # byte offset at which each packet ends
    pos = HEADER_SIZE_V1
    for p in PACKETS:
        pos += len(p.payload) + PACKET_OVERHEAD
        ends.append(pos)
    for cut in range(len(data) + 1):
        stream = io.BytesIO(data[:cut])
        if cut < HEADER_SIZE_V1:
            with pytest.raises(TruncatedStreamError) as info:
                read_header(stream)
            assert info.value.frame_index is None
            continue
        reader = PacketReader(stream, read_header(stream))
        complete = sum(1 for e in ends if e <= cut)
        got = []
        if cut == HEADER_SIZE_V1 or cut in ends:
            got = list(reader)
        else:
            with pytest.raises(TruncatedStreamError) as info:
                for p in reader:
                    got.append(p)
            assert info.value.frame_index == complete
            assert f"stream truncated in frame {complete} (" in str(info.value)
            assert list(reader) == []  # stays stopped after the error
        assert got == PACKETS[:complete], cut


def test_flipped_payload_or_crc_bit_is_corrupt():
    data = encode(make_header(), PACKETS)
    start = HEADER_SIZE_V1 + len(PACKETS[0].payload) + PACKET_OVERHEAD  # packet 1 (empty payload)
    start2 = start + PACKET_OVERHEAD  # packet 2
    targets = [(1, start + 10 + k) for k in range(4)]  # packet 1's CRC
    targets += [(2, start2 + 10 + k) for k in range(0, len(PACKETS[2].payload), 37)]
    for frame, offset in targets:
        for bit in (0, 7):
            bad = bytearray(data)
            bad[offset] ^= 1 << bit
            got = []
            with pytest.raises(CorruptPacketError, match=f"CRC mismatch in frame {frame}") as info:
                stream = io.BytesIO(bytes(bad))
                for p in PacketReader(stream, read_header(stream)):
                    got.append(p)
            assert info.value.frame_index == frame and got == PACKETS[:frame]


@pytest.mark.parametrize("offset, value, match", [
    (0, b"\x00", "sync"),
    (1, b"B", "frame type"),
    (2, struct.pack("<I", 9), "out of order"),
])
def test_bad_packet_header_fields(offset, value, match):
    data = bytearray(encode(make_header(), PACKETS))
    at = HEADER_SIZE_V1 + len(PACKETS[0].payload) + PACKET_OVERHEAD + offset  # in packet 1
    data[at:at + len(value)] = value
    with pytest.raises(CorruptPacketError, match=match) as info:
        decode(bytes(data))
    assert info.value.frame_index == 1


def test_first_packet_must_be_intra():
    data = bytearray(encode(make_header(), PACKETS[:1]))
    data[HEADER_SIZE_V1 + 1] = ord("P")
    with pytest.raises(CorruptPacketError, match="frame 0") as info:
        decode(bytes(data))
    assert info.value.frame_index == 0


def test_huge_length_rejected_before_reading_or_allocating():
    header = make_header()
    data = bytearray(encode(header, PACKETS))
    length_at = HEADER_SIZE_V1 + 6  # payload_length of packet 0
    data[length_at:length_at + 4] = struct.pack("<I", 0xFFFFFFFF)
    data += bytes(1 << 16)  # plenty of input after it: the reader must not go looking
    stream = TrickleStream(bytes(data), step=1 << 20)
    header = read_header(stream)
    tracemalloc.start()
    try:
        with pytest.raises(CorruptPacketError, match="exceeds the limit") as info:
            next(PacketReader(stream, header))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert info.value.frame_index == 0
    assert peak < 1 << 20
    assert stream.requests[-1] <= 10  # nothing past the packet header was requested


def test_payload_limits():
    assert default_max_payload(make_header()) == 4 * 64 * 48 + 65536
    assert default_max_payload(make_header(width=16384, height=16384)) == MAX_PAYLOAD_CAP
    data = encode(make_header(), PACKETS)
    assert decode(data, max_payload=512)[1] == PACKETS
    with pytest.raises(CorruptPacketError, match="frame 2") as info:
        decode(data, max_payload=511)
    assert info.value.frame_index == 2
    with pytest.raises(ValueError):
        PacketReader(io.BytesIO(), make_header(), max_payload=-1)


def test_lying_length_on_truncated_stream_is_truncation():
    """A payload length within the limit but past end of input is truncation (57 + 4 CRC bytes)."""
    header = make_header(width=1024, height=1024)  # limit ~4 MiB
    data = bytearray(encode(header, PACKETS[:1]))
    data[HEADER_SIZE_V1 + 6:HEADER_SIZE_V1 + 10] = struct.pack("<I", 4 * 1024 * 1024)
    with pytest.raises(TruncatedStreamError, match=r"frame 0 \(payload: got 61 of 4194304") as info:
        decode(bytes(data))
    assert info.value.frame_index == 0


def test_replace_keeps_validation():
    with pytest.raises(BitstreamError):
        dataclasses.replace(make_header(), width=0)


def test_golden_vectors_from_spec():
    """The hex examples in docs/bitstream.md, byte for byte."""
    h = StreamHeader(64, 48, 30000, 1001, "yuv420p", "bt709", "limited", 50, -1, "tiny",
                     bytes(16), 3, format_version=4)
    assert h.pack().hex() == (
        "47564331044b004000300030750000e903000000000032ffffffff030004" + "74696e79" + "00" * 28
        + "00" * 16 + "bb165e6a")
    assert pack_packet(Packet("I", 0, b"abc"), 4).hex() == "a54900000000030000006162635f940857"
    assert zlib.crc32(b"123456789") == 0xCBF43926
