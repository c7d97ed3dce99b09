"""Streaming readers and writers for YUV4MPEG2 (``.y4m``) and raw ``yuv420p`` / ``rgb24`` video.

Readers pull one frame at a time from any binary stream, including non-seekable pipes such as
``sys.stdin.buffer``; they never read ahead of the frame they return. ``read_frame()`` returns a
:class:`VideoFrame`, or ``None`` at a clean end of stream; a stream cut inside a frame raises
:class:`InputFormatError`. Frame numbers in messages count from 0.

Y4M input accepted: 8-bit 4:2:0 (``C420jpeg``, ``C420paldv``, ``C420mpeg2``, ``C420`` or no ``C``),
progressive (``Ip``, ``I?`` or no ``I``). ``XCOLORRANGE=FULL|LIMITED`` selects the range (default
limited); Y4M carries no matrix, so it is BT.709 unless the caller says otherwise. Y4M output
always says ``XCOLORRANGE=LIMITED`` or ``FULL``; ffmpeg (5.1) reads that tag but none for the
matrix, primaries or transfer, so ``| ffmpeg -i - out.mp4`` needs ``-colorspace bt709
-color_primaries bt709 -color_trc bt709`` to tag its output (docs/usage.md).
"""
from __future__ import annotations

from fractions import Fraction
from typing import BinaryIO, Iterator

import numpy as np

from ..errors import InputFormatError
from ..frame import PIX_FMTS, ColorInfo, VideoFrame
from ..limits import MAX_DIMENSION

MAX_LINE_BYTES = 1024
DEFAULT_FPS = Fraction(25, 1)

_MAGIC = b"YUV4MPEG2"
_FRAME = b"FRAME"
_CHROMA_420 = ("420jpeg", "420paldv", "420mpeg2", "420")
_CHROMA_TAGS = {"420jpeg": "center", "420paldv": "topleft", "420mpeg2": "left", "420": "center"}
_CONVERT_HINT = "add -pix_fmt yuv420p to the ffmpeg command"


# ----------------------------------------------------------------------------- stream helpers


def _read_into(stream: BinaryIO, buf: bytearray) -> int:
    """Fill ``buf`` from ``stream``, looping over short reads; return the bytes read (< len at EOF)."""
    view = memoryview(buf)
    got = 0
    readinto = getattr(stream, "readinto", None)
    while got < len(buf):
        if readinto is not None:
            n = readinto(view[got:])
        else:
            chunk = stream.read(len(buf) - got)
            n = len(chunk) if chunk else 0
            view[got : got + n] = chunk or b""
        if not n:
            break
        got += n
    return got


def _read_line(stream: BinaryIO, what: str) -> bytes | None:
    """One ``\\n``-terminated line without the newline; ``None`` if the stream ends before any byte."""
    line = bytearray()
    while True:
        c = stream.read(1)
        if not c:
            if not line:
                return None
            raise InputFormatError(f"truncated {what}: stream ends before the end of the line")
        if c == b"\n":
            return bytes(line)
        line += c
        if len(line) > MAX_LINE_BYTES:
            raise InputFormatError(f"{what} is longer than {MAX_LINE_BYTES} bytes; not a valid Y4M stream")


def _check_size(width: int, height: int) -> None:
    for name, value in (("width", width), ("height", height)):
        if not 0 < value <= MAX_DIMENSION:
            raise InputFormatError(f"video {name} {value} is out of range (need 1..{MAX_DIMENSION})")


def _frame_bytes(width: int, height: int, pix_fmt: str) -> int:
    if pix_fmt == "rgb24":
        return width * height * 3
    return width * height + 2 * ((width + 1) // 2) * ((height + 1) // 2)


def _frame_from_buffer(buf: bytearray, width: int, height: int, pix_fmt: str) -> VideoFrame:
    """Split one frame's bytes into numpy planes (views on ``buf``, which the frame then owns)."""
    data = np.frombuffer(buf, dtype=np.uint8)
    if pix_fmt == "rgb24":
        return VideoFrame("rgb24", (data.reshape(height, width, 3),))
    cw, ch = (width + 1) // 2, (height + 1) // 2
    y_end, u_end = width * height, width * height + cw * ch
    return VideoFrame(
        "yuv420p",
        (
            data[:y_end].reshape(height, width),
            data[y_end:u_end].reshape(ch, cw),
            data[u_end:].reshape(ch, cw),
        ),
    )


def _read_payload(
    stream: BinaryIO, index: int, width: int, height: int, pix_fmt: str, eof_ok: bool
) -> VideoFrame | None:
    """Read one frame's pixel data; ``None`` if ``eof_ok`` and the stream ends before its first byte."""
    buf = bytearray(_frame_bytes(width, height, pix_fmt))
    got = _read_into(stream, buf)
    if got == 0 and eof_ok:
        return None
    if got < len(buf):
        raise InputFormatError(f"truncated frame {index}: got {got} of {len(buf)} bytes")
    return _frame_from_buffer(buf, width, height, pix_fmt)


def _write_planes(stream: BinaryIO, frame: VideoFrame) -> None:
    for plane in frame.planes:
        stream.write(memoryview(np.ascontiguousarray(plane)).cast("B"))


# ----------------------------------------------------------------------------- Y4M header


def _parse_ratio(token: str, what: str) -> tuple[int, int]:
    num, sep, den = token.partition(":")
    try:
        if not sep:
            raise ValueError
        return int(num), int(den)
    except ValueError:
        raise InputFormatError(f"bad Y4M {what} {token!r} (expected N:D)") from None


def _parse_int(token: str, what: str) -> int:
    try:
        return int(token)
    except ValueError:
        raise InputFormatError(f"bad Y4M {what} {token!r} (expected an integer)") from None


def _check_colourspace(value: str) -> None:
    if value in _CHROMA_420:
        return
    if value.startswith("420"):  # 420p10, 420p12, ...: more than 8 bits per sample
        kind = f"high bit depth 4:2:0 (C{value})"
    elif value.startswith("mono"):
        kind = f"greyscale (C{value})"
    else:
        kind = f"chroma format C{value}"
    raise InputFormatError(f"unsupported Y4M {kind}; the encoder takes 8-bit 4:2:0: {_CONVERT_HINT}")


def _check_interlace(value: str) -> None:
    if value in ("p", "?"):
        return
    kinds = {"t": "interlaced top field first", "b": "interlaced bottom field first", "m": "mixed interlacing"}
    kind = kinds.get(value, f"interlace mode I{value}")
    raise InputFormatError(
        f"unsupported Y4M {kind} (I{value}); the encoder takes progressive video: "
        f"add -vf yadif -pix_fmt yuv420p to the ffmpeg command"
    )


# ----------------------------------------------------------------------------- readers


class Y4MReader:
    """Reads a YUV4MPEG2 stream frame by frame.

    Attributes: ``width``, ``height``, ``fps`` (:class:`Fraction`, 25 if the header has none),
    ``aspect`` (``(num, den)``, ``(0, 0)`` if unknown), ``color`` (:class:`ColorInfo`; its chroma
    location from the ``C`` tag: ``420mpeg2`` left, ``420paldv`` top-left, ``420jpeg`` and ``420``
    center, none unspecified, as FFmpeg reads them).
    """

    def __init__(self, stream: BinaryIO, matrix: str = "bt709"):
        self._stream = stream
        self._index = 0
        self.fps = DEFAULT_FPS
        self.aspect = (0, 0)
        self._parse_header(matrix)

    def _parse_header(self, matrix: str) -> None:
        magic = bytearray(len(_MAGIC))
        got = _read_into(self._stream, magic)
        if bytes(magic[:got]) != _MAGIC:
            raise InputFormatError("input is not a YUV4MPEG2 stream (bad magic); use -f yuv4mpegpipe with ffmpeg")
        line = _read_line(self._stream, "Y4M header")
        if line is None:
            raise InputFormatError("truncated Y4M header: the stream ends after the magic")
        if line and not line.startswith(b" "):
            raise InputFormatError("input is not a YUV4MPEG2 stream (bad magic); use -f yuv4mpegpipe with ffmpeg")
        width = height = None
        color_range, chroma = "limited", "unspecified"
        for token in line.decode("ascii", errors="replace").split():
            tag, value = token[0], token[1:]
            if tag == "W":
                width = _parse_int(value, "width")
            elif tag == "H":
                height = _parse_int(value, "height")
            elif tag == "F":
                num, den = _parse_ratio(value, "frame rate")
                if num <= 0 or den <= 0:
                    raise InputFormatError(f"bad Y4M frame rate F{value} (need positive N:D)")
                self.fps = Fraction(num, den)
            elif tag == "A":
                self.aspect = _parse_ratio(value, "pixel aspect ratio")
            elif tag == "I":
                _check_interlace(value)
            elif tag == "C":
                _check_colourspace(value)
                chroma = _CHROMA_TAGS.get(value.lower(), "center")
            elif tag == "X" and value.startswith("COLORRANGE="):
                setting = value[len("COLORRANGE=") :].upper()
                if setting not in ("FULL", "LIMITED"):
                    raise InputFormatError(f"bad Y4M XCOLORRANGE={setting} (expected FULL or LIMITED)")
                color_range = setting.lower()
        if width is None or height is None:
            raise InputFormatError("Y4M header lacks the W (width) or H (height) field")
        _check_size(width, height)
        self.width, self.height = width, height
        self.color = ColorInfo(matrix=matrix, range=color_range, chroma_location=chroma)

    def read_frame(self) -> VideoFrame | None:
        """The next ``yuv420p`` frame, or ``None`` at a clean end of stream."""
        line = _read_line(self._stream, f"FRAME header of frame {self._index}")
        if line is None:
            return None
        if not (line == _FRAME or line.startswith(_FRAME + b" ")):
            raise InputFormatError(f"frame {self._index}: expected a FRAME marker, got {line[:16]!r}")
        frame = _read_payload(self._stream, self._index, self.width, self.height, "yuv420p", eof_ok=False)
        self._index += 1
        return frame

    def __iter__(self) -> Iterator[VideoFrame]:
        while (frame := self.read_frame()) is not None:
            yield frame


class RawReader:
    """Reads headerless ``yuv420p`` or ``rgb24`` frames of a known size, one at a time."""

    def __init__(self, stream: BinaryIO, width: int, height: int, pix_fmt: str = "yuv420p"):
        if pix_fmt not in PIX_FMTS:
            raise InputFormatError(f"unsupported raw pixel format {pix_fmt!r} (need one of {', '.join(PIX_FMTS)})")
        _check_size(width, height)
        self._stream = stream
        self._index = 0
        self.width, self.height, self.pix_fmt = width, height, pix_fmt

    def read_frame(self) -> VideoFrame | None:
        """The next frame, or ``None`` at a clean end of stream (between two frames)."""
        frame = _read_payload(self._stream, self._index, self.width, self.height, self.pix_fmt, eof_ok=True)
        if frame is not None:
            self._index += 1
        return frame

    def __iter__(self) -> Iterator[VideoFrame]:
        while (frame := self.read_frame()) is not None:
            yield frame


# ----------------------------------------------------------------------------- writers


class Y4MWriter:
    """Writes ``yuv420p`` frames as YUV4MPEG2; the header is written on construction."""

    def __init__(self, stream: BinaryIO, width: int, height: int, fps: Fraction, color: ColorInfo = ColorInfo(),
                 aspect: tuple[int, int] = (0, 0)):
        _check_size(width, height)
        fps = Fraction(fps)
        if fps <= 0:
            raise InputFormatError(f"frame rate must be positive, got {fps}")
        self._stream = stream
        self.width, self.height = width, height
        # The range is always tagged (ffmpeg reads XCOLORRANGE). Y4M has no tag for the matrix,
        # primaries or transfer that ffmpeg reads (5.1's demuxer knows XYSCSS and XCOLORRANGE
        # only): a pipe into ffmpeg passes -colorspace bt709 -color_primaries bt709 -color_trc bt709.
        # A0:0 = unknown aspect; chroma as FFmpeg's muxer writes it (left: 420mpeg2, top-left: 420paldv, else 420jpeg)
        chroma = {"left": "420mpeg2", "topleft": "420paldv"}.get(color.chroma_location, "420jpeg")
        header = (f"YUV4MPEG2 W{width} H{height} F{fps.numerator}:{fps.denominator} Ip A{aspect[0]}:{aspect[1]} "
                  f"C{chroma} XCOLORRANGE={color.range.upper()}")
        stream.write(header.encode("ascii") + b"\n")

    def write_frame(self, frame: VideoFrame) -> None:
        """Append one ``yuv420p`` frame of the stream's size."""
        if frame.pix_fmt != "yuv420p":
            raise InputFormatError(f"Y4M output takes yuv420p frames, got {frame.pix_fmt}; convert with rgb_to_frame")
        frame.validate(self.width, self.height)
        self._stream.write(_FRAME + b"\n")
        _write_planes(self._stream, frame)

    def flush(self) -> None:
        self._stream.flush()


class RawWriter:
    """Writes frames as headerless raw video: each frame's planes back to back."""

    def __init__(self, stream: BinaryIO):
        self._stream = stream

    def write_frame(self, frame: VideoFrame) -> None:
        _write_planes(self._stream, frame.validate())

    def flush(self) -> None:
        self._stream.flush()
