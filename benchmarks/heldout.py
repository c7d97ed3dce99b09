"""Rate and quality of a weights file on the held-out clips, per level of the model (the model card's table).

    python benchmarks/heldout.py [--weights W] [--frames 32] [--json out.json]

Everything goes through the frame-level API (Encoder/Decoder), each of the model's levels 0..Q-1 as
a coding point (``Encoder(point=level)``: the tokens alone, whatever the quality scale maps to). bpp counts the whole .gvc stream,
header included. Quality: PSNR-YUV ((6Y+U+V)/8, 8-bit planes), PSNR-RGB, MS-SSIM and LPIPS-Alex on
RGB from the codec's one BT.709 conversion, and DISTS when its weights are fetched; ``grid``: how much sharper the 16 px grid lines are than in
the source (1.0 = no block grid, gvc1d_codec.metrics.grid_artefact). Also: the entropy coder's real payload bits against
the model's ideal bits (integer tables), and against the float shadow model's differentiable
estimate (the training rate), which the integer model should track within 2%.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gvc1d_codec import VideoFrame  # noqa: E402
from gvc1d_codec import metrics  # noqa: E402
from gvc1d_codec.color import frame_to_rgb  # noqa: E402
from gvc1d_codec.data.clips import clip_names, load_clip  # noqa: E402
from gvc1d_codec.evaluate import code_clip, frame_metrics, mean_metrics  # noqa: E402
from gvc1d_codec.model.gvc1d import pad_to_windows  # noqa: E402
from gvc1d_codec.train.loss import sequence_rd_loss  # noqa: E402
from gvc1d_codec.weights import load_weights  # noqa: E402


def shadow_bits(shadow, frames_rgb: torch.Tensor, quality: int) -> float:
    """Total bits the float shadow prior estimates for these frames (low delay, first frame intra)."""
    x = pad_to_windows(frames_rgb, shadow.cfg.window)[None]  # [1, T, 3, H', W']
    with torch.no_grad():
        _, stats = sequence_rd_loss(shadow, x, torch.tensor([quality]))
    return stats["bpp"] * x.shape[-1] * x.shape[-2] * x.shape[1]


def run_clip(name: str, frames: int, loaded, shadow, lpips_net, quality: int, dists_net=None) -> dict:
    y, u, v = load_clip(name, max_frames=frames)
    t, h, w = y.shape
    src = [VideoFrame("yuv420p", (y[i], u[i], v[i])) for i in range(t)]
    coded = code_clip(src, None, weights=loaded, point=quality)  # the model's level itself, tokens alone
    rows = [frame_metrics(f, out, lpips_net=lpips_net, dists_net=dists_net) for f, out in zip(src, coded.decoded)]
    rgb = torch.stack([frame_to_rgb(f) for f in src])
    est = shadow_bits(shadow, rgb, quality)
    res = {"clip": name, "size": f"{w}x{h}", "frames": t, "quality": quality, "bpp": coded.bpp(w, h),
           "payload_over_ideal": coded.payload_bits / coded.ideal_bits - 1, "payload_over_shadow": coded.payload_bits / est - 1,
           "enc_fps": t / coded.encode_seconds, "dec_fps": t / coded.decode_seconds}
    res.update(mean_metrics(rows))
    res["per_frame_psnr_yuv"] = [round(r["psnr_yuv"], 3) for r in rows]  # drift over a long low-delay run
    return res


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights")
    ap.add_argument("--frames", type=int, default=32)
    ap.add_argument("--clips", default=",".join(clip_names("heldout")))
    ap.add_argument("--json")
    a = ap.parse_args()
    loaded = load_weights(a.weights)
    shadow = load_weights(a.weights).model.eval()
    try:
        lp = metrics.LPIPS("alex")
    except Exception as e:  # noqa: BLE001 - weights not fetched
        print(f"(LPIPS unavailable: {e})", file=sys.stderr)
        lp = None
    try:
        ds = metrics.DISTS()
    except Exception as e:  # noqa: BLE001 - weights not fetched
        print(f"(DISTS unavailable: {e})", file=sys.stderr)
        ds = None
    results = []
    print(f"weights {loaded.path} sha256 {loaded.sha256}")
    print("| clip | size | frames | level | bpp | PSNR-YUV | PSNR-RGB | MS-SSIM | LPIPS-Alex | DISTS | grid | real/ideal bits | real/shadow bits |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for name in a.clips.split(","):
        for q in range(loaded.config.qualities):
            r = run_clip(name, a.frames, loaded, shadow, lp, q, ds)
            results.append(r)
            print(f"| {r['clip']} | {r['size']} | {r['frames']} | {q} | {r['bpp']:.4f} | {r['psnr_yuv']:.2f} | {r['psnr_rgb']:.2f} | "
                  f"{r['ms_ssim']:.4f} | {r.get('lpips_alex', float('nan')):.4f} | {r.get('dists', float('nan')):.4f} | {r['grid']:.3f} | {100 * r['payload_over_ideal']:+.2f}% | "
                  f"{100 * r['payload_over_shadow']:+.2f}% |", flush=True)
    if a.json:
        Path(a.json).write_text(json.dumps({"weights_sha256": loaded.sha256, "results": results}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
