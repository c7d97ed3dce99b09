"""Training objectives over a sequence of frames.

* :func:`sequence_rd_loss` (stages ``recon``, ``rd``, ``memory``): the paper's
  L = mean_t(R_t + lambda_q * D_t) with D the MSE.
* :func:`sequence_generative_loss` (stage ``gan``): the generative fine-tuning of the decoder.
  The encoder and the context model are frozen, so the symbols and the rate do not move; the
  decoder learns D = MSE_WEIGHT * MSE + LPIPS-Alex + w * adversarial, with w the adaptive weight
  of VQGAN/TiTok (gradient-norm ratio at the decoder's last layer) and a patch discriminator
  regularised with LeCam (:mod:`gvc1d_codec.train.discriminator`).

Both unroll the same low-delay loop, :func:`unroll`.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch

from ..model.gvc1d import GVC1D

MSE_WEIGHT = 100.0  # MSE (on [0, 1]) against LPIPS in the generative distortion (HiFiC-like balance)


@dataclass
class FrameResult:
    x: torch.Tensor  # source [B, 3, H, W]
    x_hat: torch.Tensor  # reconstruction (not clamped)
    bpp: torch.Tensor  # [B] differentiable rate estimate


def unroll(model: GVC1D, frames: torch.Tensor, quality: torch.Tensor, rate_to_encoder: bool = True,
           frozen_encoder: bool = False) -> Iterator[FrameResult]:
    """Code frames [B, T, 3, H, W] (H, W whole windows) in low delay: frame 0 intra, the rest
    predicted from the previous reconstruction and the long-term memory.

    ``rate_to_encoder=False`` (stage ``recon``): the prior still learns, but the rate does not
    shape the tokens. ``frozen_encoder=True`` (stage ``gan``): analysis, quantiser and context
    model run without gradients; only the synthesis learns.
    """
    cfg = model.cfg
    b, t, _, h, w = frames.shape
    rows, cols = h // cfg.window, w // cfg.window
    q_win = quality.repeat_interleave(rows * cols)
    cm = model.context_model
    x_prev = memory = s_prev = None
    for i in range(t):
        intra = i == 0
        x = frames[:, i]
        if x_prev is not None and cfg.motion_block:  # P7 (v2): the reference is x̂_{t-1} moved by
            x_prev, _ = model.motion_reference(x, x_prev)  # block motion estimated without gradients
        with torch.set_grad_enabled(torch.is_grad_enabled() and not frozen_encoder):
            ref = x_prev.detach() if frozen_encoder and x_prev is not None else x_prev
            s = model.quantise(model.analysis(x, ref, memory, intra), q_win)
            s_prior = s if rate_to_encoder else s.detach()
            ctx = cm.context(s_prev, memory, q_win, intra, s.shape[0])
            mu4, idx = cm.params(ctx, s_prior)
            bits = cm.estimate_bits(s_prior, mu4, idx).view(b, -1).sum(1)
            y_hat = model.dequantise(s, q_win)
        x_hat = model.synthesis(y_hat, x_prev, memory, intra, rows, cols)
        yield FrameResult(x, x_hat, bits / (h * w))
        with torch.set_grad_enabled(torch.is_grad_enabled() and not frozen_encoder):
            memory = cm.memory_update(memory, s_prior)
        s_prev, x_prev = s_prior, x_hat.clamp(0, 1)  # the decoder keeps a clamped reference


def _psnr(mse: torch.Tensor) -> float:
    return float((-10 * torch.log10(mse.detach().clamp_min(1e-10))).mean())


def sequence_rd_loss(model: GVC1D, frames: torch.Tensor, quality: torch.Tensor, rate_to_encoder: bool = True) -> tuple[torch.Tensor, dict]:
    """frames [B, T, 3, H, W] in [0, 1]; quality LongTensor [B]. Returns (loss, stats) with
    per-sequence means of bpp, mse and psnr."""
    lam = torch.tensor(model.cfg.lambdas, device=frames.device)[quality]
    loss = frames.new_zeros(())
    stats = {"bpp": 0.0, "mse": 0.0, "psnr": 0.0}
    t = frames.shape[1]
    for f in unroll(model, frames, quality, rate_to_encoder):
        mse = (f.x_hat - f.x).pow(2).mean(dim=(1, 2, 3))
        loss = loss + (f.bpp + lam * mse).mean()
        stats["bpp"] += float(f.bpp.detach().mean()) / t
        stats["mse"] += float(mse.detach().mean()) / t
        stats["psnr"] += _psnr(mse) / t
    return loss / t, stats


def sequence_generative_loss(model: GVC1D, frames: torch.Tensor, quality: torch.Tensor, lpips, disc) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor], dict]:
    """The decoder's generative loss (see the module doc).

    Returns (perceptual loss, adversarial loss, reconstructions [B, 3, H, W] per frame, stats);
    the trainer combines the two losses with the adaptive weight and trains ``disc`` on the
    detached reconstructions.
    """
    t = frames.shape[1]
    nll = frames.new_zeros(())
    adv = frames.new_zeros(())
    fakes = []
    stats = {"bpp": 0.0, "mse": 0.0, "psnr": 0.0, "lpips": 0.0}
    for f in unroll(model, frames, quality, frozen_encoder=True):
        mse = (f.x_hat - f.x).pow(2).mean(dim=(1, 2, 3))
        lp = lpips(f.x_hat, f.x)
        nll = nll + (MSE_WEIGHT * mse + lp).mean()
        adv = adv - disc(f.x_hat).mean()  # hinge generator loss
        fakes.append(f.x_hat)
        stats["bpp"] += float(f.bpp.mean()) / t
        stats["mse"] += float(mse.detach().mean()) / t
        stats["psnr"] += _psnr(mse) / t
        stats["lpips"] += float(lp.detach().mean()) / t
    return nll / t, adv / t, fakes, stats
