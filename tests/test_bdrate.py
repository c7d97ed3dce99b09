"""BD-rate (gvc1d_codec.metrics.bdrate): known values, lower-is-better metrics, no extrapolation."""
from __future__ import annotations

import numpy as np
import pytest

from gvc1d_codec.metrics.bdrate import BDRateUndefined, bd_rate, pareto_front, pchip_integral

RATE = [0.02, 0.05, 0.11, 0.24]
PSNR = [27.1, 30.4, 33.9, 37.2]


def test_identical_curves_give_zero():
    assert bd_rate(RATE, PSNR, RATE, PSNR).percent == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("factor, expected", [(0.5, -50.0), (2.0, 100.0), (0.8, -20.0)])
def test_curve_scaled_in_rate_gives_that_factor(factor, expected):
    r = bd_rate(RATE, PSNR, [factor * x for x in RATE], PSNR)
    assert r.percent == pytest.approx(expected, abs=1e-9)
    assert r.overlap == pytest.approx((PSNR[0], PSNR[-1]))
    assert r.overlap_of_test == pytest.approx(1.0)


def test_only_the_overlapping_quality_range_counts():
    # log10(rate) linear in PSNR (a PCHIP reproduces a line exactly); the test codec halves the
    # rate, covers only the upper part of the anchor's range and goes beyond it
    def line(q):
        return 0.01 * 10 ** ((q - 25.0) / 10.0)

    test_q = [30.4, 33.9, 37.2, 45.0]
    r = bd_rate([line(q) for q in PSNR], PSNR, [0.5 * line(q) for q in test_q], test_q)
    assert r.overlap == pytest.approx((30.4, 37.2))
    assert r.overlap_of_anchor == pytest.approx((37.2 - 30.4) / (37.2 - 27.1))
    assert r.overlap_of_test == pytest.approx((37.2 - 30.4) / (45.0 - 30.4))
    assert r.percent == pytest.approx(-50.0, abs=1e-9)


def test_lower_is_better_metric_negated_equals_one_minus():
    lp_anchor = [0.40, 0.30, 0.22, 0.15]
    lp_test = [0.45, 0.33, 0.25, 0.19]
    a = bd_rate(RATE, lp_anchor, RATE, lp_test, higher_is_better=False)
    b = bd_rate(RATE, [1 - x for x in lp_anchor], RATE, [1 - x for x in lp_test])
    assert a.percent == pytest.approx(b.percent, rel=1e-12)
    assert a.percent > 0  # worse LPIPS at every rate: the test codec needs more bits
    assert a.overlap == pytest.approx((0.19, 0.40))


def test_lower_is_better_scaled_rate():
    lp = [0.40, 0.30, 0.22, 0.15]
    r = bd_rate(RATE, lp, [0.5 * x for x in RATE], lp, higher_is_better=False)
    assert r.percent == pytest.approx(-50.0, abs=1e-9)


def test_no_overlap_is_undefined_with_the_ranges():
    with pytest.raises(BDRateUndefined, match="do not overlap") as e:
        bd_rate(RATE, PSNR, [0.03, 0.06, 0.1], [22.0, 23.5, 24.9])
    assert e.value.anchor_range == (27.1, 37.2) and e.value.test_range == (22.0, 24.9)
    with pytest.raises(BDRateUndefined, match="do not overlap") as e:  # lower is better: metric units
        bd_rate(RATE, [0.4, 0.3, 0.2, 0.1], RATE, [0.9, 0.8, 0.7, 0.6], higher_is_better=False)
    assert e.value.anchor_range == pytest.approx((0.1, 0.4)) and e.value.test_range == pytest.approx((0.6, 0.9))


def test_a_sliver_of_overlap_can_be_refused():
    # the test curve reaches the anchor's range over its top 0.2 dB only
    test_rate, test_q = [0.03, 0.06, 0.1], [25.3, 26.5, 27.3]
    assert bd_rate(RATE, PSNR, test_rate, test_q).overlap == pytest.approx((27.1, 27.3))
    with pytest.raises(BDRateUndefined, match="only, 10% of the narrower") as e:
        bd_rate(RATE, PSNR, test_rate, test_q, min_overlap=0.25)
    assert e.value.overlap == pytest.approx((27.1, 27.3)) and e.value.test_range == (25.3, 27.3)
    # a short curve entirely inside a long one is fully covered
    assert bd_rate(RATE, PSNR, [0.06, 0.08], [31.0, 32.0], min_overlap=1.0).overlap == pytest.approx((31.0, 32.0))


def test_too_few_points_is_undefined():
    with pytest.raises(BDRateUndefined, match="need 2"):
        bd_rate(RATE, PSNR, [0.05], [30.0])
    with pytest.raises(BDRateUndefined, match="need 2"):  # both points dominated down to one
        bd_rate(RATE, PSNR, [0.05, 0.1], [31.0, 30.0])
    with pytest.raises(BDRateUndefined, match="rate <= 0"):
        bd_rate(RATE, PSNR, [0.0, 0.1], [30.0, 31.0])


def test_dominated_points_are_dropped_and_reported():
    keep, dropped = pareto_front([0.1, 0.2, 0.3, 0.4], [30.0, 32.0, 31.9, 33.0])
    assert keep.tolist() == [0, 1, 3] and dropped == [2]
    r = bd_rate(RATE, PSNR, [0.02, 0.05, 0.08, 0.11, 0.24], [27.1, 30.4, 30.3, 33.9, 37.2])
    assert r.dropped_test == [2] and r.dropped_anchor == []
    assert r.percent == pytest.approx(0.0, abs=1e-12)


def test_pchip_integral_exact_for_a_line_and_matches_scipy():
    x = np.array([0.0, 1.0, 3.0, 4.0])
    assert pchip_integral(x, 2 * x + 1, 0.5, 3.5) == pytest.approx((3.5**2 + 3.5) - (0.5**2 + 0.5))
    interpolate = pytest.importorskip("scipy.interpolate")
    rng = np.random.default_rng(0)
    for _ in range(20):
        n = int(rng.integers(2, 7))
        xs = np.cumsum(rng.uniform(0.1, 2.0, n))
        ys = rng.normal(size=n)
        lo, hi = sorted(rng.uniform(xs[0], xs[-1], 2))
        ref = interpolate.PchipInterpolator(xs, ys).integrate(lo, hi)
        assert pchip_integral(xs, ys, lo, hi) == pytest.approx(ref, rel=1e-10, abs=1e-12)
