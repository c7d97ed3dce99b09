#!/usr/bin/env python3
"""Encoder presets against each other: rate, quality and encode time per level, and the BD-rate of
each preset against ``medium`` (PSNR-YUV and LPIPS-Alex), low delay, one intra frame.

    python benchmarks/presets.py --clip carphone --frames 8 --qualities 0,1,2,3 [--presets medium,slow] [--json F]

Every preset writes the same syntax; the decoder is the same (gvc1d_codec/presets.py).
"""
from __future__ import annotations

import argparse
import io
import json
import sys
import time
from pathlib import Path

import numpy as np

try:
    import gvc1d_codec  # noqa: F401
except ImportError:  # run from a checkout without installing
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gvc1d_codec import metrics  # noqa: E402
from gvc1d_codec.bitstream import read_header  # noqa: E402
from gvc1d_codec.codec import Decoder, Encoder  # noqa: E402
from gvc1d_codec.data.clips import clip_y4m  # noqa: E402
from gvc1d_codec.evaluate import frame_metrics  # noqa: E402
from gvc1d_codec.io import Y4MReader  # noqa: E402
from gvc1d_codec.metrics.bdrate import bd_rate  # noqa: E402
from gvc1d_codec.weights import load_weights  # noqa: E402


def run(frames, loaded, quality: float, preset: str, lpips) -> dict:
    w, h = frames[0].width, frames[0].height
    enc = Encoder(w, h, quality=quality, intra_period=-1, weights=loaded, preset=preset)
    t0 = time.perf_counter()
    data = enc.header_bytes() + b"".join(enc.encode(f) for f in frames)
    seconds = time.perf_counter() - t0
    src = io.BytesIO(data)
    dec = Decoder(read_header(src), weights=loaded)
    rows = [frame_metrics(f, o.frame, lpips_net=lpips) for f, o in zip(frames, dec.decode_stream(src))]
    out = {k: float(np.mean([r[k] for r in rows])) for k in rows[0]}
    out.update(bpp=8 * len(data) / (w * h * len(frames)), encode_seconds=seconds, quality=quality, preset=preset)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clip", default="carphone")
    ap.add_argument("--frames", type=int, default=8)
    ap.add_argument("--qualities", default="0,1,2,3")
    ap.add_argument("--presets", default="medium,slow")
    ap.add_argument("--weights")
    ap.add_argument("--json")
    a = ap.parse_args()
    loaded = load_weights(a.weights)
    with open(clip_y4m(a.clip, max_frames=a.frames), "rb") as f:
        frames = [fr for _, fr in zip(range(a.frames), Y4MReader(f))]
    lpips = metrics.LPIPS("alex")
    qualities = [float(q) for q in a.qualities.split(",")]
    results = {p: [run(frames, loaded, q, p, lpips) for q in qualities] for p in a.presets.split(",")}
    print(f"{a.clip}, {len(frames)} frames, weights sha256 {loaded.sha256[:16]}...")
    print("| preset | quality | bpp | PSNR-YUV | LPIPS-Alex | encode s/frame |")
    print("|---|---|---|---|---|---|")
    for p, rows in results.items():
        for r in rows:
            print(f"| {p} | {r['quality']:g} | {r['bpp']:.4f} | {r['psnr_yuv']:.2f} | {r['lpips_alex']:.4f} | "
                  f"{r['encode_seconds'] / len(frames):.2f} |")
    base = results.get("medium")
    for p, rows in results.items():
        if p == "medium" or base is None:
            continue
        for metric, higher in (("psnr_yuv", True), ("lpips_alex", False)):
            r = bd_rate([m["bpp"] for m in base], [m[metric] for m in base], [m["bpp"] for m in rows],
                        [m[metric] for m in rows], higher_is_better=higher)
            print(f"BD-rate of {p} against medium, {metric}: {r.percent:+.1f}%")
    if a.json:
        Path(a.json).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
