"""One-pass, low-delay rate control: a quality per frame so that a stream meets a target bitrate.

No learned codec anchor ships rate control; x264/x265's ABR mode is the model. Ours works on the
continuous quality of :mod:`gvc1d_codec.quality` (a level plus a fraction, in steps of 1/16):

* **The rate curve of an intra frame is measured, not guessed.** The analysis of an intra frame
  does not depend on the quality, so the encoder computes it once and asks the (integer, exact)
  entropy model for the frame's bits at every level (:meth:`Encoder._intra_rate_curve`); between
  levels the curve is log-linear. This is what makes the first frame of a stream land near its
  budget, before any statistics exist.
* **Predicted frames follow the intra curve, scaled**: ``bits_P(q) = kappa · bits_I(q)``, with
  ``kappa`` (what a P frame costs against the last intra frame at the same quality: motion, skip)
  learned from each coded P frame (an exponential average in the log domain).
* **Budget**: the bits over or under the target so far are paid back over the next
  ``max(frames left in the intra period, MIN_HORIZON)`` frames. An intra frame is given the quality at
  which the whole intra period, coded at that one quality, meets its budget (constant quality across
  a period, as x264's ``ipratio`` does it in the qscale domain); a predicted frame the quality at
  which the rest of the period does.
* **Smoothness**: a predicted frame's quality moves at most ``MAX_STEP`` levels from the previous one's.

The target is met over a clip within a few per cent once the clip is longer than an intra period
(``benchmarks/ratecontrol.py`` measures it); a very short clip with intra period -1 carries most of
its bits in its first frame, which is sized for ``HORIZON_INFINITE`` frames.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .quality import QUALITY_STEPS, from_code, max_code

MIN_HORIZON = 8  # frames over which a deviation from the budget is paid back, at least
HORIZON_INFINITE = 32  # the intra period planned for when only the first frame is intra
MAX_STEP = 0.25  # levels a predicted frame's quality may move from the previous frame's
KAPPA_START = 0.25  # P frame bits / intra frame bits at equal quality, before any P frame is seen
KAPPA_RATE = 0.2  # weight of the newest P frame in the averages of kappa and rho (log domain)


def parse_bitrate(text: str) -> float:
    """``"500k"``, ``"1.5M"``, ``"800000"`` -> bits per second (k = 1000, M = 10^6, as FFmpeg)."""
    t = text.strip()
    mult = {"k": 1e3, "K": 1e3, "m": 1e6, "M": 1e6, "g": 1e9, "G": 1e9}.get(t[-1:], None)
    try:
        value = float(t[:-1] if mult else t) * (mult or 1.0)
    except ValueError:
        raise ValueError(f"bitrate {text!r} is not a number of bits per second (e.g. 500k, 1.5M)") from None
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"bitrate {text!r} must be positive")
    return value


@dataclass
class RateReport:
    """What rate control did over the frames so far."""

    frames: int
    bits: int
    target_bits: float
    frames_at_lowest: int  # frames coded at quality 0 while the budget asked for fewer bits

    @property
    def ratio(self) -> float:
        return self.bits / self.target_bits if self.target_bits else float("nan")


class RateController:
    """Chooses each frame's quality for ``bits_per_frame`` on average (one pass, low delay).

    Call :meth:`choose` with the frame's measured rate curve before coding it, then :meth:`update`
    with the bits it took."""

    def __init__(self, bits_per_frame: float, levels: int, intra_period: int, stream_header_bits: int = 0):
        if not bits_per_frame > 0:
            raise ValueError("the target must be a positive number of bits per frame")
        self.target = float(bits_per_frame)
        self.levels = levels
        self.period = intra_period if intra_period > 0 else HORIZON_INFINITE
        self.codes = np.arange(max_code(levels) + 1)
        self.intra_curve: np.ndarray | None = None  # ln bits of the last intra frame at every code
        self.log_kappa = math.log(KAPPA_START)  # ln (P frame bits / intra frame bits at equal quality)
        self.log_rho = 0.0  # ln (a P frame's bits / its measured curve): skip flags and motion
        self.position = 0  # frames since the last intra frame
        self.last_quality: float | None = None
        self.spent = stream_header_bits  # the stream header is paid for like any frame's bits
        self.frames = 0
        self.frames_at_lowest = 0
        self._pending: tuple[bool, int, float] | None = None  # (intra, code, ln curve at code)
        self._starved = False
        self.history: list[dict] = []  # per frame: quality, predicted and actual bits (benchmarks)

    def _curve(self, bits_at_levels: np.ndarray) -> np.ndarray:
        """ln bits at every code, log-linear between the levels' measurements."""
        levels = np.log(np.maximum(np.asarray(bits_at_levels, dtype=np.float64), 1.0))
        if levels.shape != (self.levels,):
            raise ValueError(f"a rate curve has one value per level ({self.levels})")
        return np.interp(self.codes / QUALITY_STEPS, np.arange(self.levels), levels)

    def _budget(self, horizon: int) -> float:
        """Bits for the next ``horizon`` frames: their share, less what was overspent so far (or
        plus what is left over), paid back over at least MIN_HORIZON frames."""
        error = self.spent - self.target * self.frames
        return max(self.target * horizon - error * horizon / max(horizon, MIN_HORIZON), 0.05 * self.target * horizon)

    def choose(self, intra: bool, bits_at_levels: np.ndarray) -> float:
        """The quality of the next frame, from what it costs at every level (measured)."""
        curve = self._curve(bits_at_levels)
        if intra:
            self.intra_curve = curve
            self.position = 0
        elif self.intra_curve is None:
            raise ValueError("the first frame must be intra")
        horizon = max(self.period - self.position, 1)
        budget = self._budget(horizon)
        kappa = math.exp(self.log_kappa)
        if intra:  # this frame, then the rest of its period at the same quality
            cost = np.exp(curve) * (1 + (horizon - 1) * kappa)
        else:  # this frame and the rest of the period like it
            cost = np.exp(curve + self.log_rho) * horizon
        fits = np.nonzero(cost <= budget)[0]
        code = int(fits[-1]) if fits.size else 0
        self._starved = not fits.size
        if not intra and self.last_quality is not None:
            last = round(self.last_quality * QUALITY_STEPS)
            step = round(MAX_STEP * QUALITY_STEPS)
            code = min(max(code, last - step), last + step)
        self._pending = (intra, code, float(curve[code]))
        self.history.append({"intra": intra, "quality": from_code(code), "predicted": float(np.exp(curve[code] + (0 if intra else self.log_rho))),
                             "budget_per_frame": budget / horizon})
        return from_code(code)

    def update(self, intra: bool, quality: float, bits: int) -> None:
        """Account for a coded frame of ``bits`` (payload and packet overhead) at ``quality``."""
        if self._pending is not None and not intra:
            _, code, log_measured = self._pending
            seen = math.log(max(bits, 1))
            self.log_rho += KAPPA_RATE * (seen - log_measured - self.log_rho)
            self.log_kappa += KAPPA_RATE * (seen - float(self.intra_curve[code]) - self.log_kappa)
        if self._starved and quality == 0:
            self.frames_at_lowest += 1
        if self.history:
            self.history[-1]["bits"] = bits
        self.spent += bits
        self.frames += 1
        self.position += 1
        self.last_quality = quality
        self._pending = None

    def report(self) -> RateReport:
        return RateReport(self.frames, self.spent, self.target * self.frames, self.frames_at_lowest)
