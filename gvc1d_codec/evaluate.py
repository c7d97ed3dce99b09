"""Compare a decoded video with its source: ``python -m gvc1d_codec.evaluate SRC.y4m DEC.y4m [--gvc F]``.

Prints bpp (whole .gvc file, header included), PSNR-YUV ((6Y+U+V)/8 on the 8-bit planes),
PSNR-RGB and MS-SSIM on RGB from the one fixed conversion (gvc1d_codec.color), and LPIPS-Alex when
its weights are cached (``python -m gvc1d_codec.metrics fetch``).

The benchmarks share its pieces: :func:`code_clip` (a clip through ``Encoder``/``Decoder`` into one
in-memory .gvc stream and back, with the coding times), :func:`frame_metrics` (every metric of one
decoded frame) and :func:`mean_metrics` (the mean over frames).
"""
from __future__ import annotations

import argparse
import io
import json
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np
import torch

from . import metrics
from .bitstream import PacketReader, read_header
from .codec import Decoder, Encoder
from .color import frame_to_rgb
from .errors import GVC1DError
from .frame import ColorInfo, VideoFrame
from .io import Y4MReader
from .ratecontrol import PassStats


def frame_metrics(src: VideoFrame, dec: VideoFrame, src_color: ColorInfo = ColorInfo(),
                  dec_color: ColorInfo | None = None, lpips_net=None, dists_net=None) -> dict:
    """The quality of one decoded frame against its source.

    ``psnr_yuv`` on the 8-bit planes; ``grid`` (:func:`metrics.grid_artefact`, 1.0 = no 16 px
    grid beyond the source's) on luma; ``psnr_rgb``, ``ms_ssim`` and, when the networks are given,
    ``lpips_alex`` (a :class:`metrics.LPIPS`) and ``dists`` (a :class:`metrics.DISTS`) on RGB from
    the codec's one conversion (:func:`frame_to_rgb`; BT.709 limited range unless the colour says
    otherwise).
    """
    a = frame_to_rgb(src, src_color)[None]
    b = frame_to_rgb(dec, src_color if dec_color is None else dec_color)[None]
    row = {"psnr_yuv": metrics.psnr_yuv(src.planes, dec.planes), "psnr_rgb": float(metrics.psnr_rgb(a, b)),
           "ms_ssim": float(metrics.ms_ssim(a, b)), "grid": metrics.grid_artefact(src.planes[0], dec.planes[0])}
    with torch.no_grad():
        if lpips_net is not None:
            row["lpips_alex"] = float(lpips_net(a, b))
        if dists_net is not None:
            row["dists"] = float(dists_net(a, b))
    return row


def mean_metrics(rows: Sequence[dict]) -> dict:
    """Per-frame metric rows -> the mean over frames of each metric."""
    if not rows:
        raise GVC1DError("no frames to compare")
    return {k: float(np.mean([r[k] for r in rows])) for k in rows[0]}


@dataclass
class CodedClip:
    """A clip coded and decoded through the frame-level API (:func:`code_clip`)."""

    stream: bytes               # the whole .gvc file: header and every packet
    decoded: list[VideoFrame]
    encode_seconds: float       # the Encoder.encode calls only
    decode_seconds: float       # the Decoder.decode calls only
    ideal_bits: float           # the integer model's ideal bits for the payloads
    payload_bits: int           # the entropy coder's real payload bits, as sent (quality bytes where stated)
    framing_bits: int = 0       # the header's and the packets' framing bits (the rest of the file)
    qualities: list[float] = field(default_factory=list)  # each frame's quality
    pass_stats: PassStats | None = None  # rate control: what it measured, for a second pass

    def bpp(self, width: int, height: int) -> float:
        return 8 * len(self.stream) / (width * height * len(self.decoded))


def code_clip(frames: Sequence[VideoFrame], quality: float | None, weights=None, intra_period: int = -1,
              fps: Fraction | int = 25, bitrate: float | None = None, point: float | None = None,
              first_pass: PassStats | None = None, lookahead: int = 0, maxrate: float | None = None) -> CodedClip:
    """Encode ``frames`` with :class:`Encoder` into one in-memory .gvc stream, then decode it with
    :class:`Decoder`, as the CLI does (``weights``: a registry name, path or loaded weights).
    ``bitrate`` (bits/s, ``quality`` None): rate control instead of a fixed quality; ``point``
    (``quality`` None): a coding point of the payloads' scale (:class:`Encoder`); ``first_pass``
    (with ``bitrate``): a second pass with a first pass's stats (``CodedClip.pass_stats``);
    ``lookahead`` (with ``bitrate``): the encoder sees that many upcoming frames (``--lookahead``);
    ``maxrate``: a VBV of that rate and one second's bucket (``--maxrate``)."""
    h, w = frames[0].height, frames[0].width
    enc = Encoder(w, h, fps=fps, quality=quality, intra_period=intra_period, weights=weights, bitrate=bitrate,
                  frames=len(frames) if bitrate is not None else None, point=point, first_pass=first_pass,
                  maxrate=maxrate)
    qualities = []
    buf = io.BytesIO()
    buf.write(enc.header_bytes())
    ideal, t_enc = 0.0, 0.0
    for k, f in enumerate(frames):
        t0 = time.perf_counter()
        packet = enc.encode(f, frames[k + 1: k + 1 + lookahead])
        t_enc += time.perf_counter() - t0
        buf.write(packet)
        ideal += enc.last.ideal_bits
        qualities.append(enc.last.quality)
    stream = buf.getvalue()
    buf.seek(0)
    header = read_header(buf)
    dec = Decoder(header, weights=weights)
    decoded, payload, t_dec = [], 0, 0.0
    reader = PacketReader(buf, header)
    for p in reader:
        t0 = time.perf_counter()
        decoded.append(dec.decode(p))
        t_dec += time.perf_counter() - t0
        payload += 8 * (reader.last_size - reader.last_framing)
    if len(decoded) != len(frames):
        raise GVC1DError(f"decoded {len(decoded)} frames of {len(frames)}")
    return CodedClip(stream, decoded, t_enc, t_dec, ideal, payload, framing_bits=8 * len(stream) - payload,
                     qualities=qualities, pass_stats=None if enc.rate is None else enc.pass_stats())


def compare(src_path: str, dec_path: str, gvc_path: str | None = None, lpips: bool = True) -> dict:
    with open(src_path, "rb") as fs, open(dec_path, "rb") as fd:
        src, dec = Y4MReader(fs), Y4MReader(fd)
        if (src.width, src.height) != (dec.width, dec.height):
            raise GVC1DError(f"sizes differ: {src.width}x{src.height} vs {dec.width}x{dec.height}")
        lp = None
        if lpips:
            try:
                lp = metrics.LPIPS("alex")
            except Exception:  # weights not fetched: report without LPIPS
                lp = None
        rows = []
        while True:
            a, b = src.read_frame(), dec.read_frame()
            if a is None or b is None:
                break
            rows.append(frame_metrics(a, b, src.color, dec.color, lpips_net=lp))
    out = {"frames": len(rows), "width": src.width, "height": src.height}
    out.update(mean_metrics(rows))
    if gvc_path:
        out["bpp"] = 8 * os.path.getsize(gvc_path) / (src.width * src.height * len(rows))
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m gvc1d_codec.evaluate", description=__doc__.splitlines()[0])
    p.add_argument("source")
    p.add_argument("decoded")
    p.add_argument("--gvc", help="the .gvc file, for bpp")
    p.add_argument("--json", action="store_true")
    a = p.parse_args(argv)
    try:
        r = compare(a.source, a.decoded, a.gvc)
    except (GVC1DError, OSError) as e:
        print(f"evaluate: error: {e}", file=sys.stderr)
        return 1
    if a.json:
        print(json.dumps(r))
    else:
        parts = [f"{r['frames']} frames {r['width']}x{r['height']}"]
        if "bpp" in r:
            parts.append(f"bpp {r['bpp']:.4f}")
        parts += [f"PSNR-YUV {r['psnr_yuv']:.2f} dB", f"PSNR-RGB {r['psnr_rgb']:.2f} dB", f"MS-SSIM {r['ms_ssim']:.4f}"]
        if "lpips_alex" in r:
            parts.append(f"LPIPS-Alex {r['lpips_alex']:.4f}")
        print(", ".join(parts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
