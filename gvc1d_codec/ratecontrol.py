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
  learned from the coded P frames; a P frame's own measured curve (all windows coded) is scaled
  by ``rho`` (what skipped windows save, what motion costs). Both are ratios of exponentially
  weighted *sums* (bits spent / bits predicted), not averages of per-frame ratios: a P frame
  costs either a few bytes (every window skipped) or its whole curve, and only the ratio of sums
  predicts the mean of such a two-valued cost without bias.
* **Budget**: the bits over or under the target so far are paid back over the next
  ``max(frames left in the intra period, MIN_HORIZON)`` frames; when the caller says how many
  frames the clip has (``total_frames``), a period is planned only to the end of the clip. An intra frame is given the quality at
  which the whole intra period, coded at that one quality, meets its budget (constant quality across
  a period, as x264's ``ipratio`` does it in the qscale domain); a predicted frame the quality at
  which the rest of the period does.
* **Smoothness**: a predicted frame's quality moves at most ``MAX_STEP`` levels from the previous one's.
* **One re-code**: a P frame's cost is nearly two-valued (every window skipped: a few bytes; some
  coded: most of its curve), so a prediction of the mean can still put one frame far over its
  share. A P frame that takes more than ``RECODE_OVER`` times its share of the budget is coded
  once more, at the highest lower quality at which its curve, scaled by what this very frame
  cost against it, stays under that bound (:meth:`RateController.recode`); this is what keeps the
  last frames of a clip from overshooting with no frames left to pay it back.

* **VBV** (``vbv=(maxrate per frame, bufsize)``, as x265's ``--vbv-maxrate``/``--vbv-bufsize``):
  a leaky bucket that every frame's bits enter when it is sent and that drains ``maxrate`` bits
  per frame interval. A frame's quality is also capped so that its predicted bits fit what is left
  of the bucket (with ``VBV_MARGIN`` for the prediction's error), and a frame (intra too) that
  would overflow it is coded again lower (:meth:`RateController.recode`). :func:`vbv_replay`
  replays a stream's packet sizes through the bucket (``gvc1d-pipe info --vbv R,B``).

* **Two passes** (as x264/x265's ``--pass 1``/``--pass 2``): any rate-controlled encode can hand
  back what it measured (:meth:`RateController.pass_stats`: every frame's measured rate curve, its
  quality and its real bits), which a second encode of the same input plans with
  (``plan=``). Every frame's cost at every quality is then known ahead, as the real bits of the
  first pass scaled along the frame's curve; the second pass gives every remaining frame the one
  quality at which their predicted bits meet what is left of the budget (constant quality, the
  rate-distortion optimum when every frame's curve has the same slope), measuring each coded
  frame against its prediction as it goes. The start is not sacrificed: the intra frame is sized
  knowing what every P frame after it will cost.

* **Look-ahead** (:meth:`RateController.look_ahead`; ``gvc1d-pipe --lookahead N``, the encoder's
  ``encode(frame, upcoming)``): without it an intra frame is sized before any P frame has shown
  what P frames cost here (``KAPPA_START``; measured: 0.07 carphone, 0.10 cisco_men, 0.40
  cisco_2people), and a short clip, which carries most of its bits in that frame, is off by as
  much as the guess. With it the next frames are coded on trial after the intra frame and what
  they cost replaces the guess.

The target is met over a clip within a few per cent once the clip is a few intra periods long;
with look-ahead or two passes also on clips of 9 frames (``benchmarks/ratecontrol.py`` measures
every mode; docs/results.md, "Rate control").
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

import numpy as np

from .quality import QUALITY_STEPS, from_code, max_code, quality_code

MIN_HORIZON = 8  # frames over which a deviation from the budget is paid back, at least
HORIZON_INFINITE = 32  # the intra period planned for when only the first frame is intra
MAX_STEP = 0.5  # levels a predicted frame's quality may move from the previous frame's
KAPPA_START = 0.25  # P frame bits / intra frame bits at equal quality, before any P frame is seen
KAPPA_RATE = 0.2  # least weight of the newest P frame in the weighted sums behind kappa and rho
PRIOR_WEIGHT = 0.5  # the newest weighs 1/(P frames seen + PRIOR_WEIGHT) until that falls to KAPPA_RATE
RECODE_OVER = 2.0  # a P frame over this many times its share of the budget is coded again, once, lower
PLAN_TOLERANCE = 0.01  # one of a second pass's last frames off its part by more than this share of the budget is re-coded
PLAN_END = 2  # ... of the last this many frames (the earlier frames' errors are paid back by the later ones)
PLAN_TRIES = 4  # ... coded at most this many times in all
PLAN_RATE = 0.1  # least weight of the newest frame in the second pass's (spent, predicted) sums
VBV_MARGIN = 0.85  # a frame is planned to fill at most this share of what is left of the VBV bucket


def vbv_replay(frame_bits: list[int], maxrate_per_frame: float, bufsize: float, header_bits: int = 0) -> tuple[float, int]:
    """(worst fill as a share of ``bufsize``, frames that overflowed) of a stream whose packets
    take ``frame_bits``, sent through a leaky bucket that drains ``maxrate_per_frame`` bits per
    frame interval (the stream header is sent with the first frame)."""
    level, worst, over = 0.0, 0.0, 0
    for k, bits in enumerate(frame_bits):
        level += bits + (header_bits if k == 0 else 0)
        worst = max(worst, level / bufsize)
        over += level > bufsize
        level = max(level - maxrate_per_frame, 0.0)
    return worst, over


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


STATS_FORMAT = "gvc1d-pass-stats 1"  # the first line of a stats file: its format and version


@dataclass
class PassStats:
    """What a first pass measured, for a second pass over the same input: the stream's shape and,
    per frame, whether it is intra, its measured bits at every level, the quality it was coded at
    and its real bits (packet framing included)."""

    width: int
    height: int
    levels: int
    intra_period: int
    weights: str  # the SHA-256 of the weights the first pass ran (hex)
    frames: list[dict] = field(default_factory=list)  # {"intra", "curve", "quality", "bits"}

    def dumps(self, start: int = 0) -> str:
        """The stats as text: the format line and the stream's shape (JSON), then one JSON line per
        frame. ``start`` > 0: only the lines of frames ``start`` on, to append to the text so far
        (a first pass can write its stats as it goes, as FFmpeg's ``stats_out`` does)."""
        lines = []
        if start == 0:
            lines += [STATS_FORMAT, json.dumps({"width": self.width, "height": self.height, "levels": self.levels,
                                                "intra_period": self.intra_period, "weights": self.weights})]
        lines += [json.dumps({"frame": k, "intra": f["intra"], "curve": [round(float(b), 1) for b in f["curve"]],
                              "quality": f["quality"], "bits": int(f["bits"])})
                  for k, f in enumerate(self.frames[start:], start)]
        return "\n".join(lines) + "\n" if lines else ""

    @classmethod
    def loads(cls, text: str) -> "PassStats":
        """Parse :meth:`dumps`'s text; ``ValueError`` (one line) on anything else. A text cut short
        after a whole frame's line reads as the frames before the cut (a second pass then stops
        at the first frame the first pass did not see)."""
        lines = text.splitlines()
        if not lines or lines[0].strip() != STATS_FORMAT:
            raise ValueError(f"not a gvc1d first-pass stats file (its first line must be {STATS_FORMAT!r})")
        if not text.endswith("\n"):
            raise ValueError("the first-pass stats file is cut short (run the first pass again)")
        try:
            head = json.loads(lines[1])
            stats = cls(int(head["width"]), int(head["height"]), int(head["levels"]), int(head["intra_period"]),
                        str(head["weights"]))
            for k, line in enumerate(lines[2:]):
                f = json.loads(line)
                curve = [float(b) for b in f["curve"]]
                quality, bits = float(f["quality"]), int(f["bits"])
                if (int(f["frame"]) != k or len(curve) != stats.levels or not all(math.isfinite(b) and b > 0 for b in curve)
                        or not 0 <= quality <= stats.levels - 1 or bits < 0):
                    raise ValueError
                stats.frames.append({"intra": bool(f["intra"]), "curve": curve, "quality": quality, "bits": bits})
        except (IndexError, KeyError, TypeError, ValueError):
            raise ValueError("the first-pass stats file is damaged (run the first pass again)") from None
        if not stats.frames:
            raise ValueError("the first-pass stats file holds no frames (run the first pass again)")
        if not stats.frames[0]["intra"]:
            raise ValueError("the first-pass stats file is damaged (its first frame is not intra)")
        return stats

    def check(self, width: int, height: int, levels: int, intra_period: int, weights: str) -> None:
        """``ValueError`` unless a second pass with these settings can use these stats."""
        for name, mine, theirs in (("frame size", f"{self.width}x{self.height}", f"{width}x{height}"),
                                   ("intra period", self.intra_period, intra_period),
                                   ("model's levels", self.levels, levels),
                                   ("weights", self.weights[:16], weights[:16])):
            if mine != theirs:
                raise ValueError(f"the first pass ran with {name} {mine}, this pass with {theirs}: "
                                 "run both passes with the same input and settings")


@dataclass
class RateReport:
    """What rate control did over the frames so far."""

    frames: int
    bits: int
    target_bits: float
    frames_at_lowest: int  # frames coded at quality 0 while the budget asked for fewer bits
    frames_at_highest: int = 0  # frames coded at the highest quality while the budget allowed more
    floor_bits: float = 0.0  # what the frames would cost at quality 0, by their measured curves
    intra_floor_bits: float = 0.0  # ... of which the intra frames
    ceiling_bits: float = 0.0  # what they would cost at the highest quality

    @property
    def ratio(self) -> float:
        return self.bits / self.target_bits if self.target_bits else float("nan")


class RateController:
    """Chooses each frame's quality for ``bits_per_frame`` on average (one pass, low delay).

    Call :meth:`choose` with the frame's measured rate curve before coding it, then :meth:`update`
    with the bits it took."""

    def __init__(self, bits_per_frame: float, levels: int, intra_period: int, stream_header_bits: int = 0,
                 total_frames: int | None = None, vbv: tuple[float, float] | None = None,
                 plan: PassStats | None = None):
        if not bits_per_frame > 0:
            raise ValueError("the target must be a positive number of bits per frame")
        if total_frames is not None and total_frames < 1:
            raise ValueError("total_frames must be positive")
        self.total = total_frames
        if vbv is not None and not (vbv[0] > 0 and vbv[1] > 0):
            raise ValueError("the VBV needs a positive maxrate and buffer size")
        self.vbv = vbv  # (maxrate bits per frame, bufsize bits) or None
        self.vbv_level = float(stream_header_bits)  # bits in the bucket (the header went first)
        self.vbv_worst = 0.0  # the fullest the bucket has been, as a share of its size
        self.target = float(bits_per_frame)
        self.levels = levels
        self.period = intra_period if intra_period > 0 else HORIZON_INFINITE
        self.intra_period = intra_period
        self.codes = np.arange(max_code(levels) + 1)
        self.intra_curve: np.ndarray | None = None  # ln bits of the last intra frame at every code
        # exponentially weighted sums over P frames, each at the frame's quality: rho = bits spent /
        # bits of the frame's measured curve (all windows coded); kappa = bits spent / bits of the
        # last intra frame's curve. Each starts with PRIOR_WEIGHT frames' weight (rho 1, kappa
        # KAPPA_START), at the scale of the first frame that uses it; the newest frame weighs
        # 1/(P frames seen + PRIOR_WEIGHT), at least KAPPA_RATE (a running mean, then a decaying one).
        self.rho_sums: list[float] | None = None
        self.kappa_sums: list[float] | None = None
        self.p_frames = 0
        self.position = 0  # frames since the last intra frame
        self.last_quality: float | None = None
        self.header_bits = stream_header_bits
        self.spent = stream_header_bits  # the stream header is paid for like any frame's bits
        self.frames = 0
        self.frames_at_lowest = 0
        self.frames_at_highest = 0
        self._saturated = False
        self._pending: tuple[bool, int] | None = None  # (intra, code) of the frame being coded
        self._tries: list[tuple[int, int]] = []  # (code, bits) of every try of the pending frame
        self._intra_budget: tuple[float, int] | None = None  # the pending intra frame's (budget, horizon)
        self._pending_curve = np.zeros(0)  # its ln bits at every code
        self._share = 0.0  # its share of the budget
        self._starved = False
        self.floor_bits = self.intra_floor_bits = self.ceiling_bits = 0.0
        self.history: list[dict] = []  # per frame: quality, measured curve, predicted and actual bits
        self.plan = plan  # second pass: the first pass's stats
        if plan is not None:
            if plan.levels != levels:
                raise ValueError(f"the first pass ran a model of {plan.levels} levels, this one has {levels}")
            self.total = len(plan.frames) if total_frames is None else min(total_frames, len(plan.frames))
            # the first pass's real bits, scaled along each frame's measured curve
            curves = [self._curve(np.array(f["curve"])) for f in plan.frames]
            # ln (real bits / measured curve) at the quality each frame was coded at: what skipped
            # windows saved and the framing cost, applied at every quality
            self.plan_ratio = [math.log(max(f["bits"], 1)) - c[quality_code(f["quality"], levels)]
                               for f, c in zip(plan.frames, curves)]
            predicted = np.exp(np.stack(curves) + np.array(self.plan_ratio)[:, None])[: self.total]
            # the predicted bits of the frames after frame k, at every code (row k)
            self.plan_rest = np.concatenate([np.cumsum(predicted[::-1], axis=0)[::-1][1:],
                                             np.zeros((1, len(self.codes)))])
            self.plan_sums: list[float] | None = None  # weighted (bits spent, bits predicted), second pass

    def _curve(self, bits_at_levels: np.ndarray) -> np.ndarray:
        """ln bits at every code, log-linear between the levels' measurements."""
        levels = np.log(np.maximum(np.asarray(bits_at_levels, dtype=np.float64), 1.0))
        if levels.shape != (self.levels,):
            raise ValueError(f"a rate curve has one value per level ({self.levels})")
        return np.interp(self.codes / QUALITY_STEPS, np.arange(self.levels), levels)

    def _budget(self, horizon: int) -> float:
        """Bits for the next ``horizon`` frames: their share, less what was overspent so far (or
        plus what is left over), paid back over at least MIN_HORIZON frames, or over what is left
        of the clip when ``total_frames`` says so (nothing is left to pay it back later)."""
        error = self.spent - self.target * self.frames
        payback = horizon if self.total is not None and self.frames + horizon >= self.total else max(horizon, MIN_HORIZON)
        return max(self.target * horizon - error * horizon / payback, 0.05 * self.target * horizon)

    def choose(self, intra: bool, bits_at_levels: np.ndarray) -> float:
        """The quality of the next frame, from what it costs at every level (measured)."""
        curve = self._curve(bits_at_levels)
        if self.plan is not None:
            return self._choose_planned(intra, curve, bits_at_levels)
        if intra:
            self.intra_curve = curve
            self.position = 0
        elif self.intra_curve is None:
            raise ValueError("the first frame must be intra")
        horizon = max(self.period - self.position, 1)
        if self.total is not None:
            horizon = max(min(horizon, self.total - self.frames), 1)
        budget = self._budget(horizon)
        scale = math.exp(float(np.median(curve)))  # the prior's scale: this frame's
        if self.kappa_sums is None:
            self.kappa_sums = [KAPPA_START * scale, scale]
        if self.rho_sums is None and not intra:
            self.rho_sums = [scale, scale]
        kappa = self.kappa_sums[0] / self.kappa_sums[1]
        log_rho = 0.0 if self.rho_sums is None else math.log(self.rho_sums[0] / self.rho_sums[1])
        own = np.exp(curve + (0 if intra else log_rho))  # this frame's predicted bits at every quality
        self._account(intra, own)
        if intra:  # this frame, then the rest of its period at the same quality
            cost = np.exp(curve) * (1 + (horizon - 1) * kappa)
        else:  # this frame and the rest of the period like it
            cost = np.exp(curve + log_rho) * horizon
        code = self._fit(cost, budget)
        if not intra and self.last_quality is not None:
            last = round(self.last_quality * QUALITY_STEPS)
            step = round(MAX_STEP * QUALITY_STEPS)
            code = min(max(code, last - step), last + step)
        code = self._vbv_cap(code, own)
        self._pending, self._tries = (intra, code), []
        self._pending_curve, self._share = curve, budget / horizon
        self._intra_budget = (budget, horizon) if intra else None
        self.history.append({"intra": intra, "quality": from_code(code), "predicted": float(np.exp(curve[code] + (0 if intra else log_rho))),
                             "budget_per_frame": budget / horizon, "curve": [float(b) for b in bits_at_levels]})
        return from_code(code)

    def look_ahead(self, p_bits: list[int], p_curves: list[np.ndarray]) -> float:
        """Look-ahead (one pass): the pending intra frame's quality again, once the next frames
        were coded on trial as P frames after it at the quality :meth:`choose` gave it (their real
        bits ``p_bits`` and their measured curves ``p_curves``, bits at every level). What they
        cost against the intra frame at that quality replaces the prior guess of what P frames
        cost on this content (KAPPA_START; after P frames were seen, it weighs half), so the intra
        frame is sized for the period it opens, not for a guess."""
        if self._pending is None or not self._pending[0] or self._intra_budget is None or self.plan is not None:
            raise ValueError("look_ahead() follows choose() of an intra frame (one pass)")
        if not p_bits or len(p_bits) != len(p_curves):
            raise ValueError("look_ahead() needs the bits and the curve of each trial P frame")
        _, code = self._pending
        curve = self.intra_curve
        intra_bits = math.exp(float(curve[code]))
        spent = float(np.mean(p_bits))
        predicted = float(np.mean([math.exp(float(self._curve(c)[code])) for c in p_curves]))
        trials = self.history[-1].setdefault("trials", [])  # (code, kappa) of each trial of this intra frame
        trials.append((code, spent / intra_bits))
        if self.p_frames == 0 or len(trials) > 1:  # this content's measurement replaces the guess
            self.kappa_sums, self.rho_sums = [spent, intra_bits], [spent, predicted]
        else:  # after P frames were seen: it weighs half
            for sums, measured in ((self.kappa_sums, [spent, intra_bits]), (self.rho_sums, [spent, predicted])):
                sums[0] += 0.5 * (measured[0] - sums[0])
                sums[1] += 0.5 * (measured[1] - sums[1])
        budget, horizon = self._intra_budget
        # P frames cost more against the intra frame as the quality rises (fewer windows skipped):
        # between two trials' qualities, log-linear in the quality; beyond them, the nearest's
        trials.sort()
        kappa = self.kappa_sums[0] / self.kappa_sums[1]
        if len(trials) > 1:
            kappa = np.exp(np.interp(self.codes, [c for c, _ in trials], [math.log(k) for _, k in trials]))
        cost = np.exp(curve) * (1 + (horizon - 1) * kappa)
        new = self._vbv_cap(self._fit(cost, budget), np.exp(curve))
        self._pending = (True, new)
        self.history[-1].update(quality=from_code(new), looked_ahead=len(p_bits), predicted=float(np.exp(curve[new])))
        return from_code(new)

    def _account(self, intra: bool, own: np.ndarray) -> None:
        """Add a frame's predicted bits at the lowest and highest quality to the report's floor and
        ceiling (``own``: its bits at every code)."""
        self.floor_bits += float(own[0]) + 8 * (not intra)  # (a P frame's packet is never under a byte)
        self.intra_floor_bits += float(own[0]) if intra else 0.0
        self.ceiling_bits += float(own[-1])

    def _fit(self, cost: np.ndarray, budget: float) -> int:
        """The highest code whose ``cost`` (at every code) is within ``budget`` (0 if none), noting
        whether none (starved) or all (saturated) are."""
        fits = np.nonzero(cost <= budget)[0]
        self._starved = not fits.size
        self._saturated = fits.size == len(self.codes)  # even the highest quality is within budget
        return int(fits[-1]) if fits.size else 0

    def _vbv_cap(self, code: int, own: np.ndarray) -> int:
        """``code``, lowered until this frame's predicted bits ``own`` (at every code) fit what is
        left of the VBV bucket (with VBV_MARGIN)."""
        if self.vbv is None:
            return code
        fits = np.nonzero(own <= VBV_MARGIN * (self.vbv[1] - self.vbv_level))[0]
        return min(code, int(fits[-1]) if fits.size else 0)

    def _choose_planned(self, intra: bool, curve: np.ndarray, bits_at_levels: np.ndarray) -> float:
        """Second pass: the one quality at which this frame (its curve measured now, scaled as the
        first pass's real bits were) and every frame after it (the first pass's prediction) meet
        what is left of the budget, all scaled by what the second pass's frames so far cost
        against their predictions."""
        k = self.frames
        if k >= self.total:
            raise ValueError(f"the input has more frames than the first pass saw ({len(self.plan.frames)})")
        if intra != self.plan.frames[k]["intra"]:
            raise ValueError(f"frame {k} is {'intra' if intra else 'predicted'} here but not in the first pass")
        scale = self.plan_ratio[k]
        own = np.exp(curve + scale)
        correction = 1.0 if self.plan_sums is None else self.plan_sums[0] / self.plan_sums[1]
        rest = self.plan_rest[k]
        left = max(self.target * self.total - self.spent, 0.05 * self.target * (self.total - k))
        cost = correction * (own + rest)
        code = int(np.argmin(np.abs(np.log(np.maximum(cost, 1.0)) - math.log(left))))
        self._account(intra, own)
        self._starved = bool(cost[0] > left)
        self._saturated = bool(cost[-1] < left)
        code = self._vbv_cap(code, own)
        self._pending, self._tries = (intra, code), []
        self._pending_curve, self._share = curve + scale, float(correction * own[code])
        self._part = max(left - float(correction * rest[code]), float(own[0]))  # this frame's part of what is left
        self.history.append({"intra": intra, "quality": from_code(code), "predicted": float(correction * own[code]),
                             "budget_per_frame": left / (self.total - k), "curve": [float(b) for b in bits_at_levels]})
        return from_code(code)

    def recode(self, bits: int) -> float | None:
        """After coding the pending frame in ``bits``: another quality to code it at, else ``None``;
        then :meth:`keep` says which try to send.

        One pass: once, lower, when a P frame took more than RECODE_OVER times its share of the
        budget, or any frame more than what is left of the VBV bucket (the highest at which its
        scaled curve stays under that, with VBV_MARGIN on the bucket). Second pass:
        :meth:`_recode_planned`."""
        if self._pending is None:
            raise ValueError("recode() follows choose()")
        intra, code = self._pending
        self._tries.append((code, bits))
        if self.plan is not None:
            new = self._recode_planned()
        else:
            share = math.inf if intra else RECODE_OVER * self._share  # an intra frame is re-coded only for the VBV
            room = self._room()
            if len(self._tries) > 1 or code == 0 or bits <= min(share, room):
                return None
            curve = self._pending_curve
            cost = np.exp(curve[:code] + math.log(max(bits, 1)) - curve[code])
            fits = np.nonzero(cost <= min(share, VBV_MARGIN * room))[0]
            new = int(fits[-1]) if fits.size else 0
        if new is None:
            return None
        self._pending = (intra, new)
        return from_code(new)

    def _room(self) -> float:
        """What is left of the VBV bucket (bits), or infinity."""
        return math.inf if self.vbv is None else self.vbv[1] - self.vbv_level

    def _recode_planned(self) -> int | None:
        """Second pass: one of the last PLAN_END frames (earlier frames' errors are paid back by the
        frames after them, at an even quality) whose bits miss its part of what is left (what is
        left, less the predicted bits of the frames after it) by more than PLAN_TOLERANCE of the
        clip's budget is coded again, up to PLAN_TRIES times in all. A P frame's bits are nearly
        two-valued (every window skipped or not) and jump between neighbouring qualities, so this
        is a search: between the highest quality that came out under its part and the lowest that
        came out over, halfway; with only one side seen, where the frame's curve, scaled by what
        the nearest try cost against it, meets its part (at most a level up). :meth:`keep` then
        sends the try nearest its part. The VBV bucket caps every try as always."""
        curve, part = self._pending_curve, self._part
        room = self._room()
        aim = min(part, VBV_MARGIN * room)
        tolerance = PLAN_TOLERANCE * self.target * self.total
        if any(abs(b - aim) <= tolerance and b <= room for _, b in self._tries):
            return None
        if self.total - self.frames > PLAN_END and all(b <= room for _, b in self._tries):
            return None
        if len(self._tries) >= PLAN_TRIES:
            return None
        under = [c for c, b in self._tries if b < aim]
        over = [c for c, b in self._tries if b > aim]
        low, high = (max(under) if under else None), (min(over) if over else None)
        if low is not None and high is not None:
            if high - low <= 1:
                return None
            new = (low + high) // 2
        else:
            code, bits = min(self._tries, key=lambda t: abs(t[1] - aim))
            scaled = np.exp(curve + math.log(max(bits, 1)) - curve[code])
            if high is not None:  # every try over: the highest lower quality whose scaled curve fits
                fits = np.nonzero(scaled[:high] <= aim)[0]
                new = int(fits[-1]) if fits.size else 0
            else:  # every try under: where the scaled curve meets its part, at most a level up
                near = int(np.argmin(np.abs(np.log(np.maximum(scaled, 1.0)) - math.log(max(aim, 1.0)))))
                new = self._vbv_cap(min(max(near, low + 1), low + QUALITY_STEPS, len(self.codes) - 1), scaled)
        if any(c == new for c, _ in self._tries):
            return None
        return new

    def keep(self) -> float:
        """The quality of the try to send, after :meth:`recode` said ``None``: the last one, or in a
        second pass the one nearest its part of what is left (the smallest, if none fits the VBV
        bucket)."""
        intra, code = self._pending
        if self.plan is not None and len(self._tries) > 1:
            room = self._room()
            fitting = [t for t in self._tries if t[1] <= room]
            code = (min(fitting, key=lambda t: abs(t[1] - self._part)) if fitting else min(self._tries, key=lambda t: t[1]))[0]
            self._pending = (intra, code)
        if len(self._tries) > 1:
            first_code, first_bits = self._tries[0]
            self.history[-1].update(quality=from_code(code), recoded_from=from_code(first_code), first_bits=first_bits,
                                    tries=len(self._tries))
        return from_code(code)

    def update(self, intra: bool, quality: float, bits: int) -> None:
        """Account for a coded frame of ``bits`` (payload and packet overhead) at ``quality``."""
        if self.plan is not None and self._pending is not None:
            predicted = math.exp(float(self._pending_curve[self._pending[1]]))
            if self.plan_sums is None:
                self.plan_sums = [float(bits), predicted]
            else:
                self.p_frames += 1
                weight = max(1 / (self.p_frames + 1), PLAN_RATE)
                self.plan_sums[0] += weight * (bits - self.plan_sums[0])
                self.plan_sums[1] += weight * (predicted - self.plan_sums[1])
        elif self._pending is not None and not intra:
            _, code = self._pending
            self.p_frames += 1
            weight = max(1 / (self.p_frames + PRIOR_WEIGHT), KAPPA_RATE)
            for sums, predicted in ((self.rho_sums, float(self._pending_curve[code])),
                                    (self.kappa_sums, float(self.intra_curve[code]))):
                sums[0] += weight * (bits - sums[0])
                sums[1] += weight * (math.exp(predicted) - sums[1])
        if self._starved and quality == 0:
            self.frames_at_lowest += 1
        if self._saturated and quality == from_code(len(self.codes) - 1):
            self.frames_at_highest += 1
        if self.history:
            self.history[-1]["bits"] = bits
        self.spent += bits
        if self.vbv is not None:
            self.vbv_worst = max(self.vbv_worst, (self.vbv_level + bits) / self.vbv[1])
            self.vbv_level = max(self.vbv_level + bits - self.vbv[0], 0.0)
        self.frames += 1
        self.position += 1
        self.last_quality = quality
        self._pending = None

    def pass_stats(self, width: int, height: int, weights: str) -> PassStats:
        """What this pass measured, for a second pass over the same input (:class:`PassStats`)."""
        return PassStats(width, height, self.levels, self.intra_period, weights,
                         [{"intra": h["intra"], "curve": h["curve"], "quality": h["quality"], "bits": h["bits"]}
                          for h in self.history if "bits" in h])

    def report(self) -> RateReport:
        return RateReport(self.frames, self.spent, self.target * self.frames, self.frames_at_lowest,
                          self.frames_at_highest, self.floor_bits, self.intra_floor_bits, self.ceiling_bits)

    def warning(self, fps: float) -> str | None:
        """One line when the target was out of reach, with both numbers (kbit/s); else ``None``.
        Below the lowest quality only when the whole clip at quality 0 needs more than the target;
        where only the intra frames made quality 0 necessary, it says so."""
        r = self.report()
        if not r.frames:
            return None
        def kbps(bits: float) -> str:
            return f"{bits / r.frames * fps / 1000:.1f} kbit/s"
        floor = r.floor_bits + self.header_bits
        if r.frames_at_lowest and r.ratio > 1.05:
            if floor > r.target_bits:
                return (f"the target rate ({kbps(r.target_bits)}) is below what the lowest quality reaches on this "
                        f"input ({kbps(floor)} at quality 0; coded: {kbps(r.bits)})")
            return (f"the target rate ({kbps(r.target_bits)}) is above what quality 0 needs for the whole clip "
                    f"({kbps(floor)}), but its intra frames alone take {100 * r.intra_floor_bits / r.target_bits:.0f}% "
                    f"of it at quality 0 (coded: {kbps(r.bits)}): use a longer --intra-period, or a lower resolution")
        if r.frames_at_highest and r.ratio < 0.95:
            return (f"the target rate ({kbps(r.target_bits)}) is above what the highest quality reaches on this input "
                    f"({kbps(r.bits)} coded, {r.frames_at_highest} of {r.frames} frames at quality {self.levels - 1})")
        return None
