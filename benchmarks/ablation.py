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
import copy
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gvc1d_codec import Encoder, VideoFrame  # noqa: E402
from gvc1d_codec.color import yuv420_to_rgb  # noqa: E402
from gvc1d_codec.data.clips import clip_names, load_clip  # noqa: E402
from gvc1d_codec.data.dataset import VideoCropDataset  # noqa: E402
from gvc1d_codec.entropy.model import EntropyCoder  # noqa: E402
from gvc1d_codec.entropy.prior import IntegerContextModel  # noqa: E402
from gvc1d_codec.weights import load_weights  # noqa: E402

VARIANTS = {  # name -> (autoregressive context, long-term memory)
    "noar_nomem": (False, False),
    "ar_nomem": (True, False),
    "full": (True, True),
}
LABELS = {"noar_nomem": "no AR, no memory", "ar_nomem": "AR, no memory", "full": "AR + memory (full)",
          "full_shipped": "full, shipped (not fine-tuned)"}
FROZEN = ("mem_embed", "mem_gather", "mem_update")  # the memory update also conditions the transforms
PAPER = {"noar_nomem": "+67.8% / +67.4%", "ar_nomem": "+20.1% / +40.6%", "full": "0"}


# ---- the prior of one variant ---------------------------------------------------------------------

def prior_params(cm: IntegerContextModel, variant: str, s: torch.Tensor, s_prev: torch.Tensor | None,
                 memory: torch.Tensor | None, quality, intra: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """(mu4, scale index) [N, L, C] of ``s`` under ``variant`` (shadow or integer ``cm``)."""
    ar, mem = VARIANTS["full" if variant == "full_shipped" else variant]
    n = s.shape[0]
    ctx = cm.context(s_prev, memory if mem else None, quality, intra, n)
    if ar:
        return cm.params(ctx, s)
    return cm.params(ctx, embedded=torch.zeros(n, cm.cfg.latent_tokens, cm.cfg.prior_hidden, dtype=s.dtype))


# ---- training: cache the symbols once, then fine-tune each prior ------------------------------------

@torch.no_grad()
def build_cache(model, data: VideoCropDataset, sequences: int, seed: int, chunk: int = 8) -> dict[str, torch.Tensor]:
    """Run the frozen transforms (float shadow, as in training) over ``sequences`` random crops of
    the training clips at every quality level. One row per (window, frame): its symbols, the
    previous frame's symbols, the memory before the frame, quality, intra."""
    cfg, cm = model.cfg, model.context_model
    rng = np.random.default_rng(seed)
    out: dict[str, list] = {"s": [], "s_prev": [], "memory": [], "quality": [], "intra": []}
    done = 0
    while done < sequences:
        b = min(chunk, sequences - done)
        frames = yuv420_to_rgb(*data.sample_batch(b, rng))  # [B, T, 3, H, W]
        _, t, _, h, w = frames.shape
        rows, cols = h // cfg.window, w // cfg.window
        for q in range(cfg.qualities):
            q_win = torch.full((b * rows * cols,), q, dtype=torch.long)
            x_prev = memory = s_prev = None
            for i in range(t):
                intra = i == 0
                y = model.analysis(frames[:, i], x_prev, memory, intra)
                s = model.quantise(y, q_win)
                x_hat = model.synthesis(model.dequantise(s, q_win), x_prev, memory, intra, rows, cols)
                out["s"].append(s.to(torch.int8))
                out["s_prev"].append(torch.zeros_like(s, dtype=torch.int8) if s_prev is None else s_prev.to(torch.int8))
                mem = torch.zeros(s.shape[0], cfg.memory_tokens, cfg.memory_dim) if memory is None else memory
                assert float(mem.min()) >= 0 and float(mem.max()) <= 255
                out["memory"].append(mem.to(torch.uint8))
                out["quality"].append(q_win.clone())
                out["intra"].append(torch.full((s.shape[0],), intra))
                memory = cm.memory_update(memory, s)
                s_prev, x_prev = s, x_hat.clamp(0, 1)
        done += b
    return {k: torch.cat(v) for k, v in out.items()}


def train_prior(base, variant: str, cache: dict[str, torch.Tensor], steps: int, batch: int, lr: float,
                seed: int, window: int, log=None) -> tuple[IntegerContextModel, list[dict]]:
    """Fine-tune a copy of the shadow context model ``base`` for ``variant``: AdamW, linear warm-up
    then cosine decay to 10%, the same batches for every variant (``seed``)."""
    cm = copy.deepcopy(base).train()
    for name in FROZEN:
        getattr(cm, name).requires_grad_(False)
    params = [p for p in cm.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
    gen = torch.Generator().manual_seed(seed)
    rows = cache["s"].shape[0]
    warmup = max(1, min(50, steps // 10))
    history, acc = [], 0.0
    for step in range(1, steps + 1):
        f = min(1.0, step / warmup) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * step / steps)))
        for g in opt.param_groups:
            g["lr"] = lr * f
        pick = torch.randint(rows, (batch,), generator=gen)
        bits = 0.0
        for intra in (True, False):
            sel = pick[cache["intra"][pick] == intra]
            if len(sel) == 0:
                continue
            s = cache["s"][sel].float()
            mu4, idx = prior_params(cm, variant, s, cache["s_prev"][sel].float(), cache["memory"][sel].float(),
                                    cache["quality"][sel], intra)
            bits = bits + cm.estimate_bits(s, mu4, idx).sum()
        loss = bits / (batch * window * window)  # bits per pixel
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 0.5)
        opt.step()
        acc += float(loss.detach())
        if step % 100 == 0 or step == steps:
            n = step % 100 or 100
            history.append({"step": step, "train_bpp": round(acc / n, 5)})
            if log:
                log(f"  {variant} step {step}: train bpp {acc / n:.5f}")
            acc = 0.0
    return cm.eval(), history


def to_integer(cm: IntegerContextModel, shipped: IntegerContextModel) -> IntegerContextModel:
    """The exported integer network of a shadow context model (what a codec would ship)."""
    icm = IntegerContextModel(cm.cfg)
    icm.load_state_dict(cm.state_dict())
    ints = icm.export_integer()
    for name in FROZEN:  # frozen layers export to the shipped integers
        for k in ("w", "b", "m"):
            if not torch.equal(ints[f"{name}.{k}"], shipped.exported[name][k]):
                raise AssertionError(f"frozen layer {name} does not export to the shipped integers")
    icm.load_integer(ints)
    return icm.eval()


# ---- evaluation on held-out clips, integer path + range coder ----------------------------------------

def codec_symbols(y, u, v, quality: int, loaded) -> tuple[list[torch.Tensor], list[int]]:
    """The codec's symbols (float64 [N, L, C] per frame) and payload sizes, low delay."""
    t, h, w = y.shape
    enc = Encoder(w, h, quality=quality, weights=loaded)
    symbols, payloads = [], []
    for i in range(t):
        packet = enc.encode_packet(VideoFrame("yuv420p", (y[i], u[i], v[i])))
        symbols.append(torch.from_numpy(enc.last_symbols.astype(np.float64)))
        payloads.append(len(packet.payload))
    return symbols, payloads


@torch.no_grad()
def coded_bits(icm: IntegerContextModel, shipped: IntegerContextModel, variant: str, symbols: list[torch.Tensor],
               quality: int, table: np.ndarray) -> tuple[list[int], float]:
    """Range code each frame's symbols with ``variant``'s integer prior through the codec's
    :meth:`EntropyCoder.code` (the bitstream's symbol order). Returns (payload bytes per frame,
    ideal bits)."""
    coder = EntropyCoder(icm, table)
    memory = s_prev = None
    sizes, ideal = [], 0.0
    for i, s in enumerate(symbols):
        mu4, idx = prior_params(icm, variant, s, s_prev, memory, quality, i == 0)
        payload, bits = coder.code(s, mu4, idx)
        sizes.append(len(payload))
        ideal += bits
        memory = shipped.memory_update(memory, s)  # the shipped memory: it also drives the transforms
        s_prev = s
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

    loaded = load_weights(a.weights)  # integer: the codec
    shadow = load_weights(a.weights, integer=False).model.eval()  # float shadow: training
    cfg = loaded.config
    shipped_icm = loaded.model.context_model
    table = np.ascontiguousarray(shipped_icm.freq_table, dtype=np.float64)
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
                sizes, ideal = coded_bits(priors[var], shipped_icm, var, symbols, q, table)
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
