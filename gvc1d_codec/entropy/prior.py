"""The integer context model: long-term 1D memory and the autoregressive prior over 1D tokens.

Everything here reaches a probability, so everything here is an integer network
(:mod:`gvc1d_codec.entropy.intnet`) fed only with decoded symbols, the quality level and the
frame type. Shapes: ``N`` windows (of one or several frames), ``L`` latent tokens per window,
``C`` channels per token, ``M`` memory slots of ``D`` channels.

Long-term 1D memory (paper Fig. 3), per window::

    u      = relu(embed(s_t))                  [N, L, D]  each decoded token
    g      = relu(gather_L->M(u))              [N, M, D]  M learned queries pool the tokens
    mem_t  = relu(update([mem_{t-1} ; g]))     [N, M, D]  new memory (reset to 0 at intra frames)
    read   = relu(read_M->L(mem))              [N, L, D]  one read-out per token position

Autoregressive prior for token k (paper: token by token, windows in parallel)::

    ctx_k  = relu(ctx([s_{t-1,k} ; read_k ; onehot(k) ; twohot(quality, frame type)]))

(``twohot``: a one-hot of (level, frame type) at a whole quality level, the two neighbouring
levels' entries in proportion at a fractional one: :mod:`gvc1d_codec.quality`.)
    a_j    = relu(ar_embed(s_{t,j}))
    mix_k  = relu(sum_{j in earlier groups} A[k, j] a_j + bias_k)      (strictly causal mask)
    h_k    = relu(hidden([ctx_k ; mix_k]))
    mu_k, t_k = out(h_k)        -> mean in 1/4 steps, scale index = round(t_k)

The "attention" of memory and prior is a learned, input-independent token mixing (MLP-Mixer
style): softmax attention is not integer-exact, so we do not use it where probabilities depend.

The graph above is written once, in :class:`ContextGraph`, and run two ways:

* :class:`FloatShadowPrior`, an ``nn.Module`` inside the float model: the training "shadow",
  whose float parameters are rounded straight-through, so its forward value equals the integer net;
* :class:`IntegerPrior`, a plain CPU object outside the ``nn.Module`` tree, holding only the
  shipped integer tensors (exported from the shadow, or read from a weights file). This is what the
  codec runs: moving the float model to another device (CUDA, ``meta``) cannot move or change it.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from ..config import ModelConfig
from ..quality import condition
from .definition import ACT_MAX, FRAC, SHIFT, check_freq_table, scale_grid
from .intnet import IntLinear, clamp_ste, prepare, round_ste

ONE = 2**FRAC  # the integer that stands for 1.0
LAYERS = ("mem_embed", "mem_gather", "mem_update", "mem_read", "ctx", "ar_embed", "ar_mix", "hidden", "out")


def _causal_mask(tokens: int, groups: int) -> torch.Tensor:
    g = torch.arange(tokens) // (tokens // groups)
    return (g[None, :] < g[:, None]).float()  # [k, j]: j in an earlier group than k


def layer_bounds(cfg: ModelConfig) -> dict[str, tuple[int, int]]:
    """The output clamp (lo, hi) of each layer: clipped ReLU, except the mean/scale output."""
    hidden = {n: (0, ACT_MAX) for n in LAYERS}
    hidden["out"] = (-cfg.symbol_max * ONE, (cfg.scale_levels - 1) * ONE)
    return hidden


class ContextGraph:
    """The context model's computation, written once; subclasses say how one layer runs."""

    cfg: ModelConfig

    def _layer(self, name: str, x: torch.Tensor, rows: slice | None = None) -> torch.Tensor:
        raise NotImplementedError

    def _zeros(self, *shape: int) -> torch.Tensor:
        raise NotImplementedError

    def symbols_in(self, symbols: torch.Tensor) -> torch.Tensor:
        """Symbols in the representation this model keeps them in (the state's ``prev_symbols``)."""
        return symbols

    def _mixed(self, name: str, x: torch.Tensor, rows: slice | None = None) -> torch.Tensor:
        """A layer along the token axis (token mixing): [N, L, D] -> [N, L', D]."""
        return self._layer(name, x.transpose(-1, -2), rows).transpose(-1, -2)

    # ---- long-term memory ----------------------------------------------------------------
    def memory_update(self, memory: torch.Tensor | None, symbols: torch.Tensor) -> torch.Tensor:
        """memory [N, M, D] (None = empty), symbols [N, L, C] -> new memory."""
        u = self._layer("mem_embed", symbols * ONE)
        g = self._mixed("mem_gather", u)
        if memory is None:
            memory = torch.zeros_like(g)
        return self._layer("mem_update", torch.cat([memory, g], dim=-1))

    def memory_read(self, memory: torch.Tensor | None, n: int) -> torch.Tensor:
        cfg = self.cfg
        if memory is None:
            memory = self._zeros(n, cfg.memory_tokens, cfg.memory_dim)
        return self._mixed("mem_read", memory)

    # ---- prior -------------------------------------------------------------------------------
    def context(self, prev_symbols: torch.Tensor | None, memory: torch.Tensor | None, quality: int | torch.Tensor, intra: bool, n: int) -> torch.Tensor:
        """Per-token context features [N, L, H] from everything known before this frame.
        ``quality``: a level (int, or a multiple of 1/16 between levels), or a tensor [N] of them
        (training mixes quality levels)."""
        cfg = self.cfg
        L, C, Q = cfg.latent_tokens, cfg.token_dim, cfg.qualities
        if prev_symbols is None:
            prev_symbols = self._zeros(n, L, C)
        read = self.memory_read(memory, n)
        pos = (torch.eye(L, dtype=read.dtype, device=read.device) * ONE).expand(n, L, L)
        cond = condition(quality, intra, Q, n, ONE, read.device, read.dtype)[:, None, :].expand(n, L, 2 * Q)
        return self._layer("ctx", torch.cat([prev_symbols * ONE, read, pos, cond], dim=-1))

    def embed(self, symbols: torch.Tensor) -> torch.Tensor:
        """Per-token features a_j of decoded symbols [N, L', C] -> [N, L', H]."""
        return self._layer("ar_embed", symbols * ONE)

    def params(self, ctx: torch.Tensor, symbols: torch.Tensor | None = None, rows: slice | None = None,
               embedded: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Integer (mean in quarter steps, scale index) [N, L', C] for tokens ``rows`` (all if None),
        given the already known ``symbols`` [N, L, C], or their features ``embedded`` [N, L, H]
        (only earlier groups are looked at: later ones are multiplied by exact zeros)."""
        C = self.cfg.token_dim
        a = self.embed(symbols) if embedded is None else embedded
        mix = self._mixed("ar_mix", a, rows=rows)
        c = ctx if rows is None else ctx[:, rows]
        h = self._layer("hidden", torch.cat([c, mix], dim=-1))
        o = self._layer("out", h)
        cfg = self.cfg
        mu = clamp_ste(o[..., :C], -cfg.symbol_max * ONE, cfg.symbol_max * ONE)
        t = clamp_ste(o[..., C:], 0, (cfg.scale_levels - 1) * ONE)
        # integers (1/16 units), rounded half up to quarter steps and scale indices: exact in float
        return round_ste(mu / 4), round_ste(t / ONE)


class FloatShadowPrior(ContextGraph, nn.Module):
    """The training shadow of the integer context model (float parameters, straight-through)."""

    def __init__(self, cfg: ModelConfig):
        nn.Module.__init__(self)
        self.cfg = cfg
        L, C, D, M, H, Q = cfg.latent_tokens, cfg.token_dim, cfg.memory_dim, cfg.memory_tokens, cfg.prior_hidden, cfg.qualities
        b = layer_bounds(cfg)
        self.mem_embed = IntLinear(C, D, *b["mem_embed"])
        self.mem_gather = IntLinear(L, M, *b["mem_gather"])
        self.mem_update = IntLinear(2 * D, D, *b["mem_update"])
        self.mem_read = IntLinear(M, L, *b["mem_read"])
        self.ctx = IntLinear(C + D + L + 2 * Q, H, *b["ctx"])
        self.ar_embed = IntLinear(C, H, *b["ar_embed"])
        self.ar_mix = IntLinear(L, L, *b["ar_mix"], mask=_causal_mask(L, cfg.ar_groups))
        self.hidden = IntLinear(2 * H, H, *b["hidden"])
        self.out = IntLinear(H, 2 * C, *b["out"], init_gain=0.1)
        with torch.no_grad():  # start with wide scales
            self.out.bias[C:] = cfg.scale_levels * 0.6

    def _layer(self, name: str, x: torch.Tensor, rows: slice | None = None) -> torch.Tensor:
        layer: IntLinear = getattr(self, name)
        return layer(x) if rows is None else _rows_forward(layer, x, rows)

    def _zeros(self, *shape: int) -> torch.Tensor:
        return torch.zeros(*shape, dtype=torch.float32, device=self.out.weight.device)

    def estimate_bits(self, symbols: torch.Tensor, mu4: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        """Differentiable bits of each symbol under the discretised Gaussian the tables hold."""
        cfg = self.cfg
        sigma = cfg.scale_min * (cfg.scale_max / cfg.scale_min) ** (idx / (cfg.scale_levels - 1))
        mu = mu4 / 4
        upper = _phi((symbols - mu + 0.5) / sigma)
        lower = _phi((symbols - mu - 0.5) / sigma)
        p = (upper - lower).clamp_min(2.0**-16)
        return -torch.log2(p)

    def export_integer(self) -> dict[str, torch.Tensor]:
        """The integer tensors a weights file ships (``<layer>.w/b/m``)."""
        return {f"{n}.{k}": v for n in LAYERS for k, v in getattr(self, n).export().items()}


class IntegerPrior(ContextGraph):
    """The integer context model the codec runs: shipped integer tensors, float64 on the CPU,
    exact whatever the BLAS, thread count or device of the float model. Plus the frequency table.

    Inputs may come from any device; they are moved to the CPU as float64 (exact integers)."""

    def __init__(self, cfg: ModelConfig, tensors: dict[str, torch.Tensor], freq_table: np.ndarray):
        self.cfg = cfg
        self.freq_table = check_freq_table(freq_table, cfg)
        bounds = layer_bounds(cfg)
        shapes = _layer_shapes(cfg)
        self.layers: dict[str, dict[str, torch.Tensor]] = {}
        for n in LAYERS:
            try:
                p = prepare({k: tensors[f"{n}.{k}"].cpu() for k in ("w", "b", "m")})
            except KeyError as e:
                raise ValueError(f"integer layer {n} is missing {e}") from None
            if tuple(p["w"].shape) != shapes[n]:
                raise ValueError(f"integer layer {n} has shape {tuple(p['w'].shape)}, the config needs {shapes[n]}")
            self.layers[n] = p
        self.bounds = bounds
        mask = _causal_mask(cfg.latent_tokens, cfg.ar_groups)
        if (self.layers["ar_mix"]["w"][mask == 0] != 0).any():
            raise ValueError("ar_mix weights are not causal (encoder and decoder would disagree)")
        per = cfg.latent_tokens // cfg.ar_groups
        self._rows: dict[tuple[str, int, int], dict[str, torch.Tensor]] = {}
        p = self.layers["ar_mix"]
        for g in range(cfg.ar_groups):  # the token-mixing rows each decoding step needs
            r = slice(g * per, (g + 1) * per)
            self._rows[("ar_mix", r.start, r.stop)] = {"wt64": p["wt64"][:, r], "b64": p["b64"][r], "m64": p["m64"][r]}

    @classmethod
    def from_shadow(cls, shadow: FloatShadowPrior, freq_table: np.ndarray) -> "IntegerPrior":
        return cls(shadow.cfg, shadow.export_integer(), freq_table)

    def integer_tensors(self) -> dict[str, torch.Tensor]:
        return {f"{n}.{k}": self.layers[n][k] for n in LAYERS for k in ("w", "b", "m")}

    def _layer(self, name: str, x: torch.Tensor, rows: slice | None = None) -> torch.Tensor:
        p = self.layers[name] if rows is None else self._rows[(name, rows.start, rows.stop)]
        x = x.detach().to("cpu", torch.float64)
        return IntLinear.int_forward(x, p, *self.bounds[name])

    def _zeros(self, *shape: int) -> torch.Tensor:
        return torch.zeros(*shape, dtype=torch.float64)

    def symbols_in(self, symbols: torch.Tensor) -> torch.Tensor:
        """Symbols as this model keeps them: float64 on the CPU (exact integers)."""
        return symbols.detach().to("cpu", torch.float64)


def _layer_shapes(cfg: ModelConfig) -> dict[str, tuple[int, int]]:
    L, C, D, M, H, Q = cfg.latent_tokens, cfg.token_dim, cfg.memory_dim, cfg.memory_tokens, cfg.prior_hidden, cfg.qualities
    return {"mem_embed": (D, C), "mem_gather": (M, L), "mem_update": (D, 2 * D), "mem_read": (L, M),
            "ctx": (H, C + D + L + 2 * Q), "ar_embed": (H, C), "ar_mix": (L, L), "hidden": (H, 2 * H), "out": (2 * C, H)}


def _rows_forward(layer: IntLinear, x: torch.Tensor, rows: slice) -> torch.Tensor:
    w_int, b_int, m = layer.quantised()
    acc = x @ w_int[rows].t() + b_int[rows]
    return round_ste(acc * m[rows] / 2**SHIFT).clamp(layer.lo, layer.hi)


def _phi(x: torch.Tensor) -> torch.Tensor:
    return 0.5 * (1 + torch.erf(x / math.sqrt(2)))


__all__ = ["ContextGraph", "FloatShadowPrior", "IntegerPrior", "LAYERS", "ONE", "scale_grid"]
