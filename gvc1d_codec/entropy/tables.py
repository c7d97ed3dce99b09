"""Integer frequency tables: built once at export, shipped in the weights file, never rebuilt.

``freq[scale_index, quarter, r + RESIDUAL_RANGE]`` is the integer frequency of the residual
``r = symbol - floor(mu4 / 4)`` for ``r`` in ``[-RESIDUAL_RANGE, RESIDUAL_RANGE - 1]``, where the
mean is ``mu4 / 4`` and ``quarter = mu4 - 4 * floor(mu4 / 4)``: a discretised Gaussian of standard
deviation ``scale_grid[scale_index]`` centred at ``quarter / 4``, scaled to ``TABLE_TOTAL`` and
floored at 1 so every residual stays codable.
"""
from __future__ import annotations

import math

import numpy as np

from ..config import ModelConfig

RESIDUAL_RANGE = 64  # alphabet: 128 residuals; |symbol| <= 31 so |residual| <= 62 always fits
TABLE_TOTAL = 1 << 16


def build_freq_table(cfg: ModelConfig) -> np.ndarray:
    if 2 * cfg.symbol_max >= RESIDUAL_RANGE:
        raise ValueError("symbol_max too large for the residual alphabet")
    r = np.arange(-RESIDUAL_RANGE, RESIDUAL_RANGE, dtype=np.float64)
    table = np.zeros((cfg.scale_levels, 4, 2 * RESIDUAL_RANGE), dtype=np.int32)
    erf = np.vectorize(math.erf)
    for i in range(cfg.scale_levels):
        sigma = cfg.scale_min * (cfg.scale_max / cfg.scale_min) ** (i / (cfg.scale_levels - 1))
        for q in range(4):
            c = q / 4
            upper = 0.5 * (1 + erf((r - c + 0.5) / (sigma * math.sqrt(2))))
            lower = 0.5 * (1 + erf((r - c - 0.5) / (sigma * math.sqrt(2))))
            p = upper - lower
            table[i, q] = np.maximum(1, np.floor(p * TABLE_TOTAL + 0.5)).astype(np.int32)
    return table
