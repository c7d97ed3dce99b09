"""How visible a block grid is in a decoded picture (P7: "no 16 px grid artefact").

The gradient energy across the lines x = 16k (and y = 16k) against the energy across every other
line, in the decoded luma, divided by the same ratio in the source::

    r(y)          = mean |Δ| across grid lines / mean |Δ| across the other lines
    grid_artefact = r(decoded) / r(source)

1.0: the grid lines are no sharper than the content makes them; a block codec that paints each
16 px patch on its own shows > 1 (edges where patches meet). Periods of 16 cover every window and
patch boundary of our models (16 px patches, 64 or 128 px windows).
"""
from __future__ import annotations

import numpy as np

GRID_PERIOD = 16


def _boundary_ratio(y: np.ndarray, period: int) -> float:
    y = np.asarray(y, dtype=np.float64)
    ratios = []
    for axis in (0, 1):
        d = np.abs(np.diff(y, axis=axis))
        n = d.shape[axis]
        if n < period:
            continue
        on = (np.arange(n) + 1) % period == 0  # the step from line k*period - 1 to k*period
        d = np.moveaxis(d, axis, 0)
        ratios.append((d[on].mean() + 1e-3) / (d[~on].mean() + 1e-3))
    return float(np.mean(ratios)) if ratios else 1.0


def grid_artefact(src_y: np.ndarray, dec_y: np.ndarray, period: int = GRID_PERIOD) -> float:
    """r(decoded) / r(source) on luma planes [H, W] (8-bit or float): 1.0 = no grid beyond the content's."""
    if np.shape(src_y) != np.shape(dec_y):
        raise ValueError(f"plane shapes differ: {np.shape(src_y)} vs {np.shape(dec_y)}")
    return _boundary_ratio(dec_y, period) / _boundary_ratio(src_y, period)
