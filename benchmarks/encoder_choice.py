"""An encoder constant's values against each other: BD-rate on training clips.

    python benchmarks/encoder_choice.py --constant quality.MOTION_LAMBDA_SCALE --values 1,0.5
        [--clips foreman:12,bikes:10,mobile:12,zhling720p:8] [--qualities 0,1,2] [--intra-period 32] [--json F]

Codes each clip (intra period 32 unless ``--intra-period``) at each quality with the constant ``MODULE.NAME`` of
``gvc1d_codec`` (e.g. ``quality.MOTION_LAMBDA_SCALE``, the vectors' lambda in frames of the tokens
alone; ``quality.LAYER_MOTION_LAMBDA_SCALE`` in frames with the enhancement layer;
``enhancement.ROUNDING``, the layer's dead zone; a switch such as ``codec.EXTENDED_RANGE_STREAMS``
takes 0 and 1; ``codec.UNADAPTED_ID``, the entropy model the default preset writes, takes 8 or 10,
which the header names for the decoder) set to each value in turn (otherwise the encoder's choice;
the decoder does not see it) and prints bpp, PSNR-YUV and LPIPS-Alex per point, then the BD-rates
of each value against the first. Training clips by default: this sets an encoder constant, so it is
not measured on the held-out clips.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import importlib  # noqa: E402

from gvc1d_codec import VideoFrame, metrics  # noqa: E402
from gvc1d_codec.config import DEFAULT_INTRA_PERIOD  # noqa: E402
from gvc1d_codec.data.clips import load_clip  # noqa: E402
from gvc1d_codec.evaluate import code_clip, frame_metrics, mean_metrics  # noqa: E402
from gvc1d_codec.metrics.bdrate import BDRateUndefined, bd_rate  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clips", default="foreman:12,bikes:10,mobile:12,zhling720p:8", help="CLIP:FRAMES,...")
    ap.add_argument("--constant", required=True, help="MODULE.NAME of gvc1d_codec, e.g. quality.MOTION_LAMBDA_SCALE")
    ap.add_argument("--values", required=True, help="its values, comma separated; the first is the anchor")
    ap.add_argument("--qualities", default="0,1,2")
    ap.add_argument("--weights")
    ap.add_argument("--intra-period", type=int, default=DEFAULT_INTRA_PERIOD,
                    help=f"an intra frame every N frames (default {DEFAULT_INTRA_PERIOD}; -1: only the first, as benchmarks/rd.py)")
    ap.add_argument("--json")
    a = ap.parse_args()
    qualities = [float(q) for q in a.qualities.split(",")]
    module_name, _, name = a.constant.rpartition(".")
    try:
        module = importlib.import_module(f"gvc1d_codec.{module_name}")
        chosen = getattr(module, name)
    except (ImportError, AttributeError, ValueError):
        ap.error(f"--constant {a.constant}: no such constant in gvc1d_codec")
    # a switch (e.g. codec.EXTENDED_RANGE_STREAMS) takes 0 / 1, anything else a number
    # an entropy model id (e.g. codec.UNADAPTED_ID: 8 against 10) takes integers
    scales = [bool(int(s)) if isinstance(chosen, bool) else int(s) if isinstance(chosen, int) else float(s)
              for s in a.values.split(",")]
    net = metrics.LPIPS("alex").eval()
    rows = []
    for spec in a.clips.split(","):
        clip, _, n = spec.partition(":")
        y, u, v = load_clip(clip, max_frames=int(n) if n else None)
        t, h, w = y.shape
        src = [VideoFrame("yuv420p", (y[i], u[i], v[i])) for i in range(t)]
        curves = {}
        for s in scales:
            setattr(module, name, s)
            try:
                points = []
                for q in qualities:
                    coded = code_clip(src, q, weights=a.weights, intra_period=a.intra_period)
                    m = mean_metrics([frame_metrics(x, d, lpips_net=net) for x, d in zip(src, coded.decoded)])
                    points.append({"clip": clip, "frames": t, "scale": s, "quality": q, "bpp": coded.bpp(w, h),
                                   "psnr_yuv": m["psnr_yuv"], "lpips_alex": m["lpips_alex"]})
            finally:
                setattr(module, name, chosen)
            curves[s] = points
            rows += points
            print(f"{clip} {name} {s:g}: " + "  ".join(f"{p['bpp']:.4f} bpp {p['psnr_yuv']:.2f} dB {p['lpips_alex']:.4f}"
                                                      for p in points), flush=True)
        anchor = curves[scales[0]]
        for s in scales[1:]:
            test = curves[s]
            bd = []
            for metric, higher in (("psnr_yuv", True), ("lpips_alex", False)):
                try:
                    r = bd_rate([p["bpp"] for p in anchor], [p[metric] for p in anchor], [p["bpp"] for p in test],
                                [p[metric] for p in test], higher_is_better=higher).percent
                    bd.append(f"{r:+.1f} %")
                except BDRateUndefined as e:  # the curves do not overlap: the points above say more
                    bd.append(f"n/a ({e})")
            print(f"  {clip}: {name} {s:g} against {scales[0]:g}: BD-rate PSNR-YUV {bd[0]}, LPIPS-Alex {bd[1]}", flush=True)
    if a.json:
        Path(a.json).write_text(json.dumps({"rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
