"""Markdown table comparing two `benchmarks/heldout.py` JSON results, clip by clip and level by level.

    python scripts/compare_heldout.py BEFORE.json AFTER.json [--labels before,after]

Prints bpp, PSNR-YUV, MS-SSIM and LPIPS-Alex of both, with the LPIPS and bpp changes, and the
mean changes, over the (clip, frames, level) points both files hold (the others are named); then
the BD-rate of AFTER against BEFORE per clip (``gvc1d_codec.metrics.bdrate``: negative = fewer bits
at equal quality; DISTS too when both files hold it), "n/a" where the curves do not overlap; last,
whether AFTER meets P11's shipping rule against BEFORE (LPIPS-Alex and DISTS BD-rates negative on
every clip both files hold).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gvc1d_codec.metrics.bdrate import BDRateUndefined, bd_rate  # noqa: E402


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
    common = [k for k in before if k in after]
    if not common:
        print("compare_heldout: the two results share no (clip, frames, level) point", file=sys.stderr)
        return 2
    for name, only in ((la, before.keys() - after.keys()), (lb, after.keys() - before.keys())):
        if only:
            print(f"(only in {name}, left out: {', '.join(f'{c} q{q}' for c, _, q in sorted(only))})\n")
    print(f"| clip | quality | bpp {la} / {lb} | PSNR-YUV {la} / {lb} | MS-SSIM {la} / {lb} | "
          f"LPIPS-Alex {la} / {lb} | bpp change | LPIPS change |")
    print("|---|---|---|---|---|---|---|---|")
    d_bpp, d_lpips, d_psnr = [], [], []
    for k in common:
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
    metrics = [("PSNR-YUV", "psnr_yuv", True), ("MS-SSIM", "ms_ssim", True), ("LPIPS-Alex", "lpips_alex", False)]
    if all("dists" in before[k] and "dists" in after[k] for k in common):
        metrics.append(("DISTS", "dists", False))
    rule: list[str] = []  # P11's shipping rule: LPIPS-Alex and DISTS BD-rates negative on every clip
    print(f"\n| clip | BD-rate of {lb} against {la}: " + " | ".join(m for m, _, _ in metrics) + " |")
    print("|---|" + "---|" * len(metrics))
    for clip in dict.fromkeys(k[0] for k in common):
        cells = []
        for _, field, higher in metrics:
            pa = sorted((before[k]["bpp"], before[k][field]) for k in common if k[0] == clip)
            pb = sorted((after[k]["bpp"], after[k][field]) for k in common if k[0] == clip)
            try:
                r = bd_rate([p[0] for p in pa], [p[1] for p in pa], [p[0] for p in pb], [p[1] for p in pb],
                            higher_is_better=higher)
                cells.append(f"{r.percent:+.1f}%")
                if field in ("lpips_alex", "dists") and r.percent >= 0:
                    rule.append(f"{clip} {field} {r.percent:+.1f}%")
            except BDRateUndefined:
                cells.append("n/a")
                if field in ("lpips_alex", "dists"):
                    rule.append(f"{clip} {field} n/a")
        print(f"| {clip} | " + " | ".join(cells) + " |")
    if len(metrics) < 4:
        rule.append("no DISTS in both files")
    print(f"\nShipping rule (LPIPS-Alex and DISTS BD-rates of {lb} against {la} negative on every clip): "
          + ("met" if not rule else "not met (" + ", ".join(rule) + ")"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
