"""P-frame cost and drift on a still and a slowly panning picture (P7's target: P-frames <= 10% of
the intra frame at the middle level, PSNR not falling over 32 frames).

    python benchmarks/static_pan.py [--weights W] [--clip cockatoo] [--frames 32] [--quality Q]
                                    [--size 1280x720] [--pan 1] [--json out.json]

Three low-delay sequences from a held-out clip (cockatoo, 720p, by default), coded through the
frame-level API (Encoder, then Decoder) with one intra frame:

* ``static``: its first frame repeated;
* ``pan``: a window of ``--size`` moving ``--pan`` px to the right per frame across its first frame
  (the clip is cropped so the window fits: a 720p clip pans at 1216x720 unless --size says);
* ``clip``: the clip itself.

Prints, per sequence, the intra frame's bytes, the mean P-frame bytes as a share of them, the
skipped windows, and PSNR-YUV of the first and last frames and its slope over the run.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gvc1d_codec import VideoFrame  # noqa: E402
from gvc1d_codec.codec import Decoder, Encoder  # noqa: E402
from gvc1d_codec.data.clips import load_clip  # noqa: E402
from gvc1d_codec.metrics import psnr_yuv  # noqa: E402
from gvc1d_codec.step import frame_grid  # noqa: E402
from gvc1d_codec.weights import load_weights  # noqa: E402


def sequences(name: str, frames: int, pan: int, size: str | None) -> dict[str, list[VideoFrame]]:
    y, u, v = load_clip(name, max_frames=frames)
    h, w = y.shape[1:]
    if size:
        cw, ch = (int(s) for s in size.lower().split("x"))
    else:
        ch, cw = h, w - 2 * ((pan * (frames - 1) + 1) // 2)
    if cw + pan * (frames - 1) > w or ch > h or cw % 2 or ch % 2 or pan % 2 and pan != 1:
        raise SystemExit(f"static_pan: a {cw}x{ch} window panning {pan} px/frame for {frames} frames does not fit {w}x{h}")

    def crop(t: int, x0: int) -> VideoFrame:
        x0 -= x0 % 2  # 4:2:0: whole chroma samples (a 1 px/frame pan moves 2 px every other frame)
        return VideoFrame("yuv420p", (y[t, :ch, x0:x0 + cw].copy(), u[t, :ch // 2, x0 // 2:(x0 + cw) // 2].copy(),
                                      v[t, :ch // 2, x0 // 2:(x0 + cw) // 2].copy()))

    return {
        "static": [crop(0, 0)] * frames,
        "pan": [crop(0, pan * t) for t in range(frames)],
        "clip": [crop(t, 0) for t in range(y.shape[0])],
    }


def windows(loaded, f: VideoFrame) -> int:
    rows, cols = frame_grid(f.height, f.width, loaded.config.window)
    return rows * cols


def run(frames: list[VideoFrame], loaded, quality: int) -> dict:
    enc = Encoder(frames[0].width, frames[0].height, 25, quality=quality, intra_period=-1, weights=loaded)
    dec = Decoder(enc.header, weights=loaded)
    sizes, skipped, psnr = [], [], []
    for f in frames:
        packet = enc.encode_packet(f)
        sizes.append(enc.last.payload_bytes)
        skipped.append(enc.last.skipped_windows)
        psnr.append(psnr_yuv(f.planes, dec.decode(packet).planes))
    p = np.array(sizes[1:], dtype=np.float64)
    slope = float(np.polyfit(np.arange(len(psnr)), psnr, 1)[0]) if len(psnr) > 1 else 0.0
    return {"frames": len(frames), "size": f"{frames[0].width}x{frames[0].height}", "intra_bytes": sizes[0],
            "p_bytes_mean": float(p.mean()) if p.size else 0.0, "p_over_intra": float(p.mean() / sizes[0]) if p.size else 0.0,
            "skipped_windows_mean": float(np.mean(skipped[1:])) if p.size else 0.0, "windows": windows(loaded, frames[0]),
            "psnr_first": psnr[0], "psnr_last": psnr[-1], "psnr_slope_db_per_frame": slope,
            "bpp": 8 * sum(sizes) / (frames[0].width * frames[0].height * len(frames))}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights")
    ap.add_argument("--clip", default="cockatoo")
    ap.add_argument("--frames", type=int, default=32)
    ap.add_argument("--quality", type=int, help="default: the model's middle level")
    ap.add_argument("--size", help="WxH of the window (default: the clip's height, as wide as the pan allows)")
    ap.add_argument("--pan", type=int, default=1, help="px per frame (1 or even)")
    ap.add_argument("--json")
    a = ap.parse_args()
    loaded = load_weights(a.weights)
    q = loaded.config.qualities // 2 if a.quality is None else a.quality
    print(f"weights {loaded.path} sha256 {loaded.sha256[:8]}..., quality {q}, clip {a.clip}")
    print("| sequence | size | frames | intra bytes | P bytes (mean) | P / intra | skipped windows | PSNR-YUV first / last | slope dB/frame |")
    print("|---|---|---|---|---|---|---|---|---|")
    out = {"weights_sha256": loaded.sha256, "quality": q, "clip": a.clip, "results": {}}
    for name, frames in sequences(a.clip, a.frames, a.pan, a.size).items():
        r = run(frames, loaded, q)
        out["results"][name] = r
        print(f"| {name} | {r['size']} | {r['frames']} | {r['intra_bytes']} | {r['p_bytes_mean']:.0f} | {100 * r['p_over_intra']:.1f}% | "
              f"{r['skipped_windows_mean']:.1f} / {r['windows']} | {r['psnr_first']:.2f} / {r['psnr_last']:.2f} | "
              f"{r['psnr_slope_db_per_frame']:+.3f} |", flush=True)
    if a.json:
        Path(a.json).write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
