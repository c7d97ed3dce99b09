"""Integer network layers (Ballé, Johnston & Minnen, ICLR 2019), for everything that reaches a probability.

Convention: every activation is an integer tensor ``a`` standing for the real value ``a / 2**FRAC``.
A layer :class:`IntLinear` computes, with integer weights ``w`` (int8), bias ``b`` (accumulator
units) and a per-output-channel multiplier ``m`` (an integer, read as ``m / 2**SHIFT``)::

    acc = a @ w.T + b                                  (exact integer accumulation)
    out = floor((acc * m + 2**(SHIFT-1)) / 2**SHIFT)   (rounding shift, ties up)
    out = clamp(out, lo, hi)                           (clipped ReLU for hidden layers)

Two ways to run the same layer:

* training (float "shadow"): the integer quantities are derived from float parameters with
  straight-through rounding, so gradients flow while the forward value equals the integer net;
* inference (:meth:`IntLinear.int_forward`): only the exported integer tensors are used, in
  float64, where every intermediate is an integer below 2**53 and therefore exact whatever the
  summation order, SIMD width, FMA use or thread count. :func:`check_exact` asserts the bound.
"""
from __future__ import annotations

import torch
from torch import nn

from .definition import ACT_MAX, EXACT_LIMIT, FRAC, INPUT_BOUND, SHIFT  # noqa: F401 (the convention)


def round_ste(x: torch.Tensor) -> torch.Tensor:
    """Round half up in the forward pass, identity gradient."""
    return x + (torch.floor(x + 0.5) - x).detach()


class _BoundedClamp(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, lo: float, hi: float) -> torch.Tensor:
        ctx.save_for_backward(x)
        ctx.lo, ctx.hi = lo, hi
        return x.clamp(lo, hi)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (x,) = ctx.saved_tensors
        inside = (x >= ctx.lo) & (x <= ctx.hi)
        back_in = ((x < ctx.lo) & (grad < 0)) | ((x > ctx.hi) & (grad > 0))  # descent moves x inwards
        return grad * (inside | back_in), None, None


def clamp_ste(x: torch.Tensor, lo: float, hi: float) -> torch.Tensor:
    """``x.clamp(lo, hi)`` in the forward pass; the gradient also passes outside the range when a
    descent step would move x back into it (CompressAI's LowerBound, on both sides). A plain clamp
    has no gradient out of its range, so a prior scale pushed below the smallest one could never
    come back up when its channel starts to carry symbols (dead token channels)."""
    if not x.requires_grad:
        return x.clamp(lo, hi)
    return _BoundedClamp.apply(x, lo, hi)


def check_exact(*tensors: torch.Tensor) -> None:
    for t in tensors:
        if t.numel() and float(t.abs().max()) >= EXACT_LIMIT:
            raise ArithmeticError("integer network left the exact float64 range")


class IntLinear(nn.Module):
    """Linear layer over the last axis with integer inference. ``mask`` (optional, [out, in]) forces
    weights to exactly zero (used for the autoregressive token mixing)."""

    def __init__(self, d_in: int, d_out: int, lo: int, hi: int, mask: torch.Tensor | None = None, init_gain: float = 1.0):
        super().__init__()
        self.lo, self.hi = lo, hi
        self.weight = nn.Parameter(torch.randn(d_out, d_in) * init_gain / d_in**0.5)
        self.bias = nn.Parameter(torch.zeros(d_out))
        self.register_buffer("mask", torch.ones(d_out, d_in) if mask is None else mask.float(), persistent=False)

    # ---- float shadow (training) -------------------------------------------------------------
    def quantised(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(w_int, b_int, m) as float tensors holding integers; straight-through gradients."""
        w = self.weight * self.mask
        scale = (w.detach().abs().amax(dim=1) / 127.0).clamp_min(1e-6)  # real weight per int step
        w_int = round_ste(w / scale[:, None]).clamp(-127, 127)
        b_int = round_ste(self.bias * 2**FRAC / scale)
        m = torch.floor(scale * 2**SHIFT + 0.5).clamp_min(1.0)  # acc unit -> output unit (both FRAC)
        return w_int, b_int, m

    def forward(self, a: torch.Tensor) -> torch.Tensor:
        w_int, b_int, m = self.quantised()
        acc = a @ w_int.t() + b_int
        return round_ste(acc * m / 2**SHIFT).clamp(self.lo, self.hi)

    # ---- export and integer inference --------------------------------------------------------
    def export(self) -> dict[str, torch.Tensor]:
        with torch.no_grad():
            w_int, b_int, m = self.quantised()
        return {"w": w_int.to(torch.int8), "b": b_int.to(torch.int64), "m": m.to(torch.int64)}

    @staticmethod
    def int_forward(a: torch.Tensor, p: dict[str, torch.Tensor], lo: int, hi: int) -> torch.Tensor:
        """Exact integer layer. ``a``: float64 tensor of integers with |a| <= INPUT_BOUND (every
        layer input is a clamped activation or a clipped symbol); ``p`` from :func:`prepare`."""
        acc = torch.addmm(p["b64"], a.reshape(-1, a.shape[-1]), p["wt64"]).view(*a.shape[:-1], -1)
        return torch.floor((acc * p["m64"] + 2.0 ** (SHIFT - 1)) / 2.0**SHIFT).clamp_(lo, hi)


def prepare(p: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Check once that a shipped integer layer stays exact in float64 for every input with
    |a| <= INPUT_BOUND, and keep float64 copies of its integer tensors for fast BLAS."""
    if p["w"].dtype != torch.int8 or p["b"].dtype != torch.int64 or p["m"].dtype != torch.int64:
        raise ValueError("integer layer tensors must be int8 weights and int64 biases/multipliers")
    w, b, m = p["w"].to(torch.int64), p["b"], p["m"]
    if w.shape[0] != b.shape[0] or b.shape != m.shape or w.abs().max() > 127 or (m <= 0).any():
        raise ValueError("malformed integer layer")
    acc_bound = w.shape[1] * INPUT_BOUND * 127 + int(b.abs().max())
    check_exact(torch.tensor(float(acc_bound) * float(m.max())))
    return {"w": p["w"], "b": p["b"], "m": p["m"], "wt64": w.t().to(torch.float64).contiguous(),
            "b64": b.to(torch.float64), "m64": m.to(torch.float64)}
