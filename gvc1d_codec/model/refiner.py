"""Pixel refiner: a small convolutional stage after the Transformer decoder (our addition).

The Transformer decoder paints each 16x16 patch from one token through a linear head, and sees
the reference frame only through a 16x16 patch embedding. That leaves blocky edges and no way to
copy fine detail that moved by a few pixels. The refiner works at half resolution on the decoder's
frame and the reference frame together::

    r   = pixel_unshuffle(x̃ ⊕ x̂_{t-1}, 2)                          6 -> 24 channels at H/2, W/2
    r   = conv(r) -> ResBlock^n -> conv -> pixel_shuffle(·, 2)     a 3-channel residual at H, W
    x̂_t = x̃ + r

Its receptive field (about +-20 pixels) covers small motion. The last convolution starts at zero,
so a model that gains a refiner decodes exactly as before until it is trained.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class ResBlock(nn.Module):
    def __init__(self, width: int):
        super().__init__()
        self.conv1 = nn.Conv2d(width, width, 3, padding=1)
        self.conv2 = nn.Conv2d(width, width, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(F.gelu(self.conv1(x)))


class PixelRefiner(nn.Module):
    def __init__(self, width: int, blocks: int):
        super().__init__()
        self.stem = nn.Conv2d(6 * 4, width, 3, padding=1)
        self.blocks = nn.Sequential(*(ResBlock(width) for _ in range(blocks)))
        self.out = nn.Conv2d(width, 3 * 4, 3, padding=1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, x: torch.Tensor, x_prev: torch.Tensor) -> torch.Tensor:
        """x, x_prev: [B, 3, H, W] (H, W even); returns x + residual."""
        r = F.pixel_unshuffle(torch.cat([x - 0.5, x_prev - 0.5], dim=1), 2)
        r = r.contiguous(memory_format=torch.channels_last)  # ~30% faster convolutions on CPU (oneDNN)
        r = self.out(self.blocks(F.gelu(self.stem(r))))
        return x + F.pixel_shuffle(r.contiguous(), 2)
