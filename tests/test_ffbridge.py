"""The C API (ffbridge/): libgvc1d.so, gvc1d-ffpipe and pkg-config, built with make.

What C callers get must be what Python callers get: the same bytes for the same input and settings,
errors as status codes with one-line messages (and nothing printed), and no memory errors in our
C code. Skipped, with the reason, only when gcc/make, the Python shared library or its headers (or
cffi, the ``bridge`` extra) are missing.
"""
from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import sys
import sysconfig
from fractions import Fraction
from pathlib import Path

import pytest

from conftest import REPO, moving_gradient, needs_ffmpeg, run_cli, y4m_bytes

FFBRIDGE = REPO / "ffbridge"
BUILD = FFBRIDGE / "build"
FFPIPE = BUILD / "gvc1d-ffpipe"
PREFIX = "gvc1d-ffpipe: error:"


def _missing() -> str | None:
    if shutil.which("gcc") is None:
        return "gcc not found"
    if shutil.which("make") is None:
        return "make not found"
    if not sysconfig.get_config_var("Py_ENABLE_SHARED"):
        return f"{sys.executable} has no shared libpython (built without --enable-shared): nothing to embed"
    lib = Path(sysconfig.get_config_var("LIBDIR") or "") / f"libpython{sysconfig.get_config_var('LDVERSION')}.so"
    if not lib.exists():
        return f"{lib} not found"
    if not (Path(sysconfig.get_paths()["include"]) / "Python.h").is_file():
        return "Python.h not found (Python development headers missing)"
    try:
        import cffi  # noqa: F401
    except ImportError:
        return "cffi not installed (pip install 'gvc1d-codec[bridge]')"
    return None


pytestmark = pytest.mark.skipif(_missing() is not None, reason=str(_missing()))


def c_env(weights: Path | str | None = None) -> dict[str, str]:
    """The environment of a C program: no PYTHONPATH (the library finds gvc1d_codec itself)."""
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    env.pop("GVC1D_DEBUG", None)
    if weights is not None:
        env["GVC1D_WEIGHTS"] = str(weights)
    return env


def run(cmd: list, input: bytes = b"", weights=None, timeout: float = 180) -> subprocess.CompletedProcess:
    p = subprocess.run([str(c) for c in cmd], input=input, capture_output=True, env=c_env(weights), timeout=timeout)
    return subprocess.CompletedProcess(p.args, p.returncode, p.stdout, p.stderr.decode("utf-8", "replace"))


def assert_ffpipe_error(p: subprocess.CompletedProcess, *words: str, status: int = 1) -> str:
    assert p.returncode == status, (p.returncode, p.stderr)
    assert "Traceback" not in p.stderr
    lines = p.stderr.strip("\n").splitlines()
    assert len(lines) == 1 and lines[0].startswith(PREFIX), lines
    for w in words:
        assert w.lower() in lines[0].lower(), (w, lines[0])
    return lines[0][len(PREFIX):].strip()


@pytest.fixture(scope="session")
def built() -> Path:
    """make -C ffbridge with this interpreter (a no-op when up to date)."""
    p = subprocess.run(["make", "-C", str(FFBRIDGE), f"PYTHON={sys.executable}"], capture_output=True, text=True,
                       timeout=600)
    assert p.returncode == 0, f"make failed:\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}"
    return BUILD


def compile_c(out: Path, *sources: Path | str, extra: tuple[str, ...] = ()) -> Path:
    cmd = ["gcc", "-std=c99", "-D_POSIX_C_SOURCE=200809L", "-O1", "-g", "-Wall", "-Wextra", "-Werror",
           "-Wno-unused-parameter", f"-I{FFBRIDGE / 'include'}", *map(str, sources), "-o", str(out),
           f"-L{BUILD}", "-lgvc1d", f"-Wl,-rpath,{BUILD}", "-pthread", *extra]
    p = subprocess.run(cmd, capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    return out


@pytest.fixture(scope="session")
def api_test(built, tmp_path_factory) -> Path:
    return compile_c(tmp_path_factory.mktemp("capi") / "api_test", FFBRIDGE / "tests" / "api_test.c")


# ---- the build --------------------------------------------------------------------------------------

def test_build_outputs(built):
    from gvc1d_codec import __version__

    lib = built / "libgvc1d.so"
    for f in (lib, FFPIPE, built / "gvc1d-bench", built / "gvc1d.pc"):
        assert f.is_file(), f
    if shutil.which("nm"):
        out = subprocess.run(["nm", "-D", "--defined-only", str(lib)], capture_output=True, text=True).stdout
        names = {line.split()[-1] for line in out.splitlines() if line.strip()}
        assert names and all(n.startswith("gvc1d_") for n in names), sorted(names)
        assert {"gvc1d_encoder_open", "gvc1d_decoder_decode", "gvc1d_decoder_decode_unit", "gvc1d_open_error",
                "gvc1d_version", "gvc1d_encoder_stats"} <= names
    if shutil.which("readelf"):
        dyn = subprocess.run(["readelf", "-d", str(lib)], capture_output=True, text=True).stdout
        assert sysconfig.get_config_var("LIBDIR") in dyn  # rpath/runpath to libpython
    p = run([FFPIPE, "--version"])
    assert p.returncode == 0 and p.stdout.decode().strip() == f"gvc1d {__version__} (C API 6)"
    assert p.stderr == ""
    pc = (built / "gvc1d.pc").read_text()
    assert f"Version: {__version__}" in pc and str(built) in pc


def test_make_is_incremental(built):
    p = subprocess.run(["make", "-C", str(FFBRIDGE), f"PYTHON={sys.executable}"], capture_output=True, text=True)
    assert p.returncode == 0 and "build_ffi.py" not in p.stdout and "cc " not in p.stdout, p.stdout


def test_header_compiles_on_its_own(tmp_path):
    src = tmp_path / "h.c"
    src.write_text('#include "gvc1d.h"\nint main(void) { return GVC1D_OK; }\n')
    p = subprocess.run(["gcc", "-std=c99", "-pedantic", "-Wall", "-Wextra", "-Werror", "-fsyntax-only",
                        f"-I{FFBRIDGE / 'include'}", str(src)], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    if shutil.which("g++"):
        p = subprocess.run(["g++", "-x", "c++", "-std=c++11", "-Wall", "-Werror", "-fsyntax-only",
                            f"-I{FFBRIDGE / 'include'}", str(src)], capture_output=True, text=True)
        assert p.returncode == 0, p.stderr


def _readme_cc_line(readme: Path) -> str:
    """The ``cc ... example.c ...`` line of a README's shell block."""
    lines = [ln.split("#")[0].strip() for ln in readme.read_text().splitlines() if re.match(r"(\S+=\S+ )?cc .*example\.c", ln)]
    assert lines, f"no cc line for the example in {readme}"
    return lines[0]


def test_readme_cc_commands_name_the_shipped_example():
    for readme in (REPO / "docs" / "usage.md", FFBRIDGE / "README.md"):
        words = _readme_cc_line(readme).split()
        src = next(w for w in words if w.endswith("example.c"))
        assert (REPO / src).is_file(), f"{readme.name}: {src} is not in the repository"


def test_example_builds_with_the_readme_command_and_round_trips(built, tmp_path, weights_path):
    assert (built / "example").is_file()  # make builds it too
    cmd = _readme_cc_line(FFBRIDGE / "README.md").replace("-o example", f"-o {tmp_path / 'example'}")
    env = dict(os.environ, PKG_CONFIG_PATH=str(built))
    if shutil.which("pkg-config") is None:
        cmd = cmd.replace("$(pkg-config --cflags --libs gvc1d)",
                          f"-I{FFBRIDGE / 'include'} -L{built} -Wl,-rpath,{built} -lgvc1d")
    p = subprocess.run(["bash", "-c", f"{cmd} -Wall -Werror"], capture_output=True, text=True, env=env, cwd=REPO)
    assert p.returncode == 0, p.stderr
    out = tmp_path / "out.gvc"
    p = run([tmp_path / "example", out, "2", "64x48"], weights=weights_path)
    assert p.returncode == 0 and p.stderr == "", p.stderr
    text = p.stdout.decode()
    assert "encoded frame 1:" in text and "decoded frame 0 (I): 64x48" in text and "decoded frame 1 (P): 64x48" in text
    info = run_cli("info", out, weights=weights_path)
    assert info.returncode == 0 and b"frames 2," in info.stdout and b"size            64x48" in info.stdout
    # the quality as gvc1d-pipe info prints it (the model's default level), not the header's code
    quality = re.search(rb"^quality +(\S+)", info.stdout, re.M).group(1).decode()
    assert f"quality {quality}, intra period" in text, text


def test_make_takes_a_relative_python_from_the_callers_directory(tmp_path):
    """``make -C ffbridge PYTHON=.venv/bin/python`` (the README's command, run from the repository root)."""
    for cwd in (REPO, tmp_path):  # from elsewhere, the path is taken from the repository root
        rel = os.path.relpath(sys.executable, REPO)
        p = subprocess.run(["make", "-C", str(FFBRIDGE), f"PYTHON={rel}", "check-python"], capture_output=True,
                           text=True, cwd=cwd)
        assert p.returncode == 0, p.stderr


def test_header_limits_match_the_python_package():
    from gvc1d_codec.config import DEFAULT_INTRA_PERIOD
    from gvc1d_codec.limits import DEFAULT_MAX_PIXELS, MAX_DIMENSION

    text = (FFBRIDGE / "include" / "gvc1d.h").read_text()
    defines = dict(re.findall(r"^#define (GVC1D_\w+) (.+)$", text, re.M))
    assert int(defines["GVC1D_MAX_DIMENSION"]) == MAX_DIMENSION
    assert eval(defines["GVC1D_DEFAULT_MAX_PIXELS"]) == DEFAULT_MAX_PIXELS  # "(8192 * 4320)"
    assert int(defines["GVC1D_DEFAULT_INTRA_PERIOD"]) == DEFAULT_INTRA_PERIOD


# ---- same bytes as the Python API ---------------------------------------------------------------------

def python_stream(frames, fps=Fraction(25), color_range="limited", chroma="unspecified", **kw) -> bytes:
    from gvc1d_codec import ColorInfo, Encoder

    enc = Encoder(frames[0].width, frames[0].height, fps, color=ColorInfo(range=color_range, chroma_location=chroma), **kw)
    return enc.header_bytes() + b"".join(enc.encode(f) for f in frames)


def python_decode_y4m(stream: bytes) -> bytes:
    from gvc1d_codec import Decoder
    from gvc1d_codec.bitstream import PacketReader, read_header
    from gvc1d_codec.io import Y4MWriter

    src = io.BytesIO(stream)
    header = read_header(src)
    dec = Decoder(header, pix_fmt="yuv420p")
    out = io.BytesIO()
    writer = Y4MWriter(out, header.width, header.height, header.frame_rate, dec.color, header.sample_aspect)
    for packet in PacketReader(src, header):
        writer.write_frame(dec.decode(packet))
    return out.getvalue()


@pytest.mark.parametrize("args, kw, y4m_header", [
    ((), {}, None),
    (("-q", "1", "--intra-period", "2"), dict(quality=1, intra_period=2), None),
    (("--quality=0",), dict(quality=0, fps=Fraction(30000, 1001), color_range="full", sample_aspect=(16, 11),
                            chroma="left"),
     b"YUV4MPEG2 W45 H35 F30000:1001 Ip A16:11 C420mpeg2 XCOLORRANGE=FULL"),
    (("-q", "1.25"), dict(quality=1.25), None),
    (("-b", "40k", "--intra-period", "3"), dict(bitrate=40000.0, intra_period=3), None),
    (("-q", "1", "--preset", "slow"), dict(quality=1, preset="slow"), None),
], ids=["defaults", "quality-intra-period", "full-range-ntsc", "quality-between-levels", "bitrate", "preset"])
def test_ffpipe_streams_identical_to_python(built, weights_path, args, kw, y4m_header):
    frames = moving_gradient(45, 35, 4)
    y4m = y4m_bytes(frames)
    if y4m_header is not None:
        y4m = y4m_header + y4m[y4m.index(b"\n"):]
    enc = run([FFPIPE, "encode", *args], input=y4m, weights=weights_path)
    assert enc.returncode == 0 and enc.stderr == "", enc.stderr
    kw.setdefault("chroma", "center")  # the C tag y4m_bytes writes: C420jpeg
    assert enc.stdout == python_stream(frames, weights=weights_path, **kw)
    dec = run([FFPIPE, "decode"], input=enc.stdout, weights=weights_path)
    assert dec.returncode == 0 and dec.stderr == "", dec.stderr
    assert dec.stdout == python_decode_y4m(enc.stdout)
    if y4m_header is not None:
        assert dec.stdout.startswith(y4m_header + b"\n")


def test_ffpipe_decode_identical_to_gvc1d_pipe(built, weights_path):
    stream = python_stream(moving_gradient(33, 17, 3), weights=weights_path)
    ours = run([FFPIPE, "decode", "-w", weights_path], input=stream)
    theirs = run_cli("decode", "--weights", weights_path, input=stream)
    assert ours.returncode == theirs.returncode == 0, (ours.stderr, theirs.stderr)
    assert ours.stdout == theirs.stdout


def test_strides_and_rgb24_identical_to_python(api_test, weights_path, tmp_path):
    """Padded and negative strides (yuv420p, rgb24) give the stream of contiguous frames."""
    p = run([api_test, "strides", weights_path, tmp_path / "s", 37, 29, 4])
    assert p.returncode == 0 and "FAIL" not in p.stdout.decode(), p.stdout.decode() + p.stderr
    assert p.stderr == ""
    for pix_fmt, name in (("yuv420p", "s.yuv.gvc"), ("rgb24", "s.rgb.gvc")):
        want = python_stream(moving_gradient(37, 29, 4, pix_fmt), pix_fmt=pix_fmt, weights=weights_path)
        assert (tmp_path / name).read_bytes() == want, pix_fmt


def python_units(frames, **kw) -> tuple[bytes, list[bytes]]:
    """The header and the container units of ``frames`` (format version 5, docs/bitstream.md)."""
    from gvc1d_codec import Encoder
    from gvc1d_codec.bitstream import compact

    enc = Encoder(frames[0].width, frames[0].height, **kw)
    elision = compact.Elision()
    units = []
    for f in frames:
        p = enc.encode_packet(f)
        units.append(compact.unit(p.frame_type, p.payload, p.quality_length, elision,
                                  must_state=compact.carries_index(p.frame_type, p.frame_index)))
    return enc.header_bytes(), units


def test_units_and_decode_unit(api_test, weights_path, tmp_path):
    """units = 1: the encoder returns the Python API's container units (head, quality bytes where
    they change or at a resync point, data); gvc1d_decoder_decode_unit decodes them to the pictures
    gvc1d_decoder_decode gives for the raw packets (checked in C, with the unit errors, and the
    sample aspect ratio and chroma location of gvc1d_stream_info)."""
    from gvc1d_codec import ColorInfo

    n = 10  # frame 8 is a resync point: its unit states the quality again
    p = run([api_test, "units", weights_path, tmp_path / "u", 24, 16, n])
    out = p.stdout.decode()
    assert p.returncode == 0 and "FAIL" not in out, out + p.stderr
    assert p.stderr == "" and f"{n - 2} of {n} units leave out their quality bytes" in out, out
    frames = moving_gradient(24, 16, n)
    assert (tmp_path / "u.gvc").read_bytes() == python_stream(frames, weights=weights_path)
    header, want = python_units(frames, weights=weights_path, sample_aspect=(16, 11),
                                color=ColorInfo(chroma_location="topleft"))
    data, got = (tmp_path / "u.units").read_bytes(), []
    while data:
        size = int.from_bytes(data[:4], "little")
        got.append(data[4:4 + size])
        data = data[4 + size:]
    assert got == want
    assert [u[0] >> 1 & 3 for u in got] == [1] + [0] * 7 + [1, 0]  # quality stated at frames 0 and 8 only


def test_ffpipe_decodes_version_4_streams(built, weights_path):
    """A version-4 stream (82-byte header, 14-byte packet framing) of the same packets decodes to the
    same pictures as the version-5 stream, through gvc1d-ffpipe's splitter and the library."""
    import dataclasses

    from gvc1d_codec import Encoder
    from gvc1d_codec.bitstream import pack_packet

    frames = moving_gradient(24, 16, 3)
    enc = Encoder(24, 16, weights=weights_path)
    packets = [enc.encode_packet(f) for f in frames]
    v4 = dataclasses.replace(enc.header, format_version=4, extended_range=False, wide_steps=False).pack() + b"".join(pack_packet(p, 4) for p in packets)
    assert v4[4] == 4 and len(v4) == 82 + sum(14 + len(p.payload) for p in packets)
    ours = run([FFPIPE, "decode"], input=v4, weights=weights_path)
    assert ours.returncode == 0 and ours.stderr == "", ours.stderr
    assert ours.stdout == python_decode_y4m(python_stream(frames, weights=weights_path))


# ---- two-pass rate control (C API 6) ---------------------------------------------------------------

def python_two_pass(frames, bitrate: float, **kw) -> tuple[str, bytes, bytes]:
    """The Python API's two passes over ``frames``: (the stats text, the first pass's stream, the second's)."""
    from gvc1d_codec import ColorInfo, Encoder
    from gvc1d_codec.ratecontrol import PassStats

    kw.setdefault("color", ColorInfo(chroma_location="unspecified"))
    w, h = frames[0].width, frames[0].height
    first = Encoder(w, h, bitrate=bitrate, **kw)
    stream1 = first.header_bytes() + b"".join(first.encode(f) for f in frames)
    stats = first.pass_stats().dumps()
    second = Encoder(w, h, bitrate=bitrate, first_pass=PassStats.loads(stats), **kw)
    return stats, stream1, second.header_bytes() + b"".join(second.encode(f) for f in frames)


def test_api_two_pass(api_test, weights_path, tmp_path):
    """params.pass = 1: gvc1d_encoder_stats hands out the head lines, then each new frame's line ("" when
    nothing is new); concatenated they are the Python API's stats file, one line per frame, and the
    stream is its one-pass stream. params.pass = 2 with them as stats_in gives the Python API's second
    pass, which decodes; a frame more than the first pass saw, bad pass / bitrate / stats_in values,
    damaged or mismatched stats and gvc1d_encoder_stats on other encoders are GVC1D_ERR_INVALID_ARG
    with a one-line message (checked in C)."""
    from gvc1d_codec.ratecontrol import PassStats

    n, bitrate = 6, 20000
    p = run([api_test, "twopass", weights_path, tmp_path / "t", 32, 24, n, bitrate])
    out = p.stdout.decode()
    assert p.returncode == 0 and "FAIL" not in out, out + p.stderr
    assert p.stderr == "" and out.count("\nok ") >= 40, out
    text = (tmp_path / "t.stats").read_text()
    assert len(PassStats.loads(text).frames) == n and len(text.splitlines()) == 2 + n
    stats, stream1, stream2 = python_two_pass(moving_gradient(32, 24, n), float(bitrate), intra_period=4,
                                              weights=weights_path)
    assert text == stats
    assert (tmp_path / "t.p1.gvc").read_bytes() == stream1
    assert (tmp_path / "t.p2.gvc").read_bytes() == stream2 != stream1


def test_ffpipe_two_pass(built, weights_path, tmp_path):
    """--pass 1 / --pass 2 --stats F (gvc1d-pipe's options): the Python API's stats file and streams,
    byte for byte, and gvc1d-pipe --pass 2 with our F writes our second pass; F appears only when the
    first pass completes (F.tmp meanwhile, removed on failure); missing, damaged and mismatched stats,
    and more frames than the first pass saw, are one-line errors (gvc1d-pipe's message for a bad F)."""
    from gvc1d_codec import ColorInfo

    frames = moving_gradient(32, 24, 5)
    y4m = y4m_bytes(frames)  # C420jpeg: chroma location center
    stats = tmp_path / "c.log"
    args = ["-b", "20k", "--intra-period", "4"]
    p = run([FFPIPE, "encode", *args, "--pass", "2", "--stats", stats], input=y4m, weights=weights_path)
    assert_ffpipe_error(p, f"cannot read the first-pass stats {stats}: No such file", "run --pass 1 first")
    want = python_two_pass(frames, 20000.0, intra_period=4, weights=weights_path,
                           color=ColorInfo(chroma_location="center"))
    first = run([FFPIPE, "encode", *args, "--pass", 1, "--stats", stats], input=y4m, weights=weights_path)
    assert first.returncode == 0 and first.stderr == "", first.stderr
    assert stats.read_text() == want[0] and first.stdout == want[1]
    assert not Path(f"{stats}.tmp").exists()
    second = run([FFPIPE, "encode", *args, "--pass", 2, "--stats", stats], input=y4m, weights=weights_path)
    assert second.returncode == 0 and second.stderr == "", second.stderr
    assert second.stdout == want[2] != want[1]
    py = run_cli("encode", *args, "--pass", 2, "--stats", stats, input=y4m, weights=weights_path)
    assert py.returncode == 0 and py.stdout == second.stdout, py.stderr
    dec = run([FFPIPE, "decode"], input=second.stdout, weights=weights_path)
    assert dec.returncode == 0 and dec.stdout.count(b"FRAME\n") == len(frames), dec.stderr

    cut = tmp_path / "cut.log"  # the input ends inside frame 4: no stats file, no FILE.tmp left
    assert_ffpipe_error(run([FFPIPE, "encode", *args, "--pass", "1", "--stats", cut], input=y4m[:-10],
                            weights=weights_path), "truncated frame 4")
    assert not cut.exists() and not Path(f"{cut}.tmp").exists()
    bad = tmp_path / "bad.log"
    bad.write_text("GVC1 not stats\n")
    msg = assert_ffpipe_error(run([FFPIPE, "encode", *args, "--pass", "2", "--stats", bad], input=y4m,
                                  weights=weights_path), f"{bad}: not a gvc1d first-pass stats file")
    theirs_err = run_cli("encode", *args, "--pass", "2", "--stats", bad, input=y4m, weights=weights_path).stderr
    assert theirs_err.strip() == f"gvc1d-pipe: error: {msg}"
    assert_ffpipe_error(run([FFPIPE, "encode", "-b", "20k", "--pass", "2", "--stats", stats], input=y4m,
                            weights=weights_path), "the first pass ran with intra period 4")
    p = run([FFPIPE, "encode", *args, "--pass", "2", "--stats", stats], input=y4m_bytes(moving_gradient(32, 24, 6)),
            weights=weights_path)
    assert_ffpipe_error(p, "more frames than the first pass saw (5)")


# ---- FFmpeg round trip ------------------------------------------------------------------------------

@needs_ffmpeg
def test_ffmpeg_round_trip(built, weights_path, tmp_path):
    from gvc1d_codec.io import Y4MReader

    out = tmp_path / "out.y4m"
    cmd = (f"ffmpeg -nostdin -hide_banner -loglevel error -f lavfi -i testsrc2=size=64x48:rate=25 -frames:v 5 "
           f"-pix_fmt yuv420p -f yuv4mpegpipe - | {FFPIPE} encode | {FFPIPE} decode "
           f"| ffmpeg -hide_banner -loglevel error -y -i - -pix_fmt yuv420p -f yuv4mpegpipe {out}")
    p = subprocess.run(["bash", "-o", "pipefail", "-c", cmd], capture_output=True, env=c_env(weights_path),
                       timeout=300)
    assert p.returncode == 0, p.stderr.decode(errors="replace")
    assert p.stderr == b""
    with open(out, "rb") as f:
        reader = Y4MReader(f)
        frames = list(reader)
    assert (reader.width, reader.height, reader.fps) == (64, 48, Fraction(25))
    assert len(frames) == 5


# ---- errors -------------------------------------------------------------------------------------------

def test_api_errors(api_test, weights_path, other_weights_path):
    """Bad parameters, NULL pointers, corrupt and truncated data: status codes and messages."""
    p = run([api_test, "errors", weights_path, other_weights_path])
    out = p.stdout.decode()
    assert p.returncode == 0 and "FAIL" not in out, out + p.stderr
    assert out.count("\nok ") > 70
    assert p.stderr == ""  # the library printed nothing


def test_api_threads(api_test, weights_path):
    p = run([api_test, "threads", weights_path])
    assert p.returncode == 0 and "FAIL" not in p.stdout.decode(), p.stdout.decode() + p.stderr
    assert p.stderr == ""


def test_api_restart(api_test, weights_path):
    """gvc1d_decoder_restart: random access at an intra frame (raw packets and units) gives the
    pictures of a full decode; a P frame after a restart is refused and the decoder keeps waiting."""
    p = run([api_test, "restart", weights_path, 24, 16, 9])
    out = p.stdout.decode()
    assert p.returncode == 0 and "FAIL" not in out, out + p.stderr
    assert "units: a decoder restarted at frame 4" in out and p.stderr == ""


def test_bridge_shares_loaded_weights(weights_path, other_weights_path):
    """The bridge loads a weights file once per process (and device) and hands the same read-only
    LoadedWeights to every encoder and decoder; each keeps its own state, so two decoders of two
    streams interleaved give the frames of each decoded alone."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("gvc1d_bridge_under_test", FFBRIDGE / "gvc1d_bridge.py")
    bridge = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bridge)
    api = bridge._import_api()
    a = bridge.shared_weights(api, str(weights_path), "cpu")
    assert bridge.shared_weights(api, str(weights_path), "cpu") is a
    assert bridge.shared_weights(api, str(other_weights_path), "cpu") is not a
    assert bridge.shared_weights(api, str(weights_path) + ".missing", "cpu") == str(weights_path) + ".missing"

    from gvc1d_codec import Decoder, Encoder
    from gvc1d_codec.bitstream import PacketReader, read_header

    def encode(frames, **kw):
        enc = Encoder(24, 16, weights=a, intra_period=3, **kw)
        return enc.header_bytes() + b"".join(enc.encode(f) for f in frames)

    streams = [encode(moving_gradient(24, 16, 5)), encode(moving_gradient(24, 16, 5)[::-1], quality=1)]
    assert streams[0] == python_stream(moving_gradient(24, 16, 5), weights=weights_path, intra_period=3)

    def packets(stream):
        src = io.BytesIO(stream)
        return read_header(src), list(PacketReader(src, read_header(io.BytesIO(stream))))

    def decode_alone(stream):
        header, ps = packets(stream)
        dec = Decoder(header, weights=str(weights_path))  # its own weights, loaded by itself
        return [dec.decode(q).planes for q in ps]

    alone = [decode_alone(s) for s in streams]
    (h0, p0), (h1, p1) = map(packets, streams)
    d0, d1 = Decoder(h0, weights=a), Decoder(h1, weights=a)
    for k in range(5):
        for d, ps, want in ((d0, p0, alone[0]), (d1, p1, alone[1])):
            got = d.decode(ps[k]).planes
            assert all((g == w).all() for g, w in zip(got, want[k]))


# errors found in C, before the library (and Python) start
@pytest.mark.parametrize("data, words", [
    (b"", ["empty input"]),
    (b"hello\n", ["not a YUV4MPEG2 stream"]),
    (b"YUV4MPEG2 W16 H16 C444\nFRAME\n", ["C444", "-pix_fmt yuv420p"]),
    (b"YUV4MPEG2 W16 H16 C420p10\nFRAME\n", ["high bit depth"]),
    (b"YUV4MPEG2 W16 H16 Imixed\n", ["progressive"]),
    (b"YUV4MPEG2 W16 H16 It\n", ["interlaced top field first"]),
    (b"YUV4MPEG2 H16\n", ["lacks the W"]),
    (b"YUV4MPEG2 W0 H16\n", ["width 0"]),
    (b"YUV4MPEG2 W16 H16 F25:0\n", ["frame rate"]),
    (b"YUV4MPEG2 W16 H16", ["truncated Y4M header"]),
], ids=["empty", "not-y4m", "444", "10bit", "mixed", "interlaced", "no-width", "width-0", "fps-0", "no-newline"])
def test_ffpipe_refuses_input(built, data, words):
    p = run([FFPIPE, "encode"], input=data)
    assert_ffpipe_error(p, *words)
    assert p.stdout == b""


@pytest.mark.parametrize("args, words", [
    (["encode", "--bogus"], ["unrecognized arguments: --bogus"]),
    (["encode", "-q", "x"], ["invalid quality value"]),
    (["encode", "-b", "fast"], ["invalid bitrate value"]),
    (["encode", "-b", "500k", "-q", "1"], ["not allowed with"]),
    (["encode", "--pass", "1"], ["--pass needs a target rate"]),
    (["encode", "-b", "500k", "--pass", "3"], ["argument --pass: invalid choice: 3"]),
    (["encode", "-b", "500k", "--stats"], ["expected one argument"]),
    (["encode", "-q"], ["expected one argument"]),
    (["transcode"], ["invalid command"]),
    ([], ["required"]),
])
def test_ffpipe_usage_errors(built, args, words):
    assert_ffpipe_error(run([FFPIPE, *args]), *words, status=2)


def test_ffpipe_errors_from_the_library(built, weights_path, other_weights_path, tmp_path):
    """Errors from the library: the same message as gvc1d-pipe, one line, nothing on stdout."""
    frames = moving_gradient(24, 16, 3)
    y4m = y4m_bytes(frames)
    frame_size = 24 * 16 + 2 * 12 * 8
    p = run([FFPIPE, "encode", "-q", "99"], input=y4m, weights=weights_path)
    msg = assert_ffpipe_error(p, "quality 99")
    assert p.stdout == b""
    assert run_cli("encode", "-q", "99", input=y4m, weights=weights_path).stderr.strip() == f"gvc1d-pipe: error: {msg}"
    assert_ffpipe_error(run([FFPIPE, "encode", "--intra-period", "0"], input=y4m, weights=weights_path), "intra period")
    assert_ffpipe_error(run([FFPIPE, "encode", "--preset", "turbo"], input=y4m, weights=weights_path),
                        "unknown preset 'turbo'", "medium", "slow")
    assert_ffpipe_error(run([FFPIPE, "encode", "-w", tmp_path / "none.safetensors"], input=y4m), "weights file not found")
    p = run([FFPIPE, "encode"], input=y4m[:-10], weights=weights_path)  # last frame cut: two packets written
    assert_ffpipe_error(p, "truncated frame 2")
    stream = python_stream(frames, weights=weights_path, chroma="center")  # y4m_bytes: C420jpeg
    header_size = 7 + int.from_bytes(stream[5:7], "little")
    assert p.stdout == stream[:len(p.stdout)] and len(p.stdout) > header_size

    assert_ffpipe_error(run([FFPIPE, "decode"], input=b"", weights=weights_path), "empty input")
    assert_ffpipe_error(run([FFPIPE, "decode"], input=b"GVC2" + stream[4:], weights=weights_path), "bad magic")
    assert_ffpipe_error(run([FFPIPE, "decode", "-w", other_weights_path], input=stream), "stream needs weights")
    bad = bytearray(stream)
    bad[header_size + 20] ^= 0x40
    p = run([FFPIPE, "decode"], input=bytes(bad), weights=weights_path)
    assert_ffpipe_error(p, "CRC mismatch in frame 0")
    # truncated: every complete frame is written, then the error (gvc1d-pipe does the same)
    cut = stream[:-1]  # the last packet (3 bytes: head, 1 data byte, CRC-8) loses its CRC
    p = run([FFPIPE, "decode"], input=cut, weights=weights_path)
    msg = assert_ffpipe_error(p, "truncated in frame 2")
    theirs = run_cli("decode", input=cut, weights=weights_path)
    assert theirs.stderr.strip() == f"gvc1d-pipe: error: {msg}"
    assert p.stdout == theirs.stdout and p.stdout.count(b"FRAME\n") == 2
    assert len(p.stdout) == len(p.stdout.split(b"\n")[0]) + 1 + 2 * (6 + frame_size)


# ---- memcheck -----------------------------------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.skipif(shutil.which("valgrind") is None, reason="valgrind not installed")
def test_valgrind_memcheck(built, weights_path, tmp_path):
    """ffbridge/valgrind.sh: no invalid access, uninitialised use or definite leak in our C code."""
    p = subprocess.run(["bash", str(FFBRIDGE / "valgrind.sh"), str(weights_path), str(tmp_path)],
                       capture_output=True, text=True, env=c_env(), timeout=1800)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "errors in our C code: 0" in p.stdout, p.stdout
