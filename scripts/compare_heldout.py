"""Markdown table comparing two `benchmarks/heldout.py` JSON results, clip by clip and level by level.

    python scripts/compare_heldout.py BEFORE.json AFTER.json [--labels before,after]

Prints bpp, PSNR-YUV, MS-SSIM and LPIPS-Alex of both, with the LPIPS and bpp changes, and the
mean changes. Both files must cover the same clips, frame counts and levels (refused otherwise).
"""
from __future__ import annotations

import argparse
import json
import sys


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("before")
    ap.add_argument("after")
    ap.add_argument("--labels", default="before,after")
    a = ap.parse_args(argv)
    la, lb = a.labels.split(",")
    key = lambda r: (r["clip"], r["frames"], r["quality"])  # noqa: E731
    before = {key(r): r for r in json.load(open(a.before))["results"]}
    after = {key(r): r for r in json.load(open(a.after))["results"]}
    if before.keys() != after.keys():
        print("compare_heldout: the two results cover different clips, frame counts or levels", file=sys.stderr)
        return 2
    print(f"| clip | quality | bpp {la} / {lb} | PSNR-YUV {la} / {lb} | MS-SSIM {la} / {lb} | "
          f"LPIPS-Alex {la} / {lb} | bpp change | LPIPS change |")
    print("|---|---|---|---|---|---|---|---|")
    d_bpp, d_lpips, d_psnr = [], [], []
    for k in before:
        b, c = before[k], after[k]
        d_bpp.append(c["bpp"] / b["bpp"] - 1)
        d_lpips.append(c["lpips_alex"] / b["lpips_alex"] - 1)
        d_psnr.append(c["psnr_yuv"] - b["psnr_yuv"])
        print(f"| {k[0]} | {k[2]} | {b['bpp']:.4f} / {c['bpp']:.4f} | {b['psnr_yuv']:.2f} / {c['psnr_yuv']:.2f} | "
              f"{b['ms_ssim']:.4f} / {c['ms_ssim']:.4f} | {b['lpips_alex']:.4f} / {c['lpips_alex']:.4f} | "
              f"{100 * d_bpp[-1]:+.1f}% | {100 * d_lpips[-1]:+.1f}% |")
    n = len(d_bpp)
    print(f"\nMeans over {n} points: bpp {100 * sum(d_bpp) / n:+.1f}%, PSNR-YUV {sum(d_psnr) / n:+.2f} dB "
          f"(range {min(d_psnr):+.2f}..{max(d_psnr):+.2f}), LPIPS-Alex {100 * sum(d_lpips) / n:+.1f}% "
          f"(range {100 * min(d_lpips):+.1f}..{100 * max(d_lpips):+.1f}%).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
