"""Before/after measurement of a coding-tool change: rate and PSNR-YUV per quality, BD-rate against a saved run.

    python benchmarks/layer.py --json after.json [--clips carphone,cisco_2people,cisco_men,cockatoo]
        [--frames 32,9,9,8] [--qualities 4,5,6,7] [--against before.json]

Codes the first frames of each held-out clip at each quality through Encoder/Decoder (low delay,
the default intra period), and prints bpp (the whole stream), PSNR-YUV (the 8-bit planes against the
source) and the coding times. With ``--against`` it prints the BD-rate (PSNR-YUV, piecewise-cubic,
over the overlap) of this run against the saved one, per clip. To measure a change, run it once on
the code before the change (e.g. ``git worktree add /tmp/before HEAD~1``, then
``PYTHONPATH=/tmp/before python benchmarks/layer.py --json before.json``: the package on
``PYTHONPATH`` is the one measured) and once after, with ``--against before.json``. PSNR only, and
minutes, not the hour of ``benchmarks/rd.py``: for deciding between coding tools, not for the README.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

try:
    import gvc1d_codec  # noqa: F401  (the one on PYTHONPATH, when a caller measures another checkout)
except ImportError:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gvc1d_codec import VideoFrame  # noqa: E402
from gvc1d_codec.config import DEFAULT_INTRA_PERIOD  # noqa: E402
from gvc1d_codec.data.clips import load_clip  # noqa: E402
from gvc1d_codec.evaluate import code_clip  # noqa: E402
from gvc1d_codec.metrics import psnr_yuv  # noqa: E402
from gvc1d_codec.metrics.bdrate import bd_rate  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clips", default="carphone,cisco_2people,cisco_men,cockatoo")
    ap.add_argument("--frames", default="32,9,9,8", help="frames per clip (one number for all, or one per clip)")
    ap.add_argument("--qualities", default="4,5,6,7")
    ap.add_argument("--json", help="write the points here")
    ap.add_argument("--against", help="a saved run (--json) to print BD-rates against")
    a = ap.parse_args()
    clips = a.clips.split(",")
    frames = [int(f) for f in a.frames.split(",")]
    frames = frames * len(clips) if len(frames) == 1 else frames
    if len(frames) != len(clips):
        ap.error("--frames needs one number, or one per clip")
    qualities = [float(q) for q in a.qualities.split(",")]
    print(f"gvc1d_codec from {Path(gvc1d_codec.__file__).parent}")
    print("| clip | frames | quality | bpp | PSNR-YUV (dB) | encode s | decode s |")
    print("|---|---|---|---|---|---|---|")
    rows = []
    for clip, n in zip(clips, frames):
        y, u, v = load_clip(clip, max_frames=n)
        t, h, w = y.shape
        src = [VideoFrame("yuv420p", (y[i], u[i], v[i])) for i in range(t)]
        for q in qualities:
            coded = code_clip(src, q, intra_period=DEFAULT_INTRA_PERIOD)
            p = float(np.mean([psnr_yuv(s.planes, d.planes) for s, d in zip(src, coded.decoded)]))
            row = {"clip": clip, "frames": t, "quality": q, "bpp": coded.bpp(w, h), "psnr_yuv": p,
                   "encode_s": coded.encode_seconds, "decode_s": coded.decode_seconds}
            rows.append(row)
            print(f"| {clip} | {t} | {q:g} | {row['bpp']:.4f} | {p:.2f} | {row['encode_s']:.1f} | {row['decode_s']:.1f} |", flush=True)
    if a.json:
        Path(a.json).write_text(json.dumps({"rows": rows}, indent=1))
    if a.against:
        before = json.loads(Path(a.against).read_text())["rows"]
        print("\n| clip | BD-rate PSNR-YUV against the saved run |\n|---|---|")
        for clip in clips:
            old = [r for r in before if r["clip"] == clip]
            new = [r for r in rows if r["clip"] == clip]
            if not old or {r["frames"] for r in old} != {r["frames"] for r in new}:
                print(f"| {clip} | - (not in the saved run with the same frames) |")
                continue
            bd = bd_rate([r["bpp"] for r in old], [r["psnr_yuv"] for r in old],
                         [r["bpp"] for r in new], [r["psnr_yuv"] for r in new])
            print(f"| {clip} | {bd.percent:+.1f} % (over {bd.overlap[0]:.2f}-{bd.overlap[1]:.2f} dB) |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
