"""Quick held-out check of a checkpoint's float model: ideal bits and PSNR per quality level.

    PYTHONPATH=. python benchmarks/heldout_float.py --weights training/checkpoints/gvc1d-tiny-prd.safetensors [--frames 8]

No entropy coding: the rate is the float shadow prior's ``estimate_bits`` (what training
minimises; the real coder's payload tracks it within about 2 %, see benchmarks/heldout.py), the
pictures are the float model's low-delay reconstructions (frame 0 intra), exactly the training
loop :func:`gvc1d_codec.train.loss.unroll`. Quality: PSNR-YUV ((6Y+U+V)/8) of the 8-bit 4:2:0
planes after the codec's one colour conversion, as in the model card's table, and PSNR-RGB.

For models with block motion (``motion_block``) this float path does not count the motion
vectors' bits (the codec codes them with integer tables, docs/bitstream.md); ``mv_bpp`` estimates their cost as the zeroth-order entropy, over the whole clip, of each
component's difference to its left neighbour (the first block of a row: to zero), in bits per
pixel. It is reported separately and not included in ``bpp``.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections import Counter
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gvc1d_codec import metrics  # noqa: E402
from gvc1d_codec.color import rgb_to_yuv420, yuv420_to_rgb  # noqa: E402
from gvc1d_codec.data.clips import clip_names, load_clip  # noqa: E402
from gvc1d_codec.model.gvc1d import pad_to_windows  # noqa: E402
from gvc1d_codec.model.motion import estimate_motion  # noqa: E402
from gvc1d_codec.train.loss import unroll  # noqa: E402
from gvc1d_codec.weights import load_weights  # noqa: E402


def _entropy_bits(values: list[int]) -> float:
    n = len(values)
    return -sum(c * math.log2(c / n) for c in Counter(values).values()) if n else 0.0


def mv_bits(fields: list[torch.Tensor]) -> float:
    """Zeroth-order entropy (bits) of left-neighbour MV differences over all fields [1, 2, bh, bw]."""
    diffs: list[int] = []
    for mv in fields:
        d = mv[0].clone()
        d[:, :, 1:] -= mv[0][:, :, :-1]
        diffs += d.flatten().tolist()
    return _entropy_bits(diffs)


def run_clip(model, name: str, frames: int, quality: int) -> dict:
    y, u, v = load_clip(name, max_frames=frames)
    t, h, w = y.shape
    planes = [torch.from_numpy(p) for p in (y, u, v)]
    rgb = yuv420_to_rgb(*planes)  # [T, 3, H, W]
    x = pad_to_windows(rgb, model.cfg.window)[None]
    bits, psnr_yuv, psnr_rgb, fields = 0.0, [], [], []
    prev = None
    with torch.inference_mode():
        for i, f in enumerate(unroll(model, x, torch.tensor([quality]))):
            bits += float(f.bpp[0]) * x.shape[-1] * x.shape[-2]
            if prev is not None and model.cfg.motion_block:  # the same (deterministic) field unroll used
                fields.append(estimate_motion(f.x, prev, model.cfg.motion_block, model.cfg.motion_search))
            prev = f.x_hat.clamp(0, 1)
            dec = prev[:, :, :h, :w]
            yy, uu, vv = rgb_to_yuv420(dec)
            psnr_yuv.append(metrics.psnr_yuv((y[i], u[i], v[i]), (yy[0].numpy(), uu[0].numpy(), vv[0].numpy())))
            psnr_rgb.append(float(metrics.psnr_rgb(rgb[i : i + 1], dec)))
    res = {"clip": name, "size": f"{w}x{h}", "frames": t, "quality": quality, "bpp": bits / (t * h * w),
           "psnr_yuv": sum(psnr_yuv) / t, "psnr_rgb": sum(psnr_rgb) / t,
           "per_frame_psnr_yuv": [round(p, 2) for p in psnr_yuv]}
    if fields:
        res["mv_bpp"] = mv_bits(fields) / (t * h * w)
    return res


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", required=True)
    ap.add_argument("--frames", type=int, default=8)
    ap.add_argument("--clips", default=",".join(clip_names("heldout")))
    ap.add_argument("--qualities", help="comma-separated levels (default: all)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    loaded = load_weights(args.weights)
    model = loaded.model.eval()
    training = json.loads(loaded.metadata.get("training", "{}"))
    qualities = [int(q) for q in args.qualities.split(",")] if args.qualities else range(model.cfg.qualities)
    print(f"{args.weights}: {model.cfg.name}, step {training.get('steps')}, sha256 {loaded.sha256[:8]}", file=sys.stderr)
    print("| clip | size | frames | q | bpp (ideal) | mv bpp (est.) | PSNR-YUV | PSNR-RGB | first / last frame PSNR-YUV |")
    print("|---|---|---|---|---|---|---|---|---|")
    results = []
    for name in args.clips.split(","):
        for q in qualities:
            t0 = time.time()
            r = run_clip(model, name, args.frames, q)
            r["seconds"] = round(time.time() - t0, 1)
            results.append(r)
            mv = f"{r['mv_bpp']:.4f}" if "mv_bpp" in r else "-"
            pf = r["per_frame_psnr_yuv"]
            print(f"| {name} | {r['size']} | {r['frames']} | {q} | {r['bpp']:.4f} | {mv} | {r['psnr_yuv']:.2f} | "
                  f"{r['psnr_rgb']:.2f} | {pf[0]:.2f} / {pf[-1]:.2f} |", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps({"weights": str(args.weights), "sha256": loaded.sha256,
                                               "steps": training.get("steps"), "results": results}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
