"""Compare a decoded video with its source: ``python -m gvc1d_codec.evaluate SRC.y4m DEC.y4m [--gvc F]``.

Prints bpp (whole .gvc file, header included), PSNR-YUV ((6Y+U+V)/8 on the 8-bit planes),
PSNR-RGB and MS-SSIM on RGB from the one fixed conversion (gvc1d_codec.color), and LPIPS-Alex when
its weights are cached (``python -m gvc1d_codec.metrics fetch``).
"""
from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np
import torch

from .color import frame_to_rgb
from .errors import GVC1DError
from .io import Y4MReader


def compare(src_path: str, dec_path: str, gvc_path: str | None = None, lpips: bool = True) -> dict:
    from . import metrics

    with open(src_path, "rb") as fs, open(dec_path, "rb") as fd:
        src, dec = Y4MReader(fs), Y4MReader(fd)
        if (src.width, src.height) != (dec.width, dec.height):
            raise GVC1DError(f"sizes differ: {src.width}x{src.height} vs {dec.width}x{dec.height}")
        lp = None
        if lpips:
            try:
                lp = metrics.LPIPS("alex")
            except Exception:  # weights not fetched: report without LPIPS
                lp = None
        rows = []
        while True:
            a, b = src.read_frame(), dec.read_frame()
            if a is None or b is None:
                break
            ra, rb = frame_to_rgb(a, src.color), frame_to_rgb(b, dec.color)
            row = {"psnr_yuv": metrics.psnr_yuv(a.planes, b.planes), "psnr_rgb": float(metrics.psnr_rgb(ra, rb)),
                   "ms_ssim": float(metrics.ms_ssim(ra[None], rb[None]))}
            if lp is not None:
                with torch.no_grad():
                    row["lpips_alex"] = float(lp(ra[None], rb[None]))
            rows.append(row)
    if not rows:
        raise GVC1DError("no frames to compare")
    out = {"frames": len(rows), "width": src.width, "height": src.height}
    for k in rows[0]:
        out[k] = float(np.mean([r[k] for r in rows]))
    if gvc_path:
        out["bpp"] = 8 * os.path.getsize(gvc_path) / (src.width * src.height * len(rows))
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m gvc1d_codec.evaluate", description=__doc__.splitlines()[0])
    p.add_argument("source")
    p.add_argument("decoded")
    p.add_argument("--gvc", help="the .gvc file, for bpp")
    p.add_argument("--json", action="store_true")
    a = p.parse_args(argv)
    try:
        r = compare(a.source, a.decoded, a.gvc)
    except (GVC1DError, OSError) as e:
        print(f"evaluate: error: {e}", file=sys.stderr)
        return 1
    if a.json:
        print(json.dumps(r))
    else:
        parts = [f"{r['frames']} frames {r['width']}x{r['height']}"]
        if "bpp" in r:
            parts.append(f"bpp {r['bpp']:.4f}")
        parts += [f"PSNR-YUV {r['psnr_yuv']:.2f} dB", f"PSNR-RGB {r['psnr_rgb']:.2f} dB", f"MS-SSIM {r['ms_ssim']:.4f}"]
        if "lpips_alex" in r:
            parts.append(f"LPIPS-Alex {r['lpips_alex']:.4f}")
        print(", ".join(parts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
