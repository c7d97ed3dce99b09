"""Specification of gvc1d-pipe, run as a user runs it: subprocesses and real FFmpeg pipes.

stdout carries only data; a successful encode or decode ends with one summary line on stderr (no progress unless asked
for or on a terminal). Every failure is exactly one stderr line ``gvc1d-pipe: error: ...`` with a
non-zero exit status and never a traceback; an output file appears only when complete.
"""
from __future__ import annotations

import io
import re
import signal
from pathlib import Path

import numpy as np
import pytest

from conftest import (
    ERROR_PREFIX,
    assert_cli_error,
    moving_gradient,
    needs_ffmpeg,
    raw_bytes,
    run_cli,
    run_shell,
    y4m_bytes,
)
from gvc1d_codec.bitstream import PacketReader, read_header
from gvc1d_codec.io import Y4MReader
from gvc1d_codec.quality import ENHANCEMENT_LEVELS

pytestmark = needs_ffmpeg

FFMPEG = "ffmpeg -nostdin -hide_banner -loglevel error"
W, H = 35, 21  # odd in both directions
YUV_BYTES = W * H + 2 * ((W + 1) // 2) * ((H + 1) // 2)


def y4m_frames(data: bytes) -> list:
    return list(Y4MReader(io.BytesIO(data)))


def packet_offsets(stream: bytes) -> list[tuple[int, int]]:
    """(start, size) of every packet of a .gvc stream."""
    src = io.BytesIO(stream)
    reader = PacketReader(src, read_header(src))
    out, pos = [], src.tell()
    for _ in reader:
        out.append((pos, reader.last_size))
        pos += reader.last_size
    return out


SUMMARY = re.compile(r"(encode|decode): \d+ frames in \d+\.\d s \(\d+\.\d\d fps\), \d+ bytes, "
                     r"\d+\.\d kbit/s, \d+\.\d{4} bpp")


def only_summaries(stderr: str, *commands: str) -> bool:
    """stderr holds exactly one summary line per command, as x265 ends its runs."""
    lines = stderr.splitlines()
    return len(lines) == len(commands) and all(SUMMARY.fullmatch(ln) and ln.startswith(c) for ln, c in zip(lines, commands))


def no_leftovers(directory: Path, name: str) -> bool:
    return not any(p.name == name or p.name.startswith(f".{name}.partial") for p in directory.iterdir())


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("cli")


@pytest.fixture(scope="module")
def clip_gvc(work, real_clip_path) -> Path:
    """The real clip through ``ffmpeg -f yuv4mpegpipe - | gvc1d-pipe encode --frames 4 -o clip.gvc``."""
    # ffmpeg's stderr is dropped: it reports the broken pipe when encode stops after 4 frames
    proc = run_shell(f"{FFMPEG} -i {real_clip_path} -f yuv4mpegpipe - 2>/dev/null | $GVC encode --frames 4 -o clip.gvc",
                     cwd=work)
    assert proc.returncode == 0, proc.stderr
    assert only_summaries(proc.stderr, "encode"), proc.stderr  # stderr is not a terminal: no progress, one summary
    return work / "clip.gvc"


@pytest.fixture(scope="module")
def small_y4m() -> bytes:
    return y4m_bytes(moving_gradient(W, H, 2))


# ---- encode and decode through FFmpeg -------------------------------------------------------------

def test_ffmpeg_y4m_pipe_encodes_and_decodes_back_through_ffmpeg(clip_gvc, work):
    proc = run_shell(f"$GVC decode -i {clip_gvc} --quiet | {FFMPEG} -f yuv4mpegpipe -i - -f rawvideo -pix_fmt yuv420p -",
                     cwd=work)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""  # --quiet: nothing but errors
    assert len(proc.stdout) == 4 * (320 * 192 * 3 // 2)


def test_frames_option_stops_after_n_frames(clip_gvc):
    header = read_header(io.BytesIO(clip_gvc.read_bytes()))
    src = io.BytesIO(clip_gvc.read_bytes())
    packets = list(PacketReader(src, read_header(src)))
    assert (header.width, header.height, header.fps_num, header.fps_den) == (320, 192, 12, 1)
    assert [p.frame_type for p in packets] == ["I", "P", "P", "P"]


def test_info_describes_the_stream_and_its_bits_per_pixel(clip_gvc):
    proc = run_cli("info", clip_gvc)
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout.decode()
    assert "size            320x192" in text
    assert "frame rate      12/1" in text
    assert "source format   yuv420p (bt709, limited range, extended: samples outside the RGB cube kept)" in text
    assert "layer steps     wide (238 .. 4)" in text
    size = clip_gvc.stat().st_size
    last = text.strip().splitlines()[-1]
    header = int(next(line for line in text.splitlines() if line.startswith("header ")).split()[1])
    rows = [line.split() for line in text.splitlines() if line[:5].strip().isdigit()]
    framing = header + sum(int(r[4]) for r in rows)
    assert last == (f"frames 4, {size} bytes, {8 * size / (320 * 192 * 4):.4f} bpp; header and framing "
                    f"{framing} bytes ({100 * framing / size:.1f}%)")
    assert [r[1] for r in rows] == ["I", "P", "P", "P"]
    assert "quality         2\n" in text and [r[2] for r in rows] == ["2"] * 4  # the default level
    assert header + sum(int(r[3]) for r in rows) == size
    assert [int(o[1]) for o in packet_offsets(clip_gvc.read_bytes())] == [int(r[3]) for r in rows]
    assert all(int(r[4]) <= (12 if r[1] == "I" or int(r[0]) % 8 == 0 else 5) for r in rows)  # compact framing


def test_bitrate_rate_control_and_info_per_frame_quality(work, real_clip_path):
    """``-b`` codes each frame at the quality rate control chose; info shows it per frame."""
    proc = run_shell(f"{FFMPEG} -i {real_clip_path} -f yuv4mpegpipe - 2>/dev/null | "
                     "$GVC encode --frames 6 --intra-period 3 -b 60k -o rc.gvc", cwd=work)
    assert proc.returncode == 0, proc.stderr
    text = run_cli("info", work / "rc.gvc").stdout.decode()
    assert "quality         variable (rate control)" in text
    rows = [line.split() for line in text.splitlines() if line[:5].strip().isdigit()]
    assert len(rows) == 6 and all(0 <= float(r[2]) <= 3 for r in rows)
    proc = run_cli("decode", "-i", work / "rc.gvc", "-o", work / "rc.y4m")
    assert proc.returncode == 0, proc.stderr
    assert len(y4m_frames((work / "rc.y4m").read_bytes())) == 6


@pytest.mark.parametrize("args, message", [
    (["-q", "1", "-b", "50k"], "not allowed with"),
    (["-b", "fast"], "not a number of bits per second"),
    (["-b=-5k"], "must be positive"),
    (["-q", "7.5"], "quality 7.5 out of range"),
])
def test_bad_rate_options_are_one_line_errors(work, small_y4m, args, message):
    assert_cli_error(run_cli("encode", *args, "-o", work / "bad.gvc", input=small_y4m), message)


def test_info_qualities_lists_one_integer_per_line(loaded):
    proc = run_cli("info", "--qualities")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.decode().splitlines() == [str(q) for q in range(loaded.config.qualities + ENHANCEMENT_LEVELS)]


def test_raw_yuv420p_input_with_size_and_rate(work):
    frames = moving_gradient(W, H, 3)
    proc = run_cli("encode", "-s", f"{W}x{H}", "--pix-fmt", "yuv420p", "-r", "30000/1001", "-o", "raw.gvc",
                   input=raw_bytes(frames), cwd=work)
    assert proc.returncode == 0, proc.stderr
    h = read_header(io.BytesIO((work / "raw.gvc").read_bytes()))
    assert (h.width, h.height, h.pix_fmt, h.fps_num, h.fps_den) == (W, H, "yuv420p", 30000, 1001)
    proc = run_cli("decode", "-i", "raw.gvc", "--output-format", "rawvideo", cwd=work)
    assert proc.returncode == 0, proc.stderr
    assert len(proc.stdout) == 3 * YUV_BYTES


def test_raw_rgb24_input_and_rgb24_rawvideo_output(work):
    frames = moving_gradient(W, H, 2, "rgb24")
    proc = run_cli("encode", "-s", f"{W}x{H}", "--pix-fmt", "rgb24", "-r", "25", "-o", "rgb.gvc",
                   input=raw_bytes(frames), cwd=work)
    assert proc.returncode == 0, proc.stderr
    assert read_header(io.BytesIO((work / "rgb.gvc").read_bytes())).pix_fmt == "rgb24"
    proc = run_cli("decode", "-i", "rgb.gvc", "--output-format", "rawvideo", "--pix-fmt", "rgb24", cwd=work)
    assert proc.returncode == 0, proc.stderr
    assert len(proc.stdout) == 2 * W * H * 3


def test_odd_size_streams_through_one_pipeline_ffmpeg_encode_decode_ffmpeg(work):
    """``ffmpeg | encode -o - | decode | ffmpeg``: the .gvc never touches the disk."""
    proc = run_shell(
        f"set -o pipefail; {FFMPEG} -f lavfi -i testsrc=size={W}x{H}:rate=25 -frames:v 3 -pix_fmt yuv420p "
        f"-f yuv4mpegpipe - | $GVC encode -o - | $GVC decode | {FFMPEG} -f yuv4mpegpipe -i - -f rawvideo "
        f"-pix_fmt yuv420p -", cwd=work)
    assert proc.returncode == 0, proc.stderr
    assert only_summaries("\n".join(sorted(proc.stderr.splitlines())), "decode", "encode"), proc.stderr
    assert len(proc.stdout) == 3 * YUV_BYTES


def test_decode_writes_y4m_that_names_size_and_rate(work, small_y4m):
    enc = run_cli("encode", input=small_y4m)
    assert enc.returncode == 0, enc.stderr
    dec = run_cli("decode", input=enc.stdout)
    assert dec.returncode == 0, dec.stderr
    assert dec.stdout.startswith(f"YUV4MPEG2 W{W} H{H} F25:1".encode())
    frames = y4m_frames(dec.stdout)
    assert len(frames) == 2 and frames[0].width == W and frames[0].height == H


def test_y4m_magic_split_across_pipe_reads_is_still_y4m(work, small_y4m):
    """A pipe may deliver the first bytes in pieces: ``YUV4`` now, ``MPEG2 ...`` later."""
    import array
    import fcntl
    import os
    import subprocess
    import termios
    import time

    from conftest import CLI, cli_env

    proc = subprocess.Popen(CLI + ["encode", "-o", "split.gvc"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, cwd=work, env=cli_env())
    fd = proc.stdin.fileno()
    os.write(fd, small_y4m[:4])
    waiting = array.array("i", [0])
    deadline = time.monotonic() + 120
    while True:  # until the encoder has read those 4 bytes: its first read saw only them
        fcntl.ioctl(fd, termios.FIONREAD, waiting)
        if waiting[0] == 0 or time.monotonic() > deadline or proc.poll() is not None:
            break
        time.sleep(0.02)
    time.sleep(0.2)
    try:
        proc.stdin.write(small_y4m[4:])
        proc.stdin.close()
    except BrokenPipeError:  # the encoder gave up early: its stderr says why
        pass
    err = proc.stderr.read().decode()
    proc.stdout.close()
    proc.stderr.close()
    assert proc.wait(timeout=120) == 0, err
    src = io.BytesIO((work / "split.gvc").read_bytes())
    assert len(list(PacketReader(src, read_header(src)))) == 2


# ---- bad input: one error line, non-zero exit, no traceback ---------------------------------------

def test_non_y4m_input_without_size_is_refused(work):
    assert_cli_error(run_cli("encode", "-o", "x.gvc", input=b"\x89PNG\r\n\x1a\n" + bytes(200), cwd=work), "-s WxH")
    assert no_leftovers(work, "x.gvc")


def test_422_y4m_is_refused_with_a_hint(work):
    proc = run_shell(f"{FFMPEG} -f lavfi -i testsrc=size={W}x{H}:rate=25 -frames:v 1 -pix_fmt yuv422p "
                     "-f yuv4mpegpipe - | $GVC encode -o x.gvc", cwd=work)
    assert_cli_error(proc, "4:2:0", "-pix_fmt yuv420p")
    assert no_leftovers(work, "x.gvc")


def test_10_bit_y4m_is_refused_with_a_hint(work):
    proc = run_shell(f"{FFMPEG} -f lavfi -i testsrc=size={W}x{H}:rate=25 -frames:v 1 -pix_fmt yuv420p10le "
                     "-strict -1 -f yuv4mpegpipe - | $GVC encode -o x.gvc", cwd=work)
    assert_cli_error(proc, "bit depth", "-pix_fmt yuv420p")


def test_raw_input_that_is_not_whole_frames_fails_and_leaves_no_output(work):
    data = raw_bytes(moving_gradient(W, H, 3))[: -YUV_BYTES // 2]  # 2.5 frames
    proc = run_cli("encode", "-s", f"{W}x{H}", "-o", "cut.gvc", input=data, cwd=work)
    assert_cli_error(proc, "truncated frame 2")
    assert no_leftovers(work, "cut.gvc"), sorted(p.name for p in work.iterdir())


@pytest.mark.parametrize("raw", [False, True], ids=["y4m", "raw"])
def test_empty_input_is_refused_and_leaves_no_output(work, raw):
    args = ["-s", f"{W}x{H}"] if raw else []
    proc = run_cli("encode", *args, "-o", "empty.gvc", input=b"", cwd=work)
    assert_cli_error(proc, "empty input")
    assert no_leftovers(work, "empty.gvc")


def test_empty_input_to_stdout_writes_nothing():
    proc = run_cli("encode", "-s", f"{W}x{H}", input=b"")
    assert_cli_error(proc, "empty input")
    assert proc.stdout == b""


def test_truncated_gvc_decodes_the_complete_frames_then_fails(clip_gvc, work):
    data = clip_gvc.read_bytes()
    start, size = packet_offsets(data)[2]
    (work / "trunc.gvc").write_bytes(data[: start + size // 2])
    proc = run_cli("decode", "-i", "trunc.gvc", "-o", "trunc.y4m", cwd=work)
    assert_cli_error(proc, "truncated", "frame 2", "the 2 frames before it were not kept", "--keep-partial")
    assert no_leftovers(work, "trunc.y4m")  # a failed run leaves no output file ...
    proc = run_cli("decode", "-i", "trunc.gvc", "-o", "trunc.y4m", "--keep-partial", cwd=work)
    assert_cli_error(proc, "truncated", "frame 2")
    assert len(y4m_frames((work / "trunc.y4m").read_bytes())) == 2  # ... unless asked to keep the complete frames
    proc = run_cli("decode", "-i", "trunc.gvc", cwd=work)  # on stdout they are out before the error
    assert_cli_error(proc, "truncated", "frame 2")
    assert len(y4m_frames(proc.stdout)) == 2


def test_corrupt_gvc_is_refused_naming_the_frame(clip_gvc, work):
    data = bytearray(clip_gvc.read_bytes())
    start, _ = packet_offsets(bytes(data))[1]
    data[start + 5] ^= 0x01  # one bit of frame 1's payload
    (work / "corrupt.gvc").write_bytes(bytes(data))
    proc = run_cli("decode", "-i", "corrupt.gvc", "-o", "corrupt.y4m", cwd=work)
    assert_cli_error(proc, "frame 1")
    assert no_leftovers(work, "corrupt.y4m")


def test_a_file_that_is_not_gvc_is_refused(real_clip_path):
    assert_cli_error(run_cli("decode", "-i", real_clip_path), "not a .gvc stream")


def test_a_missing_input_file_is_refused(work):
    assert_cli_error(run_cli("decode", "-i", "nonexistent.gvc", cwd=work), "cannot open nonexistent.gvc")


def test_truncated_weights_file_is_refused(weights_path, work, small_y4m):
    bad = work / "truncated.safetensors"
    bad.write_bytes(weights_path.read_bytes()[: weights_path.stat().st_size // 2])
    assert_cli_error(run_cli("encode", "--weights", bad, input=small_y4m), "truncated.safetensors")


def test_non_safetensors_weights_file_is_refused(work, small_y4m):
    bad = work / "weights.pt"
    bad.write_bytes(b"PK\x03\x04" + bytes(range(256)) * 4)
    assert_cli_error(run_cli("encode", "--weights", bad, input=small_y4m), "not a valid safetensors")


def test_weights_with_non_finite_parameters_are_refused(weights_path, work, small_y4m):
    """A flipped exponent bit can make a parameter NaN: that is reported, not coded."""
    import json

    data = bytearray(weights_path.read_bytes())
    n = int.from_bytes(data[:8], "little")
    start = json.loads(data[8 : 8 + n])["to_tokens.weight"]["data_offsets"][0] + 8 + n
    data[start : start + 4] = np.array([np.nan], dtype="<f4").tobytes()
    bad = work / "nan.safetensors"
    bad.write_bytes(bytes(data))
    assert_cli_error(run_cli("encode", "--weights", bad, "-o", "nan.gvc", input=small_y4m, cwd=work), "non-finite")
    assert no_leftovers(work, "nan.gvc")


def test_a_stream_made_with_other_weights_is_refused(other_weights_path, work):
    from gvc1d_codec.codec import Encoder

    enc = Encoder(W, H, weights=str(other_weights_path))
    (work / "other.gvc").write_bytes(enc.header_bytes() + enc.encode(moving_gradient(W, H, 1)[0]))
    line = assert_cli_error(run_cli("decode", "-i", "other.gvc", "-o", "other.y4m", cwd=work),
                            enc.header.weights_sha256_prefix.hex())
    assert "needs weights" in line
    assert no_leftovers(work, "other.y4m")


def test_unknown_device_is_refused(small_y4m):
    proc = run_cli("encode", "--device", "tpu", input=small_y4m)
    assert_cli_error(proc, "--device", "invalid choice: 'tpu'", "auto", "cpu", "cuda")
    assert proc.returncode == 2


def test_quality_out_of_range_is_refused(small_y4m):
    assert_cli_error(run_cli("encode", "-q", "9", input=small_y4m), "quality 9 out of range", "0..7")


def test_usage_errors_are_one_line_too():
    assert_cli_error(run_cli("encode", "--no-such-option"))


@pytest.mark.parametrize("args, words", [(["--device", "tpu"], ["--device", "tpu"]), (["-q", "9"], ["quality 9"]),
                                         (["--threads", "0"], ["--threads"]), (["-b", "0"], ["bitrate"]),
                                         (["--intra-period", "0"], ["intra period"])])
def test_bad_option_values_exit_2(small_y4m, args, words):
    proc = run_cli("encode", *args, input=small_y4m)
    assert proc.returncode == 2
    assert_cli_error(proc, *words)


def test_quiet_drops_the_summary_and_a_summary_is_otherwise_always_there(small_y4m, work):
    enc = run_cli("encode", "-o", "q.gvc", input=small_y4m, cwd=work)
    assert enc.returncode == 0 and only_summaries(enc.stderr, "encode"), enc.stderr
    size = (work / "q.gvc").stat().st_size
    assert f", {size} bytes, " in enc.stderr and f"{8 * size / (W * H * 2):.4f} bpp" in enc.stderr
    assert run_cli("encode", "--quiet", input=small_y4m).stderr == ""
    dec = run_cli("decode", "-i", "q.gvc", "-o", "q.y4m", cwd=work)
    assert dec.returncode == 0 and only_summaries(dec.stderr, "decode") and "decode: 2 frames in " in dec.stderr


# ---- pipes and files ----------------------------------------------------------------------------

def test_a_closed_downstream_pipe_ends_decode_quietly(clip_gvc, work):
    proc = run_shell(f"$GVC decode -i {clip_gvc} 2>err.txt | head -c 100 >/dev/null; echo ${{PIPESTATUS[0]}}",
                     cwd=work)
    status = int(proc.stdout.decode().strip())
    err = (work / "err.txt").read_text()
    assert (status, err) == (128 + signal.SIGPIPE, "") or (status == 0 and only_summaries(err, "decode")), (status, err)


def test_frames_zero_writes_a_valid_empty_stream(small_y4m):
    proc = run_cli("encode", "--frames", "0", input=small_y4m)
    assert proc.returncode == 0, proc.stderr
    src = io.BytesIO(proc.stdout)
    assert list(PacketReader(src, read_header(src))) == []
    assert ERROR_PREFIX not in proc.stderr


# ---- what a newcomer types first ----------------------------------------------------------------

def test_no_command_prints_the_usage_and_the_commands_and_exits_2():
    proc = run_cli()
    assert proc.returncode == 2 and proc.stdout == b""
    assert proc.stderr.startswith("usage: gvc1d-pipe") and "Traceback" not in proc.stderr
    for command in ("encode", "decode", "info", "conformance"):
        assert f"\n  {command} " in proc.stderr


def test_version_names_the_package_and_the_default_weights():
    from gvc1d_codec import __version__

    proc = run_cli("--version", weights="gvc1d-tiny")
    assert proc.returncode == 0 and proc.stderr == ""
    assert proc.stdout.decode().startswith(f"gvc1d-pipe {__version__}, default weights gvc1d-tiny (sha256 ")


def test_version_does_not_import_torch():
    import subprocess
    import sys

    from conftest import cli_env

    code = ("import sys\nfrom gvc1d_codec.cli import main\ntry:\n    main(['--version'])\nexcept SystemExit as e:\n"
            "    rc = e.code\nsys.stdout.flush(); sys.stderr.write(' '.join(m for m in ('torch',) if m in sys.modules))\n"
            "sys.exit(rc)")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, env=cli_env(), timeout=60)
    assert p.returncode == 0, p.stderr
    assert b"default weights" in p.stdout
    assert b"torch" not in p.stderr, "gvc1d-pipe --version imported torch"


def test_encode_help_states_the_default_quality_and_intra_period():
    from safetensors import safe_open

    from gvc1d_codec.config import DEFAULT_INTRA_PERIOD, ModelConfig
    from gvc1d_codec.weights import resolve

    with safe_open(str(resolve("gvc1d-tiny")[0]), "np") as f:  # the shipped model's config, no model built
        qualities = ModelConfig.from_json(f.metadata()["config"]).qualities
    text = " ".join(run_cli("encode", "--help").stdout.decode().split())
    assert f"default: the model's middle level Q//2, {qualities // 2} for the shipped gvc1d-tiny" in text
    assert f"--intra-period N an intra frame every N frames (default {DEFAULT_INTRA_PERIOD}," in text


def test_default_stream_has_an_intra_frame_every_32_frames_and_info_does_not_import_torch(work):
    frames = moving_gradient(16, 16, 33)
    enc = run_cli("encode", "-o", "periodic.gvc", input=y4m_bytes(frames), cwd=work)
    assert enc.returncode == 0, enc.stderr
    code = ("import sys; from gvc1d_codec.cli import main; rc = main(['info', 'periodic.gvc']); "
            "sys.stdout.flush(); sys.stderr.write(' '.join(m for m in ('torch', 'numpy') if m in sys.modules)); "
            "sys.exit(rc)")
    import subprocess
    import sys

    from conftest import cli_env

    p = subprocess.run([sys.executable, "-c", code], capture_output=True, env=cli_env(), cwd=work, timeout=60)
    assert p.returncode == 0, p.stderr
    assert b"torch" not in p.stderr, "gvc1d-pipe info imported torch"
    out = p.stdout.decode()
    assert "intra period    32" in out
    types = [line.split()[1] for line in out.splitlines() if line[:5].strip().isdigit()]
    assert types == ["I"] + ["P"] * 31 + ["I"]


def test_decoded_y4m_piped_into_ffmpeg_comes_out_tagged_bt709_limited(work):
    import json
    import shutil

    if shutil.which("ffprobe") is None:
        pytest.skip("ffprobe not on PATH")
    (work / "tags.y4m").write_bytes(y4m_bytes(moving_gradient(32, 32, 2)))  # even: x264 needs it
    flags = "-colorspace bt709 -color_primaries bt709 -color_trc bt709"  # as in the README
    proc = run_shell(f"$GVC encode -i tags.y4m | $GVC decode | {FFMPEG} -y -i - {flags} tags.mp4 "
                     "&& ffprobe -v error -show_entries "
                     "stream=color_range,color_space,color_transfer,color_primaries -of json tags.mp4", cwd=work)
    assert proc.returncode == 0, proc.stderr
    stream = json.loads(proc.stdout)["streams"][0]
    assert stream == {"color_range": "tv", "color_space": "bt709", "color_transfer": "bt709",
                      "color_primaries": "bt709"}


def test_start_frame_outputs_the_frames_of_the_full_decode_from_there(clip_gvc, work):
    full = y4m_frames(run_cli("decode", "-i", clip_gvc, "--quiet").stdout)
    for start in (1, 3, 9):
        proc = run_cli("decode", "-i", clip_gvc, "--start-frame", start)
        assert proc.returncode == 0 and only_summaries(proc.stderr, "decode"), proc.stderr
        assert f"decode: {max(len(full) - start, 0)} frames in " in proc.stderr
        got = y4m_frames(proc.stdout)
        assert len(got) == max(len(full) - start, 0)
        assert all(np.array_equal(a, b) for g, f in zip(got, full[start:]) for a, b in zip(g.planes, f.planes))
    assert run_cli("decode", "-i", clip_gvc, "--start-frame", "-1").returncode == 2
