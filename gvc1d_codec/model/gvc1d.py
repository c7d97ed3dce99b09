"""GVC1D: a frame coded as a few 1D latent tokens per window, with short- and long-term context.

Data flow for frame x_t (RGB, padded to whole windows), paper Fig. 2, for the shipped architecture
(``conv_width`` > 0; the first release's, ``conv_width`` = 0, in brackets)::

    x̄_t   = motion-compensated x̂_{t-1}                     short-term context (model/motion.py)
    E_t   = stem(x_t ⊕ x̄_t)                                 one token per 16 px patch (model/conv.py)
                                                             [a linear patch embedding]
    seq   = E_t ⊕ (latent_tokens + gather(E_t)) ⊕ C_long    per window
    y_t   = to_tokens(encoder(seq)[latent part])            L tokens x C channels per window
    s_t   = clip(round(y_t · gain_q))                       the symbols (entropy-coded)
    ŷ_t   = s_t · inv_gain_q
    seq'  = (mask_tokens + context(x̄_t) + scatter(from_tokens(ŷ_t))) ⊕ from_tokens(ŷ_t) ⊕ C_long
    p_t, g = conv_decoder(decoder(seq')[patch part], contexts of x̄_t)
    x̂_t   = g · x̄_t + (1 - g) · p_t                         a copy gate that reaches 0 and 1
                                                             [σ(gate) · x̂_{t-1} + refine(head(...))]

``gather`` (patches -> tokens) and ``scatter`` (tokens -> patches) are learned linear maps along the
token axis (MLP-Mixer style), beside attention. They are our addition: without them the tiny
model trained from scratch on this CPU sat for 400 steps on a plateau where every patch of a
window decodes to the window's mean colour (attention has to learn to route first); with them a
one-batch overfit test halves its error in 120 steps (0.025 -> 0.013 MSE).
They do not tie tokens to places: the maps are learned, dense and per window.

``C_long`` is read from the long-term 1D memory, which (like the prior) lives in the integer
context model, :class:`gvc1d_codec.entropy.prior.FloatShadowPrior`, because it also conditions
the entropy model. Encoder and decoder read it as float features (pixels only, never a probability).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..config import ModelConfig
from ..entropy.intnet import FRAC, round_ste
from ..entropy.prior import FloatShadowPrior
from ..quality import interpolate
from .motion import choose_motion_rd, compensate, estimate_motion, search_range
from .conv import AnalysisStem, ContextPyramid, ContextualDecoder, copy_gate
from .transformer import LocalGlobalStack, window_position_embedding


def to_windows(x: torch.Tensor, win: int) -> torch.Tensor:
    """[B, C, H, W] (H, W multiples of win) -> [B * rows * cols, C, win, win], row-major windows."""
    b, c, h, w = x.shape
    x = x.view(b, c, h // win, win, w // win, win).permute(0, 2, 4, 1, 3, 5)
    return x.reshape(b * (h // win) * (w // win), c, win, win)


def from_windows(x: torch.Tensor, rows: int, cols: int) -> torch.Tensor:
    n, c, win, _ = x.shape
    b = n // (rows * cols)
    x = x.view(b, rows, cols, c, win, win).permute(0, 3, 1, 4, 2, 5)
    return x.reshape(b, c, rows * win, cols * win)


def pad_to_windows(x: torch.Tensor, win: int) -> torch.Tensor:
    """Replicate-pad [B, 3, H, W] on the right and bottom to whole windows."""
    h, w = x.shape[-2:]
    ph, pw = (-h) % win, (-w) % win
    return F.pad(x, (0, pw, 0, ph), mode="replicate") if ph or pw else x


def patch_position_embedding(side: int, scale: float):
    """2D sine-cosine embedding of the patch grid of a window, a function of the width."""

    def make(dim: int) -> torch.Tensor:
        return window_position_embedding(side, side, dim, "cpu") * scale

    return make


class GVC1D(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        p, P, L, M = cfg.patch_size, cfg.patches_per_window, cfg.latent_tokens, cfg.memory_tokens
        E, Dw, C, Q = cfg.enc_width, cfg.dec_width, cfg.token_dim, cfg.qualities
        # Encoder
        self.v2 = cfg.conv_width > 0
        # v1: a 16 px patch embedding; v2: convolutions down to one embedding per patch (model/conv.py)
        self.patch_embed = AnalysisStem(cfg.conv_width, E) if self.v2 else nn.Conv2d(6, E, p, p)
        self.latent_tokens = nn.Parameter(torch.randn(L, E) * 0.02)
        self.latent_gather = nn.Linear(P, L, bias=False)  # learned patch -> token pooling (token axis)
        self.enc_pos = nn.Parameter(torch.randn(P + L + M, E) * 0.02)
        self.enc_frame_type = nn.Embedding(2, E)
        self.enc_memory = nn.Linear(cfg.memory_dim, E)
        self.encoder = LocalGlobalStack(E, cfg.heads, cfg.mlp_ratio, cfg.enc_blocks, cfg.enc_local_layers, cfg.global_tokens)
        self.enc_norm = nn.LayerNorm(E)
        self.to_tokens = nn.Linear(E, C)
        # Quantiser: quality-conditioned gains (DCVC-FM style), one model for every rate
        self.log_gain = nn.Parameter(torch.linspace(0.0, 1.5, Q)[:, None].repeat(1, C))
        self.log_inv_gain = nn.Parameter(-torch.linspace(0.0, 1.5, Q)[:, None].repeat(1, C))
        # Decoder
        self.mask_tokens = nn.Parameter(torch.randn(P, Dw) * 0.02)
        if self.v2:  # contexts of the warped reference at every scale; the 1/16 one feeds the patch queries
            self.context_pyramid = ContextPyramid(cfg.conv_width)
            self.context_embed = nn.Conv2d(4 * cfg.conv_width, Dw, 1)
        else:
            self.context_embed = nn.Conv2d(3, Dw, p, p)
        self.dec_frame_type = nn.Embedding(2, Dw)
        self.from_tokens = nn.Linear(C, Dw)
        self.token_scatter = nn.Linear(L, P, bias=False)  # learned token -> patch broadcast (token axis)
        self.dec_pos = nn.Parameter(torch.randn(L + M, Dw) * 0.02)
        self.dec_memory = nn.Linear(cfg.memory_dim, Dw)
        self.decoder = LocalGlobalStack(Dw, cfg.heads, cfg.mlp_ratio, cfg.dec_blocks, cfg.dec_local_layers, cfg.global_tokens)
        self.dec_norm = nn.LayerNorm(Dw)
        if self.v2:
            self.conv_decoder = ContextualDecoder(cfg.conv_width, Dw)
        else:
            self.head = nn.Linear(Dw, p * p * 4)  # RGB residual + copy gate per pixel
            self.refine = nn.Conv2d(3, 3, 3, padding=1)
        with torch.no_grad():
            # Position must dominate the patch queries at the start, or every patch of a window
            # decodes to the same mean colour (a long plateau on CPU budgets).
            grid = patch_position_embedding(cfg.window // p, 1.0)
            self.mask_tokens.copy_(grid(Dw))
            self.enc_pos[:P].copy_(grid(E))
            if L == P:
                # As many tokens as patches: token i starts as patch i's embedding and patch i
                # starts from token i, so training begins as a convolutional autoencoder through
                # the tokens and the Transformer learns what to mix. From a random mix
                # (nn.Linear's default) the decoder must first untangle it, which sat near 20 dB
                # for thousands of CPU steps.
                nn.init.eye_(self.latent_gather.weight)
                nn.init.eye_(self.token_scatter.weight)
            nn.init.normal_(self.enc_frame_type.weight, std=0.02)
            nn.init.normal_(self.dec_frame_type.weight, std=0.02)
            if not self.v2:
                self.head.weight.mul_(0.1)
                self.head.bias.zero_()
                self.head.bias.view(4, p * p)[3] = 2.0  # start by copying the previous frame
                nn.init.zeros_(self.refine.weight)
                nn.init.zeros_(self.refine.bias)
        # Short- and long-term context model (integer: it reaches probabilities)
        self.context_model = FloatShadowPrior(cfg)

    # ---- helpers ---------------------------------------------------------------------------------
    def _memory_tokens(self, memory: torch.Tensor | None, proj: nn.Linear, n: int, ref: torch.Tensor) -> torch.Tensor:
        if memory is None:
            return torch.zeros(n, self.cfg.memory_tokens, proj.out_features, dtype=ref.dtype, device=ref.device)
        return proj(memory.to(ref.dtype) / 2**FRAC)

    def _grid(self, x: torch.Tensor) -> tuple[int, int]:
        return x.shape[-2] // self.cfg.window, x.shape[-1] // self.cfg.window

    # ---- analysis / quantisation / synthesis -----------------------------------------------------------
    def analysis(self, x: torch.Tensor, x_prev: torch.Tensor | None, memory: torch.Tensor | None, intra: bool) -> torch.Tensor:
        """x [B, 3, H, W] in [0, 1], H and W whole windows -> y [B * windows, L, C]."""
        cfg = self.cfg
        rows, cols = self._grid(x)
        if x_prev is None:
            x_prev = torch.zeros_like(x)
        if self.v2:  # convolutions over the whole frame, then the 1/16 map cut into windows of patches
            e = self.patch_embed(torch.cat([x, x_prev], dim=1) - 0.5)
            e = to_windows(e, cfg.window // cfg.patch_size).flatten(2).transpose(1, 2)
        else:
            e = self.patch_embed(to_windows(torch.cat([x, x_prev], dim=1) - 0.5, cfg.window)).flatten(2).transpose(1, 2)
        n = e.shape[0]
        e = e + self.enc_frame_type.weight[int(not intra)]
        latents = self.latent_tokens + self.latent_gather(e.transpose(1, 2)).transpose(1, 2)
        seq = torch.cat([e, latents, self._memory_tokens(memory, self.enc_memory, n, e)], dim=1)
        seq = seq + self.enc_pos
        P, L = cfg.patches_per_window, cfg.latent_tokens
        wpos = window_position_embedding(rows, cols, cfg.enc_width, x.device)
        seq = self.encoder(seq, x.shape[0], slice(P, P + L), wpos)
        return self.to_tokens(self.enc_norm(seq[:, P : P + L]))

    def scaled(self, y: torch.Tensor, quality: torch.Tensor) -> torch.Tensor:
        """y · gain_q, before rounding. ``quality``: [N] per window, levels (LongTensor) or
        qualities between them (float, multiples of 1/16: :mod:`gvc1d_codec.quality`)."""
        return y * interpolate(self.log_gain, quality)[:, None, :].exp()

    def quantise(self, y: torch.Tensor, quality: torch.Tensor) -> torch.Tensor:
        """Symbols: integers in [-symbol_max, symbol_max]. ``quality``: LongTensor [N] per window."""
        return round_ste(self.scaled(y, quality)).clamp(-self.cfg.symbol_max, self.cfg.symbol_max)

    def noisy(self, y: torch.Tensor, quality: torch.Tensor) -> torch.Tensor:
        """Training only: y · gain_q + u, u ~ U(-1/2, 1/2), what the rate is estimated on under
        mixed quantisation (Ballé et al.'s noise for the rate, rounding for everything else)."""
        yg = self.scaled(y, quality)
        return (yg + torch.rand_like(yg) - 0.5).clamp(-self.cfg.symbol_max, self.cfg.symbol_max)

    def dequantise(self, s: torch.Tensor, quality: torch.Tensor) -> torch.Tensor:
        return s * interpolate(self.log_inv_gain, quality)[:, None, :].exp()

    def synthesis(self, y_hat: torch.Tensor, x_prev: torch.Tensor | None, memory: torch.Tensor | None, intra: bool, rows: int, cols: int,
                  update: list[tuple[torch.Tensor, torch.Tensor]] | None = None) -> torch.Tensor:
        """y_hat [B * windows, L, C] -> x̂ [B, 3, rows * window, cols * window] (not clamped).
        ``update``: the conv decoder adapted to the content (:mod:`gvc1d_codec.adaptation`)."""
        features, pyramid, x_prev = self.synthesis_features(y_hat, x_prev, memory, intra, rows, cols)
        if self.v2:
            return self.conv_synthesis(features, pyramid, x_prev, intra, update)
        if update is not None:
            raise ValueError("a decoder update needs a model with the conv decoder (conv_width > 0)")
        cfg = self.cfg
        p, g = cfg.patch_size, cfg.window // cfg.patch_size
        out = self.head(features)  # [n, P, p*p*4]
        out = out.view(-1, g, g, 4, p, p).permute(0, 3, 1, 4, 2, 5).reshape(-1, 4, cfg.window, cfg.window)
        out = from_windows(out, rows, cols)
        residual = out[:, :3] + self.refine(out[:, :3])
        gate = torch.sigmoid(out[:, 3:4])
        return residual + 0.5 if intra else gate * x_prev + residual

    def synthesis_features(self, y_hat: torch.Tensor, x_prev: torch.Tensor | None, memory: torch.Tensor | None,
                           intra: bool, rows: int, cols: int) -> tuple[torch.Tensor, list[torch.Tensor] | None, torch.Tensor]:
        """The Transformer decoder's part of :meth:`synthesis`: (v2: its patch outputs as a map
        [B, D, H/16, W/16] and the reference's context pyramid; v1: the normalised patch outputs
        [n, P, D] and None; the reference, zeros for an intra frame)."""
        cfg = self.cfg
        n = y_hat.shape[0]
        b = n // (rows * cols)
        g = cfg.window // cfg.patch_size
        if x_prev is None:
            x_prev = torch.zeros(b, 3, rows * cfg.window, cols * cfg.window, dtype=y_hat.dtype, device=y_hat.device)
        pyramid = None
        if self.v2:
            pyramid = self.context_pyramid(x_prev)
            ctx = to_windows(self.context_embed(pyramid[3]), g).flatten(2).transpose(1, 2)
        else:
            ctx = self.context_embed(to_windows(x_prev, cfg.window) - 0.5).flatten(2).transpose(1, 2)
        latents = self.from_tokens(y_hat)
        patches = self.mask_tokens + ctx + self.dec_frame_type.weight[int(not intra)]
        patches = patches + self.token_scatter(latents.transpose(1, 2)).transpose(1, 2)
        tokens = torch.cat([latents, self._memory_tokens(memory, self.dec_memory, n, y_hat)], dim=1) + self.dec_pos
        seq = torch.cat([patches, tokens], dim=1)
        P, L = cfg.patches_per_window, cfg.latent_tokens
        wpos = window_position_embedding(rows, cols, cfg.dec_width, y_hat.device)
        seq = self.decoder(seq, b, slice(P, P + L), wpos)
        out = self.dec_norm(seq[:, :P])
        if not self.v2:
            return out, None, x_prev
        return from_windows(out.transpose(1, 2).reshape(n, -1, g, g), rows, cols), pyramid, x_prev  # [B, D, H/16, W/16]

    def conv_synthesis(self, h: torch.Tensor, pyramid: list[torch.Tensor], ref: torch.Tensor, intra: bool,
                       update: list[tuple[torch.Tensor, torch.Tensor]] | None = None) -> torch.Tensor:
        """v2: the patch-output map [B, D, H/16, W/16] -> contextual conv decoder -> x̂ = g · x̄ + (1 - g) · p."""
        out = self.conv_decoder(h, pyramid, ref, update)
        picture = out[:, :3] + 0.5
        if intra:
            return picture
        gate = copy_gate(out[:, 3:4])
        return gate * ref + (1 - gate) * picture

    def motion_reference(self, x: torch.Tensor, x_prev: torch.Tensor,
                         rd: tuple[float, torch.Tensor | None] | None = None,
                         motion_effort: float = 1.0) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The short-term reference of a predicted frame: x̂_{t-1} moved by integer block motion
        estimated from x (encoder side, no gradients) when the config has ``motion_block``;
        returns (reference, motion field or None). ``rd`` = (lambda, previous frame's field or
        None): the codec's encoder then chooses each vector by rate-distortion cost
        (:func:`~gvc1d_codec.model.motion.choose_motion_rd`). ``motion_effort``: an encoder
        preset's search effort (:func:`~gvc1d_codec.model.motion.estimate_motion`).
        See model/motion.py."""
        cfg = self.cfg
        if not cfg.motion_block:
            return x_prev, None
        mv = estimate_motion(x, x_prev, cfg.motion_block, search_range(cfg.motion_search, *x.shape[-2:]),
                             effort=motion_effort)
        if rd is not None:
            mv = choose_motion_rd(x, x_prev, mv, rd[1], cfg.motion_block, cfg.window, rd[0])
        return compensate(x_prev, mv, cfg.motion_block, cfg.motion_overlap), mv

    def last_layer(self) -> torch.Tensor:
        """The weight of the synthesis' last layer (the adaptive adversarial weight is measured there)."""
        if self.v2:
            return self.conv_decoder.out.weight
        return self.refine.weight
