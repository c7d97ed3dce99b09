"""The ``.gvc`` container: stream header, self-delimiting packets, reader and writer.

``docs/bitstream.md`` is the normative description; this module is its reference implementation.
A stream is one :class:`StreamHeader` followed by zero or more packets, one per frame, in display
order. Packet payloads (the entropy-coded tokens) are opaque bytes here.

Everything is little-endian and fixed-width; every length read from the input is checked against
a documented limit before it is used, and every read is bounded, so a hostile or truncated input
can make the reader fail but never allocate much or loop without consuming input.
"""
from __future__ import annotations

import io
import os
import re
import stat
import struct
import zlib
from dataclasses import dataclass
from fractions import Fraction
from typing import BinaryIO, Callable, Iterator

from ..errors import BitstreamError, CorruptPacketError, TruncatedStreamError, UnsupportedStreamError
from ..limits import MAX_DIMENSION
from . import compact

MAGIC = b"GVC1"
FORMAT_VERSION = 5  # 2: P-frame payloads carry skip flags (entropy model 2); 3: motion as window vectors + block deltas;
# 4: each payload starts with its frame's quality code (entropy model 3, continuous quality); header as in 1;
# 5: compact packets (bitstream/compact.py: a head byte, varint length, CRC-16 on short packets, the frame index
#    stated only at resync points, quality bytes elided where they repeat)
READABLE_VERSIONS = (4, 5)  # what this implementation reads (and writes: a header says which framing follows)
QUALITY_VARIABLE = 255  # header ``quality``: the encoder chose each frame's quality (rate control)

# --- field limits (docs/bitstream.md, "Field limits") -------------------------------------------
UINT16_MAX = 0xFFFF
UINT32_MAX = 0xFFFFFFFF
INT32_MAX = 0x7FFFFFFF
CONFIG_ID_MAX_BYTES = 32
WEIGHTS_PREFIX_BYTES = 16
PIX_FMT_CODES = {"yuv420p": 0, "rgb24": 1}
COLOR_MATRIX_CODES = {"bt709": 0, "bt601": 1}
COLOR_RANGE_CODES = {"limited": 0, "full": 1}
# where 4:2:0 chroma samples sit (version 5; FFmpeg's AVChromaLocation order; Y4M C420mpeg2 = left,
# C420jpeg = center, C420paldv = topleft)
CHROMA_LOCATION_CODES = {"unspecified": 0, "left": 1, "center": 2, "topleft": 3, "top": 4, "bottomleft": 5, "bottom": 6}

# --- header layout -------------------------------------------------------------------------------
_PREFIX = struct.Struct("<4sBH")  # magic, format_version, header_length            (7 bytes)
# width, height, fps_num, fps_den, pix_fmt, color_matrix, color_range, quality, intra_period,
# entropy_model_id, config_id_length, config_id[32], weights_sha256_prefix[16]          (71 bytes)
_FIELDS = struct.Struct("<HHIIBBBBiHB32s16s")
_CRC = struct.Struct("<I")
HEADER_LENGTH_V1 = _FIELDS.size + _CRC.size  # 75: the header_length a v1 writer stores
HEADER_SIZE_V1 = _PREFIX.size + HEADER_LENGTH_V1  # 82: total bytes of a v1 header

# --- packet layout -------------------------------------------------------------------------------
PACKET_SYNC = 0xA5
FRAME_TYPE_CODES = {"I": 0x49, "P": 0x50}  # ASCII 'I' and 'P'
_PACKET_HEAD = struct.Struct("<BBII")  # sync, frame_type, frame_index, payload_length (10 bytes)
PACKET_HEAD_SIZE = _PACKET_HEAD.size
PACKET_OVERHEAD = _PACKET_HEAD.size + _CRC.size  # 14 bytes around each payload (version 4)
_SYNC_BYTE = bytes([PACKET_SYNC])
_RESYNC_HEAD = re.compile(b"[" + b"".join(re.escape(bytes([b])) for b in range(256) if b & 0x0E in (0x0A, 0x0C)) + b"]")
# version 5: a head byte with X set and one or two quality bytes (a resync point)
MAX_PAYLOAD_CAP = 256 * 1024 * 1024  # no default payload limit is ever above 256 MiB

_READ_CHUNK = 1 << 20  # largest single read(); bounds what a lying length can make us allocate


def _check_int(name: str, value: object, lo: int, hi: int) -> None:
    """Raise BitstreamError unless ``value`` is an int (not bool) in ``[lo, hi]``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise BitstreamError(f"stream header field {name} must be an integer, got {value!r}")
    if not lo <= value <= hi:
        raise BitstreamError(f"stream header field {name}={value} is out of range [{lo}, {hi}]")


def _check_choice(name: str, value: object, choices: dict[str, int]) -> None:
    """Raise BitstreamError unless ``value`` is one of the names in ``choices``."""
    if value not in choices:
        raise BitstreamError(
            f"stream header field {name}={value!r} is not one of {', '.join(choices)}")


def _is_visible_ascii(raw: bytes) -> bool:
    """True if every byte is visible ASCII (0x21..0x7E): no spaces, controls or NULs."""
    return all(0x21 <= b <= 0x7E for b in raw)


@dataclass(frozen=True)
class StreamHeader:
    """Stream-wide parameters, written once at the start of a ``.gvc`` stream.

    Construction validates every field against the limits of docs/bitstream.md and raises
    :class:`BitstreamError` (or :class:`UnsupportedStreamError` for ``format_version``).
    """

    width: int  # 1..16384 luma samples
    height: int  # 1..16384 luma samples
    fps_num: int  # 1..2**32-1
    fps_den: int  # 1..2**32-1
    pix_fmt: str  # "yuv420p" | "rgb24": source format, a decoder's default output format
    color_matrix: str  # "bt709" | "bt601"
    color_range: str  # "limited" | "full"
    quality: int  # 0..255, informative: the encoder's quality code (16 x level), 255 = variable (rate control)
    intra_period: int  # -1 (only frame 0 is intra) or 1..2**31-1
    config_id: str  # visible ASCII, 1..32 bytes, e.g. "tiny"
    weights_sha256_prefix: bytes  # first 16 bytes of SHA-256 of the weights file
    entropy_model_id: int  # 0..65535
    format_version: int = FORMAT_VERSION
    sample_aspect: tuple[int, int] = (0, 0)  # pixel aspect num:den, each 0..2**32-1; (0, 0) = unknown (version 5)
    chroma_location: str = "unspecified"  # a CHROMA_LOCATION_CODES name (version 5)
    # the decoded picture keeps YCbCr values outside the RGB cube (superwhites, sub-blacks, colours
    # beyond the gamut) instead of clamping it to [0, 1] RGB (version 5, flags bit 6; docs/bitstream.md)
    extended_range: bool = False
    # the enhancement layer's quantiser steps span 2^8 .. 2^2 instead of 2^6 .. 2^2 (version 5,
    # flags bit 7; gvc1d_codec/enhancement.py: step_size; docs/bitstream.md)
    wide_steps: bool = False

    def __post_init__(self) -> None:
        if self.format_version not in READABLE_VERSIONS:
            raise UnsupportedStreamError(
                f"unsupported .gvc format version {self.format_version!r} "
                f"(this implementation supports versions {', '.join(map(str, READABLE_VERSIONS))})")
        _check_int("width", self.width, 1, MAX_DIMENSION)
        _check_int("height", self.height, 1, MAX_DIMENSION)
        _check_int("fps_num", self.fps_num, 1, UINT32_MAX)
        _check_int("fps_den", self.fps_den, 1, UINT32_MAX)
        _check_choice("pix_fmt", self.pix_fmt, PIX_FMT_CODES)
        _check_choice("color_matrix", self.color_matrix, COLOR_MATRIX_CODES)
        _check_choice("color_range", self.color_range, COLOR_RANGE_CODES)
        _check_int("quality", self.quality, 0, 255)
        _check_int("intra_period", self.intra_period, -1, INT32_MAX)
        if self.intra_period == 0:
            raise BitstreamError(
                "stream header field intra_period=0 is invalid "
                "(use -1 for only the first frame intra, or a period >= 1)")
        _check_int("entropy_model_id", self.entropy_model_id, 0, UINT16_MAX)
        if not isinstance(self.config_id, str):
            raise BitstreamError(f"stream header field config_id must be a str, got {self.config_id!r}")
        raw = self.config_id.encode("ascii") if self.config_id.isascii() else b""
        if not 1 <= len(raw) <= CONFIG_ID_MAX_BYTES or not _is_visible_ascii(raw):
            raise BitstreamError(
                f"stream header field config_id={self.config_id!r} must be 1..{CONFIG_ID_MAX_BYTES} "
                "visible ASCII characters")
        prefix = self.weights_sha256_prefix
        if not isinstance(prefix, (bytes, bytearray, memoryview)):
            raise BitstreamError(
                f"stream header field weights_sha256_prefix must be bytes, got {type(prefix).__name__}")
        prefix = bytes(prefix)
        if len(prefix) != WEIGHTS_PREFIX_BYTES:
            raise BitstreamError(
                f"stream header field weights_sha256_prefix must be exactly {WEIGHTS_PREFIX_BYTES} "
                f"bytes, got {len(prefix)}")
        object.__setattr__(self, "weights_sha256_prefix", prefix)
        sar = self.sample_aspect
        if not isinstance(sar, tuple) or len(sar) != 2:
            raise BitstreamError(f"stream header field sample_aspect must be a (num, den) pair, got {sar!r}")
        _check_int("sample_aspect numerator", sar[0], 0, UINT32_MAX)
        _check_int("sample_aspect denominator", sar[1], 0, UINT32_MAX)
        if (sar[0] == 0) != (sar[1] == 0):
            raise BitstreamError(f"stream header field sample_aspect={sar[0]}:{sar[1]} must be 0:0 (unknown) or positive")
        _check_choice("chroma_location", self.chroma_location, CHROMA_LOCATION_CODES)
        if self.format_version < 5 and (sar != (0, 0) or self.chroma_location != "unspecified" or self.extended_range
                                        or self.wide_steps):
            raise BitstreamError("a version-4 stream header has no sample aspect ratio, chroma location, extended range "
                                 "or wide steps")
        for name in ("extended_range", "wide_steps"):
            if not isinstance(getattr(self, name), bool):
                raise BitstreamError(f"stream header field {name} must be a bool, got {getattr(self, name)!r}")

    @property
    def frame_rate(self) -> Fraction:
        """Frames per second as an exact fraction ``fps_num / fps_den``."""
        return Fraction(self.fps_num, self.fps_den)

    def pack(self) -> bytes:
        """Serialise: the compact version-5 header, or the 82-byte layout of versions 1-4
        (docs/bitstream.md, "Stream header")."""
        config = self.config_id.encode("ascii")
        if self.format_version >= 5:
            v = compact.varint
            fields = b"".join([
                v(self.width), v(self.height), v(self.fps_num), v(self.fps_den),
                v(self.sample_aspect[0]), v(self.sample_aspect[1]),
                bytes([PIX_FMT_CODES[self.pix_fmt] | COLOR_MATRIX_CODES[self.color_matrix] << 1
                       | COLOR_RANGE_CODES[self.color_range] << 2 | CHROMA_LOCATION_CODES[self.chroma_location] << 3
                       | int(self.extended_range) << 6 | int(self.wide_steps) << 7, self.quality]),
                v(0 if self.intra_period == -1 else self.intra_period), v(self.entropy_model_id),
                bytes([len(config)]), config, self.weights_sha256_prefix])
            body = _PREFIX.pack(MAGIC, self.format_version, len(fields) + _CRC.size) + fields
            return body + _CRC.pack(zlib.crc32(body))
        body = _PREFIX.pack(MAGIC, self.format_version, HEADER_LENGTH_V1) + _FIELDS.pack(
            self.width, self.height, self.fps_num, self.fps_den,
            PIX_FMT_CODES[self.pix_fmt], COLOR_MATRIX_CODES[self.color_matrix],
            COLOR_RANGE_CODES[self.color_range], self.quality, self.intra_period,
            self.entropy_model_id, len(config), config, self.weights_sha256_prefix)
        return body + _CRC.pack(zlib.crc32(body))

    @classmethod
    def unpack(cls, data: bytes) -> tuple["StreamHeader", int]:
        """Parse a header at the start of ``data``; return it and the number of bytes it used.

        Bytes after the header are ignored. Raises BitstreamError (bad magic, bad field, CRC),
        UnsupportedStreamError (other version) or TruncatedStreamError (data ends inside it).
        """
        view = memoryview(data)
        pos = 0

        def read(n: int) -> bytes:
            nonlocal pos
            chunk = bytes(view[pos:pos + n])
            pos += len(chunk)
            return chunk

        return _parse_header(read)


def _code_to_name(name: str, code: int, choices: dict[str, int]) -> str:
    """Map a stored enum code back to its name; unknown codes are a BitstreamError."""
    for key, value in choices.items():
        if value == code:
            return key
    raise BitstreamError(f"stream header field {name} has unknown code {code}")


def _truncated_header(got: int, need: int) -> TruncatedStreamError:
    if got == 0:
        return TruncatedStreamError("empty input: no .gvc stream header", None)
    return TruncatedStreamError(f"stream truncated in header (got {got} of {need} bytes)", None)


def _parse_header(read: Callable[[int], bytes]) -> tuple[StreamHeader, int]:
    """Parse a header through ``read(n)`` (returns < n bytes only at end of input).

    Checks happen in stream order: magic, version, header_length, CRC, then every field; the only
    variable-size read is header_length bytes, at most 65535.
    """
    prefix = read(_PREFIX.size)
    if prefix[:len(MAGIC)] != MAGIC[:len(prefix)]:
        raise BitstreamError("not a .gvc stream (bad magic)")
    if len(prefix) > 4 and prefix[4] not in READABLE_VERSIONS:
        raise UnsupportedStreamError(
            f"unsupported .gvc format version {prefix[4]} "
            f"(this decoder supports versions {', '.join(map(str, READABLE_VERSIONS))})")
    if len(prefix) < _PREFIX.size:
        raise _truncated_header(len(prefix), HEADER_SIZE_V1)
    _magic, version, header_length = _PREFIX.unpack(prefix)
    rest = _checked_header_bytes(read, prefix, version, header_length)
    if version >= 5:
        return _parse_compact_header(rest[:-_CRC.size]), len(prefix) + header_length
    (width, height, fps_num, fps_den, pix_fmt, matrix, rng, quality, intra_period,
     entropy_model_id, config_len, config_raw, weights_prefix) = _FIELDS.unpack_from(rest, 0)
    if not 1 <= config_len <= CONFIG_ID_MAX_BYTES:
        raise BitstreamError(
            f"stream header field config_id length {config_len} is out of range "
            f"[1, {CONFIG_ID_MAX_BYTES}]")
    if any(config_raw[config_len:]):
        raise BitstreamError("stream header field config_id has non-zero padding")
    config = config_raw[:config_len]
    if not _is_visible_ascii(config):
        raise BitstreamError("stream header field config_id is not visible ASCII")
    header = StreamHeader(
        width=width, height=height, fps_num=fps_num, fps_den=fps_den,
        pix_fmt=_code_to_name("pix_fmt", pix_fmt, PIX_FMT_CODES),
        color_matrix=_code_to_name("color_matrix", matrix, COLOR_MATRIX_CODES),
        color_range=_code_to_name("color_range", rng, COLOR_RANGE_CODES),
        quality=quality, intra_period=intra_period, config_id=config.decode("ascii"),
        weights_sha256_prefix=weights_prefix, entropy_model_id=entropy_model_id, format_version=version)
    return header, len(prefix) + header_length


HEADER_LENGTH_MIN_V5 = 6 + 2 + 1 + 1 + 2 + 1 + WEIGHTS_PREFIX_BYTES + _CRC.size  # fields at their shortest


def _checked_header_bytes(read: Callable[[int], bytes], prefix: bytes, version: int, header_length: int) -> bytes:
    """The ``header_length`` bytes after the prefix, CRC checked (every version's header ends with it)."""
    least = HEADER_LENGTH_MIN_V5 if version >= 5 else HEADER_LENGTH_V1
    if header_length < least:
        raise BitstreamError(
            f"stream header length {header_length} is too small (version {version} needs at least {least})")
    rest = read(header_length)
    if len(rest) < header_length:
        raise _truncated_header(len(prefix) + len(rest), len(prefix) + header_length)
    (stored_crc,) = _CRC.unpack_from(rest, header_length - _CRC.size)
    if zlib.crc32(rest[:-_CRC.size], zlib.crc32(prefix)) != stored_crc:
        raise BitstreamError("stream header CRC mismatch (corrupt .gvc header)")
    return rest


def _parse_compact_header(body: bytes) -> StreamHeader:
    """The fields of a version-5 header: ``body`` is what follows its prefix, less the CRC
    (docs/bitstream.md, "Stream header, version 5"). Bytes between the last known field and the
    CRC are a later version's and are skipped."""
    pos = 0

    def take(n: int, name: str) -> bytes:
        nonlocal pos
        if pos + n > len(body):
            raise BitstreamError(f"stream header ends inside field {name}")
        pos += n
        return body[pos - n:pos]

    def varint(name: str) -> int:
        try:
            got = compact.read_varint(lambda n: take(n, name) if pos < len(body) else b"", name, 0)
        except CorruptPacketError:
            raise BitstreamError(f"stream header field {name} is not a valid varint") from None
        if got is None:
            raise BitstreamError(f"stream header ends inside field {name}")
        return got[0]

    width, height, fps_num, fps_den = (varint(n) for n in ("width", "height", "fps_num", "fps_den"))
    sar = (varint("sample_aspect numerator"), varint("sample_aspect denominator"))
    flags, quality = take(2, "flags")
    period = varint("intra_period")
    entropy_model_id = varint("entropy_model_id")
    (config_len,) = take(1, "config_id length")
    if not 1 <= config_len <= CONFIG_ID_MAX_BYTES:
        raise BitstreamError(f"stream header field config_id length {config_len} is out of range [1, {CONFIG_ID_MAX_BYTES}]")
    config = take(config_len, "config_id")
    if not _is_visible_ascii(config):
        raise BitstreamError("stream header field config_id is not visible ASCII")
    weights_prefix = take(WEIGHTS_PREFIX_BYTES, "weights_sha256_prefix")
    if period > INT32_MAX:
        raise BitstreamError(f"stream header field intra_period={period} is out of range [-1, {INT32_MAX}]")
    header = StreamHeader(
        width=width, height=height, fps_num=fps_num, fps_den=fps_den,
        pix_fmt=_code_to_name("pix_fmt", flags & 1, PIX_FMT_CODES),
        color_matrix=_code_to_name("color_matrix", flags >> 1 & 1, COLOR_MATRIX_CODES),
        color_range=_code_to_name("color_range", flags >> 2 & 1, COLOR_RANGE_CODES),
        quality=quality, intra_period=-1 if period == 0 else period, config_id=config.decode("ascii"),
        weights_sha256_prefix=weights_prefix, entropy_model_id=entropy_model_id, format_version=5,
        sample_aspect=sar, chroma_location=_code_to_name("chroma_location", flags >> 3 & 7, CHROMA_LOCATION_CODES),
        extended_range=bool(flags >> 6 & 1), wide_steps=bool(flags >> 7))
    return header


def _read_exact(stream: BinaryIO, n: int) -> bytes:
    """Read ``n`` bytes, fewer only at end of input, in chunks of at most 1 MiB.

    Works on pipes and raw streams that return short reads. Each iteration consumes at least one
    byte or stops, so the loop is bounded by the input. Blocking streams only.
    """
    parts: list[bytes] = []
    remaining = n
    while remaining > 0:
        chunk = stream.read(min(remaining, _READ_CHUNK))
        if not chunk:
            break
        parts.append(bytes(chunk[:remaining]))
        remaining -= len(chunk)
    return b"".join(parts)


def read_header(stream: BinaryIO) -> StreamHeader:
    """Read exactly the stream header from ``stream`` (seekable or not) and return it.

    The stream is left positioned at the first packet.
    """
    header, _consumed = _parse_header(lambda n: _read_exact(stream, n))
    return header


def default_max_payload(header: StreamHeader) -> int:
    """The payload-length limit a decoder applies by default: 4*W*H + 65536, capped at 256 MiB."""
    return min(4 * header.width * header.height + 65536, MAX_PAYLOAD_CAP)


@dataclass(frozen=True)
class Packet:
    """One coded frame: its type, its display index and the entropy-coded payload.

    ``quality_length``: how many leading payload bytes are the frame's quality code(s), which the
    version-5 framing states only where they change (1 or 2; unused by version 4)."""

    frame_type: str  # "I" (intra) | "P" (predicted from the previous decoded frame)
    frame_index: int  # 0..2**32-1, consecutive from 0
    payload: bytes
    quality_length: int = 1

    def __post_init__(self) -> None:
        if self.frame_type not in FRAME_TYPE_CODES:
            raise BitstreamError(f"packet frame_type must be 'I' or 'P', got {self.frame_type!r}")
        if isinstance(self.frame_index, bool) or not isinstance(self.frame_index, int) \
                or not 0 <= self.frame_index <= UINT32_MAX:
            raise BitstreamError(f"packet frame_index must be an integer in [0, 2**32-1], "
                                 f"got {self.frame_index!r}")
        if not isinstance(self.payload, (bytes, bytearray, memoryview)):
            raise BitstreamError(f"packet payload must be bytes, got {type(self.payload).__name__}")
        payload = bytes(self.payload)
        if len(payload) > UINT32_MAX:
            raise BitstreamError(f"packet payload of {len(payload)} bytes does not fit a packet")
        if self.quality_length not in (1, 2):
            raise BitstreamError(f"packet quality_length must be 1 or 2, got {self.quality_length!r}")
        object.__setattr__(self, "payload", payload)


def pack_packet(p: Packet, version: int = FORMAT_VERSION) -> bytes:
    """Serialise one packet on its own. Version 4: sync, type, index, length, payload, CRC-32 of
    all of that. Version 5: the compact packet (bitstream/compact.py), stating its quality (a
    :class:`StreamWriter` elides repeated quality bytes; a reader accepts either)."""
    if version == 5:
        return compact.frame(p.frame_type, p.frame_index, p.payload, p.quality_length, compact.Elision())
    head = _PACKET_HEAD.pack(PACKET_SYNC, FRAME_TYPE_CODES[p.frame_type], p.frame_index,
                             len(p.payload))
    return head + p.payload + _CRC.pack(zlib.crc32(p.payload, zlib.crc32(head)))


@dataclass(frozen=True)
class PacketLoss:
    """What a resynchronising :class:`PacketReader` yields where packets were lost.

    ``count`` frames starting at ``frame_index`` are missing (at least 1). ``error`` is the error
    found at ``frame_index`` (a :class:`CorruptPacketError` or :class:`TruncatedStreamError`). At
    the end of the input the count is 1: how many frames the damaged tail held is unknown.
    """

    frame_index: int
    count: int
    error: BitstreamError


RESYNC_WORK_BASE = 64 * 1024 * 1024  # bytes of CRC checking a resync may always spend ...
RESYNC_WORK_PER_BYTE = 4  # ... plus this many per byte of input read so far
RESYNC_SLACK_FRAMES = 250  # frames a resync may skip beyond what the bytes read could hold


class _Input:
    """The reader's view of its stream: bounded reads, a push-back buffer and, where the stream
    can tell, the number of bytes left. Nothing is read ahead unless pushed back by a resync."""

    def __init__(self, stream: BinaryIO):
        self.stream = stream
        self.pushback = bytearray()
        self.consumed = 0  # bytes read from the stream so far (pushed-back bytes included)
        try:
            self._seekable = bool(stream.seekable())
        except (AttributeError, OSError, ValueError):
            self._seekable = False

    def read(self, n: int) -> bytes:
        """``n`` bytes, fewer only at end of input."""
        if not self.pushback:
            data = _read_exact(self.stream, n)
        else:
            data = bytes(self.pushback[:n])
            del self.pushback[:n]
            if len(data) < n:
                data += _read_exact(self.stream, n - len(data))
        self.consumed += len(data)
        return data

    def read_some(self, n: int) -> bytes:
        """Up to ``n`` more bytes (from the push-back buffer first); empty only at end of input."""
        if self.pushback:
            data = bytes(self.pushback[:n])
            del self.pushback[:n]
        else:
            data = _read_exact(self.stream, min(n, _READ_CHUNK))
        self.consumed += len(data)
        return data

    def unread(self, data: bytes | bytearray | memoryview) -> None:
        self.pushback[:0] = data
        self.consumed -= len(data)

    def bytes_left(self) -> int | None:
        """Bytes between here and the end of a regular file or in-memory stream; ``None`` for pipes."""
        if not self._seekable:
            return None
        try:
            try:
                st = os.fstat(self.stream.fileno())
            except (AttributeError, io.UnsupportedOperation):
                st = None
            if st is not None:
                if not stat.S_ISREG(st.st_mode):
                    self._seekable = False
                    return None
                end = st.st_size
            else:  # no file descriptor (io.BytesIO): ask the stream; it keeps no read buffer to lose
                here = self.stream.tell()
                end = self.stream.seek(0, 2)
                self.stream.seek(here)
            left = end - self.stream.tell()
        except (OSError, ValueError):
            self._seekable = False
            return None
        return max(left, 0) + len(self.pushback)


class PacketReader:
    """Iterate the packets of a stream whose header has already been read.

    Yields every complete, valid packet in order. Stops cleanly at end of input between packets.
    Raises TruncatedStreamError if input ends inside a packet and CorruptPacketError for a bad
    sync byte, frame type, frame index, oversized payload length or CRC mismatch; in both cases
    ``frame_index`` is the index of the packet expected at that point. After it stops or raises,
    the reader yields nothing more. On a seekable stream a payload length larger than the bytes
    left is reported as truncation at once, without reading.

    With ``resync=True`` the reader does not raise for a damaged packet: it yields a
    :class:`PacketLoss` and looks for the next good packet (docs/bitstream.md, "Resynchronising"):
    from the damaged packet's first byte on, the first position holding a packet with a later
    ``frame_index``, a valid type, a length within the limit and a matching CRC, then continues
    from there. ``frame_index`` may not exceed what the input read so far could hold as 14-byte
    packets by more than 250 frames, so losses never multiply the output much beyond the input.
    At the end of the input it yields a final ``PacketLoss`` of count 1 and stops. The scan is
    linear in the input: the CRC checking of candidate packets is capped at 64 MiB plus 4 bytes
    per byte read, after which the rest of the input is reported as one loss.
    """

    def __init__(self, stream: BinaryIO, header: StreamHeader, max_payload: int | None = None,
                 resync: bool = False):
        if max_payload is None:
            max_payload = default_max_payload(header)
        elif isinstance(max_payload, bool) or not isinstance(max_payload, int) or max_payload < 0:
            raise ValueError(f"max_payload must be a non-negative int, got {max_payload!r}")
        self.header = header
        self.max_payload = max_payload
        self.resync = bool(resync)
        self.next_frame_index = 0  # index the next packet must carry
        self._in = _Input(stream)
        self._done = False
        self._pending: Packet | None = None  # the packet found by a resync, yielded after its loss
        self._resync_work = 0
        self._pending_size = 0
        self._crc_failed = False  # version 5: the last packet was read whole and failed its CRC
        self.last_size = 0  # bytes of the last packet yielded, framing included ...
        self.last_framing = 0  # ... and of those, what is neither stated quality nor payload data
        self._last_body = 0
        self._compact = header.format_version >= 5
        self._elision = compact.Elision()  # version 5: the quality bytes carried from packet to packet

    def __iter__(self) -> Iterator[Packet | PacketLoss]:
        return self

    def __next__(self) -> Packet | PacketLoss:
        if self._pending is not None:
            packet, self._pending = self._pending, None
            self.next_frame_index = packet.frame_index + 1
            self.last_size = self._pending_size
            self.last_framing = self.last_size - self._last_body if self._compact else PACKET_OVERHEAD
            return packet
        if self._done:
            raise StopIteration
        start = self._in.consumed
        recorded = bytearray() if self.resync else None
        try:
            packet = self._read_packet(recorded)
        except BitstreamError as e:
            if not self.resync:
                self._done = True
                raise
            return self._resynchronise(e, start, recorded)
        if packet is None:
            self._done = True
            raise StopIteration
        self.next_frame_index += 1
        self.last_size = self._in.consumed - start
        self.last_framing = self.last_size - self._last_body if self._compact else PACKET_OVERHEAD
        return packet

    def _read(self, n: int, recorded: bytearray | None) -> bytes:
        data = self._in.read(n)
        if recorded is not None:
            recorded += data
        return data

    def _read_packet(self, recorded: bytearray | None = None) -> Packet | None:
        if self._compact:
            return self._read_compact(recorded)
        n = self.next_frame_index
        head = self._read(PACKET_HEAD_SIZE, recorded)
        if not head:
            return None
        if len(head) < PACKET_HEAD_SIZE:
            raise TruncatedStreamError(
                f"stream truncated in frame {n} "
                f"(packet header: got {len(head)} of {PACKET_HEAD_SIZE} bytes)", n)
        frame_type, index, length = self._check_head(head, n)
        left = self._in.bytes_left()
        if left is not None and length > left:  # no need to read what cannot be there
            raise TruncatedStreamError(
                f"stream truncated in frame {n} (payload: got {left} of {length} bytes)", n)
        payload = self._read(length, recorded)
        if len(payload) < length:
            raise TruncatedStreamError(
                f"stream truncated in frame {n} (payload: got {len(payload)} of {length} bytes)", n)
        crc = self._read(_CRC.size, recorded)
        if len(crc) < _CRC.size:
            raise TruncatedStreamError(
                f"stream truncated in frame {n} (packet CRC: got {len(crc)} of {_CRC.size} bytes)", n)
        if zlib.crc32(payload, zlib.crc32(head)) != _CRC.unpack(crc)[0]:
            raise CorruptPacketError(f"CRC mismatch in frame {n}", n)
        return Packet(frame_type, index, payload)

    def _read_compact(self, recorded: bytearray | None) -> Packet | None:
        """A version-5 packet that must be frame ``next_frame_index`` (bitstream/compact.py)."""
        n = self.next_frame_index
        read = lambda k: self._read(k, recorded)  # noqa: E731
        first = read(1)
        if not first:
            return None
        frame_type, q, x, nibble = compact.parse_head(first[0], n)
        data = bytearray(first)
        if n == 0 and frame_type != "I":
            raise CorruptPacketError("frame 0 is not an I frame", n)
        if x != compact.carries_index(frame_type, n):
            raise CorruptPacketError(f"packet of frame {n} {'states' if x else 'lacks'} its frame index "
                                     f"(a frame index is stated exactly on I frames and every "
                                     f"{compact.INDEX_PERIOD}th frame)", n)
        if x:
            got = compact.read_varint(read, "frame index", n)
            if got is None:
                raise TruncatedStreamError(f"stream truncated in frame {n} (packet frame index)", n)
            if got[0] != n:
                raise CorruptPacketError(f"frame index {got[0]} out of order in frame {n}", n)
            data += got[1]
            if q == 0:
                raise CorruptPacketError(f"packet of frame {n} states its index but not its quality", n)
        length = nibble
        if nibble == compact.LENGTH_FOLLOWS:
            got = compact.read_varint(read, "payload length", n)
            if got is None:
                raise TruncatedStreamError(f"stream truncated in frame {n} (packet length)", n)
            length, raw = got
            data += raw
            if length < compact.LENGTH_FOLLOWS:
                raise CorruptPacketError(f"payload length {length} in frame {n} belongs in the packet head", n)
        if length > self.max_payload + compact.MAX_QUALITY_BYTES:
            raise CorruptPacketError(
                f"payload length {length} in frame {n} exceeds the limit of {self.max_payload} bytes", n)
        size = compact.crc_size(x, length)
        left = self._in.bytes_left()
        if left is not None and length + size > left:  # no need to read what cannot be there
            raise TruncatedStreamError(
                f"stream truncated in frame {n} (payload: got {max(left - size, 0)} of {length} bytes)", n)
        body = read(length)
        if len(body) < length:
            raise TruncatedStreamError(
                f"stream truncated in frame {n} (payload: got {len(body)} of {length} bytes)", n)
        data += body
        crc = read(size)
        if len(crc) < size:
            raise TruncatedStreamError(
                f"stream truncated in frame {n} (packet CRC: got {len(crc)} of {size} bytes)", n)
        if compact.packet_crc(n, data, size) != crc:
            self._crc_failed = True
            raise CorruptPacketError(f"CRC mismatch in frame {n}", n)
        payload, quality_length = self._elision.join(frame_type, q, body, n)
        self._last_body = len(body)
        return Packet(frame_type, n, payload, quality_length)

    def _candidate_compact(self, buf: bytearray, i: int, n: int, offset: int,
                           implied: int | None = None) -> tuple[Packet, int] | None:
        """As :meth:`_candidate`, for version 5: only packets that state their index (and so their
        quality, with a CRC-32) are resync points; or, with ``implied``, the packet that starts
        right after a packet whose CRC failed, as frame ``implied`` (its CRC covers that index;
        a repeated quality is taken from the last good packet)."""
        head = buf[i]
        q = (head >> compact.HEAD_QUALITY_SHIFT) & 3
        frame_type = "I" if head & compact.HEAD_INTRA else "P"
        x = bool(head & compact.HEAD_INDEX)
        if q > compact.MAX_QUALITY_BYTES:
            return None
        if implied is not None:
            if x != compact.carries_index(frame_type, implied) or (q == 0 and (x or self._elision.previous is None)):
                return None
            if not x:
                return self._implied_compact(buf, i, implied, frame_type, q)
        elif not x or q == 0:
            return None
        pos = i + 1

        def read(k: int) -> bytes:
            nonlocal pos
            if len(buf) < pos + k:
                self._fill(buf, pos + k - len(buf))
            chunk = bytes(buf[pos:pos + k])
            pos += len(chunk)
            return chunk

        nibble = head >> compact.HEAD_LENGTH_SHIFT
        try:
            index = compact.read_varint(read, "frame index", n)
            length = (compact.read_varint(read, "payload length", n) if nibble == compact.LENGTH_FOLLOWS
                      else (nibble, b"")) if index is not None else None
        except CorruptPacketError:
            return None
        if length is None or (nibble == compact.LENGTH_FOLLOWS and length[0] < nibble):
            return None
        index, length = index[0], length[0]
        if index <= n or not compact.carries_index(frame_type, index) or length > self.max_payload + q \
                or (implied is not None and index != implied):
            return None
        end = pos + length + 4
        # frames never outnumber the smallest packets that fit in the input, plus a slack
        if index + 1 > (offset + end - i) // compact.MIN_PACKET_SIZE + RESYNC_SLACK_FRAMES:
            return None
        budget = RESYNC_WORK_BASE + RESYNC_WORK_PER_BYTE * self._in.consumed
        if self._resync_work + end - i > budget:
            self._done = True  # the rest of the input is one loss
            return None
        self._resync_work += end - i
        if len(buf) < end and not self._fill(buf, end - len(buf)):
            return None
        if len(buf) < end or compact.packet_crc(index, buf[i:end - 4], 4) != bytes(buf[end - 4:end]):
            return None
        payload, quality_length = self._elision.join(frame_type, q, bytes(buf[pos:end - 4]), index)
        self._last_body = end - 4 - pos
        return Packet(frame_type, index, payload, quality_length), end

    def _implied_compact(self, buf: bytearray, i: int, index: int, frame_type: str, q: int) -> tuple[Packet, int] | None:
        """The packet without a stated index at ``buf[i]`` as frame ``index``, if its CRC says so."""
        nibble = buf[i] >> compact.HEAD_LENGTH_SHIFT
        pos = i + 1
        length = nibble
        if nibble == compact.LENGTH_FOLLOWS:
            if len(buf) < pos + compact.VARINT_MAX_BYTES:
                self._fill(buf, pos + compact.VARINT_MAX_BYTES - len(buf))
            view = io.BytesIO(bytes(buf[pos:pos + compact.VARINT_MAX_BYTES]))
            try:
                got = compact.read_varint(view.read, "payload length", index)
            except CorruptPacketError:
                return None
            if got is None or got[0] < nibble:
                return None
            length, pos = got[0], pos + len(got[1])
        if length > self.max_payload + q:
            return None
        size = compact.crc_size(False, length)
        end = pos + length + size
        if len(buf) < end and not self._fill(buf, end - len(buf)):
            return None
        if len(buf) < end or compact.packet_crc(index, buf[i:end - size], size) != bytes(buf[end - size:end]):
            return None
        payload, quality_length = self._elision.join(frame_type, q, bytes(buf[pos:end - size]), index)
        self._last_body = length
        return Packet(frame_type, index, payload, quality_length), end

    def _check_head(self, head: bytes, n: int) -> tuple[str, int, int]:
        """Validate a 10-byte packet header that must carry index ``n``; return its fields."""
        sync, type_code, index, length = _PACKET_HEAD.unpack(head)
        if sync != PACKET_SYNC:
            raise CorruptPacketError(
                f"bad sync byte 0x{sync:02x} in frame {n} (expected 0x{PACKET_SYNC:02x})", n)
        if index != n:
            raise CorruptPacketError(f"frame index {index} out of order in frame {n}", n)
        if type_code == FRAME_TYPE_CODES["I"]:
            frame_type = "I"
        elif type_code == FRAME_TYPE_CODES["P"]:
            frame_type = "P"
        else:
            raise CorruptPacketError(f"bad frame type 0x{type_code:02x} in frame {n}", n)
        if n == 0 and frame_type != "I":
            raise CorruptPacketError("frame 0 is not an I frame", n)
        if length > self.max_payload:
            raise CorruptPacketError(
                f"payload length {length} in frame {n} exceeds the limit of "
                f"{self.max_payload} bytes", n)
        return frame_type, index, length

    def _resynchronise(self, error: BitstreamError, start: int, recorded: bytearray) -> PacketLoss:
        """After ``error`` in the packet that began at input offset ``start``: find the next good
        packet, queue it, and return the loss in between. Every step consumes input or stops."""
        n = self.next_frame_index
        buf = bytearray(recorded)  # the damaged packet's bytes (it may be a later, good packet)
        base = start  # input offset of buf[0]
        pos = 0  # scan position in buf
        if self._compact and self._crc_failed:  # the damaged packet's end is known: try the next frame there
            self._crc_failed = False
            end = len(buf)
            if self._fill(buf, 1):
                found = self._candidate_compact(buf, end, n, base + end, implied=n + 1)
                if found is not None:
                    packet, stop = found
                    self._in.unread(buf[stop:])
                    self._pending, self._pending_size = packet, stop - end
                    self.next_frame_index = packet.frame_index
                    return PacketLoss(n, 1, error)
        while not self._done:
            i = self._find_start(buf, pos)
            if i < 0:  # nothing here: drop what was scanned, read on
                base += len(buf)
                buf.clear()
                pos = 0
                if not self._fill(buf, _READ_CHUNK):
                    break
                continue
            if i > len(buf) // 2:  # keep the buffer short
                del buf[:i]
                base += i
                i = 0
            pos = i + 1
            need = 1 if self._compact else PACKET_HEAD_SIZE
            if len(buf) - i < need and not self._fill(buf, i + need - len(buf)):
                break
            found = (self._candidate_compact if self._compact else self._candidate)(buf, i, n, base + i)
            if found is not None:
                packet, end = found
                self._in.unread(buf[end:])
                self._pending, self._pending_size = packet, end - i
                self.next_frame_index = packet.frame_index
                return PacketLoss(n, packet.frame_index - n, error)
        self._done = True
        self.next_frame_index = n + 1
        return PacketLoss(n, 1, error)

    def _find_start(self, buf: bytearray, pos: int) -> int:
        """The first offset from ``pos`` where a packet may start (a resync point), or -1."""
        if not self._compact:
            return buf.find(_SYNC_BYTE, pos)
        found = _RESYNC_HEAD.search(buf, pos)
        return found.start() if found else -1

    def _fill(self, buf: bytearray, need: int) -> bool:
        """Append at least ``need`` bytes to ``buf`` (fewer at end of input); False if none came."""
        got = 0
        while got < need:
            data = self._in.read_some(max(need - got, 1))
            if not data:
                break
            buf += data
            got += len(data)
        return got > 0

    def _candidate(self, buf: bytearray, i: int, n: int, offset: int) -> tuple[Packet, int] | None:
        """The packet starting at ``buf[i]`` (input offset ``offset``) and the offset in ``buf``
        after it, if it is one that can follow a loss at frame ``n``; reads the bytes it needs
        into ``buf``."""
        if len(buf) - i < PACKET_HEAD_SIZE:
            return None
        head = bytes(buf[i:i + PACKET_HEAD_SIZE])
        _sync, type_code, index, length = _PACKET_HEAD.unpack(head)
        if type_code not in FRAME_TYPE_CODES.values() or length > self.max_payload or index <= n:
            return None
        # frames never outnumber the 14-byte packets that fit in the input, plus a slack
        if index + 1 > (offset + PACKET_OVERHEAD + length) // PACKET_OVERHEAD + RESYNC_SLACK_FRAMES:
            return None
        end = i + PACKET_OVERHEAD + length
        budget = RESYNC_WORK_BASE + RESYNC_WORK_PER_BYTE * self._in.consumed
        if self._resync_work + PACKET_OVERHEAD + length > budget:
            self._done = True  # the rest of the input is one loss
            return None
        self._resync_work += PACKET_OVERHEAD + length
        if len(buf) < end and not self._fill(buf, end - len(buf)):
            return None
        if len(buf) < end:
            return None
        payload = bytes(buf[i + PACKET_HEAD_SIZE:end - _CRC.size])
        if zlib.crc32(payload, zlib.crc32(head)) != _CRC.unpack_from(buf, end - _CRC.size)[0]:
            return None
        frame_type = "I" if type_code == FRAME_TYPE_CODES["I"] else "P"
        return Packet(frame_type, index, payload), end


class Framer:
    """The packet framing of one stream, packet after packet (version 5 carries each packet's
    quality bytes over to the next, so framing is in order and stateful)."""

    def __init__(self, header: StreamHeader):
        self.version = header.format_version
        self._elision = compact.Elision()

    def frame(self, p: Packet) -> bytes:
        """The bytes of ``p`` in the stream (version 5: quality elided where it repeats)."""
        if self.version >= 5:
            return compact.frame(p.frame_type, p.frame_index, p.payload, p.quality_length, self._elision)
        return pack_packet(p, 4)


class StreamWriter:
    """Write a ``.gvc`` stream: the header at construction, then one packet per frame.

    Every packet is flushed as soon as it is written, so a consumer on a pipe gets each frame as
    it is encoded. The writer refuses packets that a conforming reader would reject (wrong index,
    a P frame first, a payload above the header's default limit). It never closes ``stream``.
    """

    def __init__(self, stream: BinaryIO, header: StreamHeader):
        self.header = header
        self.max_payload = default_max_payload(header)
        self.next_frame_index = 0
        self._stream = stream
        self._header_written = False
        self._framer = Framer(header)
        self.write_header()

    def write_header(self) -> None:
        """Write and flush the stream header; does nothing if it was already written."""
        if self._header_written:
            return
        self._stream.write(self.header.pack())
        self._stream.flush()
        self._header_written = True

    def write_packet(self, p: Packet) -> int:
        """Write and flush one packet; return the number of bytes written."""
        if not isinstance(p, Packet):
            raise TypeError(f"write_packet needs a Packet, got {type(p).__name__}")
        n = self.next_frame_index
        if p.frame_index != n:
            raise BitstreamError(f"packet frame_index {p.frame_index} written out of order "
                                 f"(expected {n})")
        if n == 0 and p.frame_type != "I":
            raise BitstreamError("the first packet of a stream must be an I frame")
        if len(p.payload) > self.max_payload:
            raise BitstreamError(
                f"payload of frame {n} is {len(p.payload)} bytes, above the limit of "
                f"{self.max_payload} bytes for a {self.header.width}x{self.header.height} stream")
        data = self._framer.frame(p)
        self._stream.write(data)
        self._stream.flush()
        self.next_frame_index += 1
        return len(data)
