"""The discriminator of the generative stage: a PatchGAN (pix2pix / VQGAN style) on RGB frames,
trained with the hinge loss and LeCam regularisation (Tseng et al. 2021), as TiTok's and
MaskGIT's tokenizers are. It is a training-time object only: it is saved beside the output
weights (``<out>.disc.safetensors``) for ``--resume`` and never shipped.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class PatchDiscriminator(nn.Module):
    """x [B, 3, H, W] in [0, 1] -> realness logits [B, 1, H/8, W/8], one per ~46 px patch.

    Three stride-2 4x4 convolutions (32, 64, 128 channels, GroupNorm, LeakyReLU) and a 3x3 logit
    layer: ~0.3 GMAC per 256x256 frame, sized for CPU training.
    """

    def __init__(self, width: int = 32, layers: int = 3):
        super().__init__()
        convs: list[nn.Module] = [nn.Conv2d(3, width, 4, 2, 1), nn.LeakyReLU(0.2)]
        c = width
        for _ in range(1, layers):
            convs += [nn.Conv2d(c, 2 * c, 4, 2, 1), nn.GroupNorm(8, 2 * c), nn.LeakyReLU(0.2)]
            c *= 2
        convs.append(nn.Conv2d(c, 1, 3, 1, 1))
        self.net = nn.Sequential(*convs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(2 * x - 1)


class LeCam:
    """Exponential moving averages of D's outputs on real and fake frames, and the LeCam penalty
    ||relu(D(real) - ema_fake)||^2 + ||relu(ema_real - D(fake))||^2 that keeps D's outputs near
    them (stabilises GAN training on small data)."""

    def __init__(self, decay: float = 0.999):
        self.decay = decay
        self.real = 0.0
        self.fake = 0.0

    def penalty(self, d_real: torch.Tensor, d_fake: torch.Tensor) -> torch.Tensor:
        self.real = self.decay * self.real + (1 - self.decay) * float(d_real.detach().mean())
        self.fake = self.decay * self.fake + (1 - self.decay) * float(d_fake.detach().mean())
        return F.relu(d_real - self.fake).pow(2).mean() + F.relu(self.real - d_fake).pow(2).mean()


def hinge_d_loss(d_real: torch.Tensor, d_fake: torch.Tensor) -> torch.Tensor:
    return 0.5 * (F.relu(1.0 - d_real).mean() + F.relu(1.0 + d_fake).mean())


def adaptive_weight(nll: torch.Tensor, adv: torch.Tensor, last_layer: torch.Tensor, scale: float) -> torch.Tensor:
    """VQGAN's adaptive weight: ||grad nll|| / ||grad adv|| at the decoder's last layer, clamped."""
    g_nll = torch.autograd.grad(nll, last_layer, retain_graph=True)[0]
    g_adv = torch.autograd.grad(adv, last_layer, retain_graph=True)[0]
    return (g_nll.norm() / (g_adv.norm() + 1e-4)).clamp(0.0, 1e4).detach() * scale
