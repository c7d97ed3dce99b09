#!/usr/bin/env python3
"""Encoder presets against each other: rate, quality, encode and decode time per level, and the
BD-rate of each preset against ``medium`` (PSNR-YUV, LPIPS-Alex and DISTS, every bit counted:
decoder updates included), low delay, per clip.

    python benchmarks/presets.py --clips carphone,cockatoo --frames 16 --qualities 0,1,2,3 \
        [--presets medium,slow] [--intra-period 32] [--json F]

Every preset's streams decode with the same decoder (gvc1d_codec/presets.py). Encode time is
reported as wall time and as the process's CPU time (``time.process_time``): the CPU-time ratio
holds when other work shares the machine, the wall-time ratio only on an idle one.
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
from gvc1d_codec.config import DEFAULT_INTRA_PERIOD  # noqa: E402
from gvc1d_codec.data.clips import clip_y4m  # noqa: E402
from gvc1d_codec.evaluate import frame_metrics  # noqa: E402
from gvc1d_codec.io import Y4MReader  # noqa: E402
from gvc1d_codec.metrics.bdrate import bd_rate  # noqa: E402
from gvc1d_codec.weights import load_weights  # noqa: E402


def run(frames, loaded, quality: float, preset: str, intra_period: int, lpips, dists) -> dict:
    w, h = frames[0].width, frames[0].height
    enc = Encoder(w, h, quality=quality, intra_period=intra_period, weights=loaded, preset=preset)
    t0, c0 = time.perf_counter(), time.process_time()
    data = enc.header_bytes() + b"".join(enc.encode(f) for f in frames)
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    src = io.BytesIO(data)
    dec = Decoder(read_header(src), weights=loaded)
    t0 = time.perf_counter()
    decoded = [o.frame for o in dec.decode_stream(src)]
    decode_seconds = time.perf_counter() - t0
    rows = [frame_metrics(f, d, lpips_net=lpips, dists_net=dists) for f, d in zip(frames, decoded)]
    out = {k: float(np.mean([r[k] for r in rows])) for k in rows[0]}
    out.update(bpp=8 * len(data) / (w * h * len(frames)), encode_seconds=seconds, encode_cpu_seconds=cpu,
               decode_seconds=decode_seconds,
               quality=quality, preset=preset)
    return out


METRICS = (("psnr_yuv", True), ("lpips_alex", False), ("dists", False))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clips", default="carphone")
    ap.add_argument("--frames", type=int, default=16)
    ap.add_argument("--qualities", default="0,1,2,3")
    ap.add_argument("--presets", default="medium,slow")
    ap.add_argument("--intra-period", type=int, default=DEFAULT_INTRA_PERIOD)
    ap.add_argument("--weights")
    ap.add_argument("--json")
    a = ap.parse_args()
    loaded = load_weights(a.weights)
    lpips, dists = metrics.LPIPS("alex"), metrics.DISTS()
    qualities = [float(q) for q in a.qualities.split(",")]
    presets = a.presets.split(",")
    everything = {}
    print(f"weights sha256 {loaded.sha256[:16]}..., {a.frames} frames, intra period {a.intra_period}", flush=True)
    print("| clip | preset | quality | bpp | PSNR-YUV | LPIPS-Alex | DISTS | encode s/frame | decode s/frame |")
    print("|---|---|---|---|---|---|---|---|---|", flush=True)
    for clip in a.clips.split(","):
        with open(clip_y4m(clip, max_frames=a.frames), "rb") as f:
            frames = [fr for _, fr in zip(range(a.frames), Y4MReader(f))]
        results = {}
        for p in presets:
            results[p] = []
            for q in qualities:
                r = run(frames, loaded, q, p, a.intra_period, lpips, dists)
                results[p].append(r)
                print(f"| {clip} | {p} | {q:g} | {r['bpp']:.4f} | {r['psnr_yuv']:.2f} | {r['lpips_alex']:.4f} | "
                      f"{r['dists']:.4f} | {r['encode_seconds'] / len(frames):.2f} | {r['decode_seconds'] / len(frames):.3f} |",
                      flush=True)
        everything[clip] = results
    print()
    print("| clip | preset | BD-rate PSNR-YUV | LPIPS-Alex | DISTS | encode time | encode CPU time | decode time |")
    print("|---|---|---|---|---|---|---|---|")
    for clip, results in everything.items():
        base = results.get("medium")
        for p, rows in results.items():
            if p == "medium" or base is None:
                continue
            bd = [bd_rate([m["bpp"] for m in base], [m[k] for m in base], [m["bpp"] for m in rows],
                          [m[k] for m in rows], higher_is_better=hi).percent for k, hi in METRICS]
            enc = sum(m["encode_seconds"] for m in rows) / sum(m["encode_seconds"] for m in base)
            cpu = sum(m["encode_cpu_seconds"] for m in rows) / sum(m["encode_cpu_seconds"] for m in base)
            dec = sum(m["decode_seconds"] for m in rows) / sum(m["decode_seconds"] for m in base)
            print(f"| {clip} | {p} | {bd[0]:+.1f}% | {bd[1]:+.1f}% | {bd[2]:+.1f}% | {enc:.2f}x | {cpu:.2f}x | {dec:.2f}x |")
    if a.json:
        Path(a.json).write_text(json.dumps(everything, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
