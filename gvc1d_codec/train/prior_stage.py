"""Stage ``prior``: fine-tune the entropy model alone on long sequences, the transforms frozen.

The symbols do not depend on the prior, so they are computed once (a cache of random crops of the
training clips, ``--frames`` frames each, every quality level, low delay, through the frozen float
transforms) and the prior is then fit to them by minimising their bits. The rate falls at exactly
the same distortion. The memory-update layers stay frozen: they also condition the transforms.

The entropy-model ablation (``benchmarks/ablation.py``, paper Table 3) fine-tunes its variants
with the same functions: ``full`` is what this stage ships.
"""
from __future__ import annotations

import copy
import math

import numpy as np
import torch

from ..color import yuv420_to_rgb
from ..data.dataset import VideoCropDataset
from ..entropy.prior import ContextGraph, FloatShadowPrior, IntegerPrior
from ..step import CodingState, step

VARIANTS = {  # name -> (autoregressive context, long-term memory)
    "noar_nomem": (False, False),
    "ar_nomem": (True, False),
    "full": (True, True),
}
FROZEN = ("mem_embed", "mem_gather", "mem_update")  # the memory update also conditions the transforms


def prior_params(cm: ContextGraph, variant: str, s: torch.Tensor, s_prev: torch.Tensor | None,
                 memory: torch.Tensor | None, quality, intra: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """(mu4, scale index) [N, L, C] of ``s`` under ``variant`` (shadow or integer ``cm``)."""
    ar, mem = VARIANTS["full" if variant == "full_shipped" else variant]
    n = s.shape[0]
    ctx = cm.context(s_prev, memory if mem else None, quality, intra, n)
    if ar:
        return cm.params(ctx, s)
    return cm.params(ctx, embedded=torch.zeros(n, cm.cfg.latent_tokens, cm.cfg.prior_hidden, dtype=s.dtype))


@torch.no_grad()
def build_cache(model, data: VideoCropDataset, sequences: int, seed: int, chunk: int = 8) -> dict[str, torch.Tensor]:
    """Run the frozen transforms (float shadow, as in training) over ``sequences`` random crops of
    the training clips at every quality level, with the codec's frame-coding step. One row per
    (window, frame): its symbols, the previous frame's symbols, the memory before the frame,
    quality, intra."""
    cfg, cm = model.cfg, model.context_model
    rng = np.random.default_rng(seed)
    out: dict[str, list] = {"s": [], "s_prev": [], "memory": [], "quality": [], "intra": []}
    done = 0
    while done < sequences:
        b = min(chunk, sequences - done)
        frames = yuv420_to_rgb(*data.sample_batch(b, rng))  # [B, T, 3, H, W]
        t = frames.shape[1]
        for q in range(cfg.qualities):
            state = CodingState()
            for i in range(t):
                intra = i == 0
                r, state = step(model, cm, state, intra=intra, quality=torch.full((b,), q, dtype=torch.long), x=frames[:, i])
                s, ctx = r.symbols, r.context
                out["s"].append(s.to(torch.int8))
                out["s_prev"].append(torch.zeros_like(s, dtype=torch.int8) if ctx.prev_symbols is None else ctx.prev_symbols.to(torch.int8))
                mem = torch.zeros(s.shape[0], cfg.memory_tokens, cfg.memory_dim) if ctx.memory is None else ctx.memory
                assert float(mem.min()) >= 0 and float(mem.max()) <= 255
                out["memory"].append(mem.to(torch.uint8))
                out["quality"].append(ctx.quality.clone())
                out["intra"].append(torch.full((s.shape[0],), intra))
        done += b
    return {k: torch.cat(v) for k, v in out.items()}


def train_prior(base, variant: str, cache: dict[str, torch.Tensor], steps: int, batch: int, lr: float,
                seed: int, window: int, log=None) -> tuple[FloatShadowPrior, list[dict]]:
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


def to_integer(cm: FloatShadowPrior, shipped: IntegerPrior) -> IntegerPrior:
    """The exported integer network of a shadow context model (what a codec would ship)."""
    icm = IntegerPrior.from_shadow(cm, shipped.freq_table.astype(np.int64))
    for name in FROZEN:  # frozen layers export to the shipped integers
        for k in ("w", "b", "m"):
            if not torch.equal(icm.layers[name][k], shipped.layers[name][k]):
                raise AssertionError(f"frozen layer {name} does not export to the shipped integers")
    return icm
