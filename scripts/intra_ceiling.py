"""How high can a transform go, per CPU-minute? The intra autoencoder alone, no quantiser, no rate.

    PYTHONPATH=. python scripts/intra_ceiling.py --config gvc1d-tiny [--set conv_width=32 ...]
        [--init W] [--minutes 12] [--json out.json] [--save W]

P7's diagnosis: quality stops rising with rate because of the transform, not the quantiser (with
float latents the tokens' intra frame of carphone is within 0.2 dB of their top level). This trains
analysis -> float latents -> synthesis (intra, MSE, the codec's own modules) from scratch (or from
``--init``) for a fixed wall-clock budget on the training clips, and prints held-out intra
PSNR-RGB (first frame of carphone, cisco_2people, cisco_men) as it goes: the ceiling each design
reaches on this machine in the same time. ``--set key=value`` overrides config fields (ints,
floats). One thread by default, so two variants can run side by side on two cores.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gvc1d_codec.color import yuv420_to_rgb  # noqa: E402
from gvc1d_codec.config import DEFAULT_PRESET, TRAINABLE  # noqa: E402
from gvc1d_codec.data.clips import load_clip  # noqa: E402
from gvc1d_codec.data.dataset import VideoCropDataset  # noqa: E402
from gvc1d_codec.model.gvc1d import GVC1D, pad_to_windows  # noqa: E402
from gvc1d_codec.train.trainer import _clip_list  # noqa: E402
from gvc1d_codec.weights import load_weights, save_weights  # noqa: E402

HELD_OUT = ("carphone", "cisco_2people", "cisco_men")


def _value(text: str):
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def reconstruct(model: GVC1D, x: torch.Tensor) -> torch.Tensor:
    """x [B, 3, H, W] (whole windows) -> the intra reconstruction from float latents."""
    rows, cols = x.shape[-2] // model.cfg.window, x.shape[-1] // model.cfg.window
    y = model.analysis(x, None, None, True)
    return model.synthesis(y, None, None, True, rows, cols)


@torch.no_grad()
def held_out_psnr(model: GVC1D, frames: dict[str, torch.Tensor]) -> dict[str, float]:
    model.eval()
    out = {}
    for name, x in frames.items():
        h, w = x.shape[-2:]
        x_hat = reconstruct(model, pad_to_windows(x, model.cfg.window))[..., :h, :w].clamp(0, 1)
        out[name] = round(-10 * math.log10(float((x_hat - x).pow(2).mean())), 3)
    model.train()
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", default=DEFAULT_PRESET, choices=sorted(TRAINABLE))
    p.add_argument("--set", action="append", default=[], help="config override key=value")
    p.add_argument("--init", help="start from these weights (their config; --set must keep the shapes)")
    p.add_argument("--minutes", type=float, default=12)
    p.add_argument("--crop", type=int, default=128)
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--lr", type=float, default=4e-4)
    p.add_argument("--eval-every", type=float, default=2.0, help="minutes between held-out checks")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json")
    p.add_argument("--save", help="write the trained model here (a start for train --init: the transform pretrained "
                                  "as an intra autoencoder, the entropy model untouched)")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    if args.init:
        model = load_weights(args.init).model
    else:
        cfg = TRAINABLE[args.config]
        overrides = dict(kv.split("=", 1) for kv in args.set)
        cfg = dataclasses.replace(cfg, **{k: _value(v) for k, v in overrides.items()})
        model = GVC1D(cfg)
    model.train()
    params = sum(p.numel() for p in model.parameters())
    frames = {}
    for name in HELD_OUT:
        y, u, v = load_clip(name, max_frames=1)
        frames[name] = yuv420_to_rgb(torch.from_numpy(y), torch.from_numpy(u), torch.from_numpy(v))
    data = VideoCropDataset(_clip_list("train"), seq_len=1, crop=args.crop, seed=args.seed, skip_unfit=True)
    gen = torch.Generator().manual_seed(args.seed)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr)
    label = f"{model.cfg.name} {' '.join(args.set)}".strip()
    rows = [{"label": label, "params": params, "step": 0, "minutes": 0.0, **held_out_psnr(model, frames)}]
    print(json.dumps(rows[-1]), flush=True)
    t0 = time.time()
    next_eval = args.eval_every
    step = 0
    while True:
        y, u, v = data.sample_batch(args.batch, gen)
        x = yuv420_to_rgb(y, u, v)[:, 0]
        loss = (reconstruct(model, x) - x).pow(2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 0.5)
        opt.step()
        step += 1
        minutes = (time.time() - t0) / 60
        if minutes >= next_eval or minutes >= args.minutes:
            rows.append({"label": label, "params": params, "step": step, "minutes": round(minutes, 2),
                         "train_psnr": round(-10 * math.log10(float(loss.detach())), 3), **held_out_psnr(model, frames)})
            print(json.dumps(rows[-1]), flush=True)
            next_eval += args.eval_every
            if minutes >= args.minutes:
                break
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1) + "\n")
    if args.save:
        save_weights(model, Path(args.save), {"training": json.dumps({"intra_ceiling": rows[-1]})})
    return 0


if __name__ == "__main__":
    sys.exit(main())
