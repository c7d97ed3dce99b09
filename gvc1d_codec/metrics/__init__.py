"""Quality metrics of the evaluation (docs in /work/shared/docs/evaluation.md).

* :func:`psnr_yuv` / :func:`psnr_planes`: on the 8-bit 4:2:0 planes, PSNR-YUV = (6 Y + U + V) / 8.
* On float R'G'B' ``[..., 3, H, W]`` in [0, 1]: :func:`psnr_rgb`, :func:`ms_ssim` (with
  :func:`scales_used` for small frames), :func:`lpips` / :class:`LPIPS` (AlexNet or VGG16) and
  :func:`dists` / :class:`DISTS`. MS-SSIM, LPIPS and DISTS are differentiable in their inputs.
* :func:`grid_artefact`: how much sharper the 16 px grid lines are in the decoded luma than in the
  source (1.0 = no block grid).
* :func:`fetch_metric_weights` (or ``python -m gvc1d_codec.metrics fetch``) downloads and
  converts the LPIPS/DISTS weights into the cache once; the models also fetch them on first use.
"""
from .dists import DISTS, dists
from .fetch import (
    CONVERTED_SHA256,
    MetricWeightsError,
    MetricWeightsUnavailable,
    RestrictedUnpickler,
    fetch_metric_weights,
    metrics_cache_dir,
    restricted_load,
)
from .grid import grid_artefact
from .lpips import LPIPS, lpips
from .msssim import ms_ssim, scales_used
from .psnr import psnr_planes, psnr_rgb, psnr_yuv

__all__ = [
    "psnr_rgb", "psnr_yuv", "psnr_planes",
    "ms_ssim", "scales_used", "grid_artefact",
    "LPIPS", "lpips", "DISTS", "dists",
    "fetch_metric_weights", "metrics_cache_dir", "CONVERTED_SHA256",
    "RestrictedUnpickler", "restricted_load",
    "MetricWeightsError", "MetricWeightsUnavailable",
]
