"""Rate and quality of a weights file on the held-out clips, per quality level (the model card's table).

    python benchmarks/heldout.py [--weights W] [--frames 32] [--json out.json]

Everything goes through the frame-level API (Encoder/Decoder). bpp counts the whole .gvc stream,
header included. Quality: PSNR-YUV ((6Y+U+V)/8, 8-bit planes), PSNR-RGB, MS-SSIM and LPIPS-Alex on
RGB from the codec's one BT.709 conversion. Also: the entropy coder's real payload bits against
the model's ideal bits (integer tables), and against the float shadow model's differentiable
estimate (the training rate), which the integer model should track within 2%.
"""
from __future__ import annotations

import argparse
import io
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gvc1d_codec import Decoder, Encoder, VideoFrame  # noqa: E402
from gvc1d_codec import metrics  # noqa: E402
from gvc1d_codec.bitstream import PacketReader, read_header  # noqa: E402
from gvc1d_codec.color import frame_to_rgb  # noqa: E402
from gvc1d_codec.data.clips import clip_names, load_clip  # noqa: E402
from gvc1d_codec.model.gvc1d import pad_to_windows  # noqa: E402
from gvc1d_codec.train.loss import sequence_rd_loss  # noqa: E402
from gvc1d_codec.weights import load_weights  # noqa: E402


def shadow_bits(shadow, frames_rgb: torch.Tensor, quality: int) -> float:
    """Total bits the float shadow prior estimates for these frames (low delay, first frame intra)."""
    x = pad_to_windows(frames_rgb, shadow.cfg.window)[None]  # [1, T, 3, H', W']
    with torch.no_grad():
        _, stats = sequence_rd_loss(shadow, x, torch.tensor([quality]))
    return stats["bpp"] * x.shape[-1] * x.shape[-2] * x.shape[1]


def run_clip(name: str, frames: int, loaded, shadow, lpips_net, quality: int) -> dict:
    y, u, v = load_clip(name, max_frames=frames)
    t, h, w = y.shape
    src = [VideoFrame("yuv420p", (y[i], u[i], v[i])) for i in range(t)]
    enc = Encoder(w, h, quality=quality, weights=loaded)
    buf = io.BytesIO()
    buf.write(enc.header_bytes())
    ideal = 0.0
    t0 = time.perf_counter()
    for f in src:
        buf.write(enc.encode(f))
        ideal += enc.last.ideal_bits
    t_enc = time.perf_counter() - t0
    size = buf.tell()
    buf.seek(0)
    header = read_header(buf)
    dec = Decoder(header, weights=loaded)
    rows, payload = [], 0
    t_dec = 0.0
    for f, p in zip(src, PacketReader(buf, header)):
        t0 = time.perf_counter()
        out = dec.decode(p)
        t_dec += time.perf_counter() - t0
        payload += 8 * len(p.payload)
        a, b = frame_to_rgb(f)[None], frame_to_rgb(out)[None]
        r = {"psnr_yuv": metrics.psnr_yuv(f.planes, out.planes), "psnr_rgb": metrics.psnr_rgb(a, b), "ms_ssim": float(metrics.ms_ssim(a, b))}
        if lpips_net is not None:
            with torch.no_grad():
                r["lpips_alex"] = float(lpips_net(a, b))
        rows.append(r)
    rgb = torch.stack([frame_to_rgb(f) for f in src])
    est = shadow_bits(shadow, rgb, quality)
    res = {"clip": name, "size": f"{w}x{h}", "frames": t, "quality": quality, "bpp": 8 * size / (w * h * t),
           "payload_over_ideal": payload / ideal - 1, "payload_over_shadow": payload / est - 1,
           "enc_fps": t / t_enc, "dec_fps": t / t_dec}
    for k in rows[0]:
        res[k] = float(np.mean([r[k] for r in rows]))
    return res


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights")
    ap.add_argument("--frames", type=int, default=32)
    ap.add_argument("--clips", default=",".join(clip_names("heldout")))
    ap.add_argument("--json")
    a = ap.parse_args()
    loaded = load_weights(a.weights)
    shadow = load_weights(a.weights, integer=False).model.eval()
    try:
        lp = metrics.LPIPS("alex")
    except Exception as e:  # noqa: BLE001 - weights not fetched
        print(f"(LPIPS unavailable: {e})", file=sys.stderr)
        lp = None
    results = []
    print(f"weights {loaded.path} sha256 {loaded.sha256}")
    print("| clip | size | frames | quality | bpp | PSNR-YUV | PSNR-RGB | MS-SSIM | LPIPS-Alex | real/ideal bits | real/shadow bits |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for name in a.clips.split(","):
        for q in range(loaded.config.qualities):
            r = run_clip(name, a.frames, loaded, shadow, lp, q)
            results.append(r)
            print(f"| {r['clip']} | {r['size']} | {r['frames']} | {q} | {r['bpp']:.4f} | {r['psnr_yuv']:.2f} | {r['psnr_rgb']:.2f} | "
                  f"{r['ms_ssim']:.4f} | {r.get('lpips_alex', float('nan')):.4f} | {100 * r['payload_over_ideal']:+.2f}% | "
                  f"{100 * r['payload_over_shadow']:+.2f}% |", flush=True)
    if a.json:
        Path(a.json).write_text(json.dumps({"weights_sha256": loaded.sha256, "results": results}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
