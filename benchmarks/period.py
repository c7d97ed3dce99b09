"""Over one intra period: does quality drift, does the picture pop at the intra frame, are colours kept?

    python benchmarks/period.py [--weights W] [--clips carphone,cockatoo] [--frames 33]
        [--qualities 1,2,3,4,5] [--json F]

Codes the first ``--frames`` frames of each held-out clip with the default intra period (32) through
the frame-level API, and prints per clip and quality:

* LPIPS-Alex of the first P frame (frame 1) and of the last P frame of the period (frame 31), and
  their difference (drift; P11's target: <= +0.01);
* the pop at the next intra frame (frame 32, when coded): PSNR-YUV of frame 32 minus frame 31;
* the mean chroma saturation of the decoded frames relative to the source's, from the 8-bit
  planes: mean of sqrt((U-128)² + (V-128)²) (P11's target: within 5 %).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gvc1d_codec import VideoFrame  # noqa: E402
from gvc1d_codec.config import DEFAULT_INTRA_PERIOD  # noqa: E402
from gvc1d_codec.data.clips import load_clip  # noqa: E402
from gvc1d_codec.evaluate import code_clip, frame_metrics  # noqa: E402
from gvc1d_codec.metrics.lpips import LPIPS  # noqa: E402
from gvc1d_codec.weights import load_weights  # noqa: E402


def saturation(frame: VideoFrame) -> float:
    u, v = (p.astype(np.float64) - 128 for p in frame.planes[1:])
    return float(np.sqrt(u * u + v * v).mean())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights")
    ap.add_argument("--clips", default="carphone,cockatoo")
    ap.add_argument("--frames", type=int, default=DEFAULT_INTRA_PERIOD + 1)
    ap.add_argument("--qualities", default="1,2,3,4,5")
    ap.add_argument("--json")
    a = ap.parse_args()
    torch.set_num_threads(1)
    loaded = load_weights(a.weights)
    net = LPIPS("alex").eval()
    rows = []
    print("| clip | quality | bpp | LPIPS frame 1 | LPIPS frame 31 | drift | PSNR-YUV 31 -> 32 (pop) | saturation / source |")
    print("|---|---|---|---|---|---|---|---|")
    for clip in a.clips.split(","):
        y, u, v = load_clip(clip, max_frames=a.frames)
        t, h, w = y.shape
        src = [VideoFrame("yuv420p", (y[i], u[i], v[i])) for i in range(t)]
        sat_src = np.mean([saturation(f) for f in src])
        for q in (float(s) for s in a.qualities.split(",")):
            coded = code_clip(src, q, weights=loaded, intra_period=DEFAULT_INTRA_PERIOD)
            m = [frame_metrics(s, d, lpips_net=net) for s, d in zip(src, coded.decoded)]
            last = min(t, DEFAULT_INTRA_PERIOD) - 1
            row = {"clip": clip, "size": f"{w}x{h}", "frames": t, "quality": q, "bpp": coded.bpp(w, h),
                   "lpips_first_p": m[1]["lpips_alex"], "lpips_last_p": m[last]["lpips_alex"],
                   "drift": m[last]["lpips_alex"] - m[1]["lpips_alex"], "last_p": last,
                   "pop_psnr_yuv": m[DEFAULT_INTRA_PERIOD]["psnr_yuv"] - m[last]["psnr_yuv"] if t > DEFAULT_INTRA_PERIOD else None,
                   "saturation_ratio": float(np.mean([saturation(f) for f in coded.decoded]) / sat_src),
                   "per_frame_lpips": [round(r["lpips_alex"], 4) for r in m],
                   "per_frame_psnr_yuv": [round(r["psnr_yuv"], 2) for r in m]}
            rows.append(row)
            pop = "-" if row["pop_psnr_yuv"] is None else f"{row['pop_psnr_yuv']:+.2f} dB"
            print(f"| {clip} {w}x{h} | {q:g} | {row['bpp']:.4f} | {row['lpips_first_p']:.4f} | {row['lpips_last_p']:.4f} "
                  f"(frame {last}) | {row['drift']:+.4f} | {pop} | {row['saturation_ratio']:.3f} |", flush=True)
    if a.json:
        Path(a.json).write_text(json.dumps({"weights_sha256": loaded.sha256, "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
