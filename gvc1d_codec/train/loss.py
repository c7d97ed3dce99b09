"""Training objectives over a sequence of frames.

* :func:`sequence_rd_loss` (stages ``recon``, ``rd``, ``memory``): the paper's
  L = mean_t(R_t + lambda_q * D_t) with D the MSE.
* :func:`sequence_perceptual_rd_loss` (stage ``prd``): joint perceptual rate-distortion, every
  part learning: L = mean_t(R_t + lambda_q * (MSE + P / MSE_WEIGHT)) + w * adversarial, with P a
  perceptual distance (LPIPS-VGG by default, LPIPS-Alex or DISTS) and the same adaptive weight w
  and discriminator as the generative stage.
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

from ..entropy.model import EntropyContext
from ..entropy.prior import FloatShadowPrior
from ..model.gvc1d import GVC1D
from ..step import CodingState, step

MSE_WEIGHT = 100.0  # MSE (on [0, 1]) against LPIPS in the generative distortion (HiFiC-like balance)


@dataclass
class FrameResult:
    x: torch.Tensor  # source [B, 3, H, W]
    x_hat: torch.Tensor  # reconstruction (not clamped)
    bpp: torch.Tensor  # [B] differentiable rate estimate


def unroll(model: GVC1D, frames: torch.Tensor, quality: torch.Tensor, rate_to_encoder: bool = True,
           frozen_encoder: bool = False, rate_noise: bool = False) -> Iterator[FrameResult]:
    """Code frames [B, T, 3, H, W] (H, W whole windows) in low delay with the codec's own
    frame-coding step (:func:`gvc1d_codec.step.step`): frame 0 intra, the rest predicted.

    ``rate_to_encoder=False`` (stage ``recon``): the prior still learns, but the rate does not
    shape the tokens. ``frozen_encoder=True`` (stage ``gan``): analysis, quantiser and context
    model run without gradients; only the synthesis learns. ``rate_noise=True``: the rate is the
    prior's probability mass around y · gain + uniform noise instead of the rounded symbols
    (mixed quantisation); the pictures and the prior's contexts use the rounded symbols.
    """
    b, t, _, h, w = frames.shape
    cm = model.context_model  # the float shadow of the integer context model
    state = CodingState()
    for i in range(t):
        x = frames[:, i]
        out, state = step(model, cm, state, intra=i == 0, quality=quality, x=x,
                          detach_context=not rate_to_encoder, encoder_grad=not frozen_encoder, rate_noise=rate_noise)
        with torch.set_grad_enabled(torch.is_grad_enabled() and not frozen_encoder):
            bits = prior_bits(cm, out.symbols, out.context, out.rate_symbols).view(b, -1).sum(1)
        yield FrameResult(x, out.x_hat, bits / (h * w))


def prior_bits(cm: FloatShadowPrior, symbols: torch.Tensor, ctx: EntropyContext,
               rate_symbols: torch.Tensor | None = None) -> torch.Tensor:
    """Differentiable bits [N, L, C] of symbols under the (shadow) prior, given their context; of
    ``rate_symbols`` (noisy values) instead when given, with the contexts of ``symbols``."""
    mu4, idx = cm.params(cm.context(ctx.prev_symbols, ctx.memory, ctx.quality, ctx.intra, symbols.shape[0]), symbols)
    return cm.estimate_bits(symbols if rate_symbols is None else rate_symbols, mu4, idx)


def _psnr(mse: torch.Tensor) -> float:
    return float((-10 * torch.log10(mse.detach().clamp_min(1e-10))).mean())


def _accumulate(stats: dict, frames: int, bpp: torch.Tensor, mse: torch.Tensor, **extra: torch.Tensor) -> None:
    """Add one frame's batch means to a sequence's ``stats`` (the per-sequence means of bpp, mse,
    psnr and any ``extra`` distortion), each weighted 1/``frames``: the one statistics helper of
    the sequence losses."""
    for name, value in (("bpp", float(bpp.detach().mean())), ("mse", float(mse.detach().mean())), ("psnr", _psnr(mse)),
                        *((k, float(v.detach().mean())) for k, v in extra.items())):
        stats[name] = stats.get(name, 0.0) + value / frames


def sequence_rd_loss(model: GVC1D, frames: torch.Tensor, quality: torch.Tensor, rate_to_encoder: bool = True,
                     rate_noise: bool = False) -> tuple[torch.Tensor, dict]:
    """frames [B, T, 3, H, W] in [0, 1]; quality LongTensor [B]. Returns (loss, stats) with
    per-sequence means of bpp, mse and psnr."""
    lam = torch.tensor(model.cfg.lambdas, device=frames.device)[quality]
    loss = frames.new_zeros(())
    stats: dict = {}
    t = frames.shape[1]
    for f in unroll(model, frames, quality, rate_to_encoder, rate_noise=rate_noise):
        mse = (f.x_hat - f.x).pow(2).mean(dim=(1, 2, 3))
        loss = loss + (f.bpp + lam * mse).mean()
        _accumulate(stats, t, f.bpp, mse)
    return loss / t, stats


def sequence_perceptual_rd_loss(model: GVC1D, frames: torch.Tensor, quality: torch.Tensor, perceptual,
                                disc) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor], dict]:
    """Joint perceptual RD (see the module doc): the encoder, the prior and the decoder all learn.

    Returns (rate + lambda * perceptual distortion, adversarial loss, reconstructions per frame,
    stats); the trainer adds the adversarial term with the adaptive weight (measured at the
    decoder's last layer, which the rate does not reach) and trains ``disc``."""
    lam = torch.tensor(model.cfg.lambdas, device=frames.device)[quality]
    t = frames.shape[1]
    rd = frames.new_zeros(())
    adv = frames.new_zeros(())
    fakes = []
    stats: dict = {}
    for f in unroll(model, frames, quality):
        mse = (f.x_hat - f.x).pow(2).mean(dim=(1, 2, 3))
        p = perceptual(f.x_hat.clamp(0, 1), f.x)
        rd = rd + (f.bpp + lam * (mse + p / MSE_WEIGHT)).mean()
        adv = adv - disc(f.x_hat).mean()  # hinge generator loss
        fakes.append(f.x_hat)
        _accumulate(stats, t, f.bpp, mse, perceptual=p)
    return rd / t, adv / t, fakes, stats


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
    stats: dict = {}
    for f in unroll(model, frames, quality, frozen_encoder=True):
        mse = (f.x_hat - f.x).pow(2).mean(dim=(1, 2, 3))
        lp = lpips(f.x_hat, f.x)
        nll = nll + (MSE_WEIGHT * mse + lp).mean()
        adv = adv - disc(f.x_hat).mean()  # hinge generator loss
        fakes.append(f.x_hat)
        _accumulate(stats, t, f.bpp, mse, lpips=lp)
    return nll / t, adv / t, fakes, stats
