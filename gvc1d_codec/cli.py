"""gvc1d-pipe: the command line, shaped like x265's and FFmpeg's.

    ffmpeg -i in.mp4 -f yuv4mpegpipe - | gvc1d-pipe encode -o out.gvc
    gvc1d-pipe decode -i out.gvc -o - | ffmpeg -i - -colorspace bt709 -color_primaries bt709 -color_trc bt709 out.mp4
    gvc1d-pipe info out.gvc                     # reads the container only (torch is not imported)
    gvc1d-pipe conformance [DIR] [--threads N] [--weights W]
    gvc1d-pipe --version                        # gvc1d-pipe VERSION, default weights NAME (sha256 ...)
    gvc1d-pipe                                  # the usage and the commands on stderr, exit 2

Imports are lazy: torch and the model are loaded by the commands that need them.

stdout carries only data; progress and errors go to stderr. ``encode`` and ``decode`` end with one
summary line on stderr, as x265 does (frames, seconds, fps, bytes, kbit/s, bpp; ``--quiet`` drops
it). Every error is one line ``gvc1d-pipe: error: ...`` with a non-zero exit status. Exit statuses
(docs/security.md):

    0    success
    1    error (bad input, corrupt or truncated stream with --on-error stop, bad weights, ...)
    2    bad command line: an unknown option or a bad option value (or no command)
    3    decode --on-error skip|conceal finished, but frames were lost (the summary says which)
    130  interrupted (SIGINT, Ctrl-C); 143: terminated (SIGTERM)
    141  the downstream pipe closed (128 + SIGPIPE, as a shell reports it); nothing is printed

A file output is written under a temporary name and renamed when complete; on failure or
interruption it is removed, or with --keep-partial cut back to the last complete frame and kept.
"""
from __future__ import annotations

import argparse
import collections
import contextlib
import os
import re
import signal
import sys
import threading
import time
from fractions import Fraction
from pathlib import Path
from typing import BinaryIO, Iterator

from .errors import BitstreamError, GVC1DError, SettingsError
from .presets import DEFAULT_PRESET, PRESETS

PROG = "gvc1d-pipe"
EXIT_ERROR, EXIT_USAGE, EXIT_FRAMES_LOST = 1, 2, 3
EXIT_INTERRUPTED, EXIT_BROKEN_PIPE, EXIT_TERMINATED = 130, 128 + signal.SIGPIPE, 128 + signal.SIGTERM


class UsageError(Exception):
    pass


class _Terminated(BaseException):
    """SIGTERM, raised like KeyboardInterrupt so that outputs are cleaned up on the way out."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, exit 2, like argparse but without the usage dump
        sys.stderr.write(f"{PROG}: error: {message}\n")
        sys.exit(EXIT_USAGE)


class _Version(argparse.Action):
    """``--version``: the package version and the default weights (imported only when asked)."""

    def __init__(self, option_strings, dest, **kwargs):
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS,
                         help="print the version and the default weights, then exit")

    def __call__(self, parser, namespace, values, option_string=None):
        from . import __version__
        from .registry import resolve

        name = os.environ.get("GVC1D_WEIGHTS") or _default_weights_name()
        path, sha = resolve(name)
        weights = f"default weights {name}" + (f" (sha256 {sha[:8]}...)" if sha else f" ({path})" if str(path) != name else "")
        sys.stdout.write(f"{PROG} {__version__}, {weights}\n")
        sys.exit(0)


def _default_weights_name() -> str:
    from .registry import DEFAULT_MODEL

    return DEFAULT_MODEL


def _usage(parser: argparse.ArgumentParser) -> str:
    """What ``gvc1d-pipe`` alone prints: the usage line and one line per command."""
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    lines = [parser.format_usage().rstrip("\n"), "", "commands:"]
    lines += [f"  {c.dest:<12} {c.help}" for c in sub._choices_actions]
    lines += ["", f"'{PROG} COMMAND --help' lists a command's options; '{PROG} --help' shows this with the options."]
    return "\n".join(lines) + "\n"


def build_parser() -> argparse.ArgumentParser:
    from .config import DEFAULT_INTRA_PERIOD

    p = _Parser(prog=PROG, description="GVC1D learned video codec: encode, decode and inspect .gvc streams.",
                epilog="Examples:\n"
                       "  ffmpeg -i in.mp4 -f yuv4mpegpipe - | gvc1d-pipe encode -o out.gvc\n"
                       "  gvc1d-pipe decode -i out.gvc | ffmpeg -i - -colorspace bt709 -color_primaries bt709 "
                       "-color_trc bt709 out.mp4\n"
                       "  gvc1d-pipe info out.gvc",
                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action=_Version)
    sub = p.add_subparsers(dest="command", parser_class=_Parser, metavar="{encode,decode,info,conformance}")

    e = sub.add_parser("encode", help="Y4M or raw video in, .gvc out")
    e.add_argument("-i", "--input", default="-", help="input file, or - for stdin (default)")
    e.add_argument("-o", "--output", default="-", help="output .gvc file, or - for stdout (default)")
    rate = e.add_mutually_exclusive_group()
    rate.add_argument("-q", "--quality", type=float,
                      help="quality 0..Q+3, higher = better: a level or any value between levels, e.g. 1.5 "
                           "(steps of 1/16; default: the model's middle level Q//2, 2 for the shipped gvc1d-tiny "
                           "with its 4 levels; above Q-2 an enhancement layer on level Q-2's tokens adds the detail "
                           "they miss, finer with each step up to Q+3; see info --qualities)")
    rate.add_argument("-b", "--bitrate", type=_parse_bitrate, metavar="RATE",
                      help="target bitrate in bits/s, e.g. 500k or 1.5M: one-pass rate control picks each frame's "
                           "quality (the whole stream within a few per cent once it is longer than an intra period)")
    rate.add_argument("--target-bpp", type=float, metavar="BPP",
                      help="target bits per pixel per frame (rate control, as --bitrate)")
    e.add_argument("--maxrate", type=_parse_bitrate, metavar="RATE",
                   help="VBV, as x265's --vbv-maxrate: the bits/s a leaky bucket drains (with -b, or alone: then "
                        "-b is the maxrate); the encoder lowers a frame's quality before the bucket would overflow")
    e.add_argument("--bufsize", type=_parse_bitrate, metavar="BITS",
                   help="VBV bucket size in bits, e.g. 500k (default: one second of --maxrate)")
    e.add_argument("--pass", dest="pass_", type=int, choices=[1, 2], metavar="{1,2}",
                   help="two-pass rate control, as x264/x265's --pass (with -b or --target-bpp): pass 1 measures "
                        "every frame's cost into --stats (its stream is a valid one-pass encode; -o /dev/null to "
                        "drop it), pass 2 reads it and meets the target within a few per cent at an even quality")
    e.add_argument("--lookahead", type=int, metavar="N",
                   help="one-pass rate control: read N frames ahead and, at each intra frame, code them on trial "
                        "as the P frames after it, to size the intra frame for what P frames cost on this input "
                        "(default 3 with -b or --target-bpp, 0 = off, at most 8; no packet waits for a later frame)")
    e.add_argument("--stats", default="gvc1d-2pass.log", metavar="FILE",
                   help="the two-pass stats file (default gvc1d-2pass.log)")
    e.add_argument("--intra-period", type=int, default=DEFAULT_INTRA_PERIOD, metavar="N",
                   help=f"an intra frame every N frames (default {DEFAULT_INTRA_PERIOD}, so that a lost or corrupt "
                        "packet damages at most N frames); -1: only the first frame is intra (fewer bits, but one "
                        "bad packet spoils the rest of the video)")
    e.add_argument("--preset", default=DEFAULT_PRESET, choices=list(PRESETS),
                   help="how hard the encoder searches, as x265's --preset: fast (each P frame's skip "
                        "decision made before its one synthesis, fewer motion refinement passes: quicker, a few "
                        "percent more bits), "
                        "medium (default) or slow (each "
                        "intra frame sends a decoder update fitted to the picture, used up to the next intra "
                        "frame: better quality per bit for about a minute per intra frame at 720p); decoding "
                        "costs the same either way")
    e.add_argument("--frames", type=int, help="stop after this many frames (rate control then plans "
                   "its budget to that end)")
    e.add_argument("-s", "--size", help="raw input: WxH")
    e.add_argument("--pix-fmt", choices=["yuv420p", "rgb24"], help="raw input pixel format (default yuv420p)")
    e.add_argument("-r", "--rate", help="raw input frame rate, e.g. 25 or 30000/1001 (default 25)")
    e.add_argument("--color-range", choices=["limited", "full"], help="raw input colour range (default limited)")
    _common(e)
    _hardening(e, "a .gvc of the complete frames so far")

    d = sub.add_parser("decode", help=".gvc in, Y4M or raw video out")
    d.add_argument("-i", "--input", default="-", help="input .gvc file, or - for stdin (default)")
    d.add_argument("-o", "--output", default="-", help="output file, or - for stdout (default)")
    d.add_argument("--output-format", choices=["y4m", "rawvideo"], default="y4m")
    d.add_argument("--pix-fmt", choices=["yuv420p", "rgb24"], help="output pixel format (rawvideo: default the source's; y4m: yuv420p)")
    d.add_argument("--start-frame", type=_non_negative_int, default=0, metavar="N",
                   help="output from frame N on (decoding starts at the intra frame at or before it)")
    d.add_argument("--on-error", choices=["stop", "skip", "conceal"], default="stop",
                   help="a truncated or corrupt packet: stop (default, exit 1); skip the lost frame, or conceal it "
                        "with the last good frame (mid-grey if none), and go on (exit 3 if any frame was lost)")
    _common(d)
    _hardening(d, "the frames decoded so far")

    i = sub.add_parser("info", help="describe a .gvc stream, or list the quality levels")
    i.add_argument("file", nargs="?", help=".gvc file (or - for stdin)")
    i.add_argument("--qualities", action="store_true", help="print the valid quality levels, one per line")
    i.add_argument("--vbv", type=_parse_vbv, metavar="RATE,BITS",
                   help="replay the packet sizes through a VBV leaky bucket (maxrate bits/s, size in bits, e.g. "
                        "500k,250k) and report the fullest it gets (exit 1 if it overflows)")
    i.add_argument("--weights", help="weights file or registry name (default: the shipped model)")

    c = sub.add_parser("conformance", help="decode a conformance set and compare with its manifest (docs/conformance.md)")
    c.add_argument("dir", nargs="?", help="conformance directory (default: the repository's conformance/)")
    c.add_argument("--weights", help="weights file or registry name (default: the shipped model)")
    c.add_argument("--threads", type=int, help=_THREADS_HELP)
    c.add_argument("--streams", help="comma-separated stream names (default: all in the manifest)")
    c.add_argument("--strict-pixels", action="store_true", help="also fail when a decoded picture's MD5 differs")
    c.add_argument("--json", action="store_true", help="print the report as JSON instead of the table")
    return p


_THREADS_HELP = ("torch intra-op threads (default: $OMP_NUM_THREADS if set, else 1 below 640x480 pixels, where more "
                 "threads were slower, and the cores this process may use, at most 4, from 640x480 up; "
                 "gvc1d_codec/runtime.py)")


def _parse_max_pixels(text: str) -> int | None:
    """``--max-pixels``: a number of pixels or WxH; 0 means no budget beyond the format's limits."""
    try:
        if "x" in text.lower():
            w, h = (int(v) for v in text.lower().split("x"))
            if w < 1 or h < 1:
                raise ValueError
            return w * h
        n = int(text)
        if n < 0:
            raise ValueError
        return n or None
    except ValueError:
        raise argparse.ArgumentTypeError(f"bad pixel budget {text!r} (need a number of pixels or WxH, e.g. 8192x4320)") from None


def _hardening(p: argparse.ArgumentParser, partial: str) -> None:
    from .limits import DEFAULT_MAX_PIXELS

    p.add_argument("--max-pixels", type=_parse_max_pixels, default=DEFAULT_MAX_PIXELS, metavar="N|WxH",
                   help=f"refuse frames of more pixels than this, before allocating anything (default {DEFAULT_MAX_PIXELS}, "
                        "8192x4320; 0: no budget)")
    p.add_argument("--keep-partial", action="store_true",
                   help=f"on failure or interruption keep the output file, cut back to {partial}, instead of removing it")


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--weights", help="weights file or registry name (default: the shipped gvc1d-tiny)")
    p.add_argument("--device", default="cpu", choices=["auto", "cpu", "cuda"], help="auto, cpu or cuda (default cpu)")
    p.add_argument("--threads", type=_positive_int, help=_THREADS_HELP)
    p.add_argument("--progress", action="store_true", help="show progress on stderr even when it is not a terminal")
    p.add_argument("--quiet", action="store_true", help="no progress and no summary line (errors only)")


def _int_at_least(least: int):
    """An argparse type: a whole number >= ``least`` (else a usage error, exit 2)."""
    def parse(text: str) -> int:
        try:
            n = int(text)
        except ValueError:
            n = None
        if n is None or n < least:
            raise argparse.ArgumentTypeError(f"need a whole number >= {least}, got {text!r}")
        return n
    return parse


_non_negative_int, _positive_int = _int_at_least(0), _int_at_least(1)


# ---- files: stdin/stdout, and outputs that appear only when complete ----------------------------

def _open_input(name: str) -> BinaryIO:
    if name == "-":
        return sys.stdin.buffer
    try:
        return open(name, "rb")
    except OSError as e:
        raise GVC1DError(f"cannot open {name}: {e.strerror}") from None


class _Sink:
    """A command's output stream, and how much of it is complete frames (what --keep-partial keeps)."""

    def __init__(self, stream: BinaryIO, is_file: bool):
        self.stream = stream
        self.is_file = is_file
        self.frames = 0  # complete frames written
        self.committed = 0  # bytes of them, header included (files only)

    def commit(self) -> None:
        """A frame is completely written: flush, and remember that everything so far is valid."""
        self.stream.flush()
        self.frames += 1
        if self.is_file:
            self.committed = self.stream.tell()


@contextlib.contextmanager
def _output(name: str, keep_partial: bool = False) -> Iterator[_Sink]:
    """stdout, or a file that appears only when complete (:func:`gvc1d_codec.io.atomic.atomic_path`).

    On any exception (also KeyboardInterrupt) the temporary file is removed; with ``keep_partial``
    and at least one complete frame it is instead cut back to its complete frames and renamed.
    An existing file of the same name is replaced only then, never by a failed run.
    """
    from .io.atomic import atomic_path

    if name == "-":
        sink = _Sink(sys.stdout.buffer, is_file=False)
        yield sink
        sys.stdout.buffer.flush()
        return
    sink = None

    def salvage(tmp: Path) -> bool:
        if not (keep_partial and sink is not None and sink.frames > 0):
            return False
        os.truncate(tmp, sink.committed)
        return True

    with atomic_path(name, salvage) as tmp:
        try:
            f = open(tmp, "wb")
        except OSError as e:
            raise GVC1DError(f"cannot write {name}: {e.strerror}") from None
        sink = _Sink(f, is_file=True)
        with f:
            yield sink


class _Progress:
    """Progress on a terminal (or with --progress), and the summary line at the end."""

    line_open = False  # a progress line without its newline is on stderr

    def __init__(self, a: argparse.Namespace, what: str, pixels: int):
        self.quiet = a.quiet
        self.enabled = not a.quiet and (a.progress or sys.stderr.isatty())
        self.what = what
        self.pixels = pixels
        self.start = time.monotonic()
        self.last = 0.0

    def update(self, frames: int, bits: int, fps: float) -> None:
        now = time.monotonic()
        if not self.enabled or now - self.last < 0.5:
            return
        self.last = now
        el = max(now - self.start, 1e-9)
        kbps = bits / max(frames, 1) * fps / 1000
        sys.stderr.write(f"\r{self.what}: {frames} frames, {frames / el:.2f} fps, {kbps:.1f} kbit/s")
        sys.stderr.flush()
        _Progress.line_open = True

    def summary(self, frames: int, bits: int, fps: float) -> str:
        """``encode: 48 frames in 12.3 s (3.90 fps), 20480 bytes, 136.5 kbit/s, 0.0074 bpp``"""
        el = max(time.monotonic() - self.start, 1e-9)
        kbps = bits / max(frames, 1) * fps / 1000
        bpp = bits / max(frames * self.pixels, 1)
        return (f"{self.what}: {frames} frames in {el:.1f} s ({frames / el:.2f} fps), {bits // 8} bytes, "
                f"{kbps:.1f} kbit/s, {bpp:.4f} bpp")

    def finish(self, frames: int, bits: int, fps: float) -> None:
        """The summary line (a progress line on a terminal is replaced by it)."""
        if self.quiet:
            return
        sys.stderr.write(("\r" if _Progress.line_open else "") + self.summary(frames, bits, fps) + "\n")
        sys.stderr.flush()
        _Progress.line_open = False


def _parse_bitrate(text: str) -> float:
    from .ratecontrol import parse_bitrate

    try:
        return parse_bitrate(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _parse_vbv(text: str) -> tuple[float, float]:
    rate, sep, size = text.partition(",")
    if not sep:
        raise argparse.ArgumentTypeError(f"bad VBV {text!r} (need MAXRATE,BUFSIZE, e.g. 500k,250k)")
    return _parse_bitrate(rate), _parse_bitrate(size)


def _parse_size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise UsageError(f"bad size {text!r} (need WxH, e.g. 416x240)") from None
    if w <= 0 or h <= 0:
        raise UsageError(f"bad size {text!r}")
    return w, h


def _parse_rate(text: str | None) -> Fraction:
    if text is None:
        return Fraction(25)
    # digits only: Fraction() would also take "1e99999999" and spend minutes building that number
    if not re.fullmatch(r"\d{1,10}(\.\d{1,10})?(/\d{1,10})?", text.strip()):
        raise UsageError(f"bad frame rate {text!r} (need e.g. 25, 29.97 or 30000/1001)")
    try:
        r = Fraction(text.strip())
    except (ValueError, ZeroDivisionError):
        raise UsageError(f"bad frame rate {text!r} (need e.g. 25, 29.97 or 30000/1001)") from None
    if r <= 0:
        raise UsageError(f"bad frame rate {text!r}")
    return r


# ---- commands ---------------------------------------------------------------------------------

def cmd_encode(a: argparse.Namespace) -> int:
    from .codec import Encoder
    from .errors import InputFormatError
    from .frame import ColorInfo
    from .io import RawReader, Y4MReader

    if a.frames is not None and a.frames < 0:
        raise UsageError("--frames must be >= 0")
    from .codec import DEFAULT_LOOKAHEAD, LOOKAHEAD_MAX

    rate_control = a.bitrate is not None or a.target_bpp is not None or a.maxrate is not None
    if a.lookahead is not None and not (0 <= a.lookahead <= LOOKAHEAD_MAX):
        raise UsageError(f"--lookahead must be 0..{LOOKAHEAD_MAX}")
    if a.lookahead and not rate_control:
        raise UsageError("--lookahead works with rate control: give -b or --target-bpp")
    lookahead = 0 if not rate_control or a.pass_ == 2 else DEFAULT_LOOKAHEAD if a.lookahead is None else a.lookahead
    first_pass = None
    if a.pass_ is not None and not rate_control:
        raise UsageError("--pass needs a target rate: give -b or --target-bpp")
    if a.pass_ == 2:
        first_pass = _read_pass_stats(a.stats)
    src = _open_input(a.input)
    if a.size:
        w, h = _parse_size(a.size)
        pix_fmt = a.pix_fmt or "yuv420p"
        reader = RawReader(src, w, h, pix_fmt)
        fps, color = _parse_rate(a.rate), ColorInfo(range=a.color_range or "limited")
    else:
        magic = b"YUV4MPEG2"
        can_peek = hasattr(src, "peek")
        head = src.peek(len(magic))[: len(magic)] if can_peek else b""
        if can_peek and not head:
            raise InputFormatError("empty input: no video to encode")
        # a pipe may deliver fewer bytes than asked for: judge only what arrived
        if head and not magic.startswith(head):
            raise UsageError("input is not Y4M; for raw video give -s WxH (and --pix-fmt, -r)")
        if a.pix_fmt or a.rate or a.color_range:
            raise UsageError("--pix-fmt, -r and --color-range describe raw input; Y4M carries its own")
        reader = Y4MReader(src)
        w, h, fps, color, pix_fmt = reader.width, reader.height, reader.fps, reader.color, "yuv420p"
    enc = Encoder(w, h, fps, pix_fmt=pix_fmt, color=color, quality=a.quality, intra_period=a.intra_period,
                  weights=a.weights, device=a.device, threads=a.threads, max_pixels=a.max_pixels,
                  bitrate=a.bitrate, target_bpp=a.target_bpp, frames=a.frames or None,
                  sample_aspect=reader.aspect if isinstance(reader, Y4MReader) else (0, 0), preset=a.preset,
                  maxrate=a.maxrate, bufsize=a.bufsize, first_pass=first_pass)
    progress = _Progress(a, "encode", w * h)
    bits = 0
    with _output(a.output, a.keep_partial) as sink:
        out = sink.stream
        header = enc.header_bytes()
        bits += 8 * len(header)
        ahead: collections.deque = collections.deque()  # frames read, not yet encoded (look-ahead)
        def fill(count: int) -> None:
            limit = None if a.frames is None else a.frames - sink.frames
            while len(ahead) < count and (limit is None or len(ahead) < limit):
                frame = reader.read_frame()
                if frame is None:
                    return
                ahead.append(frame)
        while a.frames is None or sink.frames < a.frames:
            fill(1 + lookahead)
            if not ahead:
                break
            frame = ahead.popleft()
            packet = enc.encode(frame, list(ahead))
            if sink.frames == 0:  # the header goes out with the first packet: no lone header on failure
                out.write(header)
            out.write(packet)
            sink.commit()  # header + whole packets: a valid stream (the header holds no frame count)
            bits += 8 * len(packet)
            progress.update(sink.frames, bits, float(fps))
        if sink.frames == 0:
            if a.frames != 0:
                raise InputFormatError("empty input: no frames to encode")
            out.write(header)  # --frames 0: a valid stream of no frames
    if a.pass_ == 1:
        _write_pass_stats(a.stats, enc.pass_stats().dumps())
    warning = None if enc.rate is None else enc.rate.warning(float(fps))
    if warning is not None:
        _error_line(f"warning: {warning}")
    progress.finish(sink.frames, bits, float(fps))  # the last line
    return 0


def _read_pass_stats(name: str):
    """The first pass's stats (:class:`gvc1d_codec.ratecontrol.PassStats`) from file ``name``;
    a one-line error when it is missing or damaged."""
    from .ratecontrol import PassStats

    try:
        with open(name, "rb") as f:
            text = f.read(64 << 20).decode("utf-8", "replace")  # ~100 bytes a frame: 64 MiB is beyond any clip
    except OSError as e:
        raise UsageError(f"cannot read the first-pass stats {name}: {e.strerror} (run --pass 1 first)") from None
    try:
        return PassStats.loads(text)
    except ValueError as e:
        raise UsageError(f"{name}: {e}") from None


def _write_pass_stats(name: str, text: str) -> None:
    """Write the stats file whole or not at all (a failed first pass leaves no stats behind)."""
    from .io.atomic import atomic_write

    try:
        atomic_write(name, text.encode("utf-8"))
    except OSError as e:
        raise GVC1DError(f"cannot write the first-pass stats {name}: {e.strerror}") from None


def cmd_decode(a: argparse.Namespace) -> int:
    from .bitstream import read_header
    from .codec import Decoder
    from .io import RawWriter, Y4MWriter

    if a.output_format == "y4m" and a.pix_fmt == "rgb24":
        raise UsageError("Y4M output is yuv420p; use --output-format rawvideo for rgb24")
    src = _open_input(a.input)
    header = read_header(src)  # every field checked before anything is sized from it
    pix_fmt = a.pix_fmt or ("yuv420p" if a.output_format == "y4m" else header.pix_fmt)
    dec = Decoder(header, weights=a.weights, device=a.device, pix_fmt=pix_fmt, threads=a.threads,
                  max_pixels=a.max_pixels)
    progress = _Progress(a, "decode", header.width * header.height)
    bits, frames = 8 * len(header.pack()), 0  # frames: output or lost, from --start-frame on
    with _output(a.output, a.keep_partial) as sink:
        writer = (Y4MWriter(sink.stream, header.width, header.height, header.frame_rate, dec.color, header.sample_aspect)
                  if a.output_format == "y4m" else RawWriter(sink.stream))
        try:
            for out in dec.decode_stream(src, on_error=a.on_error, start_frame=a.start_frame):
                if out.frame is not None:
                    writer.write_frame(out.frame)
                    sink.commit()
                bits += 8 * out.packet_bytes
                frames += 1
                progress.update(frames, bits, float(header.frame_rate))
        except BitstreamError as e:
            if sink.is_file and not a.keep_partial and sink.frames:
                raise GVC1DError(f"{e}; the {sink.frames} frames before it were not kept "
                                 f"(--keep-partial keeps them)") from None
            raise
    summary = dec.loss_summary()
    if summary is not None:  # one line: the loss, then the summary
        _error_line(f"error: {summary}" + ("" if a.quiet else f"; {progress.summary(frames, bits, float(header.frame_rate))}"))
        return EXIT_FRAMES_LOST
    progress.finish(frames, bits, float(header.frame_rate))
    return 0


def cmd_info(a: argparse.Namespace) -> int:
    if a.qualities:
        from .quality import highest
        from .weights import load_weights

        cfg = load_weights(a.weights).config
        sys.stdout.write("".join(f"{q}\n" for q in range(highest(cfg.qualities) + 1)))
        return 0
    if not a.file:
        raise UsageError("info needs a .gvc file (or --qualities)")
    from .bitstream import PacketReader, read_header
    from .quality import from_code, header_quality

    src = _open_input(a.file)
    h = read_header(src)
    out = sys.stdout
    out.write(f"format version  {h.format_version}\n")
    out.write(f"size            {h.width}x{h.height}\n")
    out.write(f"frame rate      {h.fps_num}/{h.fps_den}\n")
    out.write(f"source format   {h.pix_fmt} ({h.color_matrix}, {h.color_range} range"
              f"{', extended: samples outside the RGB cube kept' if h.extended_range else ''})\n")
    fixed = header_quality(h.quality)
    out.write(f"quality         {'variable (rate control)' if fixed is None else f'{fixed:g}'}\n")
    out.write(f"intra period    {h.intra_period}\n")
    out.write(f"layer steps     {'wide (238 .. 4)' if h.wide_steps else 'original (61 .. 4)'}\n")
    if h.sample_aspect != (0, 0) or h.chroma_location != "unspecified":
        out.write(f"sample aspect   {h.sample_aspect[0]}:{h.sample_aspect[1]}, chroma {h.chroma_location}\n")
    out.write(f"model           {h.config_id}, weights sha256 {h.weights_sha256_prefix.hex()}..., entropy model {h.entropy_model_id}\n")
    header_bytes = len(h.pack())
    out.write(f"header          {header_bytes} bytes\n")
    out.write("frame  type  quality  bytes  framing\n")
    total, framing, n = header_bytes, 0, 0
    sizes = []
    reader = PacketReader(src, h)
    for p in reader:
        sizes.append(8 * reader.last_size)
        quality = f"{from_code(p.payload[0]):g}" if p.payload else "-"
        out.write(f"{p.frame_index:5d}  {p.frame_type:>4}  {quality:>7}  {reader.last_size:5d}  {reader.last_framing:7d}\n")
        total += reader.last_size
        framing += reader.last_framing
        n += 1
    bpp = 8 * total / (h.width * h.height * max(n, 1))
    out.write(f"frames {n}, {total} bytes, {bpp:.4f} bpp; header and framing {header_bytes + framing} bytes "
              f"({100 * (header_bytes + framing) / max(total, 1):.1f}%)\n")
    if a.vbv is not None:
        from .ratecontrol import vbv_replay

        rate, size = a.vbv
        worst, over = vbv_replay(sizes, rate * h.fps_den / h.fps_num, size, 8 * header_bytes)
        out.write(f"vbv {rate / 1000:g} kbit/s, {size / 1000:g} kbit: fullest {100 * worst:.1f}%, "
                  f"{over} of {n} frames over\n")
        if over:
            raise GVC1DError(f"the stream overflows a VBV of {rate / 1000:g} kbit/s, {size / 1000:g} kbit in {over} frames "
                             f"(fullest {100 * worst:.1f}%)")
    return 0


def cmd_conformance(a: argparse.Namespace) -> int:
    import json

    from .conformance import check

    if a.threads is not None and a.threads < 1:
        raise UsageError("--threads must be >= 1")
    streams = [x for x in a.streams.split(",") if x] if a.streams else None
    report = check(a.dir, weights=a.weights, threads=a.threads, streams=streams, strict_pixels=a.strict_pixels)
    sys.stdout.write(json.dumps(report.to_dict(), indent=1) + "\n" if a.json else report.table() + "\n")
    sys.stdout.flush()
    if not report.ok:
        bad = [s.name for s in report.streams if not s.symbols_ok or (a.strict_pixels and not s.pixels_ok)]
        raise GVC1DError(f"conformance failed: {len(bad)} of {len(report.streams)} streams ({', '.join(bad)})")
    return 0


def _error_line(message: str) -> None:
    """The one stderr line of a failure (finishing an open progress line first)."""
    lead = "\n" if _Progress.line_open else ""
    _Progress.line_open = False
    with contextlib.suppress(OSError):  # stderr may be a closed pipe too
        sys.stderr.write(f"{lead}{PROG}: {message}\n")
        sys.stderr.flush()


def _terminate(signum, frame):
    raise _Terminated()


def main(argv: list[str] | None = None) -> int:
    # A closed downstream pipe raises BrokenPipeError (Python ignores SIGPIPE), so outputs are
    # cleaned up on the way out like on any failure; the exit status is then 141, as for `cat`.
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:  # no command: what there is to do, and status 2 (like git, ffmpeg)
        sys.stderr.write(_usage(parser))
        return EXIT_USAGE
    on_main_thread = threading.current_thread() is threading.main_thread()
    own_term = on_main_thread and signal.getsignal(signal.SIGTERM) == signal.SIG_DFL
    if own_term:
        signal.signal(signal.SIGTERM, _terminate)
    try:
        return {"encode": cmd_encode, "decode": cmd_decode, "info": cmd_info,
                "conformance": cmd_conformance}[args.command](args)
    except KeyboardInterrupt:
        from .io.atomic import signals_held

        with signals_held():  # a second Ctrl-C must not turn into a traceback
            _error_line("interrupted")
        return EXIT_INTERRUPTED
    except _Terminated:
        from .io.atomic import signals_held

        with signals_held():
            _error_line("terminated")
        return EXIT_TERMINATED
    except BrokenPipeError:
        with contextlib.suppress(OSError, ValueError):  # no "Exception ignored" when stdout is flushed at exit
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    except (UsageError, SettingsError) as e:
        _error_line(f"error: {e}")
        return EXIT_USAGE
    except GVC1DError as e:
        _error_line(f"error: {e}")
        return EXIT_ERROR
    except MemoryError:
        _error_line("error: out of memory")
        return EXIT_ERROR
    except Exception as e:  # never a traceback for a user; GVC1D_DEBUG=1 shows it
        if os.environ.get("GVC1D_DEBUG"):
            raise
        _error_line(f"error: internal error: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")
        return EXIT_ERROR
    finally:
        if own_term:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)


if __name__ == "__main__":
    sys.exit(main())
