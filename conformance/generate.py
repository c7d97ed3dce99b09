#!/usr/bin/env python3
"""Write the conformance set (streams + manifest.json) from one weights file, in one command.

    nice -n 19 python conformance/generate.py --weights gvc1d_codec/models/gvc1d-tiny.safetensors            # -> conformance/
    nice -n 19 python conformance/generate.py --weights /tmp/w.safetensors --out /tmp/conf --force

Encodes every stream of :data:`STREAM_SPECS` from the registry clips (``../shared`` and PyPI, see
gvc1d_codec/data/clips.py), decodes each again with a fresh decoder, checks that the decoder's
symbols equal the encoder's, and writes the ``.gvc`` files and the manifest (SHA-256 per stream,
per-frame symbol SHA-256 and picture MD5). Refuses to overwrite an existing set without
``--force``. See docs/conformance.md.

This is tooling (it reads clips and computes PSNR): the runtime's side, hashing and checking a set,
is :mod:`gvc1d_codec.conformance`, which this module uses.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

try:
    import gvc1d_codec  # noqa: F401
except ImportError:  # run from a checkout without installing
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gvc1d_codec import __version__  # noqa: E402
from gvc1d_codec.bitstream import Framer  # noqa: E402
from gvc1d_codec.codec import Encoder  # noqa: E402
from gvc1d_codec.conformance import (  # noqa: E402
    DEFAULT_DIR, MANIFEST_FORMAT, MANIFEST_NAME, MAX_SET_BYTES, PICTURE_HASH_DEF, PIXEL_MAX_ABS_DIFF,
    PIXEL_MIN_PSNR_DB, SYMBOLS_HASH_DEF, ConformanceError, decode_stream, environment, picture_bytes,
    symbols_sha256,
)
from gvc1d_codec.data.clips import clip_y4m  # noqa: E402
from gvc1d_codec.entropy.definition import ENTROPY_MODEL_ID  # noqa: E402
from gvc1d_codec.errors import GVC1DError  # noqa: E402
from gvc1d_codec.frame import VideoFrame  # noqa: E402
from gvc1d_codec.io import Y4MReader  # noqa: E402
from gvc1d_codec.io.atomic import atomic_write  # noqa: E402
from gvc1d_codec.metrics.psnr import psnr_uint8  # noqa: E402
from gvc1d_codec.runtime import configure_threads  # noqa: E402
from gvc1d_codec.weights import load_weights  # noqa: E402

# ---- the stream matrix ------------------------------------------------------------------------------

@dataclass(frozen=True)
class StreamSpec:
    """One conformance stream: the first ``frames`` frames of registry clip ``clip``, at a fixed
    ``quality`` or, with ``bitrate`` (bits/s), under rate control. ``quality`` is a coding point of
    the payloads' scale (``Encoder(point=...)``: 0..Q-1 the tokens' levels, also between levels;
    above Q-1 the enhancement layer), so a stream exercises exactly what its name says whatever
    the encoder's quality scale maps to (``quality.coding_point``)."""

    clip: str
    quality: float | None
    intra_period: int
    frames: int
    why: str = ""
    bitrate: float | None = None
    preset: str = "medium"

    @property
    def name(self) -> str:
        ip = "inf" if self.intra_period == -1 else str(self.intra_period)
        rate = f"b{self.bitrate / 1000:g}k" if self.bitrate else f"q{self.quality:g}"
        preset = "" if self.preset == "medium" else f"_{self.preset}"
        return f"{self.clip}_{rate}_ip{ip}_f{self.frames}{preset}"

    @property
    def settings(self) -> dict:
        out = {"quality": self.quality, "intra_period": self.intra_period}
        if self.preset != "medium":
            out["preset"] = self.preset
        return out if self.bitrate is None else {**out, "bitrate": self.bitrate}

    @property
    def file(self) -> str:
        return self.name + ".gvc"


# Every quality level, intra period -1 and finite ones (with an intra refresh inside the stream),
# a one-frame stream, >= 16 frames where the clip has them, and four sizes none of which is a whole
# number of 128 px windows (carphone 176x144 is the small odd one: 2x2 windows, mostly padding).
STREAM_SPECS: tuple[StreamSpec, ...] = (
    StreamSpec("carphone", 0, -1, 16, "176x144 (not a multiple of the window), lowest quality, P frames only after frame 0"),
    StreamSpec("foreman", 3, 8, 16, "352x288, highest quality, intra refresh at frame 8 (context reset)"),
    StreamSpec("cisco_2people", 1, 4, 9, "320x192, the whole clip, intra at frames 0, 4, 8"),
    StreamSpec("cisco_men", 1.5, -1, 9, "640x320 (15 windows), the whole clip, a quality between levels (two-hot condition)"),
    StreamSpec("foreman", None, 8, 16, "rate control: each frame's quality chosen for 60 kbit/s, intra refresh at frame 8",
               bitrate=60000.0),
    StreamSpec("foreman", 1, -1, 1, "one-frame stream"),
    StreamSpec("carphone", 2, 2, 4, "short stream alternating I and P frames (the quick CI subset)"),
    StreamSpec("cisco_men", 5.5, 4, 6, "640x320, the enhancement layer on I and P frames, P frames with sub-pel prediction modes (entropy model 5)"),
    StreamSpec("cisco_men", 2, 3, 6, "640x320, preset slow: a decoder update in each intra frame, applied over its period (entropy model 7)",
               preset="slow"),
)

def _read_clip(name: str, frames: int):
    with open(clip_y4m(name, max_frames=frames), "rb") as f:
        reader = Y4MReader(f)
        out = []
        while len(out) < frames:
            fr = reader.read_frame()
            if fr is None:
                break
            out.append(fr)
        return out, reader.fps, reader.color


def _encode(spec: StreamSpec, frames: list[VideoFrame], fps: Fraction, color, loaded) -> tuple[bytes, list[str], str]:
    f0 = frames[0]
    enc = Encoder(f0.width, f0.height, fps, pix_fmt=f0.pix_fmt, color=color, point=spec.quality,
                  intra_period=spec.intra_period, weights=loaded, bitrate=spec.bitrate, preset=spec.preset)
    parts, hashes, types = [enc.header_bytes()], [], ""
    framer = Framer(enc.header)
    for f in frames:
        packet = enc.encode_packet(f)
        parts.append(framer.frame(packet))
        hashes.append(symbols_sha256(enc.last_symbols, enc.last_coefficients, enc.last_update))
        types += packet.frame_type
    return b"".join(parts), hashes, types


def generate(out_dir: str | os.PathLike, weights, specs: Iterable[StreamSpec] = STREAM_SPECS, force: bool = False,
             threads: int | None = None, log: Callable[[str], None] = lambda s: None,
             clip_reader: Callable[[str, int], tuple] | None = None, max_bytes: int | None = MAX_SET_BYTES) -> dict:
    """Encode every spec, decode it again (fresh decoder), and write the streams and the manifest
    to ``out_dir``. Refuses to overwrite an existing set unless ``force``. Returns the manifest."""
    out = Path(out_dir)
    specs = list(specs)
    names = [s.name for s in specs]
    if len(set(names)) != len(names):
        raise ConformanceError("two conformance streams have the same name")
    existing = sorted(p.name for p in out.glob("*.gvc")) + ([MANIFEST_NAME] if (out / MANIFEST_NAME).exists() else [])
    if existing and not force:
        raise ConformanceError(f"{out} already holds a conformance set ({', '.join(existing[:4])}"
                               f"{', ...' if len(existing) > 4 else ''}); use --force to replace it")
    configure_threads(threads)
    loaded = weights if hasattr(weights, "model") else load_weights(weights)
    read = clip_reader or _read_clip
    streams, blobs = [], {}
    for spec in specs:
        t0 = time.monotonic()
        frames, fps, color = read(spec.clip, spec.frames)
        if len(frames) < spec.frames:
            raise ConformanceError(f"clip {spec.clip} has only {len(frames)} frames, {spec.name} needs {spec.frames}")
        src_hash = hashlib.sha256(b"".join(picture_bytes(f) for f in frames)).hexdigest()
        data, enc_hashes, types = _encode(spec, frames, fps, color, loaded)
        pictures: list[VideoFrame] = []
        trace = decode_stream(data, loaded, on_picture=lambda i, f: pictures.append(f))
        if trace.error is not None:
            raise ConformanceError(f"{spec.name}: the reference decoder fails on its own stream: {trace.error}")
        if trace.symbols_sha256 != enc_hashes:
            bad = next(i for i, (a, b) in enumerate(zip(trace.symbols_sha256, enc_hashes)) if a != b)
            raise ConformanceError(f"{spec.name}: decoder symbols differ from the encoder's in frame {bad}")
        h = trace.header
        streams.append({
            "file": spec.file,
            "sha256": hashlib.sha256(data).hexdigest(),
            "bytes": len(data),
            "purpose": spec.why,
            "source": {"clip": spec.clip, "frames": spec.frames, "width": h.width, "height": h.height,
                       "fps": f"{h.fps_num}/{h.fps_den}", "pix_fmt": h.pix_fmt, "color_matrix": h.color_matrix,
                       "color_range": h.color_range, "planes_sha256": src_hash},
            "settings": spec.settings,
            "frames": len(trace.symbols_sha256),
            "windows": _windows(h, loaded.config.window),
            "frame_types": types,
            "symbols_sha256": trace.symbols_sha256,
            "picture_md5": trace.picture_md5,
            "psnr_db": [round(psnr_uint8(np.frombuffer(picture_bytes(a), np.uint8), np.frombuffer(picture_bytes(b), np.uint8)), 3)
                        for a, b in zip(pictures, frames)],
        })
        blobs[spec.file] = data
        log(f"{spec.name}: {len(frames)} frames ({types}), {len(data)} bytes, "
            f"mean PSNR {np.mean(streams[-1]['psnr_db']):.2f} dB, {time.monotonic() - t0:.1f} s")
    total = sum(len(b) for b in blobs.values())
    if max_bytes is not None and total > max_bytes:
        raise ConformanceError(f"the streams total {total} bytes, over the {max_bytes} byte budget")
    manifest = {
        "format": MANIFEST_FORMAT,
        "weights": {"sha256": loaded.sha256, "file": loaded.path.name, "config_id": loaded.config.name,
                    "entropy_model_id": ENTROPY_MODEL_ID},
        "hashes": {"symbols_sha256": SYMBOLS_HASH_DEF, "picture_md5": PICTURE_HASH_DEF},
        "pixel_tolerance": {"max_abs_diff": PIXEL_MAX_ABS_DIFF, "min_psnr_db": PIXEL_MIN_PSNR_DB,
                            "over": "all 8-bit samples of a frame (Y, U, V), against the reference decode"},
        "generator": {"gvc1d_codec": __version__, **environment()},
        "total_bytes": total,
        "streams": streams,
    }
    out.mkdir(parents=True, exist_ok=True)
    if force:  # remove the old set (only files a set consists of)
        for p in out.glob("*.gvc"):
            p.unlink()
        (out / MANIFEST_NAME).unlink(missing_ok=True)
    for name, data in blobs.items():
        atomic_write(out / name, data)
    atomic_write(out / MANIFEST_NAME, (json.dumps(manifest, indent=1) + "\n").encode())
    return manifest


def _windows(h, window: int) -> int:
    return -(-h.width // window) * -(-h.height // window)


def spec_by_name(name: str, specs: Iterable[StreamSpec] = STREAM_SPECS) -> StreamSpec:
    for s in specs:
        if s.name == name.removesuffix(".gvc"):
            return s
    raise ConformanceError(f"no conformance stream spec {name!r}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="generate.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--weights", required=True, help="weights file (or registry name) the set is made for")
    p.add_argument("--out", default=str(DEFAULT_DIR), help=f"output directory (default {DEFAULT_DIR})")
    p.add_argument("--force", action="store_true", help="replace an existing conformance set")
    p.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    p.add_argument("--streams", help="comma-separated subset of stream names (default: all)")
    p.add_argument("--list", action="store_true", help="list the stream matrix and exit")
    a = p.parse_args(argv)
    specs = list(STREAM_SPECS)
    if a.list:
        for s in specs:
            print(f"{s.name:28s} {s.why}")
        return 0
    if a.streams:
        want = set(a.streams.split(","))
        specs = [s for s in specs if s.name in want]
        if len(specs) != len(want):
            p.error(f"unknown stream(s): {', '.join(sorted(want - {s.name for s in specs}))}")
    try:
        m = generate(a.out, a.weights, specs, force=a.force, threads=a.threads,
                     log=lambda s: print(s, file=sys.stderr, flush=True))
    except GVC1DError as e:
        print(f"generate.py: error: {e}", file=sys.stderr)
        return 1
    print(f"wrote {len(m['streams'])} streams ({m['total_bytes']} bytes) and manifest.json to {a.out}; "
          f"weights sha256 {m['weights']['sha256']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
