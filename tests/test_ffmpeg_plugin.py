"""gvc1d inside FFmpeg (ffbridge/ffmpeg/): the libavcodec ``libgvc1d`` encoder and decoder, the raw
``gvc`` demuxer/muxer and gvc1d in Matroska and NUT, through the ffmpeg that
``ffbridge/ffmpeg/build.sh`` builds.

``ffmpeg -c:v libgvc1d`` must write the bytes ``gvc1d-pipe encode`` writes for the same input and
settings, and plain ``ffmpeg -i`` must decode to the pixels ``gvc1d-pipe decode`` gives. Skipped,
with the reason, when that ffmpeg has not been built (ffbridge/ffmpeg/build.sh builds it).
"""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
from pathlib import Path

import pytest

from conftest import REPO, moving_gradient, needs_ffmpeg, run_cli, y4m_bytes

FFDIR = REPO / "ffbridge" / "ffmpeg"
FFMPEG = FFDIR / "bin" / "ffmpeg"
FFPROBE = FFDIR / "bin" / "ffprobe"
W, H, FRAMES = 64, 48, 3


def _missing() -> str | None:
    for exe in (FFMPEG, FFPROBE):
        if not os.access(exe, os.X_OK):
            return f"{exe.relative_to(REPO)} not built (run ffbridge/ffmpeg/build.sh)"
    try:
        p = subprocess.run([str(FFMPEG), "-hide_banner", "-version"], capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"{FFMPEG.relative_to(REPO)} does not run: {e}"
    if p.returncode != 0:  # e.g. libgvc1d.so gone after make clean: rerun ffbridge/ffmpeg/build.sh
        return f"{FFMPEG.relative_to(REPO)} does not run: {p.stderr.decode(errors='replace').strip()[:200]}"
    return None


pytestmark = pytest.mark.skipif(_missing() is not None, reason=str(_missing()))


def env(weights) -> dict[str, str]:
    e = dict(os.environ)
    e.pop("PYTHONPATH", None)
    e.pop("GVC1D_DEBUG", None)
    e["GVC1D_WEIGHTS"] = str(weights)
    return e


def ff(*args, weights, exe: Path = FFMPEG, timeout: float = 300) -> subprocess.CompletedProcess:
    cmd = [str(exe), "-nostdin", "-hide_banner", *map(str, args)] if exe == FFMPEG else \
          [str(exe), "-hide_banner", *map(str, args)]
    p = subprocess.run(cmd, capture_output=True, env=env(weights), timeout=timeout)
    return subprocess.CompletedProcess(p.args, p.returncode, p.stdout, p.stderr.decode("utf-8", "replace"))


def y4m_to_raw(y4m: bytes) -> bytes:
    """The frame data of a Y4M stream (headers dropped)."""
    out, pos = [], y4m.index(b"\n") + 1
    while pos < len(y4m):
        assert y4m.startswith(b"FRAME", pos)
        pos = y4m.index(b"\n", pos) + 1
        n = W * H * 3 // 2
        out.append(y4m[pos:pos + n])
        pos += n
    return b"".join(out)


def gradient_clip(path: Path, frames: int) -> Path:
    """``frames`` frames of tests/conftest.py's moving gradient, 64x48 at 25 fps, as Y4M (the suite
    makes its clips itself: no file of ../shared is needed)."""
    path.write_bytes(y4m_bytes(moving_gradient(W, H, frames)))
    return path


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    """3 frames of the moving gradient, 64x48, as Y4M."""
    return gradient_clip(tmp_path_factory.mktemp("ffplugin") / "clip.y4m", FRAMES)


@pytest.fixture(scope="module")
def encoded(clip, weights_path, tmp_path_factory) -> dict[str, Path]:
    """The clip encoded by ffmpeg -c:v libgvc1d into .gvc, .mkv and .nut (-quality 1 -intra-period 2)."""
    d = tmp_path_factory.mktemp("ffenc")
    outs = {ext: d / f"out.{ext}" for ext in ("gvc", "mkv", "nut")}
    p = ff("-i", clip, "-c:v", "libgvc1d", "-quality", 1, "-intra-period", 2, "-threads", 1, "-y", outs["gvc"],
           weights=weights_path)
    assert p.returncode == 0, p.stderr
    for ext in ("mkv", "nut"):
        p = ff("-i", clip, "-c:v", "libgvc1d", "-quality", 1, "-intra-period", 2, "-y", outs[ext],
               weights=weights_path)
        assert p.returncode == 0, p.stderr
    return outs


@pytest.fixture(scope="module")
def pipe_stream(clip, weights_path) -> bytes:
    p = run_cli("encode", "-i", clip, "-q", 1, "--intra-period", 2, weights=weights_path)
    assert p.returncode == 0, p.stderr
    return p.stdout


@pytest.fixture(scope="module")
def pipe_pixels(pipe_stream, weights_path) -> bytes:
    p = run_cli("decode", input=pipe_stream, weights=weights_path)
    assert p.returncode == 0, p.stderr
    return y4m_to_raw(p.stdout)


def read_packets(stream: bytes) -> list[tuple[object, int]]:
    """(Packet, its size in the stream) for each packet of a .gvc stream."""
    import io

    from gvc1d_codec.bitstream import PacketReader, read_header

    src = io.BytesIO(stream)
    reader = PacketReader(src, read_header(src))
    return [(p, reader.last_size) for p in reader]


def units_of(stream: bytes) -> list[bytes]:
    """The container units of a version-5 stream's packets (docs/bitstream.md, "Units in containers")."""
    from gvc1d_codec.bitstream import compact

    elision = compact.Elision()
    return [compact.unit(p.frame_type, p.payload, p.quality_length, elision,
                         must_state=compact.carries_index(p.frame_type, p.frame_index))
            for p, _size in read_packets(stream)]


def version_4(stream: bytes) -> bytes:
    """The same frames as a version-4 stream (82-byte header, 14 bytes around each payload; version 4
    has no sample aspect ratio, chroma location or extended range: pictures with the enhancement
    layer decode clamped)."""
    import dataclasses

    from gvc1d_codec.bitstream import StreamHeader, pack_packet

    header, _used = StreamHeader.unpack(stream)
    v4 = dataclasses.replace(header, format_version=4, sample_aspect=(0, 0), chroma_location="unspecified",
                             extended_range=False, wide_steps=False)
    return v4.pack() + b"".join(
        pack_packet(p, 4) for p, _size in read_packets(stream))


def ffprobe_packets(path: Path, weights) -> list[dict]:
    p = ff("-v", "error", "-show_entries", "packet=pts,size,flags", "-of", "json", path, weights=weights, exe=FFPROBE)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)["packets"]


def decode_raw(path: Path, weights) -> subprocess.CompletedProcess:
    return ff("-i", path, "-f", "rawvideo", "-pix_fmt", "yuv420p", "-", weights=weights)


# ---- the build ------------------------------------------------------------------------------------

def test_components_are_registered(weights_path):
    checks = [
        (("-h", "encoder=libgvc1d"), ("quality", "intra-period", "yuv420p rgb24")),
        (("-h", "decoder=libgvc1d"), ("libgvc1d",)),
        (("-h", "demuxer=gvc"), ("gvc",)),
        (("-h", "muxer=gvc"), ("gvc", "Default video codec: gvc1d")),
    ]
    for args, words in checks:
        p = ff(*args, weights=weights_path)
        assert p.returncode == 0, p.stderr
        for w in words:
            assert w in p.stdout.decode(), (args, w, p.stdout.decode())


# ---- encode: the same bytes as gvc1d-pipe ---------------------------------------------------------

def test_gvc_written_by_ffmpeg_is_identical_to_gvc1d_pipe(encoded, pipe_stream):
    assert encoded["gvc"].read_bytes() == pipe_stream


def test_gvc_copied_through_mkv_and_nut_is_identical(encoded, pipe_stream, weights_path, tmp_path):
    """The Matroska and NUT tracks carry the same header (CodecPrivate / extradata) and packets."""
    for ext in ("mkv", "nut"):
        out = tmp_path / f"copy-{ext}.gvc"
        p = ff("-i", encoded[ext], "-c", "copy", "-f", "gvc", "-y", out, weights=weights_path)
        assert p.returncode == 0, p.stderr
        assert out.read_bytes() == pipe_stream, ext
    # and back: .gvc -> .mkv by stream copy
    mkv = tmp_path / "copy.mkv"
    p = ff("-i", encoded["gvc"], "-c", "copy", "-y", mkv, weights=weights_path)
    assert p.returncode == 0, p.stderr
    back = tmp_path / "back.gvc"
    assert ff("-i", mkv, "-c", "copy", "-y", back, weights=weights_path).returncode == 0
    assert back.read_bytes() == pipe_stream


def test_containers_carry_units(encoded, pipe_stream, weights_path):
    """Matroska and NUT store units (docs/bitstream.md, "Units in containers"): each frame costs its
    container 1 byte (the head) beyond the payload, less the quality bytes where they repeat; the
    gvc demuxer's AVPackets are the same units, with pts = frame index and the key flag on I."""
    packets = read_packets(pipe_stream)
    units = units_of(pipe_stream)
    assert pipe_stream[4] == 5
    for (p, _size), u in zip(packets, units):
        elided = u[0] >> 1 & 3 == 0
        assert len(u) == 1 + len(p.payload) - (p.quality_length if elided else 0)
        assert elided == (p.frame_type == "P" and p.frame_index % 8 != 0 and p.payload[:p.quality_length]
                          == packets[p.frame_index - 1][0].payload[:p.quality_length])
    want = [len(u) for u in units]
    for ext in ("gvc", "mkv", "nut"):
        got = ffprobe_packets(encoded[ext], weights_path)
        assert [int(q["size"]) for q in got] == want, ext
        p = ff("-i", encoded[ext], "-c", "copy", "-f", "framemd5", "-", weights=weights_path)
        assert p.returncode == 0, p.stderr
        md5s = [ln.split(",")[-1].strip() for ln in p.stdout.decode().splitlines() if not ln.startswith("#")]
        assert md5s == [hashlib.md5(u).hexdigest() for u in units], ext
        assert [q["flags"].startswith("K") for q in got] == [p.frame_type == "I" for p, _ in packets], ext
    assert [int(q["pts"]) for q in ffprobe_packets(encoded["gvc"], weights_path)] == list(range(FRAMES))


def test_every_packet_framing_round_trips(weights_path, tmp_path):
    """9 frames at the enhancement layer's quality (2 quality bytes), intra period -1: packets with
    CRC-16 and CRC-32, length varints, elided quality bytes and the resync point of frame 8.
    ffmpeg writes gvc1d-pipe's bytes, the gvc demuxer checks and strips that framing and the muxer
    puts it back byte for byte (.gvc -> .mkv -> .gvc), and the .mkv decodes to gvc1d-pipe's pixels."""
    from gvc1d_codec.bitstream import compact

    clip9 = gradient_clip(tmp_path / "clip9.y4m", 9)
    out, mkv, back = tmp_path / "q.gvc", tmp_path / "q.mkv", tmp_path / "back.gvc"
    p = ff("-i", clip9, "-c:v", "libgvc1d", "-quality", 5, "-intra-period", -1, "-threads", 1, "-y", out,
           weights=weights_path)
    assert p.returncode == 0, p.stderr
    pipe = run_cli("encode", "-i", clip9, "-q", 5, "--intra-period", -1, weights=weights_path)
    assert pipe.returncode == 0, pipe.stderr
    assert out.read_bytes() == pipe.stdout
    packets, units = read_packets(pipe.stdout), units_of(pipe.stdout)
    assert {p.quality_length for p, _ in packets} == {2} and len(packets) == 9
    assert {u[0] >> 1 & 3 for u in units} == {0, 2}  # stated (frames 0 and 8) and elided
    # a unit's body is the raw packet's (quality + data, length L): the CRC follows from it
    assert {compact.crc_size(compact.carries_index(p.frame_type, p.frame_index), len(u) - 1)
            for (p, _), u in zip(packets, units)} >= {2, 4}  # CRC-8: the -quality 1 P frames of the other tests
    assert ff("-i", out, "-c", "copy", "-y", mkv, weights=weights_path).returncode == 0
    assert ff("-i", mkv, "-c", "copy", "-y", back, weights=weights_path).returncode == 0
    assert back.read_bytes() == pipe.stdout
    p = decode_raw(mkv, weights_path)
    want = run_cli("decode", input=pipe.stdout, weights=weights_path)
    assert p.returncode == 0 and want.returncode == 0, p.stderr
    assert p.stdout == y4m_to_raw(want.stdout)


def test_version_4_streams_are_read_and_copied(pipe_stream, pipe_pixels, weights_path, tmp_path):
    """A version-4 .gvc (82-byte header, whole packets as AVPackets) decodes to the same pixels and
    goes through Matroska by stream copy unchanged."""
    v4 = tmp_path / "v4.gvc"
    v4.write_bytes(version_4(pipe_stream))
    sizes = [int(q["size"]) for q in ffprobe_packets(v4, weights_path)]
    assert sizes == [14 + len(p.payload) for p, _ in read_packets(pipe_stream)]
    p = decode_raw(v4, weights_path)
    assert p.returncode == 0, p.stderr
    assert p.stdout == pipe_pixels
    mkv, back = tmp_path / "v4.mkv", tmp_path / "back.gvc"
    assert ff("-i", v4, "-c", "copy", "-y", mkv, weights=weights_path).returncode == 0
    assert ff("-i", mkv, "-c", "copy", "-y", back, weights=weights_path).returncode == 0
    assert back.read_bytes() == v4.read_bytes()
    p = decode_raw(mkv, weights_path)
    assert p.returncode == 0, p.stderr
    assert p.stdout == pipe_pixels


def test_header_sample_aspect_and_chroma_location(pipe_stream, weights_path, tmp_path):
    """The version-5 header's sample aspect ratio and chroma location reach the stream's parameters."""
    import dataclasses

    from gvc1d_codec.bitstream import StreamHeader

    header, used = StreamHeader.unpack(pipe_stream)
    src = tmp_path / "sar.gvc"
    src.write_bytes(dataclasses.replace(header, sample_aspect=(4, 3), chroma_location="topleft").pack()
                    + pipe_stream[used:])
    p = ff("-v", "error", "-show_entries", "stream=sample_aspect_ratio,chroma_location,color_range,color_space",
           "-of", "json", src, weights=weights_path, exe=FFPROBE)
    assert p.returncode == 0, p.stderr
    s = json.loads(p.stdout)["streams"][0]
    assert (s["sample_aspect_ratio"], s["chroma_location"], s["color_range"], s["color_space"]) == \
        ("4:3", "topleft", "tv", "bt709"), s


def test_bitrate_option_is_rate_control_as_gvc1d_pipe(clip, weights_path, tmp_path):
    """``-b:v 40k`` is gvc1d-pipe's ``-b 40k --lookahead 0`` (one-pass rate control; the plugin reads
    no frames ahead), byte for byte."""
    out = tmp_path / "rc.gvc"
    p = ff("-i", clip, "-c:v", "libgvc1d", "-b:v", "40k", "-intra-period", 2, "-threads", 1, "-y", out,
           weights=weights_path)
    assert p.returncode == 0, p.stderr
    pipe = run_cli("encode", "-i", clip, "-b", "40k", "--lookahead", 0, "--intra-period", 2, weights=weights_path)
    assert pipe.returncode == 0, pipe.stderr
    assert out.read_bytes() == pipe.stdout
    from gvc1d_codec.bitstream import StreamHeader

    assert StreamHeader.unpack(pipe.stdout)[0].quality == 255  # header quality: variable (rate control)


def test_two_pass_through_ffmpegs_pass_log(weights_path, tmp_path):
    """``-b:v 20k -pass 1 -passlogfile P`` writes ffmpeg's log P-0.log from the encoder's stats_out,
    packet by packet: the Python API's first-pass stats file, byte for byte (one line per frame after
    the head), beside its one-pass stream; ``-pass 2`` reads it (stats_in) and writes the Python
    API's second pass, which plain ffmpeg decodes. Without -b:v, or with an empty log, it is refused."""
    from gvc1d_codec import ColorInfo, Encoder
    from gvc1d_codec.ratecontrol import PassStats

    n = 5
    clip = gradient_clip(tmp_path / "c5.y4m", n)
    frames = moving_gradient(W, H, n)
    kw = dict(intra_period=4, weights=weights_path, color=ColorInfo(chroma_location="center"))  # C420jpeg
    py1 = Encoder(W, H, bitrate=20000.0, **kw)
    want1 = py1.header_bytes() + b"".join(py1.encode(f) for f in frames)
    stats = py1.pass_stats().dumps()
    py2 = Encoder(W, H, bitrate=20000.0, first_pass=PassStats.loads(stats), **kw)
    want2 = py2.header_bytes() + b"".join(py2.encode(f) for f in frames)

    prefix, out1, out2 = tmp_path / "x", tmp_path / "p1.gvc", tmp_path / "p2.gvc"
    common = ["-i", clip, "-c:v", "libgvc1d", "-b:v", "20k", "-intra-period", 4, "-threads", 1, "-passlogfile", prefix]
    p = ff(*common, "-pass", 1, "-y", out1, weights=weights_path)
    assert p.returncode == 0, p.stderr
    log = Path(f"{prefix}-0.log").read_text()
    assert log == stats and len(log.splitlines()) == 2 + n
    assert out1.read_bytes() == want1
    p = ff(*common, "-pass", 2, "-y", out2, weights=weights_path)
    assert p.returncode == 0, p.stderr
    assert out2.read_bytes() == want2 != want1
    p = decode_raw(out2, weights_path)
    assert p.returncode == 0 and len(p.stdout) == n * W * H * 3 // 2, p.stderr

    p = ff("-i", clip, "-c:v", "libgvc1d", "-pass", 1, "-passlogfile", tmp_path / "q", "-f", "null", "-",
           weights=weights_path)
    assert p.returncode != 0 and "two-pass rate control needs a target bitrate: give -b:v" in p.stderr, p.stderr
    Path(f"{tmp_path / 'e'}-0.log").write_text("")
    p = ff("-i", clip, "-c:v", "libgvc1d", "-b:v", "20k", "-pass", 2, "-passlogfile", tmp_path / "e", "-f", "null", "-",
           weights=weights_path)
    assert p.returncode != 0 and "not a gvc1d first-pass stats file" in p.stderr, p.stderr


# ---- decode: the same pixels as gvc1d-pipe --------------------------------------------------------

@pytest.mark.parametrize("ext", ["gvc", "mkv", "nut"])
def test_plain_ffmpeg_decodes_to_gvc1d_pipe_pixels(encoded, pipe_pixels, weights_path, ext):
    p = decode_raw(encoded[ext], weights_path)
    assert p.returncode == 0, p.stderr
    assert len(p.stdout) == FRAMES * W * H * 3 // 2
    assert p.stdout == pipe_pixels


def test_decode_pipe_stream_and_timestamps(pipe_stream, weights_path, tmp_path):
    """A gvc1d-pipe stream, from a file and from a pipe (probed by its magic); pts 0, 1, 2 in 1/fps."""
    src = tmp_path / "in.gvc"
    src.write_bytes(pipe_stream)
    p = ff("-i", src, "-f", "framecrc", "-", weights=weights_path)
    assert p.returncode == 0, p.stderr
    lines = [ln for ln in p.stdout.decode().splitlines() if not ln.startswith("#")]
    assert [ln.split(",")[2].strip() for ln in lines] == ["0", "1", "2"], lines
    p = subprocess.run(f"cat {src} | {FFMPEG} -nostdin -hide_banner -i - -f rawvideo -", shell=True,
                       capture_output=True, env=env(weights_path), timeout=300)
    assert p.returncode == 0, p.stderr.decode(errors="replace")
    assert len(p.stdout) == FRAMES * W * H * 3 // 2


# ---- errors ---------------------------------------------------------------------------------------

def test_truncated_file_gives_clean_error_and_complete_frames(pipe_stream, pipe_pixels, weights_path, tmp_path):
    bad = tmp_path / "cut.gvc"
    bad.write_bytes(pipe_stream[:-7])  # the last packet (an I frame) loses its CRC-32 and 3 payload bytes
    size = read_packets(pipe_stream)[-1][1]
    p = decode_raw(bad, weights_path)
    assert "Traceback" not in p.stderr
    errors = [ln for ln in p.stderr.splitlines() if "truncated .gvc stream" in ln]
    assert len(errors) == 1 and f"in frame 2 ({size - 7} of {size} packet bytes)" in errors[0], p.stderr
    assert "Invalid data found when processing input" in p.stderr  # AVERROR_INVALIDDATA, reported by ffmpeg
    frame = W * H * 3 // 2
    assert p.stdout == pipe_pixels[:2 * frame]


def test_bad_magic_and_header_crc_are_refused(pipe_stream, weights_path, tmp_path):
    bad = tmp_path / "magic.gvc"
    bad.write_bytes(b"GVC9" + pipe_stream[4:])
    p = ff("-f", "gvc", "-i", bad, "-f", "null", "-", weights=weights_path)
    assert p.returncode != 0 and "bad magic" in p.stderr, p.stderr
    crc = tmp_path / "crc.gvc"
    crc.write_bytes(pipe_stream[:8] + bytes([pipe_stream[8] ^ 1]) + pipe_stream[9:])
    p = ff("-i", crc, "-f", "null", "-", weights=weights_path)
    assert p.returncode != 0 and "header CRC mismatch" in p.stderr, p.stderr


def test_foreign_weights_error_is_logged_once(encoded, other_weights_path):
    """The library's own message reaches the log once, as an AVERROR."""
    p = decode_raw(encoded["gvc"], other_weights_path)
    assert p.returncode != 0
    lines = [ln for ln in p.stderr.splitlines() if "cannot open the gvc1d decoder" in ln]
    assert len(lines) == 1, p.stderr
    assert "Traceback" not in p.stderr


# ---- ffprobe --------------------------------------------------------------------------------------

@pytest.mark.parametrize("ext", ["gvc", "mkv"])
def test_ffprobe_shows_codec_size_rate_and_frames(clip, encoded, weights_path, ext):
    p = ff("-v", "error", "-count_frames", "-select_streams", "v:0", "-show_entries",
           "stream=codec_name,width,height,r_frame_rate,nb_read_frames", "-of", "json", encoded[ext],
           weights=weights_path, exe=FFPROBE)
    assert p.returncode == 0, p.stderr
    s = json.loads(p.stdout)["streams"][0]
    fps = clip.read_bytes()[:80].split(b" F")[1].split(b" ")[0].decode().replace(":", "/")
    assert s == {"codec_name": "gvc1d", "width": W, "height": H, "r_frame_rate": fps,
                 "nb_read_frames": str(FRAMES)}, s


def test_rgb24_input_identical_to_gvc1d_pipe(clip, weights_path, tmp_path):
    """-pix_fmt rgb24 reaches the library as rgb24 (no conversion in between): the bytes of
    gvc1d-pipe encode --pix-fmt rgb24 on the same RGB frames; decoded back as rgb24."""
    rgb = tmp_path / "clip.rgb"
    p = ff("-i", clip, "-pix_fmt", "rgb24", "-f", "rawvideo", "-y", rgb, weights=weights_path)
    assert p.returncode == 0, p.stderr
    fps = clip.read_bytes()[:80].split(b" F")[1].split(b" ")[0].decode().replace(":", "/")
    want = run_cli("encode", "-i", rgb, "-s", f"{W}x{H}", "--pix-fmt", "rgb24", "-r", fps, weights=weights_path)
    assert want.returncode == 0, want.stderr
    out = tmp_path / "rgb.gvc"
    p = ff("-i", clip, "-pix_fmt", "rgb24", "-c:v", "libgvc1d", "-y", out, weights=weights_path)
    assert p.returncode == 0, p.stderr
    assert out.read_bytes() == want.stdout
    p = ff("-i", out, "-f", "rawvideo", "-", weights=weights_path)
    assert p.returncode == 0, p.stderr
    assert "rgb24" in p.stderr and len(p.stdout) == FRAMES * W * H * 3


@needs_ffmpeg
def test_readme_command_lines_mp4_with_audio_to_mkv_and_back(weights_path, tmp_path):
    """`ffmpeg -i in.mp4 -c:v libgvc1d out.mkv` and `ffmpeg -i out.mkv out.mp4`, with an audio track
    (in.mp4: H.264 + AAC, made by the system's ffmpeg)."""
    src = tmp_path / "in.mp4"
    p = subprocess.run(["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i",
                        "testsrc2=size=48x32:rate=10", "-f", "lavfi", "-i", "sine=frequency=440",
                        "-t", "0.3", "-pix_fmt", "yuv420p", "-c:a", "aac", str(src)], capture_output=True)
    if p.returncode != 0:
        pytest.skip(f"the system's ffmpeg cannot write H.264/AAC mp4: {p.stderr.decode(errors='replace')[-300:]}")
    mkv, mp4 = tmp_path / "out.mkv", tmp_path / "out.mp4"
    p = ff("-i", src, "-c:v", "libgvc1d", mkv, weights=weights_path)
    assert p.returncode == 0, p.stderr
    assert "gvc1d (libgvc1d)" in p.stderr
    p = ff("-i", mkv, mp4, weights=weights_path)
    assert p.returncode == 0, p.stderr
    p = ff("-v", "error", "-show_entries", "stream=codec_name,nb_frames", "-of", "json", mp4,
           weights=weights_path, exe=FFPROBE)
    streams = json.loads(p.stdout)["streams"]
    # mp4's default video encoder: libx264 when the build has it, else mpeg4
    assert [s["codec_name"] for s in streams] in (["mpeg4", "aac"], ["h264", "aac"]), streams
    assert streams[0]["nb_frames"] == "3", streams


def test_seeked_gvc1d_stream(encoded, pipe_stream, pipe_pixels, weights_path, tmp_path):
    """Units carry no frame index: after -ss to the intra frame 2 the stream decodes from there (to
    the pixels of gvc1d-pipe's frame 2) and copies to a .gvc that starts at that frame, renumbered
    from 0 (docs/bitstream.md, "Units in containers"); a copy that would start at a P frame is
    refused by the gvc muxer."""
    from gvc1d_codec.bitstream import compact

    fps = int(json.loads(ff("-v", "error", "-show_entries", "stream=r_frame_rate", "-of", "json", encoded["mkv"],
                            weights=weights_path, exe=FFPROBE).stdout)["streams"][0]["r_frame_rate"].split("/")[0])
    ss = f"{2.4 / fps:.4f}"  # just after the intra frame 2 (intra period 2): the seek lands on it
    cut = tmp_path / "cut.gvc"
    p = ff("-ss", ss, "-i", encoded["mkv"], "-c", "copy", "-y", cut, weights=weights_path)
    assert p.returncode == 0, p.stderr
    header_size = 7 + int.from_bytes(pipe_stream[5:7], "little")
    last, size = read_packets(pipe_stream)[2]
    assert last.frame_type == "I"
    frame = compact.frame("I", 0, last.payload, last.quality_length, compact.Elision())
    assert cut.read_bytes() == pipe_stream[:header_size] + frame and len(frame) == size
    frame_bytes = W * H * 3 // 2
    for src in (encoded["mkv"], cut):
        seek = ("-noaccurate_seek", "-ss", ss) if src != cut else ()  # keep frame 2, before ss
        p = ff(*seek, "-i", src, "-f", "rawvideo", "-pix_fmt", "yuv420p", "-", weights=weights_path)
        assert p.returncode == 0 and "Traceback" not in p.stderr, p.stderr
        assert p.stdout == pipe_pixels[2 * frame_bytes:], src
    # the P frame 1 first (an output -ss copies from frame 1 on; -copyinkf keeps the non-key start)
    p = ff("-i", encoded["mkv"], "-c", "copy", "-copyinkf", "-ss", f"{0.9 / fps:.4f}", "-y", tmp_path / "p.gvc",
           weights=weights_path)
    assert p.returncode != 0 and "gvc1d unit of a P frame where frame 0 belongs" in p.stderr, p.stderr


# ---- random access, MP4, the quality option, the external codecs ---------------------------------

SEEK_FRAMES, SEEK_PERIOD = 40, 8  # 1.6 s at 25 fps, an intra frame every 8: -ss 1 (frame 25) lands mid-period
FRAME_BYTES = W * H * 3 // 2


@pytest.fixture(scope="module")
def seekable(weights_path, tmp_path_factory) -> dict:
    """40 frames encoded with -quality 5 (the enhancement layer: every frame's picture differs)
    -intra-period 8 into .gvc, copied into .mkv, .mp4 and .nut, and the full decode's frames."""
    d = tmp_path_factory.mktemp("ffseek")
    src = gradient_clip(d / "clip40.y4m", SEEK_FRAMES)
    files = {"gvc": d / "s.gvc"}
    p = ff("-i", src, "-c:v", "libgvc1d", "-quality", 5, "-intra-period", SEEK_PERIOD, "-y", files["gvc"],
           weights=weights_path)
    assert p.returncode == 0, p.stderr
    for ext in ("mkv", "mp4", "nut"):
        files[ext] = d / f"s.{ext}"
        p = ff("-i", files["gvc"], "-c", "copy", "-y", files[ext], weights=weights_path)
        assert p.returncode == 0, p.stderr
    p = decode_raw(files["gvc"], weights_path)
    assert p.returncode == 0, p.stderr
    frames = split_frames(p.stdout)
    assert len(frames) == SEEK_FRAMES and len(set(frames)) == SEEK_FRAMES
    return {"files": files, "frames": frames, "dir": d}


def split_frames(raw: bytes) -> list[bytes]:
    return [raw[k:k + FRAME_BYTES] for k in range(0, len(raw), FRAME_BYTES)]


def frame_numbers(raw: bytes, frames: list[bytes]) -> list[int | None]:
    """Which frames of the full decode ``raw`` holds, in order (None: a picture not among them)."""
    return [frames.index(f) if f in frames else None for f in split_frames(raw)]


@pytest.mark.parametrize("ext", ["gvc", "mkv", "mp4", "nut"])
def test_seek_decodes_the_frames_of_the_full_decode(seekable, weights_path, ext):
    """``ffmpeg -ss 1 -i X -frames:v 5``: the demuxer seeks to the intra frame 24 (the .gvc demuxer
    by its index, scanning the packet headers from the start; Matroska by its cues, MP4 by its sync
    samples), the decoder restarts there and the pictures are those of frames 25..29 of the full
    decode, byte for byte; -noaccurate_seek shows the seek itself (frames from 24 on)."""
    frames, src = seekable["frames"], seekable["files"][ext]
    for ss, first in (("1", 25), ("0.5", 13), ("1.3", 33)):
        p = ff("-ss", ss, "-i", src, "-frames:v", 5, "-f", "rawvideo", "-pix_fmt", "yuv420p", "-",
               weights=weights_path)
        assert p.returncode == 0, p.stderr
        assert frame_numbers(p.stdout, frames) == list(range(first, first + 5)), (ss, p.stderr)
    p = ff("-noaccurate_seek", "-ss", "1", "-i", src, "-frames:v", 3, "-f", "rawvideo", "-", weights=weights_path)
    assert p.returncode == 0, p.stderr
    assert frame_numbers(p.stdout, frames) == [24, 25, 26]


@pytest.mark.parametrize("ext", ["gvc", "mkv", "mp4"])
def test_cut_by_stream_copy_starts_at_an_intra_frame(seekable, weights_path, tmp_path, ext):
    """``ffmpeg -ss 1.1 -i X -c copy cut.gvc`` / ``cut.mkv``: the copy starts at the intra frame 24
    and decodes on its own to the frames 24..39 of the full decode."""
    frames = seekable["frames"]
    for out_ext in ("gvc", "mkv"):
        cut = tmp_path / f"cut.{out_ext}"
        p = ff("-ss", "1.1", "-i", seekable["files"][ext], "-c", "copy", "-y", cut, weights=weights_path)
        assert p.returncode == 0, p.stderr
        if out_ext == "gvc":
            packets = read_packets(cut.read_bytes())
            assert len(packets) == 16 and packets[0][0].frame_type == "I" and packets[0][0].frame_index == 0
        p = decode_raw(cut, weights_path)
        assert p.returncode == 0, p.stderr
        assert frame_numbers(p.stdout, frames) == list(range(24, 40)), out_ext


def test_decoder_waits_for_an_intra_frame_and_restarts_after_a_flush(seekable, weights_path, tmp_path):
    """A stream that starts with P frames (copied with -copyinkf from frame 5): the decoder drops them
    and starts at the intra frame 8; -stream_loop 1 (a seek back and a decoder flush at the end of
    the first pass) decodes the stream twice, both times to the full decode's frames."""
    frames = seekable["frames"]
    pstart = tmp_path / "pstart.mkv"
    p = ff("-i", seekable["files"]["mkv"], "-c", "copy", "-copyinkf", "-ss", "0.2", "-y", pstart, weights=weights_path)
    assert p.returncode == 0, p.stderr
    p = ff("-v", "verbose", "-i", pstart, "-f", "rawvideo", "-", weights=weights_path)
    assert p.returncode == 0, p.stderr
    assert frame_numbers(p.stdout, frames) == list(range(8, 40))
    assert "3 P frame(s) dropped" in p.stderr, p.stderr
    for ext in ("gvc", "mkv", "mp4"):
        p = ff("-stream_loop", 1, "-i", seekable["files"][ext], "-f", "rawvideo", "-", weights=weights_path)
        assert p.returncode == 0, p.stderr
        assert frame_numbers(p.stdout, frames) == list(range(40)) * 2, ext


def test_seek_in_version_4_streams(seekable, weights_path, tmp_path):
    """Version-4 packets state their index: the .gvc demuxer scans them and the decoder restarts at the
    packet's own index (also from Matroska, whose timestamps need not be frame numbers)."""
    v4 = tmp_path / "v4.gvc"
    v4.write_bytes(version_4(seekable["files"]["gvc"].read_bytes()))
    mkv = tmp_path / "v4.mkv"
    assert ff("-i", v4, "-c", "copy", "-y", mkv, weights=weights_path).returncode == 0
    # version 4 has no extended range: its layer's pictures are clamped, so its own full decode is the reference
    full = decode_raw(v4, weights_path)
    assert full.returncode == 0, full.stderr
    frames = split_frames(full.stdout)
    assert len(set(frames)) == SEEK_FRAMES
    for src in (v4, mkv):
        p = ff("-ss", "1", "-i", src, "-frames:v", 5, "-f", "rawvideo", "-", weights=weights_path)
        assert p.returncode == 0, p.stderr
        assert frame_numbers(p.stdout, frames) == list(range(25, 30)), src


def packet_digests(path: Path, weights) -> list[tuple[str, str, str]]:
    """(size, MD5) of every packet, as ``-c copy -f framemd5`` lists them."""
    p = ff("-i", path, "-c", "copy", "-f", "framemd5", "-", weights=weights)
    assert p.returncode == 0, p.stderr
    rows = [line.split(",") for line in p.stdout.decode().splitlines() if line and not line.startswith("#")]
    return [tuple(c.strip() for c in (r[4], r[5])) for r in rows]


def test_mp4_sample_entry_and_stream_copy(clip, encoded, pipe_stream, seekable, weights_path, tmp_path):
    """MP4/MOV: sample entry 'gvc1' with the stream header in its 'gvcC' box, samples = units.
    ``-c:v libgvc1d out.mp4`` writes it; ``-c copy`` between .mp4, .mov, .mkv and .gvc keeps every
    packet byte for byte (and the .gvc bytes come back); the .mp4 decodes to gvc1d-pipe's pixels."""
    out = tmp_path / "out.mp4"
    p = ff("-i", clip, "-c:v", "libgvc1d", "-quality", 1, "-intra-period", 2, "-y", out, weights=weights_path)
    assert p.returncode == 0, p.stderr
    header_size = 7 + int.from_bytes(pipe_stream[5:7], "little")
    data = out.read_bytes()
    box = data.index(b"gvcC")
    assert data[box - 4:box] == (8 + header_size).to_bytes(4, "big") and b"gvc1" in data[:box]
    assert data[box + 4:box + 4 + header_size] == pipe_stream[:header_size]
    p = ff("-v", "error", "-show_entries", "stream=codec_name,codec_tag_string,width,height", "-of", "json", out,
           weights=weights_path, exe=FFPROBE)
    s = json.loads(p.stdout)["streams"][0]
    assert (s["codec_name"], s["codec_tag_string"], s["width"], s["height"]) == ("gvc1d", "gvc1", W, H)
    back = tmp_path / "back.gvc"
    assert ff("-i", out, "-c", "copy", "-y", back, weights=weights_path).returncode == 0
    assert back.read_bytes() == pipe_stream
    p = decode_raw(out, weights_path)
    assert p.returncode == 0, p.stderr
    assert p.stdout == decode_raw(encoded["gvc"], weights_path).stdout
    # the 40-frame stream: .gvc -> .mp4 -> .mkv -> .mov -> .gvc, every packet unchanged
    src = seekable["files"]["gvc"]
    want = packet_digests(src, weights_path)
    chain = [seekable["files"]["mp4"], tmp_path / "c.mkv", tmp_path / "c.mov", tmp_path / "c.gvc"]
    for a, b in zip(chain, chain[1:]):
        p = ff("-i", a, "-c", "copy", "-y", b, weights=weights_path)
        assert p.returncode == 0, p.stderr
    for path in chain:
        assert packet_digests(path, weights_path) == want, path
    assert chain[-1].read_bytes() == src.read_bytes()


def test_quality_between_levels(clip, weights_path, tmp_path):
    """``-quality 1.5`` (an AVOption double) is gvc1d-pipe's ``-q 1.5``, byte for byte."""
    out = tmp_path / "q15.gvc"
    p = ff("-i", clip, "-c:v", "libgvc1d", "-quality", 1.5, "-intra-period", 2, "-threads", 1, "-y", out,
           weights=weights_path)
    assert p.returncode == 0, p.stderr
    pipe = run_cli("encode", "-i", clip, "-q", 1.5, "--intra-period", 2, weights=weights_path)
    assert pipe.returncode == 0, pipe.stderr
    assert out.read_bytes() == pipe.stdout
    from gvc1d_codec.bitstream import StreamHeader

    assert StreamHeader.unpack(pipe.stdout)[0].quality == 24  # the header's code: 16 x 1.5


def test_preset_option_is_gvc1d_pipes(clip, weights_path, motion_weights_path, tmp_path):
    """``-preset slow`` is gvc1d-pipe's ``--preset slow``, byte for byte: with a model that has the
    conv decoder, a stream of entropy model 9 (decoder updates), not medium's 8; an unknown preset
    is refused with the library's message."""
    from gvc1d_codec.bitstream import StreamHeader
    from gvc1d_codec.entropy.definition import ENTROPY_MODEL_ID, UNADAPTED_ID

    out = tmp_path / "slow.gvc"
    p = ff("-i", clip, "-frames:v", 2, "-c:v", "libgvc1d", "-quality", 1, "-preset", "slow", "-threads", 1, "-y", out,
           weights=motion_weights_path)
    assert p.returncode == 0, p.stderr
    slow = run_cli("encode", "-i", clip, "--frames", 2, "-q", 1, "--preset", "slow", "--threads", 1,
                   weights=motion_weights_path)
    medium = run_cli("encode", "-i", clip, "--frames", 2, "-q", 1, "--threads", 1, weights=motion_weights_path)
    assert slow.returncode == medium.returncode == 0, (slow.stderr, medium.stderr)
    assert out.read_bytes() == slow.stdout
    assert StreamHeader.unpack(slow.stdout)[0].entropy_model_id == ENTROPY_MODEL_ID
    assert StreamHeader.unpack(medium.stdout)[0].entropy_model_id == UNADAPTED_ID
    p = ff("-i", clip, "-frames:v", 1, "-c:v", "libgvc1d", "-preset", "turbo", "-y", tmp_path / "x.gvc",
           weights=weights_path)
    assert p.returncode != 0 and "unknown preset 'turbo'" in p.stderr


def _pkg_config_has(name: str) -> bool:
    import shutil

    return shutil.which("pkg-config") is not None and subprocess.run(
        ["pkg-config", "--exists", name], capture_output=True).returncode == 0


@pytest.mark.skipif(not _pkg_config_has("x264"), reason="pkg-config finds no x264 (build.sh enables libx264 then)")
def test_libx264_in_the_build(clip, weights_path, tmp_path):
    """build.sh enables libx264 when pkg-config finds it: ``-c:v libx264`` works in the built ffmpeg."""
    out = tmp_path / "x264.mp4"
    p = ff("-i", clip, "-c:v", "libx264", "-y", out, weights=weights_path)
    assert p.returncode == 0, p.stderr
    p = ff("-v", "error", "-count_frames", "-show_entries", "stream=codec_name,nb_read_frames", "-of", "json", out,
           weights=weights_path, exe=FFPROBE)
    s = json.loads(p.stdout)["streams"][0]
    assert (s["codec_name"], s["nb_read_frames"]) == ("h264", str(FRAMES)), s
