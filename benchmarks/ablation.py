"""Ablation of the entropy model (paper Table 3): the bits three priors spend on the same symbols.

    python benchmarks/ablation.py [--weights W] [--steps 1500] [--json out.json] [--markdown out.md]

The transforms are held fixed (the shipped analysis/synthesis, quantiser and the long-term memory
update that conditions them), so every variant codes exactly the same symbols and the same pixels
come out; only the probability model changes:

* ``noar_nomem`` - no autoregressive context and no long-term memory: each token's distribution
  comes from the non-AR context only (previous frame's symbols, token position, quality level and
  frame type). The AR input is masked: the token mixing sees exact zeros, whatever was decoded.
* ``ar_nomem`` - the token-by-token AR prior, but its memory input is the empty memory (zeros).
* ``full`` - the shipped prior: AR + previous-frame symbols + long-term memory.

For a fair comparison each variant starts from the shipped prior and is fine-tuned with the same
budget, seed and batches (``--steps``) on symbol sequences cached once from the *training* clips
(the transforms are frozen, so the cache is exact for every variant). The memory-update layers are
frozen too: they also condition the transforms. ``full_shipped`` (no fine-tuning) is reported
beside them as a reference.

Evaluation: held-out clips (``carphone`` first ``--frames`` frames, the ``cisco`` clips all 9),
whole frames, low delay (one intra frame), every quality level. The symbols come from the
frame-level ``Encoder``; each variant's prior is exported to the integer network and the symbols
are range coded with the shipped integer frequency tables, exactly as the codec does (checked:
``full_shipped`` reproduces the codec's payload bytes). bpp = payload bits / (width x height x
frames) of the source frames (packet and stream headers left out, they are the same for all).
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gvc1d_codec import Encoder, VideoFrame  # noqa: E402
from gvc1d_codec.data.clips import clip_names, load_clip  # noqa: E402
from gvc1d_codec.data.dataset import VideoCropDataset  # noqa: E402
from gvc1d_codec.entropy.model import EntropyCoder  # noqa: E402
from gvc1d_codec.entropy.prior import IntegerPrior  # noqa: E402
from gvc1d_codec.step import CodingState, advance, frame_grid  # noqa: E402
from gvc1d_codec.train.prior_stage import VARIANTS, build_cache, prior_params, to_integer, train_prior  # noqa: E402
from gvc1d_codec.weights import load_weights  # noqa: E402

LABELS = {"noar_nomem": "no AR, no memory", "ar_nomem": "AR, no memory", "full": "AR + memory (full)",
          "full_shipped": "full, shipped (not fine-tuned)"}
PAPER = {"noar_nomem": "+67.8% / +67.4%", "ar_nomem": "+20.1% / +40.6%", "full": "0"}


# ---- evaluation on held-out clips, integer path + range coder ----------------------------------------

def codec_symbols(y, u, v, quality: int, loaded) -> tuple[list[torch.Tensor], list[int]]:
    """The codec's symbols (float64 [N, L, C] per frame) and payload sizes, low delay."""
    t, h, w = y.shape
    enc = Encoder(w, h, quality=quality, intra_period=-1, weights=loaded, skip=False)  # low delay, every window coded
    symbols, payloads = [], []
    for i in range(t):
        packet = enc.encode_packet(VideoFrame("yuv420p", (y[i], u[i], v[i])))
        symbols.append(torch.from_numpy(enc.last_symbols.astype(np.float64)))
        payloads.append(len(packet.payload))
    return symbols, payloads


class _VariantCoder(EntropyCoder):
    """The codec's coder with a variant's prior for the tokens (the rest of the syntax unchanged)."""

    def __init__(self, icm: IntegerPrior, variant: str):
        super().__init__(icm)
        self.variant = variant

    def token_params(self, ctx, s):
        return prior_params(self.cm, self.variant, s, ctx.prev_symbols, ctx.memory, ctx.quality, ctx.intra)


@torch.no_grad()
def coded_bits(icm: IntegerPrior, shipped: IntegerPrior, variant: str, symbols: list[torch.Tensor],
               quality: int, grid: tuple[int, int]) -> tuple[list[int], float]:
    """Range code each frame's symbols with ``variant``'s integer prior through the codec's
    :meth:`EntropyCoder.encode` (the bitstream's syntax, every window coded), the context advanced by the codec's
    own :func:`~gvc1d_codec.step.advance` with the shipped memory (it also drives the transforms).
    Returns (payload bytes per frame, ideal bits)."""
    coder = _VariantCoder(icm, variant)
    state = CodingState()
    sizes, ideal = [], 0.0
    for i, s in enumerate(symbols):
        ctx = state.entropy_context(quality, i == 0)
        skip = None if ctx.intra else np.zeros(s.shape[0], dtype=bool)  # every window coded, as measured
        payload, bits = coder.encode(s, ctx, skip, grid)
        sizes.append(len(payload))
        ideal += bits
        state = advance(shipped, state, s, None)
    return sizes, ideal


# ---- report ------------------------------------------------------------------------------------------

def summarise(results: list[dict], variants: list[str]) -> dict:
    """Savings per (clip, quality) and their means: AR = noar_nomem -> ar_nomem, memory = ar_nomem ->
    full, both = noar_nomem -> full; and each variant's rate against full (the paper's sign)."""
    keys = sorted({(r["clip"], r["quality"]) for r in results}, key=lambda k: (k[0], k[1]))
    bpp = {(r["clip"], r["quality"], r["variant"]): r["bpp"] for r in results}
    rows = []
    for c, q in keys:
        row = {"clip": c, "quality": q, **{v: bpp[c, q, v] for v in variants}}
        row["ar_saving"] = 1 - row["ar_nomem"] / row["noar_nomem"]
        row["memory_saving"] = 1 - row["full"] / row["ar_nomem"]
        row["total_saving"] = 1 - row["full"] / row["noar_nomem"]
        rows.append(row)
    mean = {k: float(np.mean([r[k] for r in rows])) for k in ("ar_saving", "memory_saving", "total_saving")}
    # with identical distortion at every point, the rate increase against full (geometric mean over
    # clips and levels) is what a BD-rate against full measures (BD-rate would weight the levels by
    # their distortion spacing)
    vs_full = {v: float(np.exp(np.mean([math.log(r[v] / r["full"]) for r in rows]))) - 1 for v in variants}
    mean_bpp = {v: float(np.mean([r[v] for r in rows])) for v in variants}
    return {"rows": rows, "mean_saving": mean, "rate_vs_full": vs_full, "mean_bpp": mean_bpp}


def markdown(summary: dict, meta: dict, variants: list[str]) -> str:
    lines = ["| clip | quality | " + " | ".join(f"bpp {LABELS[v]}" for v in variants) + " | AR saves | memory saves |",
             "|---|---|" + "---|" * (len(variants) + 2)]
    for r in summary["rows"]:
        lines.append(f"| {r['clip']} | {r['quality']} | " + " | ".join(f"{r[v]:.4f}" for v in variants)
                     + f" | {100 * r['ar_saving']:.1f}% | {100 * r['memory_saving']:.1f}% |")
    m = summary["mean_saving"]
    lines += ["", (f"Mean saving over {len(summary['rows'])} (clip, quality) points: AR {100 * m['ar_saving']:.1f}%, "
                   f"memory {100 * m['memory_saving']:.1f}%, both {100 * m['total_saving']:.1f}%."), "",
              "| variant | mean bpp | rate vs full (geometric mean) | paper, BD-rate vs full (HEVC-B / UVG) |", "|---|---|---|---|"]
    for v in variants:
        lines.append(f"| {LABELS[v]} | {summary['mean_bpp'][v]:.4f} | {100 * summary['rate_vs_full'][v]:+.1f}% | {PAPER.get(v, '-')} |")
    lines += ["", (f"Fine-tuning: {meta['steps']} steps per variant, batch {meta['batch']} (window, frame) rows, lr {meta['lr']}, "
                   f"cache of {meta['sequences']} training sequences x {meta['train_frames']} frames x {meta['crop']} px crops x "
                   f"{meta['qualities']} levels; {meta['minutes']:.1f} min wall in total.")]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", help="weights file or registry name (default: the shipped model)")
    ap.add_argument("--steps", type=int, default=1500, help="fine-tuning steps per variant")
    ap.add_argument("--batch", type=int, default=1024, help="(window, frame) rows per step")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--sequences", type=int, default=128, help="training sequences in the symbol cache")
    ap.add_argument("--train-frames", type=int, default=16, help="frames per training sequence")
    ap.add_argument("--crop", type=int, default=256)
    ap.add_argument("--train-clips", default="train", help="comma-separated training clips, or 'train'")
    ap.add_argument("--clips", default=",".join(clip_names("heldout")), help="held-out clips to evaluate")
    ap.add_argument("--frames", type=int, default=32, help="frames per held-out clip (at most)")
    ap.add_argument("--qualities", help="comma-separated quality levels (default: all)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json")
    ap.add_argument("--markdown")
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    t_start = time.time()

    def log(msg: str) -> None:
        print(f"[{time.time() - t_start:7.1f} s] {msg}", file=sys.stderr, flush=True)

    loaded = load_weights(a.weights)  # .entropy: the integer model the codec runs
    shadow = load_weights(a.weights).model.eval()  # .context_model: its float shadow (training)
    cfg = loaded.config
    shipped_icm = loaded.entropy
    qualities = [int(q) for q in a.qualities.split(",")] if a.qualities else list(range(cfg.qualities))

    names = clip_names("train") if a.train_clips == "train" else a.train_clips.split(",")
    data = VideoCropDataset(names, seq_len=a.train_frames, crop=a.crop, seed=a.seed, skip_unfit=True)
    cache = build_cache(shadow, data, a.sequences, a.seed)
    t_cache = time.time() - t_start
    log(f"cache: {cache['s'].shape[0]} (window, frame) rows from {','.join(data.names)} in {t_cache:.0f} s")

    base = shadow.context_model
    priors = {"full_shipped": shipped_icm}
    histories, train_seconds = {}, {}
    for v in VARIANTS:
        t0 = time.time()
        cm, histories[v] = train_prior(base, v, cache, a.steps, a.batch, a.lr, a.seed, cfg.window, log)
        priors[v] = to_integer(cm, shipped_icm)
        train_seconds[v] = round(time.time() - t0, 1)
    variants = list(VARIANTS) + ["full_shipped"]

    results = []
    for name in a.clips.split(","):
        y, u, v = load_clip(name, max_frames=a.frames)
        t, h, w = y.shape
        for q in qualities:
            symbols, codec_sizes = codec_symbols(y, u, v, q, loaded)
            for var in variants:
                sizes, ideal = coded_bits(priors[var], shipped_icm, var, symbols, q, frame_grid(h, w, cfg.window))
                if var == "full_shipped" and sizes != codec_sizes:
                    raise AssertionError(f"{name} q{q}: the shipped prior does not reproduce the codec's payloads")
                results.append({"clip": name, "size": f"{w}x{h}", "frames": t, "quality": q, "variant": var,
                                "bpp": 8 * sum(sizes) / (w * h * t), "ideal_bpp": ideal / (w * h * t)})
            log(f"{name} q{q}: " + ", ".join(f"{r['variant']} {r['bpp']:.4f}" for r in results[-len(variants):]))
    summary = summarise(results, variants)
    meta = {"weights_sha256": loaded.sha256, "steps": a.steps, "batch": a.batch, "lr": a.lr, "sequences": a.sequences,
            "train_frames": a.train_frames, "crop": a.crop, "qualities": cfg.qualities, "train_clips": data.names,
            "seed": a.seed, "threads": a.threads, "cache_seconds": round(t_cache, 1), "train_seconds": train_seconds,
            "minutes": (time.time() - t_start) / 60, "argv": sys.argv[1:] if argv is None else argv}
    text = markdown(summary, meta, variants)
    print(text)
    if a.markdown:
        Path(a.markdown).write_text(text)
    if a.json:
        Path(a.json).write_text(json.dumps({"meta": meta, "results": results, "summary": summary,
                                            "training": histories}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
