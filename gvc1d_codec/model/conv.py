"""Convolutional analysis and contextual synthesis around the Transformer (``conv_width`` > 0).

The Transformer-only transform of the first release (a 16 px patch embedding in, a linear 16x16
head out) topped out at 24.5 dB even without quantisation; a small convolutional autoencoder
reached 26.5 dB at the same number of latent values. The shipped model keeps the paper's 1D tokens
and Transformer, and puts convolutions where pixels are, in Ballé et al.'s layout (5x5 stride-2
convolutions down, 5x5 stride-2 transposed convolutions up):

* :class:`AnalysisStem`: x_t ⊕ x̄_t (the motion-compensated reference, ``model/motion.py``) at full
  resolution -> 4 stride-2 convolutions (1 -> 1/2 -> 1/4 -> 1/8 -> 1/16) -> one embedding per
  16 px patch, the Transformer encoder's patch tokens.
* :class:`ContextPyramid`: features of x̄_t at 1/2, 1/4, 1/8 and 1/16 (DCVC-style contexts).
* :class:`ContextualDecoder`: the Transformer decoder's patch outputs (a 1/16 map) are upsampled
  back to full resolution, the context of each scale fused in (a 3x3 convolution) at 1/16, 1/8,
  1/4 and 1/2, ending in an RGB picture p_t and a per-pixel copy gate g_t in [0, 1] (reaching both
  ends exactly)::

      x̂_t = g_t · x̄_t + (1 - g_t) · p_t        (predicted frames; intra: x̂_t = p_t)

  so static content is copied exactly and the rate goes to what changed. Every layer works on
  overlapping neighbourhoods, so nothing follows the 16 px patch grid.

Widths: ``w = conv_width``; 1/2: w, 1/4: 1.5w, 1/8: 3w, 1/16: 4w (thin where the pixels are many).
Trained alone as an intra autoencoder (``scripts/intra_ceiling.py``) this layout learns several
times faster per CPU-minute than the 3x3 / sub-pixel / residual-block layout it replaced
(docs/training-history.md).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

GATE_STRETCH = 1.1
"""g = clamp(1.1 · sigmoid(z) - 0.05, 0, 1): a sigmoid that reaches exactly 0 and 1 at finite z."""


def scale_widths(conv_width: int) -> tuple[int, int, int, int]:
    """Channels at 1/2, 1/4, 1/8, 1/16 (thin where the pixels are many: 1080p speed)."""
    return conv_width, 3 * conv_width // 2, 3 * conv_width, 4 * conv_width


def _cl(x: torch.Tensor) -> torch.Tensor:
    """channels_last: 20-40 % faster convolutions on CPU (oneDNN)."""
    return x.contiguous(memory_format=torch.channels_last)


def copy_gate(z: torch.Tensor) -> torch.Tensor:
    return (GATE_STRETCH * torch.sigmoid(z) - (GATE_STRETCH - 1) / 2).clamp(0, 1)


class ContextPyramid(nn.Module):
    """x̄ [B, 3, H, W] -> features at 1/2, 1/4, 1/8, 1/16."""

    def __init__(self, conv_width: int):
        super().__init__()
        w = scale_widths(conv_width)
        self.down = nn.ModuleList([
            nn.Conv2d(3, w[0], 3, 2, 1), nn.Conv2d(w[0], w[1], 3, 2, 1),
            nn.Conv2d(w[1], w[2], 3, 2, 1), nn.Conv2d(w[2], w[3], 3, 2, 1),
        ])

    def forward(self, ref: torch.Tensor) -> list[torch.Tensor]:
        feats, f = [], _cl(ref - 0.5)
        for conv in self.down:
            f = F.gelu(conv(f))
            feats.append(f)
        return feats


class AnalysisStem(nn.Module):
    """[B, 6, H, W] (x ⊕ x̄, minus 0.5) -> [B, out, H/16, W/16], four 5x5 stride-2
    convolutions (GELU between them)."""

    def __init__(self, conv_width: int, out: int):
        super().__init__()
        w = scale_widths(conv_width)
        self.down = nn.ModuleList([nn.Conv2d(6, w[0], 5, 2, 2), nn.Conv2d(w[0], w[1], 5, 2, 2),
                                   nn.Conv2d(w[1], w[2], 5, 2, 2), nn.Conv2d(w[2], w[3], 5, 2, 2)])
        self.out = nn.Conv2d(w[3], out, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = _cl(x)
        for i, conv in enumerate(self.down):
            x = conv(x) if i == len(self.down) - 1 else F.gelu(conv(x))
        return self.out(x)


class ContextualDecoder(nn.Module):
    """Transformer patch outputs [B, D, H/16, W/16] + contexts -> [B, 4, H, W] (RGB around
    0 and the copy gate's logit): at 1/16, 1/8, 1/4 and 1/2 the context of that scale is fused
    (h + conv3x3(gelu([h ; ctx]))), then a 5x5 stride-2 transposed convolution goes up a scale."""

    def __init__(self, conv_width: int, dim: int):
        super().__init__()
        w = scale_widths(conv_width)
        self.inp = nn.Conv2d(dim, w[3], 1)
        self.fuse = nn.ModuleList(nn.Conv2d(2 * c, c, 3, 1, 1) for c in reversed(w))  # 1/16, 1/8, 1/4, 1/2
        self.up = nn.ModuleList(nn.ConvTranspose2d(w[i], w[i - 1], 5, 2, 2, 1) for i in (3, 2, 1))
        self.out = nn.ConvTranspose2d(w[0], 4, 5, 2, 2, 1)
        with torch.no_grad():
            for f in self.fuse:  # each fusion starts as the identity: intra frames (no context) first
                f.weight.zero_()
                f.bias.zero_()
            self.out.bias.zero_()
            self.out.bias[3] = 2.0  # the gate: start mostly copying

    def layers(self) -> list[nn.Conv2d | nn.ConvTranspose2d]:
        """Every layer in a fixed order (inp, fuse 1/16 .. 1/2, up, out): the order of a decoder
        update's channels (:mod:`gvc1d_codec.adaptation`)."""
        return [self.inp, *self.fuse, *self.up, self.out]

    def forward(self, h: torch.Tensor, ctx: list[torch.Tensor], ref: torch.Tensor,
                update: list[tuple[torch.Tensor, torch.Tensor]] | None = None) -> torch.Tensor:
        """``update``: per layer of :meth:`layers`, (scale, offset) per output channel: the layer
        runs with weight · (1 + scale) and bias + offset (a decoder adapted to the content,
        :mod:`gvc1d_codec.adaptation`); None: the trained layers."""
        run = self.layers()
        if update is not None:
            run = [_adapted(layer, *u) for layer, u in zip(run, update, strict=True)]
        inp, fuse, up, out = run[0], run[1:5], run[5:8], run[8]
        h = inp(_cl(h))
        for i, f in enumerate(fuse):
            h = h + f(F.gelu(torch.cat([h, ctx[3 - i]], dim=1)))
            if i < len(up):
                h = F.gelu(up[i](h))
        return out(h).contiguous()


def _adapted(layer: nn.Conv2d | nn.ConvTranspose2d, scale: torch.Tensor, offset: torch.Tensor):
    """``layer`` with weight · (1 + scale) and bias + offset per output channel, as a function."""
    transposed = isinstance(layer, nn.ConvTranspose2d)  # its weight is [in, out, k, k]
    shape = (1, -1, 1, 1) if transposed else (-1, 1, 1, 1)
    weight = layer.weight * (1 + scale.to(layer.weight)).view(shape)
    bias = layer.bias + offset.to(layer.bias)
    if transposed:
        return lambda x: F.conv_transpose2d(x, weight, bias, layer.stride, layer.padding, layer.output_padding)
    return lambda x: F.conv2d(x, weight, bias, layer.stride, layer.padding)
