"""Coding points against each other: which pairs of (the tokens' level, the enhancement layer's step) are worth coding.

    python benchmarks/points.py [--clips foreman:9,bikes:9] [--tokens 0,1,2] [--layer 0.0625,0.5,1,2,3] [--json F]

The quality scale (``gvc1d_codec.quality.coding_point``) maps each quality setting to one coding
point of the payloads' scale; this measures the candidates it chooses among, so the map is set by
measurement on **training** clips (the default), never on the held-out ones. Every point codes the
first frames of a clip through Encoder/Decoder (the default intra period, 32) at:

* each of the model's levels, the tokens alone (``Encoder(point=level)``);
* each ``--tokens`` level under each ``--layer`` step e (the layer's quantiser step is 2^(6-e)
  in 8-bit units), by setting the encoder's choice ``quality.ENHANCED_TOKENS_LEVEL`` for the run.

It prints bpp (the whole stream), PSNR-YUV and LPIPS-Alex (mean over frames) per point; a point
that another beats in rate and both qualities is marked dominated.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gvc1d_codec import VideoFrame, metrics, quality  # noqa: E402
from gvc1d_codec.config import DEFAULT_INTRA_PERIOD  # noqa: E402
from gvc1d_codec.data.clips import load_clip  # noqa: E402
from gvc1d_codec.evaluate import code_clip, frame_metrics, mean_metrics  # noqa: E402
from gvc1d_codec.weights import load_weights  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--weights")
    ap.add_argument("--clips", default="foreman:9,bikes:9", help="CLIP:FRAMES,... (training clips by default)")
    ap.add_argument("--tokens", default="0,1,2", help="the tokens' levels under the layer")
    ap.add_argument("--layer", default="0.0625,0.5,1,2,3", help="the layer's steps e (multiples of 1/16, 0 < e <= 4)")
    ap.add_argument("--json")
    a = ap.parse_args()
    loaded = load_weights(a.weights)
    levels = loaded.config.qualities
    net = metrics.LPIPS("alex").eval()
    chosen = quality.ENHANCED_TOKENS_LEVEL
    rows = []
    print("| clip | frames | tokens' level | layer e | bpp | PSNR-YUV (dB) | LPIPS-Alex | |")
    print("|---|---|---|---|---|---|---|---|")
    for spec in a.clips.split(","):
        clip, _, n = spec.partition(":")
        y, u, v = load_clip(clip, max_frames=int(n) if n else None)
        t, h, w = y.shape
        src = [VideoFrame("yuv420p", (y[i], u[i], v[i])) for i in range(t)]
        pairs = [(level, 0.0) for level in range(levels)]
        pairs += [(int(tl), float(e)) for tl in a.tokens.split(",") for e in a.layer.split(",")]
        clip_rows = []
        for tokens, e in pairs:
            quality.ENHANCED_TOKENS_LEVEL = tokens - levels  # the encoder's choice, for this run only
            try:
                coded = code_clip(src, None, weights=loaded, intra_period=DEFAULT_INTRA_PERIOD,
                                  point=tokens if e == 0 else levels - 1 + e)
            finally:
                quality.ENHANCED_TOKENS_LEVEL = chosen
            m = mean_metrics([frame_metrics(s, d, lpips_net=net) for s, d in zip(src, coded.decoded)])
            clip_rows.append({"clip": clip, "frames": t, "tokens": tokens, "e": e, "bpp": coded.bpp(w, h),
                              "psnr_yuv": m["psnr_yuv"], "lpips_alex": m["lpips_alex"]})
        for r in clip_rows:
            r["dominated"] = any(o["bpp"] <= r["bpp"] and o["psnr_yuv"] > r["psnr_yuv"] and o["lpips_alex"] < r["lpips_alex"]
                                 for o in clip_rows)
            print(f"| {clip} | {t} | {r['tokens']} | {r['e']:g} | {r['bpp']:.4f} | {r['psnr_yuv']:.2f} | "
                  f"{r['lpips_alex']:.4f} | {'dominated' if r['dominated'] else ''} |", flush=True)
        rows += clip_rows
    if a.json:
        Path(a.json).write_text(json.dumps({"weights_sha256": loaded.sha256, "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
