"""The motion vectors' lambda: BD-rate of the encoder's motion choice at scaled lambdas, on training clips.

    python benchmarks/motion_lambda.py [--clips foreman:12,bikes:10,mobile:12,zhling720p:8] [--scales 1,0.5]
                                       [--qualities 0,1,2] [--layer] [--json F]

Codes each clip (intra period 32) at each quality with ``quality.MOTION_LAMBDA_SCALE`` (with
``--layer``: ``quality.LAYER_MOTION_LAMBDA_SCALE``, for qualities with the enhancement layer) set to
each scale in turn (the encoder's choice; the decoder does not see it) and prints bpp, PSNR-YUV
and LPIPS-Alex per point, then the BD-rates of each scale against the first. Training clips by
default: this sets an encoder constant, so it is not measured on the held-out clips.
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
from gvc1d_codec.metrics.bdrate import bd_rate  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clips", default="foreman:12,bikes:10,mobile:12,zhling720p:8", help="CLIP:FRAMES,...")
    ap.add_argument("--scales", default="1,0.5", help="lambda scales; the first is the anchor")
    ap.add_argument("--qualities", default="0,1,2")
    ap.add_argument("--layer", action="store_true", help="scale the layer's motion lambda (qualities above 2)")
    ap.add_argument("--weights")
    ap.add_argument("--json")
    a = ap.parse_args()
    scales = [float(s) for s in a.scales.split(",")]
    qualities = [float(q) for q in a.qualities.split(",")]
    net = metrics.LPIPS("alex").eval()
    name = "LAYER_MOTION_LAMBDA_SCALE" if a.layer else "MOTION_LAMBDA_SCALE"
    chosen = getattr(quality, name)
    rows = []
    for spec in a.clips.split(","):
        clip, _, n = spec.partition(":")
        y, u, v = load_clip(clip, max_frames=int(n) if n else None)
        t, h, w = y.shape
        src = [VideoFrame("yuv420p", (y[i], u[i], v[i])) for i in range(t)]
        curves = {}
        for s in scales:
            setattr(quality, name, s)
            try:
                points = []
                for q in qualities:
                    coded = code_clip(src, q, weights=a.weights, intra_period=DEFAULT_INTRA_PERIOD)
                    m = mean_metrics([frame_metrics(x, d, lpips_net=net) for x, d in zip(src, coded.decoded)])
                    points.append({"clip": clip, "frames": t, "scale": s, "quality": q, "bpp": coded.bpp(w, h),
                                   "psnr_yuv": m["psnr_yuv"], "lpips_alex": m["lpips_alex"]})
            finally:
                setattr(quality, name, chosen)
            curves[s] = points
            rows += points
            print(f"{clip} scale {s:g}: " + "  ".join(f"{p['bpp']:.4f} bpp {p['psnr_yuv']:.2f} dB {p['lpips_alex']:.4f}"
                                                      for p in points), flush=True)
        anchor = curves[scales[0]]
        for s in scales[1:]:
            test = curves[s]
            psnr = bd_rate([p["bpp"] for p in anchor], [p["psnr_yuv"] for p in anchor],
                           [p["bpp"] for p in test], [p["psnr_yuv"] for p in test]).percent
            lpips = bd_rate([p["bpp"] for p in anchor], [p["lpips_alex"] for p in anchor],
                            [p["bpp"] for p in test], [p["lpips_alex"] for p in test], higher_is_better=False).percent
            print(f"  {clip}: scale {s:g} against {scales[0]:g}: BD-rate PSNR-YUV {psnr:+.1f} %, LPIPS-Alex {lpips:+.1f} %",
                  flush=True)
    if a.json:
        Path(a.json).write_text(json.dumps({"rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
