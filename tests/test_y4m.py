"""Specification of video input and output (gvc1d_codec.io): YUV4MPEG2 and raw streams."""
from __future__ import annotations

import io
import shutil
import subprocess
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from gvc1d_codec.errors import InputFormatError
from gvc1d_codec.frame import ColorInfo, VideoFrame
from gvc1d_codec.io import RawReader, RawWriter, Y4MReader, Y4MWriter

needs_ffmpeg = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg not installed")

W, H = 35, 21
CW, CH = 18, 11
FRAME_BYTES = W * H + 2 * CW * CH


def random_frame(seed: int, width: int = W, height: int = H) -> VideoFrame:
    rng = np.random.default_rng(seed)
    cw, ch = (width + 1) // 2, (height + 1) // 2
    shapes = ((height, width), (ch, cw), (ch, cw))
    return VideoFrame("yuv420p", tuple(rng.integers(0, 256, s, dtype=np.uint8) for s in shapes))


def frame_bytes(frame: VideoFrame) -> bytes:
    return b"".join(p.tobytes() for p in frame.planes)


def y4m(header: str, *frames: bytes) -> io.BytesIO:
    """A Y4M stream: ``header`` (without magic or newline) and raw frame payloads."""
    body = b"".join(b"FRAME\n" + f for f in frames)
    return io.BytesIO(b"YUV4MPEG2 " + header.encode() + b"\n" + body)


def same_frame(a: VideoFrame, b: VideoFrame) -> bool:
    return a.pix_fmt == b.pix_fmt and all(np.array_equal(p, q) for p, q in zip(a.planes, b.planes))


class TrickleStream(io.RawIOBase):
    """A non-seekable stream that hands out at most ``chunk`` bytes per read, like a slow pipe."""

    def __init__(self, data: bytes, chunk: int = 7):
        self._data, self._pos, self._chunk = data, 0, chunk

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:
        n = min(len(buf), self._chunk, len(self._data) - self._pos)
        buf[:n] = self._data[self._pos : self._pos + n]
        self._pos += n
        return n


# ----------------------------------------------------------------------------- Y4M header


def test_header_fields_are_parsed():
    reader = Y4MReader(y4m(f"W{W} H{H} F30000:1001 Ip A1:1 C420jpeg XYSCSS=420JPEG"))
    assert (reader.width, reader.height) == (W, H)
    assert reader.fps == Fraction(30000, 1001)
    assert reader.aspect == (1, 1)
    assert reader.color == ColorInfo("bt709", "limited", "center")  # C420jpeg


@pytest.mark.parametrize("colourspace", ["C420jpeg", "C420paldv", "C420mpeg2", "C420", ""])
def test_every_8bit_420_colourspace_and_a_missing_one_are_accepted(colourspace: str):
    reader = Y4MReader(y4m(f"W{W} H{H} F25:1 {colourspace}", bytes(FRAME_BYTES)))
    assert reader.read_frame().validate(W, H).pix_fmt == "yuv420p"


def test_missing_frame_rate_defaults_to_25_and_interlace_unknown_is_accepted():
    reader = Y4MReader(y4m(f"W{W} H{H} I?"))
    assert reader.fps == Fraction(25)


@pytest.mark.parametrize("value, color_range", [("FULL", "full"), ("LIMITED", "limited")])
def test_xcolorrange_sets_the_colour_range(value: str, color_range: str):
    assert Y4MReader(y4m(f"W{W} H{H} XCOLORRANGE={value}")).color.range == color_range


def test_matrix_is_bt709_unless_the_caller_says_otherwise():
    assert Y4MReader(y4m(f"W{W} H{H}"), matrix="bt601").color.matrix == "bt601"


@pytest.mark.parametrize(
    "token, hint",
    [
        ("C422", "-pix_fmt yuv420p"),
        ("C444", "-pix_fmt yuv420p"),
        ("C444alpha", "-pix_fmt yuv420p"),
        ("Cmono", "-pix_fmt yuv420p"),
        ("C420p10", "-pix_fmt yuv420p"),
        ("C422p10", "-pix_fmt yuv420p"),
        ("It", "yadif"),
        ("Ib", "yadif"),
        ("Im", "yadif"),
    ],
)
def test_unsupported_formats_are_refused_with_a_conversion_hint(token: str, hint: str):
    with pytest.raises(InputFormatError, match=hint) as err:
        Y4MReader(y4m(f"W{W} H{H} F25:1 {token}"))
    assert token in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"YUV4MPEG",
        b"YUV4MPEG3 W35 H21\n",
        b"YUV4MPEG2W35 H21\n",
        b"RIFF....AVI LIST",
    ],
    ids=["empty", "short", "wrong-magic", "no-space", "avi"],
)
def test_non_y4m_input_is_refused_as_bad_magic(data: bytes):
    with pytest.raises(InputFormatError, match="not a YUV4MPEG2 stream"):
        Y4MReader(io.BytesIO(data))


@pytest.mark.parametrize(
    "header",
    ["H21 F25:1", "W35 F25:1", "W0 H21", "W35 H0", "W16385 H16", "W16 H16385", "W-4 H4", "Wx H4", "W4 H4 F25", "W4 H4 F0:1"],
)
def test_missing_or_impossible_header_values_are_refused(header: str):
    with pytest.raises(InputFormatError):
        Y4MReader(y4m(header))


def test_largest_accepted_size_is_16384():
    reader = Y4MReader(y4m("W16384 H16384"))
    assert (reader.width, reader.height) == (16384, 16384)


def test_header_line_length_is_bounded():
    with pytest.raises(InputFormatError, match="longer than"):
        Y4MReader(io.BytesIO(b"YUV4MPEG2 W4 H4 " + b"X" * 5000 + b"\n"))


def test_header_cut_before_its_newline_is_refused():
    with pytest.raises(InputFormatError, match="truncated"):
        Y4MReader(io.BytesIO(b"YUV4MPEG2 W4 H4"))


# ----------------------------------------------------------------------------- Y4M frames


def test_frames_are_read_in_order_then_none_at_clean_eof():
    frames = [random_frame(i) for i in range(3)]
    reader = Y4MReader(y4m(f"W{W} H{H}", *map(frame_bytes, frames)))
    for want in frames:
        got = reader.read_frame()
        assert got.validate(W, H) and same_frame(got, want)
    assert reader.read_frame() is None
    assert reader.read_frame() is None


def test_reader_is_iterable():
    frames = [random_frame(i) for i in range(2)]
    got = list(Y4MReader(y4m(f"W{W} H{H}", *map(frame_bytes, frames))))
    assert len(got) == 2 and all(same_frame(a, b) for a, b in zip(got, frames))


def test_returned_planes_are_writable_numpy_arrays():
    frame = Y4MReader(y4m(f"W{W} H{H}", frame_bytes(random_frame(0)))).read_frame()
    assert all(p.flags.writeable and p.dtype == np.uint8 for p in frame.planes)


def test_frame_parameters_are_ignored():
    stream = io.BytesIO(b"YUV4MPEG2 W35 H21\nFRAME Ixyz XFOO=1\n" + frame_bytes(random_frame(0)))
    assert same_frame(Y4MReader(stream).read_frame(), random_frame(0))


def test_frame_line_length_is_bounded():
    stream = io.BytesIO(b"YUV4MPEG2 W35 H21\nFRAME " + b"X" * 5000 + b"\n")
    with pytest.raises(InputFormatError, match="longer than"):
        Y4MReader(stream).read_frame()


def test_garbage_instead_of_a_frame_marker_is_refused():
    stream = io.BytesIO(b"YUV4MPEG2 W35 H21\nFRAMES\n" + bytes(FRAME_BYTES))
    with pytest.raises(InputFormatError, match="frame 0: expected a FRAME marker"):
        Y4MReader(stream).read_frame()


def test_truncated_last_frame_names_the_frame_and_byte_counts():
    data = y4m(f"W{W} H{H}", frame_bytes(random_frame(0)), frame_bytes(random_frame(1))).getvalue()
    reader = Y4MReader(io.BytesIO(data[:-100]))
    assert reader.read_frame() is not None
    with pytest.raises(InputFormatError, match=f"truncated frame 1: got {FRAME_BYTES - 100} of {FRAME_BYTES} bytes"):
        reader.read_frame()


def test_stream_ending_right_after_a_frame_marker_is_truncated():
    with pytest.raises(InputFormatError, match=f"truncated frame 0: got 0 of {FRAME_BYTES} bytes"):
        Y4MReader(io.BytesIO(b"YUV4MPEG2 W35 H21\nFRAME\n")).read_frame()


def test_reader_never_reads_past_the_frame_it_returns():
    stream = y4m(f"W{W} H{H}", frame_bytes(random_frame(0)), frame_bytes(random_frame(1)))
    header_len = len(f"YUV4MPEG2 W{W} H{H}\n")
    reader = Y4MReader(stream)
    assert stream.tell() == header_len
    reader.read_frame()
    assert stream.tell() == header_len + len(b"FRAME\n") + FRAME_BYTES


def test_short_reads_from_a_non_seekable_stream_are_handled():
    frames = [random_frame(i) for i in range(2)]
    data = y4m(f"W{W} H{H}", *map(frame_bytes, frames)).getvalue()
    got = list(Y4MReader(TrickleStream(data)))
    assert len(got) == 2 and all(same_frame(a, b) for a, b in zip(got, frames))


# ----------------------------------------------------------------------------- Y4M writer


def test_writer_header_is_progressive_420jpeg_with_unknown_aspect_by_default():
    out = io.BytesIO()
    Y4MWriter(out, W, H, Fraction(30000, 1001), ColorInfo())
    assert out.getvalue() == b"YUV4MPEG2 W35 H21 F30000:1001 Ip A0:0 C420jpeg XCOLORRANGE=LIMITED\n"


@pytest.mark.parametrize("tag, location, written", [("C420mpeg2", "left", "C420mpeg2"), ("C420paldv", "topleft", "C420paldv"),
                                                    ("C420jpeg", "center", "C420jpeg"), ("C420", "center", "C420jpeg"),
                                                    ("", "unspecified", "C420jpeg")])
def test_aspect_and_chroma_siting_round_trip(tag, location, written):
    """What FFmpeg's Y4M demuxer reads (A, C) comes back out of the writer."""
    reader = Y4MReader(y4m(f"W{W} H{H} F25:1 Ip A2288:1575 {tag}"))
    assert reader.aspect == (2288, 1575) and reader.color.chroma_location == location
    out = io.BytesIO()
    Y4MWriter(out, W, H, Fraction(25), reader.color, reader.aspect)
    assert out.getvalue() == f"YUV4MPEG2 W35 H21 F25:1 Ip A2288:1575 {written} XCOLORRANGE=LIMITED\n".encode()


def test_aspect_and_chroma_siting_survive_the_codec(loaded):
    """Y4M in, the version-5 stream header, Y4M out: sample aspect ratio and chroma siting kept."""
    from gvc1d_codec.codec import Decoder, Encoder

    reader = Y4MReader(y4m(f"W{W} H{H} F25:1 Ip A2288:1575 C420mpeg2"))
    enc = Encoder(W, H, reader.fps, color=reader.color, sample_aspect=reader.aspect, weights=loaded, quality=0)
    assert (enc.header.sample_aspect, enc.header.chroma_location) == ((2288, 1575), "left")
    dec = Decoder(enc.header_bytes(), weights=loaded)
    out = io.BytesIO()
    Y4MWriter(out, W, H, Fraction(25), dec.color, dec.header.sample_aspect)
    assert out.getvalue().startswith(b"YUV4MPEG2 W35 H21 F25:1 Ip A2288:1575 C420mpeg2 ")


def test_writer_marks_full_range():
    out = io.BytesIO()
    Y4MWriter(out, W, H, Fraction(25), ColorInfo("bt709", "full"))
    assert out.getvalue().endswith(b" C420jpeg XCOLORRANGE=FULL\n")


def test_writer_output_reads_back_identically():
    frames = [random_frame(i) for i in range(3)]
    out = io.BytesIO()
    writer = Y4MWriter(out, W, H, Fraction(24), ColorInfo("bt709", "full"))
    for f in frames:
        writer.write_frame(f)
    reader = Y4MReader(io.BytesIO(out.getvalue()))
    assert (reader.width, reader.height, reader.fps, reader.color.range) == (W, H, Fraction(24), "full")
    got = list(reader)
    assert len(got) == 3 and all(same_frame(a, b) for a, b in zip(got, frames))


def test_writer_refuses_rgb24_and_wrongly_sized_frames():
    writer = Y4MWriter(io.BytesIO(), W, H, Fraction(25), ColorInfo())
    with pytest.raises(InputFormatError, match="yuv420p"):
        writer.write_frame(VideoFrame("rgb24", (np.zeros((H, W, 3), np.uint8),)))
    with pytest.raises(InputFormatError):
        writer.write_frame(random_frame(0, W + 1, H))


# ----------------------------------------------------------------------------- raw video


def test_raw_yuv420p_frames_round_trip_and_end_cleanly():
    frames = [random_frame(i) for i in range(2)]
    out = io.BytesIO()
    writer = RawWriter(out)
    for f in frames:
        writer.write_frame(f)
    assert out.getvalue() == b"".join(map(frame_bytes, frames))
    got = list(RawReader(TrickleStream(out.getvalue()), W, H, "yuv420p"))
    assert len(got) == 2 and all(same_frame(a, b) for a, b in zip(got, frames))


def test_raw_rgb24_frames_round_trip():
    rgb = np.random.default_rng(5).integers(0, 256, (H, W, 3), dtype=np.uint8)
    out = io.BytesIO()
    RawWriter(out).write_frame(VideoFrame("rgb24", (rgb,)))
    reader = RawReader(io.BytesIO(out.getvalue()), W, H, "rgb24")
    assert np.array_equal(reader.read_frame().planes[0], rgb)
    assert reader.read_frame() is None


def test_raw_partial_last_frame_names_the_byte_counts():
    reader = RawReader(io.BytesIO(bytes(W * H * 3 + 10)), W, H, "rgb24")
    reader.read_frame()
    with pytest.raises(InputFormatError, match=f"truncated frame 1: got 10 of {W * H * 3} bytes"):
        reader.read_frame()


@pytest.mark.parametrize("width, height, pix_fmt", [(0, 4, "yuv420p"), (4, 16385, "rgb24"), (4, 4, "nv12")])
def test_raw_reader_refuses_impossible_parameters(width: int, height: int, pix_fmt: str):
    with pytest.raises(InputFormatError):
        RawReader(io.BytesIO(), width, height, pix_fmt)


# ----------------------------------------------------------------------------- interoperability with ffmpeg

TESTSRC = ["-f", "lavfi", "-i", f"testsrc=size={W}x{H}:rate=25", "-frames:v", "3", "-pix_fmt", "yuv420p"]


def ffmpeg(args: list[str], stdin: bytes | None = None) -> bytes:
    return subprocess.run(["ffmpeg", "-v", "error", *args], input=stdin, capture_output=True, check=True).stdout


@needs_ffmpeg
def test_ffmpeg_y4m_from_an_unbuffered_pipe_matches_ffmpeg_rawvideo():
    raw = ffmpeg(TESTSRC + ["-f", "rawvideo", "-"])
    command = ["ffmpeg", "-v", "error", *TESTSRC, "-f", "yuv4mpegpipe", "-"]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, bufsize=0)  # raw pipe: short reads
    try:
        reader = Y4MReader(proc.stdout)
        assert (reader.width, reader.height, reader.fps) == (W, H, Fraction(25))
        assert reader.color == ColorInfo("bt709", "limited", "center")  # testsrc: C420jpeg
        frames = list(reader)
    finally:
        proc.stdout.close()
        proc.wait()
    assert len(frames) == 3
    assert b"".join(map(frame_bytes, frames)) == raw
    expected = list(RawReader(io.BytesIO(raw), W, H, "yuv420p"))
    assert all(same_frame(a, b) for a, b in zip(frames, expected))


@needs_ffmpeg
def test_writer_output_is_readable_by_ffmpeg(tmp_path: Path):
    frames = [random_frame(i) for i in range(2)]
    path = tmp_path / "out.y4m"
    with path.open("wb") as f:
        writer = Y4MWriter(f, W, H, Fraction(25), ColorInfo())
        for frame in frames:
            writer.write_frame(frame)
    assert ffmpeg(["-i", str(path), "-f", "rawvideo", "-"]) == b"".join(map(frame_bytes, frames))


@needs_ffmpeg
def test_ffmpeg_full_range_y4m_is_read_as_full_range():
    source = ["-f", "lavfi", "-i", "testsrc=size=16x8", "-frames:v", "1", "-pix_fmt", "yuvj420p"]
    data = ffmpeg(source + ["-strict", "-1", "-f", "yuv4mpegpipe", "-"])
    reader = Y4MReader(io.BytesIO(data))
    assert reader.color == ColorInfo("bt709", "full", reader.color.chroma_location)
    assert len(list(reader)) == 1


def test_writer_header_fits_ffmpeg_51s_96_byte_limit_at_the_extremes():
    # ffmpeg 5.1's y4m demuxer refuses a header line longer than 96 bytes ("Header too large")
    for color in (ColorInfo(), ColorInfo("bt709", "full")):
        out = io.BytesIO()
        Y4MWriter(out, 16384, 16384, Fraction(4294967295, 4294967291), color)
        assert len(out.getvalue()) <= 96, out.getvalue()
