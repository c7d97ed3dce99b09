"""MS-SSIM (Wang, Simoncelli & Bovik 2003) in plain torch, differentiable.

Definition (identical to ``pytorch_msssim.ms_ssim`` 1.0.0 with ``data_range=1``):

* Gaussian window of :data:`WINDOW` = 11 taps, sigma 1.5, normalised to sum 1, applied separably
  (rows, then columns) per channel with no padding ("valid").
* Per scale: ``cs = mean((2 s_xy + C2) / (s_x^2 + s_y^2 + C2))`` and
  ``ssim = mean(l * cs)`` with ``l = (2 m_x m_y + C1) / (m_x^2 + m_y^2 + C1)``,
  ``C1 = (0.01 * data_range)^2``, ``C2 = (0.03 * data_range)^2``; means over the valid map.
* Between scales both images are 2x2 average-pooled; a dimension of odd size is first zero-padded by
  one sample on each side (``avg_pool2d(padding=size % 2)``, zeros counted), so a side ``s``
  becomes ``ceil(s / 2)``.
* ``MS-SSIM = prod_{i < n-1} relu(cs_i)^{w_i} * relu(ssim_{n-1})^{w_{n-1}}`` per channel, then
  the mean over channels gives the per-image value.

Scales. The standard 5 scales with weights :data:`WEIGHTS` need the shorter side to be > 160 px
(the coarsest scale must still be at least one window wide). For smaller frames
:func:`scales_used` gives the largest number of scales ``n <= 5`` whose coarsest scale,
``ceil(side / 2^(n-1))``, is still ``>= WINDOW``; the first ``n`` weights are then renormalised to
sum to 1 (:func:`scale_weights`) (e.g. 176x144 QCIF uses 4 scales, weights (0.0448, 0.2856, 0.3001, 0.2363) / 0.8668).
For side > 160 this is exactly the standard 5-scale MS-SSIM.
"""
from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F

WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
WINDOW = 11
SIGMA = 1.5
K1, K2 = 0.01, 0.03


def scales_used(height: int, width: int) -> int:
    """Number of MS-SSIM scales for a ``height x width`` image (5 when the short side is > 160)."""
    side = min(height, width)
    if side < WINDOW:
        raise ValueError(f"MS-SSIM needs both sides >= {WINDOW} px, got {width}x{height}")
    n = 1
    while n < len(WEIGHTS) and -(-side // 2**n) >= WINDOW:
        n += 1
    return n


def scale_weights(n: int) -> tuple[float, ...]:
    """The exponents of an ``n``-scale MS-SSIM.

    5 scales: the standard :data:`WEIGHTS` as published (they sum to 1.0001). Fewer: the first
    ``n`` of them renormalised to sum to 1.
    """
    if not 1 <= n <= len(WEIGHTS):
        raise ValueError(f"MS-SSIM has 1..{len(WEIGHTS)} scales, not {n}")
    if n == len(WEIGHTS):
        return WEIGHTS
    total = sum(WEIGHTS[:n])
    return tuple(w / total for w in WEIGHTS[:n])


def _gaussian_window(dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    coords = torch.arange(WINDOW, dtype=torch.float32) - WINDOW // 2
    g = torch.exp(-coords.square() / (2 * SIGMA**2))
    return (g / g.sum()).to(device=device, dtype=dtype)


def _blur(x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """Separable valid Gaussian filtering of ``[N, C, H, W]`` per channel (rows, then columns)."""
    c = x.shape[1]
    x = F.conv2d(x, g.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)
    return F.conv2d(x, g.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)


def _ssim_cs(x: torch.Tensor, y: torch.Tensor, g: torch.Tensor,
             data_range: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean SSIM and contrast-structure terms, each ``[N, C]``."""
    c1, c2 = (K1 * data_range) ** 2, (K2 * data_range) ** 2
    mx, my = _blur(x, g), _blur(y, g)
    mxx, myy, mxy = mx * mx, my * my, mx * my
    sxx, syy, sxy = _blur(x * x, g) - mxx, _blur(y * y, g) - myy, _blur(x * y, g) - mxy
    cs_map = (2 * sxy + c2) / (sxx + syy + c2)
    ssim_map = (2 * mxy + c1) / (mxx + myy + c1) * cs_map
    return ssim_map.flatten(2).mean(-1), cs_map.flatten(2).mean(-1)


def ms_ssim(a: torch.Tensor, b: torch.Tensor, data_range: float = 1.0,
            scales: int | None = None,
            reduction: Literal["mean", "none"] = "mean") -> torch.Tensor:
    """MS-SSIM of images ``[..., C, H, W]`` (higher is better, 1 for identical images).

    ``scales`` defaults to :func:`scales_used` for the frame size. ``reduction="none"`` returns
    one value per image (shape ``[...]``), ``"mean"`` their mean (a 0-d tensor).
    """
    if a.shape != b.shape or a.dim() < 3:
        raise ValueError(f"ms_ssim needs two [..., C, H, W] tensors of the same shape, got "
                         f"{tuple(a.shape)} and {tuple(b.shape)}")
    lead, (c, h, w) = a.shape[:-3], a.shape[-3:]
    n = scales_used(h, w) if scales is None else scales
    if n > scales_used(h, w):
        raise ValueError(f"{n} MS-SSIM scales need a shorter side > {(WINDOW - 1) * 2 ** (n - 1)} px")
    weights = a.new_tensor(scale_weights(n)).view(-1, 1, 1)
    x, y = a.reshape(-1, c, h, w), b.reshape(-1, c, h, w)
    if not x.is_floating_point():
        raise TypeError("ms_ssim needs floating-point images")
    g = _gaussian_window(x.dtype, x.device)
    terms = []
    for i in range(n):
        ssim, cs = _ssim_cs(x, y, g, data_range)
        if i < n - 1:
            terms.append(torch.relu(cs))
            pad = [s % 2 for s in x.shape[-2:]]
            x, y = F.avg_pool2d(x, 2, padding=pad), F.avg_pool2d(y, 2, padding=pad)
    terms.append(torch.relu(ssim))
    per_image = torch.prod(torch.stack(terms) ** weights, dim=0).mean(-1)
    return per_image.mean() if reduction == "mean" else per_image.reshape(lead)
