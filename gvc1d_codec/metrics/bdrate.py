"""Bjontegaard delta rate (BD-rate) with piecewise cubic Hermite (PCHIP) interpolation.

BD-rate answers: over the quality range both codecs reach, how many more (positive) or fewer
(negative) bits does the *test* codec need than the *anchor* for the same quality, on average?
It is computed as in common practice (VCEG-M33 with the PCHIP interpolation of the JVET/AOM
reporting templates):

1. Each curve is a set of (rate, quality) points. Points that are *dominated* by another point
   of the same curve (another point has no more rate and no less quality) are dropped: they are
   not on the curve's rate-distortion front, and with them the quality would not be a monotonic
   function of rate. :class:`BDRate` lists what was dropped. Each curve needs 2 points left.
2. On each curve, ``log10(rate)`` is interpolated as a function of quality with a PCHIP
   (Fritsch-Carlson, the same derivatives as ``scipy.interpolate.PchipInterpolator``), which is
   monotonic between points and never overshoots.
3. Both interpolants are integrated exactly over the overlapping quality interval
   ``[max(min_a, min_t), min(max_a, max_t)]`` - never beyond a curve's own points (no
   extrapolation). Without overlap the BD-rate is undefined: :class:`BDRateUndefined` says why.
   ``min_overlap`` (default 0) also refuses an overlap that covers less than that fraction of
   the narrower curve's quality span: over a sliver the average says little.
4. ``BD-rate = 10 ** (mean difference of log10 rates) - 1``, in percent.

Metrics where lower is better (LPIPS, DISTS) are passed with ``higher_is_better=False``: quality
is then taken as the negated metric. BD-rate is unchanged by any increasing affine map of the
quality axis (it averages over the interval), so ``-metric`` and ``1 - metric`` give the same
result.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np


class BDRateUndefined(ValueError):
    """BD-rate cannot be computed for these curves (the message says why). When it is for lack of
    overlap, ``anchor_range`` and ``test_range`` hold each curve's (min, max) metric value and
    ``overlap`` the (too small) common interval, if any."""

    def __init__(self, message: str, anchor_range: tuple[float, float] | None = None,
                 test_range: tuple[float, float] | None = None, overlap: tuple[float, float] | None = None):
        super().__init__(message)
        self.anchor_range, self.test_range, self.overlap = anchor_range, test_range, overlap


@dataclass(frozen=True)
class BDRate:
    """A BD-rate (percent; negative = the test codec needs fewer bits) and how it was obtained."""

    percent: float
    overlap: tuple[float, float]          # the quality interval integrated over (metric units)
    overlap_of_test: float                # fraction of the test curve's quality span covered
    overlap_of_anchor: float              # fraction of the anchor curve's quality span covered
    dropped_test: list[int] = field(default_factory=list)     # indices of dominated test points
    dropped_anchor: list[int] = field(default_factory=list)   # indices of dominated anchor points


def pareto_front(rate: Sequence[float], quality: Sequence[float]) -> tuple[np.ndarray, list[int]]:
    """Indices of the non-dominated points sorted by rate (quality then strictly increases), and
    the indices of the dropped (dominated or duplicate) points."""
    r, q = np.asarray(rate, dtype=np.float64), np.asarray(quality, dtype=np.float64)
    order = np.lexsort((-q, r))  # by rate, ties: best quality first
    keep, best = [], -np.inf
    for i in order:
        if q[i] > best:
            keep.append(int(i))
            best = q[i]
    dropped = sorted(set(range(len(r))) - set(keep))
    return np.array(keep, dtype=np.int64), dropped


def _edge_slope(h0: float, h1: float, m0: float, m1: float) -> float:
    """End-point derivative of a PCHIP (three-point formula, shape-preserving), as scipy does."""
    d = ((2 * h0 + h1) * m0 - h0 * m1) / (h0 + h1)
    if np.sign(d) != np.sign(m0):
        return 0.0
    if np.sign(m0) != np.sign(m1) and abs(d) > abs(3 * m0):
        return 3 * m0
    return d


def pchip_slopes(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Derivatives at the knots of the Fritsch-Carlson PCHIP through ``(x, y)``, x increasing."""
    h = np.diff(x)
    m = np.diff(y) / h
    n = len(x)
    if n == 2:
        return np.array([m[0], m[0]])
    d = np.zeros(n)
    for k in range(1, n - 1):
        if m[k - 1] * m[k] > 0:  # same sign, neither zero: weighted harmonic mean
            w1, w2 = 2 * h[k] + h[k - 1], h[k] + 2 * h[k - 1]
            d[k] = (w1 + w2) / (w1 / m[k - 1] + w2 / m[k])
    d[0] = _edge_slope(h[0], h[1], m[0], m[1])
    d[-1] = _edge_slope(h[-1], h[-2], m[-1], m[-2])
    return d


def pchip_integral(x: Sequence[float], y: Sequence[float], lo: float, hi: float) -> float:
    """Exact integral over ``[lo, hi]`` (inside ``[x[0], x[-1]]``) of the PCHIP through ``(x, y)``."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if len(x) < 2 or np.any(np.diff(x) <= 0):
        raise ValueError("pchip_integral needs >= 2 points with strictly increasing x")
    if not x[0] <= lo <= hi <= x[-1]:
        raise ValueError(f"integration interval [{lo}, {hi}] outside the data [{x[0]}, {x[-1]}]")
    d = pchip_slopes(x, y)
    total = 0.0
    for k in range(len(x) - 1):
        a, b = max(lo, x[k]), min(hi, x[k + 1])
        if b <= a:
            continue
        h = x[k + 1] - x[k]
        m = (y[k + 1] - y[k]) / h
        # cubic in t = x - x[k]: y[k] + d[k] t + c2 t^2 + c3 t^3
        c2 = (3 * m - 2 * d[k] - d[k + 1]) / h
        c3 = (d[k] + d[k + 1] - 2 * m) / (h * h)
        coef = np.array([c3 / 4, c2 / 3, d[k] / 2, y[k], 0.0])  # its antiderivative, highest power first
        total += np.polyval(coef, b - x[k]) - np.polyval(coef, a - x[k])
    return float(total)


def bd_rate(anchor_rate: Sequence[float], anchor_quality: Sequence[float],
            test_rate: Sequence[float], test_quality: Sequence[float],
            higher_is_better: bool = True, min_overlap: float = 0.0) -> BDRate:
    """BD-rate of the test curve against the anchor curve (see the module docstring).

    Rates must be positive (any unit, the same for both curves, e.g. bpp). Raises
    :class:`BDRateUndefined` when a curve has fewer than 2 non-dominated points or the quality
    ranges do not overlap (or overlap over less than ``min_overlap`` of the narrower one's span).
    """
    sign = 1.0 if higher_is_better else -1.0
    curves = []
    for who, rate, quality in (("anchor", anchor_rate, anchor_quality), ("test", test_rate, test_quality)):
        r = np.asarray(rate, dtype=np.float64)
        q = sign * np.asarray(quality, dtype=np.float64)
        if r.shape != q.shape or r.ndim != 1:
            raise ValueError(f"{who}: rate and quality must be 1-D sequences of the same length")
        if not (np.all(np.isfinite(r)) and np.all(np.isfinite(q))):
            raise BDRateUndefined(f"{who} curve has non-finite values")
        if np.any(r <= 0):
            raise BDRateUndefined(f"{who} curve has a rate <= 0")
        keep, dropped = pareto_front(r, q)
        if len(keep) < 2:
            raise BDRateUndefined(f"{who} curve has {len(keep)} non-dominated point(s), need 2")
        curves.append((q[keep], np.log10(r[keep]), dropped))
    (qa, la, drop_a), (qt, lt, drop_t) = curves
    lo, hi = max(qa[0], qt[0]), min(qa[-1], qt[-1])
    ra, rt = (tuple(sorted((float(sign * q[0]), float(sign * q[-1])))) for q in (qa, qt))
    if not hi > lo:
        raise BDRateUndefined(f"quality ranges do not overlap: anchor [{ra[0]:.4g}, {ra[1]:.4g}], "
                              f"test [{rt[0]:.4g}, {rt[1]:.4g}]", ra, rt)
    overlap = tuple(sorted((float(sign * lo), float(sign * hi))))
    covered = (hi - lo) / min(qa[-1] - qa[0], qt[-1] - qt[0])
    if covered < min_overlap:
        raise BDRateUndefined(f"quality ranges overlap over [{overlap[0]:.4g}, {overlap[1]:.4g}] only, "
                              f"{100 * covered:.0f}% of the narrower curve's span (need {100 * min_overlap:.0f}%)",
                              ra, rt, overlap)
    diff = (pchip_integral(qt, lt, lo, hi) - pchip_integral(qa, la, lo, hi)) / (hi - lo)
    return BDRate(percent=float((10.0 ** diff - 1.0) * 100.0), overlap=(float(overlap[0]), float(overlap[1])),
                  overlap_of_test=float((hi - lo) / (qt[-1] - qt[0])),
                  overlap_of_anchor=float((hi - lo) / (qa[-1] - qa[0])),
                  dropped_test=drop_t, dropped_anchor=drop_a)
