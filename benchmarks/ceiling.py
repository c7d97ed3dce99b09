"""The transform's ceiling: intra quality with float latents (no quantisation) next to each level's real point.

    python benchmarks/ceiling.py [--weights W] [--clips carphone,cisco_2people,cisco_men,cockatoo]
        [--qualities 0,1,2,3,4,5] [--json F]

For the first frame of each held-out clip: the analysis' latents y go straight into the synthesis
(no gains, no rounding, no entropy coding): the best intra picture the tokens' transform can make.
Next to it, the real codec (Encoder/Decoder, one intra frame) at each quality: the tokens' levels
0..Q-1, then the enhancement layer's (Q..Q+3). When the highest level sits near the float ceiling,
the quantiser is not what limits quality: the transform is (P11's diagnosis). PSNR-YUV on the
8-bit planes after the codec's one colour conversion, LPIPS-Alex on RGB; bpp of the whole stream.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gvc1d_codec import VideoFrame  # noqa: E402
from gvc1d_codec.color import frame_to_rgb, rgb_to_frame  # noqa: E402
from gvc1d_codec.data.clips import load_clip  # noqa: E402
from gvc1d_codec.evaluate import code_clip, frame_metrics  # noqa: E402
from gvc1d_codec.metrics.lpips import LPIPS  # noqa: E402
from gvc1d_codec.model.gvc1d import pad_to_windows  # noqa: E402
from gvc1d_codec.quality import highest  # noqa: E402
from gvc1d_codec.weights import load_weights  # noqa: E402


@torch.no_grad()
def float_latents_picture(model, frame: VideoFrame) -> VideoFrame:
    """The intra reconstruction from unquantised latents, as a frame of the source's format."""
    x = frame_to_rgb(frame)[None]
    h, w = x.shape[-2:]
    xp = pad_to_windows(x, model.cfg.window)
    rows, cols = xp.shape[-2] // model.cfg.window, xp.shape[-1] // model.cfg.window
    y = model.analysis(xp, None, None, True)
    x_hat = model.synthesis(y, None, None, True, rows, cols)[..., :h, :w].clamp(0, 1)
    return rgb_to_frame(x_hat[0], frame.pix_fmt)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights")
    ap.add_argument("--clips", default="carphone,cisco_2people,cisco_men,cockatoo")
    ap.add_argument("--qualities", help="default: every quality 0..Q+3")
    ap.add_argument("--json")
    a = ap.parse_args()
    torch.set_num_threads(1)
    loaded = load_weights(a.weights)
    model = loaded.model.eval()
    qs = ([float(q) for q in a.qualities.split(",")] if a.qualities
          else list(range(highest(loaded.config.qualities) + 1)))
    net = LPIPS("alex").eval()
    rows = []
    print("| clip | point | bpp (intra frame) | PSNR-YUV (dB) | LPIPS-Alex |")
    print("|---|---|---|---|---|")
    for clip in a.clips.split(","):
        y, u, v = load_clip(clip, max_frames=1)
        src = VideoFrame("yuv420p", (y[0], u[0], v[0]))
        h, w = y.shape[1:]
        m = frame_metrics(src, float_latents_picture(model, src), lpips_net=net)
        rows.append({"clip": clip, "size": f"{w}x{h}", "point": "float latents", "bpp": None,
                     "psnr_yuv": m["psnr_yuv"], "lpips_alex": m["lpips_alex"]})
        print(f"| {clip} {w}x{h} | float latents (ceiling) | - | {m['psnr_yuv']:.2f} | {m['lpips_alex']:.4f} |", flush=True)
        for q in qs:
            coded = code_clip([src], q, weights=loaded)
            m = frame_metrics(src, coded.decoded[0], lpips_net=net)
            rows.append({"clip": clip, "size": f"{w}x{h}", "point": f"quality {q:g}", "bpp": coded.bpp(w, h),
                         "psnr_yuv": m["psnr_yuv"], "lpips_alex": m["lpips_alex"]})
            print(f"| {clip} {w}x{h} | quality {q:g} | {coded.bpp(w, h):.4f} | {m['psnr_yuv']:.2f} | {m['lpips_alex']:.4f} |", flush=True)
    if a.json:
        Path(a.json).write_text(json.dumps({"weights_sha256": loaded.sha256, "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
