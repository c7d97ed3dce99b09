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

    ctx_k  = relu(ctx([s_{t-1,k} ; read_k ; onehot(k) ; onehot(quality, frame type)]))
    a_j    = relu(ar_embed(s_{t,j}))
    mix_k  = relu(sum_{j in earlier groups} A[k, j] a_j + bias_k)      (strictly causal mask)
    h_k    = relu(hidden([ctx_k ; mix_k]))
    mu_k, t_k = out(h_k)        -> mean in 1/4 steps, scale index = round(t_k)

The "attention" of memory and prior is a learned, input-independent token mixing (MLP-Mixer
style): softmax attention is not integer-exact, so we do not use it where probabilities depend.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from ..config import ModelConfig
from .intnet import ACT_MAX, FRAC, SHIFT, IntLinear, prepare, round_ste

ONE = 2**FRAC  # the integer that stands for 1.0


def _causal_mask(tokens: int, groups: int) -> torch.Tensor:
    g = torch.arange(tokens) // (tokens // groups)
    return (g[None, :] < g[:, None]).float()  # [k, j]: j in an earlier group than k


class IntegerContextModel(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        L, C, D, M, H, Q = cfg.latent_tokens, cfg.token_dim, cfg.memory_dim, cfg.memory_tokens, cfg.prior_hidden, cfg.qualities
        A = ACT_MAX
        self.mem_embed = IntLinear(C, D, 0, A)
        self.mem_gather = IntLinear(L, M, 0, A)
        self.mem_update = IntLinear(2 * D, D, 0, A)
        self.mem_read = IntLinear(M, L, 0, A)
        self.ctx = IntLinear(C + D + L + 2 * Q, H, 0, A)
        self.ar_embed = IntLinear(C, H, 0, A)
        self.ar_mix = IntLinear(L, L, 0, A, mask=_causal_mask(L, cfg.ar_groups))
        self.hidden = IntLinear(2 * H, H, 0, A)
        self.mu_max = cfg.symbol_max * ONE
        self.t_max = (cfg.scale_levels - 1) * ONE
        self.out = IntLinear(H, 2 * C, -self.mu_max, self.t_max, init_gain=0.1)
        with torch.no_grad():  # start with wide scales
            self.out.bias[C:] = cfg.scale_levels * 0.6
        self.register_buffer("scales", scale_grid(cfg), persistent=False)
        self.exported: dict[str, dict[str, torch.Tensor]] | None = None

    # ---- one layer, shadow or integer ----------------------------------------------------
    def _layer(self, name: str, x: torch.Tensor, rows: slice | None = None, token_axis: bool = False) -> torch.Tensor:
        if token_axis:
            x = x.transpose(-1, -2)
        layer: IntLinear = getattr(self, name)
        if self.exported is None:
            y = layer(x) if rows is None else _rows_forward(layer, x, rows)
        else:
            p = self.exported[name] if rows is None else self._row_cache[(name, rows.start, rows.stop)]
            y = IntLinear.int_forward(x, p, layer.lo, layer.hi)
        return y.transpose(-1, -2) if token_axis else y

    # ---- long-term memory ----------------------------------------------------------------
    def memory_update(self, memory: torch.Tensor | None, symbols: torch.Tensor) -> torch.Tensor:
        """memory [N, M, D] (None = empty), symbols [N, L, C] -> new memory."""
        u = self._layer("mem_embed", symbols * ONE)
        g = self._layer("mem_gather", u, token_axis=True)
        if memory is None:
            memory = torch.zeros_like(g)
        return self._layer("mem_update", torch.cat([memory, g], dim=-1))

    def memory_read(self, memory: torch.Tensor | None, n: int) -> torch.Tensor:
        cfg = self.cfg
        if memory is None:
            memory = self._zeros(n, cfg.memory_tokens, cfg.memory_dim)
        return self._layer("mem_read", memory, token_axis=True)

    # ---- prior -------------------------------------------------------------------------------
    def context(self, prev_symbols: torch.Tensor | None, memory: torch.Tensor | None, quality: int | torch.Tensor, intra: bool, n: int) -> torch.Tensor:
        """Per-token context features [N, L, H] from everything known before this frame.
        ``quality``: an int, or a LongTensor [N] (training mixes quality levels)."""
        cfg = self.cfg
        L, C, Q = cfg.latent_tokens, cfg.token_dim, cfg.qualities
        if prev_symbols is None:
            prev_symbols = self._zeros(n, L, C)
        read = self.memory_read(memory, n)
        pos = (torch.eye(L, dtype=read.dtype, device=read.device) * ONE).expand(n, L, L)
        qt = torch.as_tensor(quality, device=read.device).expand(n) * 2 + int(intra)
        cond = (torch.nn.functional.one_hot(qt, 2 * Q).to(read.dtype) * ONE)[:, None, :].expand(n, L, 2 * Q)
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
        mix = self._layer("ar_mix", a, rows=rows, token_axis=True)
        c = ctx if rows is None else ctx[:, rows]
        h = self._layer("hidden", torch.cat([c, mix], dim=-1))
        o = self._layer("out", h)
        mu = o[..., :C].clamp(-self.mu_max, self.mu_max)
        t = o[..., C:].clamp(0, self.t_max)
        mu4 = round_ste(mu / 4) if self.exported is None else torch.floor((mu + 2) / 4)
        idx = round_ste(t / ONE) if self.exported is None else torch.floor((t + ONE // 2) / ONE)
        return mu4, idx

    def estimate_bits(self, symbols: torch.Tensor, mu4: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        """Differentiable bits of each symbol under the discretised Gaussian the tables hold."""
        cfg = self.cfg
        sigma = cfg.scale_min * (cfg.scale_max / cfg.scale_min) ** (idx / (cfg.scale_levels - 1))
        mu = mu4 / 4
        upper = _phi((symbols - mu + 0.5) / sigma)
        lower = _phi((symbols - mu - 0.5) / sigma)
        p = (upper - lower).clamp_min(2.0**-16)
        return -torch.log2(p)

    # ---- export --------------------------------------------------------------------------------
    LAYERS = ("mem_embed", "mem_gather", "mem_update", "mem_read", "ctx", "ar_embed", "ar_mix", "hidden", "out")

    def export_integer(self) -> dict[str, torch.Tensor]:
        return {f"{n}.{k}": v for n in self.LAYERS for k, v in getattr(self, n).export().items()}

    def load_integer(self, tensors: dict[str, torch.Tensor]) -> None:
        """Switch to integer inference with shipped integer tensors (no float parameter is read)."""
        exported = {n: prepare({k: tensors[f"{n}.{k}"] for k in ("w", "b", "m")}) for n in self.LAYERS}
        for n in self.LAYERS:
            if exported[n]["w"].shape != getattr(self, n).weight.shape:
                raise ValueError(f"integer layer {n} has shape {tuple(exported[n]['w'].shape)}, the config needs {tuple(getattr(self, n).weight.shape)}")
        if (exported["ar_mix"]["w"][self.ar_mix.mask == 0] != 0).any():
            raise ValueError("ar_mix weights are not causal (encoder and decoder would disagree)")
        self.exported = exported
        per = self.cfg.latent_tokens // self.cfg.ar_groups
        self._row_cache = {}
        for g in range(self.cfg.ar_groups):  # the token-mixing rows each decoding step needs
            p = self.exported["ar_mix"]
            r = slice(g * per, (g + 1) * per)
            self._row_cache[("ar_mix", r.start, r.stop)] = {"wt64": p["wt64"][:, r], "b64": p["b64"][r], "m64": p["m64"][r]}

    def _zeros(self, *shape: int) -> torch.Tensor:
        dtype = torch.float32 if self.exported is None else torch.float64
        return torch.zeros(*shape, dtype=dtype, device=self.out.weight.device)


def _rows_forward(layer: IntLinear, x: torch.Tensor, rows: slice) -> torch.Tensor:
    w_int, b_int, m = layer.quantised()
    acc = x @ w_int[rows].t() + b_int[rows]
    return round_ste(acc * m[rows] / 2**SHIFT).clamp(layer.lo, layer.hi)


def _phi(x: torch.Tensor) -> torch.Tensor:
    return 0.5 * (1 + torch.erf(x / math.sqrt(2)))


def scale_grid(cfg: ModelConfig) -> torch.Tensor:
    i = torch.arange(cfg.scale_levels, dtype=torch.float64)
    return cfg.scale_min * (cfg.scale_max / cfg.scale_min) ** (i / (cfg.scale_levels - 1))
