"""The rate-distortion objective over a sequence of frames (paper: L = mean_t(R + lambda * D))."""
from __future__ import annotations

import torch

from ..model.gvc1d import GVC1D


def sequence_rd_loss(model: GVC1D, frames: torch.Tensor, quality: torch.Tensor, rate_to_encoder: bool = True) -> tuple[torch.Tensor, dict]:
    """frames [B, T, 3, H, W] in [0, 1] (H, W whole windows); quality LongTensor [B].

    Frame 0 is intra, the rest predicted, as in low-delay coding. The rate is the differentiable
    bit estimate of the (fake-quantised) integer prior. With ``rate_to_encoder=False`` (stage 1,
    reconstruction) the prior still learns, but the rate does not shape the tokens.
    Returns (loss, stats) with per-sequence means of bpp, mse and psnr.
    """
    cfg = model.cfg
    b, t, _, h, w = frames.shape
    rows, cols = h // cfg.window, w // cfg.window
    nwin = rows * cols
    q_win = quality.repeat_interleave(nwin)
    lam = torch.tensor(cfg.lambdas, device=frames.device)[quality]
    cm = model.context_model
    x_prev = memory = s_prev = None
    loss = frames.new_zeros(())
    bpp_sum = mse_sum = 0.0
    psnr_sum = 0.0
    for i in range(t):
        intra = i == 0
        x = frames[:, i]
        y = model.analysis(x, x_prev, memory, intra)
        s = model.quantise(y, q_win)
        s_prior = s if rate_to_encoder else s.detach()
        ctx = cm.context(s_prev, memory, q_win, intra, s.shape[0])
        mu4, idx = cm.params(ctx, s_prior)
        bits = cm.estimate_bits(s_prior, mu4, idx).view(b, -1).sum(1)
        bpp = bits / (h * w)
        x_hat = model.synthesis(model.dequantise(s, q_win), x_prev, memory, intra, rows, cols)
        mse = (x_hat - x).pow(2).mean(dim=(1, 2, 3))
        loss = loss + (bpp + lam * mse).mean()
        memory = cm.memory_update(memory, s_prior)
        s_prev, x_prev = s_prior, x_hat.clamp(0, 1)  # the decoder keeps a clamped reference
        bpp_sum += float(bpp.detach().mean())
        mse_sum += float(mse.detach().mean())
        psnr_sum += float((-10 * torch.log10(mse.detach().clamp_min(1e-10))).mean())
    return loss / t, {"bpp": bpp_sum / t, "mse": mse_sum / t, "psnr": psnr_sum / t}
