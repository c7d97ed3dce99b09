"""gvc1d inside FFmpeg (ffbridge/ffmpeg/): the libavcodec ``libgvc1d`` encoder and decoder, the raw
``gvc`` demuxer/muxer and gvc1d in Matroska and NUT, through the ffmpeg that
``ffbridge/ffmpeg/build.sh`` builds.

``ffmpeg -c:v libgvc1d`` must write the bytes ``gvc1d-pipe encode`` writes for the same input and
settings, and plain ``ffmpeg -i`` must decode to the pixels ``gvc1d-pipe decode`` gives. Skipped,
with the reason, when that ffmpeg has not been built (ffbridge/ffmpeg/build.sh builds it).
"""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from conftest import REPO, needs_ffmpeg, run_cli

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


@pytest.fixture(scope="module")
def clip(real_clip_path, weights_path, tmp_path_factory) -> Path:
    """3 frames of cisco_2people cropped to 64x48, as Y4M (written by the built ffmpeg)."""
    out = tmp_path_factory.mktemp("ffplugin") / "clip.y4m"
    p = ff("-i", real_clip_path, "-vf", f"crop={W}:{H}:128:64", "-frames:v", FRAMES, "-pix_fmt", "yuv420p",
           "-f", "yuv4mpegpipe", "-y", out, weights=weights_path)
    assert p.returncode == 0, p.stderr
    return out


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


def test_bitrate_option_is_rate_control_as_gvc1d_pipe(clip, weights_path, tmp_path):
    """``-b:v 40k`` is gvc1d-pipe's ``-b 40k`` (one-pass rate control), byte for byte."""
    out = tmp_path / "rc.gvc"
    p = ff("-i", clip, "-c:v", "libgvc1d", "-b:v", "40k", "-intra-period", 2, "-threads", 1, "-y", out,
           weights=weights_path)
    assert p.returncode == 0, p.stderr
    pipe = run_cli("encode", "-i", clip, "-b", "40k", "--intra-period", 2, weights=weights_path)
    assert pipe.returncode == 0, pipe.stderr
    assert out.read_bytes() == pipe.stdout
    assert pipe.stdout[22] == 255  # header quality: variable (rate control)


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
    bad.write_bytes(pipe_stream[:-7])  # the last packet loses its CRC and 3 payload bytes
    p = decode_raw(bad, weights_path)
    assert "Traceback" not in p.stderr
    errors = [ln for ln in p.stderr.splitlines() if "truncated .gvc stream" in ln]
    assert len(errors) == 1 and "in frame 2 (236 of 243 packet bytes)" in errors[0], p.stderr
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


def test_seeked_gvc1d_stream_is_refused_cleanly(encoded, weights_path, tmp_path):
    """gvc1d decodes only from frame 0 on: after -ss to the intra frame 2 the muxer refuses to write
    a .gvc that could not be decoded, and the decoder reports the packet it cannot take (once)."""
    fps = int(json.loads(ff("-v", "error", "-show_entries", "stream=r_frame_rate", "-of", "json", encoded["mkv"],
                            weights=weights_path, exe=FFPROBE).stdout)["streams"][0]["r_frame_rate"].split("/")[0])
    ss = f"{2.4 / fps:.4f}"  # just after the intra frame 2 (intra period 2): the seek lands on it
    p = ff("-ss", ss, "-i", encoded["mkv"], "-c", "copy", "-y", tmp_path / "cut.gvc", weights=weights_path)
    assert p.returncode != 0 and "gvc1d packet of frame 2 where frame 0 belongs" in p.stderr, p.stderr
    p = ff("-ss", ss, "-i", encoded["mkv"], "-f", "null", "-", weights=weights_path)
    assert p.returncode != 0 and "Traceback" not in p.stderr
    assert len([ln for ln in p.stderr.splitlines() if "gvc1d decode: frame index 2 out of order" in ln]) == 1, p.stderr
