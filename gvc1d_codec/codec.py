"""The frame-level API: the one place that wires model, entropy coder and bitstream together.

    enc = Encoder(width, height, fps=Fraction(25), quality=2)      # or quality=1.5, or bitrate=500e3
    out.write(enc.header_bytes())
    for frame in frames:
        out.write(enc.encode(frame))          # one packet per frame, as frames arrive

    dec = Decoder(header_bytes)
    for packet in PacketReader(stream, dec.header):
        frame = dec.decode(packet)

    for out in dec.decode_stream(stream, on_error="conceal"):   # or: a whole stream, surviving damage
        ...                                                      # out.frame, out.error

The CLI (``gvc1d-pipe``), the C bridge and the benchmarks all go through these two classes.
Each instance owns its model and state: two encoders in one process do not interfere.

Limits (docs/security.md): frames above ``max_pixels`` luma samples (default 8192x4320) are refused
before any weights are loaded or frame-sized memory is allocated; a failed ``decode`` leaves the
decoder's state as it was, so the caller may skip or conceal the frame and go on.
"""
from __future__ import annotations

import io
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import BinaryIO

import numpy as np
import torch

from .bitstream import (
    QUALITY_VARIABLE,
    Packet,
    PacketLoss,
    PacketReader,
    Framer,
    StreamHeader,
    compact,
    read_header,
)
from . import adaptation, enhancement
from .color import frame_to_rgb, rgb_to_frame
from .entropy.definition import DECODABLE_IDS, ENTROPY_MODEL_ID, UNADAPTED_ID
from .entropy.model import EntropyCoder
from .errors import (
    BitstreamError,
    CorruptPacketError,
    DeviceUnavailableError,
    GVC1DError,
    InputFormatError,
    SettingsError,
    UnsupportedStreamError,
    WeightsError,
)
from .config import DEFAULT_INTRA_PERIOD
from .frame import PIX_FMTS, ColorInfo, VideoFrame
from .limits import DEFAULT_MAX_PIXELS, check_frame_size
from .model.gvc1d import pad_to_windows
from .quality import QUALITY_STEPS, coding_point, from_code, highest, level_lambda, motion_lambda, quality_code, split_enhanced
from .ratecontrol import PassStats, RateController, RateReport
from .presets import DEFAULT_PRESET
from .presets import preset as get_preset
from .runtime import configure_threads
from .step import CodingState, StepOutput, analyse, frame_grid, refine, short_term_reference, step, window_quality
from .weights import LoadedWeights, load_weights

ON_ERROR_MODES = ("stop", "skip", "conceal")


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise DeviceUnavailableError("device cuda was asked for but no CUDA device is available")
    if device not in ("cpu", "cuda"):
        raise SettingsError(f"unknown device {device!r} (need auto, cpu or cuda)")
    return torch.device(device)


def _load(weights: str | LoadedWeights | None, device: torch.device) -> LoadedWeights:
    if isinstance(weights, LoadedWeights):
        return weights
    return load_weights(weights, device=device)


@dataclass(frozen=True)
class DecodedFrame:
    """One frame out of :meth:`Decoder.decode_stream`.

    ``error`` is ``None`` for a frame decoded from its packet. For a lost frame it is the error
    that lost it, and ``frame`` is the concealment (``on_error="conceal"``) or ``None`` (``"skip"``).
    """

    frame_index: int
    frame: VideoFrame | None
    error: BitstreamError | None = None
    packet_bytes: int = 0  # size of the packet it was decoded from, overhead included (0 if lost)


@dataclass
class FrameStats:
    """What the last call coded: frame type, payload bytes, the model's ideal bits and the
    number of skipped windows."""

    frame_type: str
    payload_bytes: int
    ideal_bits: float
    skipped_windows: int = 0  # windows copied from the reference (not coded)
    quality: float = 0.0  # the frame's quality (a level, or between levels in steps of 1/16)


def _check_finite(t: torch.Tensor, what: str) -> None:
    """NaN or infinity out of a transform means broken weights; never let it reach the coder."""
    if not t.is_meta and not bool(torch.isfinite(t).all()):
        raise WeightsError(f"the model's {what} produced non-finite values (corrupt or tampered weights file?)")


class _Session:
    """What encoder and decoder share: the models and the :class:`CodingState` of the recurrence.

    ``state`` is replaced after every frame, never modified: a frame that fails leaves it as it was."""

    def __init__(self, loaded: LoadedWeights, device: torch.device, width: int, height: int,
                 stream_id: int = ENTROPY_MODEL_ID, extended: bool = False, wide_steps: bool = False):
        self.model = loaded.model
        self.cfg = loaded.config
        self.device = device
        self.context_model = loaded.entropy  # integer, CPU: outside the float model's device
        self.entropy = EntropyCoder(loaded.entropy, stream_id)
        self.rows, self.cols = frame_grid(height, width, self.cfg.window)
        self.windows = self.rows * self.cols
        self.width, self.height = width, height
        self.extended = extended  # the stream's pictures keep extended range (StreamHeader.extended_range)
        self.wide_steps = wide_steps  # the stream's layer steps (StreamHeader.wide_steps)
        self.state = CodingState()
        self.last_symbols: np.ndarray | None = None  # int8 [windows, tokens, channels] of the last frame
        self.last_coefficients: list[np.ndarray] | None = None  # its enhancement layer's integers (None: none)
        self.last_update: np.ndarray | None = None  # the decoder update it sent (None: none)
        self.motion_effort = 1.0  # the encoder preset's motion search effort (model/motion.py: estimate_motion)
        self.window_error: np.ndarray | None = None  # encoder, early skip: each window's SSE when last coded

    @torch.inference_mode()
    def step(self, intra: bool, quality: float, x: torch.Tensor | None = None, symbols: torch.Tensor | None = None,
             skip: np.ndarray | None = None, motion: torch.Tensor | None = None,
             latents: torch.Tensor | None = None, update: np.ndarray | None = None,
             reference: torch.Tensor | None = None, e: float = 0.0) -> tuple[StepOutput, CodingState]:
        """Run the frame-coding step from the current state at ``quality``; the caller commits
        the new state. An encoder's motion is chosen by rate-distortion cost with the quality's
        motion lambda (``e``: the step of the frame's enhancement layer, 0 for none).
        ``update`` (intra frames): the integers of the decoder update the packet sends."""
        lam = motion_lambda(self.cfg.lambdas, quality, e) if x is not None and motion is None else None
        if update is not None:
            update = adaptation.dequantise(update, self.cfg.conv_width, self.device)
        out, new = step(self.model, self.context_model, self.state, intra=intra, quality=quality, x=x,
                        symbols=symbols, grid=(self.rows, self.cols), skip=skip, motion=motion, motion_lambda=lam,
                        motion_effort=self.motion_effort,
                        latents=latents, update=update, reference=reference)
        _check_finite(out.symbols, "analysis")
        _check_finite(out.x_hat, "synthesis")
        return out, new

    @torch.inference_mode()
    def adapt(self, x: torch.Tensor, out: StepOutput, quality: float, steps: int) -> np.ndarray | None:
        """A decoder update for intra frame ``x`` coded as ``out`` at ``quality`` (preset ``slow``:
        :mod:`gvc1d_codec.adaptation`): fitted in ``steps`` steps, sent only where it pays for its
        bits on this frame. Returns its integers, or None."""
        model, h, w = self.model, self.height, self.width
        q = window_quality(quality, 1, self.windows, self.device)
        features, pyramid, ref = model.synthesis_features(model.dequantise(out.symbols.to(self.device, torch.float32), q),
                                                          None, None, True, self.rows, self.cols)
        from .metrics.lpips import lpips  # the perceptual term (its weights load on first use)

        values = adaptation.fit(model, features, pyramid, x, h, w, steps, perceptual=lpips)
        if not values.any():
            return None
        adapted = model.conv_synthesis(features, pyramid, ref, True,
                                       adaptation.dequantise(values, self.cfg.conv_width, self.device).layers)
        x = x[..., :h, :w]
        before = float(adaptation.distortion(out.x_hat[..., :h, :w], x, lpips))
        after = float(adaptation.distortion(adapted[..., :h, :w], x, lpips))
        bits = adaptation.spread_bits(values)[1]
        lam = level_lambda(self.cfg.lambdas, quality)
        return values if adaptation.worth_sending(before, after, bits, lam, h * w) else None

    @torch.inference_mode()
    def rate_curve(self, x: torch.Tensor, intra: bool, motion_quality: float) -> tuple[np.ndarray, torch.Tensor, torch.Tensor | None]:
        """What frame ``x`` costs at every level 0..Q-1 before its quality is chosen (rate
        control): the analysis once (it does not depend on the quality; a P frame's motion is
        chosen with ``motion_quality``'s lambda), then one pass of the integer prior per level,
        no synthesis. Returns (the entropy model's ideal bits of every window's tokens plus the
        packet's overhead, per level; the analysis y; its motion) for :meth:`step`'s ``latents``."""
        cfg = self.cfg
        y, motion, _ = analyse(self.model, self.state, x, intra, None if intra else motion_lambda(cfg.lambdas, motion_quality),
                               self.motion_effort)
        bits = []
        for level in range(cfg.qualities):
            q = torch.full((y.shape[0],), level, dtype=torch.long, device=y.device)
            s = self.model.quantise(y, q).cpu()
            bits.append(float(self.entropy.window_bits(s, self.state.entropy_context(level, intra)).sum()))
        framing = compact.framing_bytes("I" if intra else "P", self.state.index, max(bits) / 8)
        return np.array(bits) + 8 * (framing + 1) + 8, y, motion

    @torch.inference_mode()
    def choose_skip(self, x: torch.Tensor, out: StepOutput, quality: float) -> np.ndarray:
        """The encoder's skip decision per window, by rate-distortion cost with the level's lambda
        (the training objective bpp + lambda * MSE, times the frame's pixels):
        skip when  lambda/3 * SSE(reference)  <=  bits(tokens) + lambda/3 * SSE(coded),
        with the motion-compensated reference when the model has block motion."""
        bits = self.entropy.window_bits(out.symbols, out.context)
        return self._skips(quality, bits, self._window_sse(out.reference, x), self._window_sse(out.x_hat.clamp(0, 1), x))

    def _skips(self, quality: float, bits: np.ndarray, sse_skip: np.ndarray, sse_code: np.ndarray) -> np.ndarray:
        """The skip rule of :meth:`choose_skip` and :meth:`early_skip`, per window."""
        lam = level_lambda(self.cfg.lambdas, quality) / 3
        return lam * sse_skip <= bits + lam * sse_code

    @torch.inference_mode()
    def early_skip(self, x: torch.Tensor, quality: float, motion: torch.Tensor | None, latents: torch.Tensor | None):
        """Preset ``fast``'s skip decision, made before the synthesis so that a P frame is
        synthesised once: :meth:`choose_skip`'s rule with each window's coded error estimated by
        its error the last time it was coded (:attr:`window_error`: a skipped window's error is
        the reference's, which would argue for skipping it again and again). Returns (skip,
        motion, latents, reference) for :meth:`step`."""
        cfg = self.cfg
        if latents is None:
            latents, motion, reference = analyse(self.model, self.state, x, False, motion_lambda(cfg.lambdas, quality),
                                                 self.motion_effort)
        else:
            reference, _ = short_term_reference(self.model, self.state, False, None, motion, None)
        s = self.model.quantise(latents, window_quality(quality, 1, self.windows, self.device))
        bits = self.entropy.window_bits(s.cpu(), self.state.entropy_context(quality, False))
        sse_code = self.window_error if self.window_error is not None else np.zeros(self.windows)
        return self._skips(quality, bits, self._window_sse(reference, x), sse_code), motion, latents, reference

    def _window_sse(self, a: torch.Tensor, b: torch.Tensor) -> np.ndarray:
        """Sum of squared errors per window over the frame's own pixels (not the padding)."""
        win = self.cfg.window
        d = (a - b)[0, :, : self.height, : self.width].pow(2).sum(0)
        d = torch.nn.functional.pad(d, (0, self.cols * win - self.width, 0, self.rows * win - self.height))
        return d.view(self.rows, win, self.cols, win).sum(dim=(1, 3)).reshape(-1).double().cpu().numpy()

    def commit(self, out: StepOutput, new: CodingState, coefficients: list[np.ndarray] | None = None,
               x: torch.Tensor | None = None) -> None:
        """Make a fully coded frame's state the current one (``x``: its source, when the encoder
        estimates a window's coded error by its error when last coded: :meth:`early_skip`)."""
        self.state = new
        if x is None:
            self.window_error = None
        else:
            error = self._window_sse(new.reference, x)
            kept = new.skip if new.skip is not None and self.window_error is not None else None
            self.window_error = error if kept is None else np.where(kept, self.window_error, error)
        self.last_coefficients = coefficients
        # the decoder update an intra frame sent (None: none, or a P frame)
        self.last_update = new.update.values if out.context.intra and new.update is not None else None
        # int8 copy of the frame's symbols (|s| <= symbol_max <= 127, so exact)
        self.last_symbols = np.ascontiguousarray(out.symbols.numpy().astype(np.int8))

    def picture(self) -> torch.Tensor:
        """The last reconstruction, cropped: RGB [3, H, W] in [0, 1] (extended range: in
        ``color.EXTENDED_RANGE``)."""
        return self.state.last_picture[0, :, : self.height, : self.width]

    def layer_step(self, e: float) -> float:
        """The enhancement layer's luma step Δ at ``e`` levels above the highest, in this stream."""
        return enhancement.step_size(e, self.wide_steps)

    def layer_prediction(self, out: StepOutput, modes: np.ndarray | None) -> torch.Tensor:
        """The enhancement layer's prediction p_t of a frame coded as ``out``: clamp(x̂_t), and in
        a P frame with ``modes`` the sub-pel blocks of the last picture (enhancement.predict)."""
        prediction = out.x_hat.clamp(0, 1)
        if modes is None:
            return prediction
        return enhancement.predict(prediction, self.state.last_picture, out.motion, modes, self.cfg.motion_block,
                                   self.extended)


class _Coder:
    _s: _Session

    @property
    def last_symbols(self) -> np.ndarray | None:
        """The symbols of the last frame coded (encoded or decoded): int8 [windows, tokens,
        channels], C order (a copy the caller may keep); ``None`` before the first frame.
        Conformance hashes these bytes."""
        return None if self._s.last_symbols is None else self._s.last_symbols.copy()

    @property
    def last_coefficients(self) -> list[np.ndarray] | None:
        """The enhancement layer of the last frame, copies: its coefficient planes (Y, Cb, Cr: int64
        [blocks y, blocks x, 64], zig-zag order), then, in a P frame of entropy model 5, its prediction
        modes (int64 [motion blocks y, x]); ``None`` when it had none. Conformance hashes them."""
        c = self._s.last_coefficients
        return None if c is None else [p.copy() for p in c]

    @property
    def last_update(self) -> np.ndarray | None:
        """The decoder update the last frame sent (an intra frame of entropy model 7 or 9): its integers,
        int64 [:func:`~gvc1d_codec.adaptation.update_size`], a copy; ``None`` when it sent none.
        Conformance hashes them."""
        u = self._s.last_update
        return None if u is None else u.copy()

    def picture(self) -> torch.Tensor:
        """The last frame's reconstruction (what a decoder outputs), RGB [3, H, W] in [0, 1] (in
        ``color.EXTENDED_RANGE`` for streams with extended range), a copy."""
        if self._s.state.reference is None:
            raise GVC1DError("no frame has been coded yet")
        return self._s.picture().clone()


INTRA_ENHANCEMENT_BOOST = 0.5
"""The encoder codes an intra frame with an enhancement layer at a quantiser step 2^-0.5 = 0.71
times the P frames' (about x265's ipratio of 1.4): this many qualities above the quality asked for
in a stream of the original steps, a third of it (to 1/16) with wide steps. The P frames
that follow copy its detail. Measured on carphone, 32 frames, intra period -1, quality 4: boosts of
0, 0.5, 1, 1.5, 2 save 0, 5, 8, 9.5, 9.7 % of the bits at equal PSNR-YUV; but with an intra frame
every 32 frames a boost of 1 made the picture jump by 2.6 dB PSNR-YUV at each intra frame
(benchmarks/period.py), so it is kept at 0.5 where later intra frames come."""

SINGLE_INTRA_BOOST = 1.5
"""The boost (as :data:`INTRA_ENHANCEMENT_BOOST`) of a stream whose only intra frame is its first
(``intra_period`` -1): no later intra frame can pop, and every P frame copies its detail. Measured
with one intra frame (``python benchmarks/encoder_choice.py --constant codec.INTRA_ENHANCEMENT_BOOST
--values 0.5,1,1.5 --qualities 3,4,5,6 --clips bikes:32,mobile:30 --intra-period -1``, and vtest 32
and foreman 32 frames), BD-rate of 1.5 against 0.5: PSNR-YUV -5.3 / -4.5 / -12.7 / -2.1 %,
LPIPS-Alex -14.5 / -13.4 / -26.7 / +2.0 % (bikes / mobile / vtest / foreman); 1 was between."""


LOOKAHEAD_MAX = 8
"""At most this many upcoming frames are coded on trial after an intra frame (one-pass rate
control's look-ahead, :meth:`Encoder.encode_packet`); each costs one P frame's encoding time."""
LOOKAHEAD_AGAIN = 0.25
"""... and coded on trial once more, at the intra frame's new quality, when the first trial moved
it by more than this many levels."""
DEFAULT_LOOKAHEAD = 3
"""The look-ahead gvc1d-pipe reads with rate control (``--lookahead``): three trial P frames per
intra frame, about a tenth more encoding time at an intra period of 32."""


EXTENDED_RANGE_STREAMS = True
"""The encoder's streams keep samples outside the RGB cube (StreamHeader.extended_range, color.py):
the enhancement layer aims at the source's own Y'CbCr, superwhites and sub-blacks included, and the
decoder converts its picture back without clamping it to [0, 1] RGB first. Measured on a training
clip whose luma spans 3..255 (zhling720p): without it its luma PSNR stopped at 34.7 dB at every
quality with the layer (docs/results.md, "Extended range")."""

LAYER_SKIPS_TOKENS = True
"""The encoder's choice: a P frame with the enhancement layer and its prediction
modes skips every window's tokens. With the modes, the motion-compensated previous picture predicts
better than the tokens' synthesis: measured (6-9 frames, qualities 4-6) skipping all tokens cost
cockatoo 720p 7 % / 4.5 % fewer bits at qualities 4 / 5 for the same PSNR-YUV (-0.01 / +0.03 dB),
cisco_2people 3.5 % / 1 % / 0.3 % fewer at 4 / 5 / 6, and changed nothing on cisco_men and carphone,
where the skip decision already skipped every window; and the encoder runs no synthesis for them."""


WIDE_STEP_STREAMS = True
"""The encoder's streams use the enhancement layer's wide steps (StreamHeader.wide_steps,
enhancement.step_size): Δ from 238 down to 4 instead of 61 down to 4 over the same qualities.
Measured on training clips (docs/results.md, "Wide layer steps")."""


def intra_boost(quality: float, levels: int, wide_steps: bool = False, single: bool = False) -> float:
    """The quality the encoder codes an intra frame at, for a fixed ``quality`` (see
    :data:`INTRA_ENHANCEMENT_BOOST`; ``single``: the stream's only intra frame,
    :data:`SINGLE_INTRA_BOOST`) in a stream with or without ``wide_steps``: unchanged at or below
    the highest level."""
    if quality <= levels - 1:
        return quality
    slope = enhancement.STEPS[wide_steps][1]
    boost = SINGLE_INTRA_BOOST if single else INTRA_ENHANCEMENT_BOOST
    boost = math.floor(boost / slope * QUALITY_STEPS + 0.5) / QUALITY_STEPS
    return min(quality + boost, float(highest(levels)))


def _packet_bits(intra: bool, index: int, payload: bytes) -> int:
    """What a packet of ``payload`` costs in the stream, framing included (rate control's unit)."""
    return 8 * (len(payload) + compact.framing_bytes("I" if intra else "P", index, len(payload)))


class Encoder(_Coder):
    """Encodes frames to packets.

    Rate: ``quality`` in 0..Q+3 (higher = better; the tokens' levels up to Q-2, above it the enhancement
    layer on level Q-2's tokens: :func:`~gvc1d_codec.quality.coding_point`), any multiple of 1/16; or ``bitrate`` (bits per second) or ``target_bpp`` (bits per
    pixel per frame): one-pass rate control (:mod:`gvc1d_codec.ratecontrol`) then picks each
    frame's quality (``frames``, when the caller knows how many frames it will encode, lets it plan
    the last intra period to the end of the clip). Default: the model's middle level. ``intra_period`` N = an intra frame every N
    frames (default :data:`~gvc1d_codec.config.DEFAULT_INTRA_PERIOD`, so a lost packet damages at
    most that many frames), -1 = only the first frame is intra. ``preset``: how hard the encoder
    searches (:mod:`gvc1d_codec.presets`: ``fast``, ``medium``, ``slow``); never what the decoder does.
    ``point`` instead of ``quality``: every P frame at this coding point of the payloads' scale (0..Q-1:
    the tokens' level; above, the layer on level Q-2's tokens), bypassing the quality scale's map
    (benchmarks of the model's own levels; intra frames with the layer still get the boost)."""

    def __init__(self, width: int, height: int, fps: Fraction | int | float = Fraction(25), *, pix_fmt: str = "yuv420p",
                 color: ColorInfo = ColorInfo(), quality: float | None = None, intra_period: int = DEFAULT_INTRA_PERIOD,
                 weights: str | LoadedWeights | None = None, device: str = "cpu", threads: int | None = None,
                 max_pixels: int | None = DEFAULT_MAX_PIXELS, skip: bool = True,
                 bitrate: float | None = None, target_bpp: float | None = None, frames: int | None = None,
                 sample_aspect: tuple[int, int] = (0, 0), preset: str = DEFAULT_PRESET,
                 maxrate: float | None = None, bufsize: float | None = None, point: float | None = None,
                 first_pass: PassStats | None = None):
        self.preset = get_preset(preset)  # before loading anything: a bad name is a bad setting
        if isinstance(width, int) and isinstance(height, int):
            check_frame_size(width, height, max_pixels)  # before loading anything
        # process-wide in torch (gvc1d_codec/runtime.py)
        configure_threads(threads, width * height if isinstance(width, int) and isinstance(height, int) else None)
        dev = resolve_device(device)
        loaded = _load(weights, dev)
        cfg = loaded.config
        if sum(v is not None for v in (quality, bitrate, target_bpp, point)) > 1:
            raise SettingsError("give one of quality, bitrate, target bpp and coding point")
        for name, value in (("maxrate", maxrate), ("bufsize", bufsize)):
            if value is not None and not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise SettingsError(f"{name} must be a positive number of bits (per second), got {value!r}")
        if bufsize is not None and maxrate is None:
            raise SettingsError("bufsize needs maxrate (the VBV is maxrate and bufsize)")
        if maxrate is not None and quality is not None:
            raise SettingsError("the VBV (maxrate, bufsize) works with rate control: give bitrate or target bpp, not quality")
        if first_pass is not None and bitrate is None and target_bpp is None and maxrate is None:
            raise SettingsError("a second pass needs a target: give bitrate or target bpp, as in the first pass")
        if maxrate is not None and bitrate is None and target_bpp is None:
            bitrate = maxrate  # as x265: a VBV without a target rate aims at the maxrate
        if quality is None and bitrate is None and target_bpp is None and point is None:
            quality = cfg.qualities // 2
        code = None
        if quality is not None or point is not None:
            try:
                code = quality_code(quality if point is None else point, cfg.qualities, enhanced=True)
            except (TypeError, ValueError) as e:
                raise SettingsError(str(e)) from None
        for name, value in (("bitrate", bitrate), ("target bpp", target_bpp)):
            if value is not None and not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise SettingsError(f"{name} must be a positive number, got {value!r}")
        if frames is not None and not (isinstance(frames, int) and frames > 0):
            raise SettingsError(f"frames must be a positive number of frames, got {frames!r}")
        if intra_period == 0 or intra_period < -1:
            raise SettingsError("intra period must be -1 (first frame only) or a positive number of frames")
        if pix_fmt not in PIX_FMTS:
            raise InputFormatError(f"unsupported pixel format {pix_fmt!r} (need one of {', '.join(PIX_FMTS)})")
        fps = Fraction(fps).limit_denominator(1 << 20)
        if fps <= 0:
            raise InputFormatError("frame rate must be positive")
        # a stream says it has decoder updates only when this encoder may send them (else the
        # previous entropy model: the same syntax without the update symbol of each intra frame)
        stream_id = ENTROPY_MODEL_ID if self.preset.adapt_steps and adaptation.update_size(cfg.conv_width) else UNADAPTED_ID
        try:
            self.header = StreamHeader(
                width=width, height=height, fps_num=fps.numerator, fps_den=fps.denominator, pix_fmt=pix_fmt,
                color_matrix=color.matrix, color_range=color.range, intra_period=intra_period,
                quality=QUALITY_VARIABLE if code is None else code,
                config_id=cfg.name, weights_sha256_prefix=bytes.fromhex(loaded.sha256)[:16], entropy_model_id=stream_id,
                sample_aspect=tuple(sample_aspect), chroma_location=color.chroma_location,
                extended_range=EXTENDED_RANGE_STREAMS, wide_steps=WIDE_STEP_STREAMS)
        except GVC1DError as e:
            raise InputFormatError(str(e)) from None
        self.color = color
        self._weights_sha256 = loaded.sha256
        self._s = _Session(loaded, dev, width, height, stream_id, self.header.extended_range, self.header.wide_steps)
        self._s.motion_effort = self.preset.motion_effort
        self.quality = None if code is None else from_code(code)  # fixed quality, or None: rate control
        # what a fixed quality codes each P frame at (the payloads' scale: tokens, then the layer)
        self.point = None if code is None else self.quality if point is not None else coding_point(self.quality, cfg.qualities)
        self.rate: RateController | None = None
        if code is None:
            per_frame = bitrate / float(fps) if bitrate is not None else target_bpp * width * height
            vbv = None if maxrate is None else (maxrate / float(fps), bufsize if bufsize is not None else maxrate)
            if first_pass is not None:
                try:
                    first_pass.check(width, height, cfg.qualities, intra_period, loaded.sha256)
                except ValueError as e:
                    raise SettingsError(str(e)) from None
            self.rate = RateController(per_frame, cfg.qualities, intra_period, 8 * len(self.header.pack()), frames, vbv,
                                       plan=first_pass)
        self.skip = skip  # False: code every window of every P frame (analysis, the entropy ablation)
        self.last: FrameStats | None = None
        self._framer = Framer(self.header)  # for encode(): packets framed in order

    def header_bytes(self) -> bytes:
        return self.header.pack()


    @property
    def frames_coded(self) -> int:
        return self._s.state.index

    def _is_intra(self, index: int) -> bool:
        p = self.header.intra_period
        return index == 0 or (p > 0 and index % p == 0)

    @torch.inference_mode()
    def encode_packet(self, frame: VideoFrame, upcoming: Sequence[VideoFrame] = ()) -> Packet:
        """One frame in, its packet out. ``upcoming``: the next input frames, when the caller has
        read them already (look-ahead, one-pass rate control only): at an intra frame the encoder
        codes up to :data:`LOOKAHEAD_MAX` of them on trial as P frames after it, to size the intra
        frame for what P frames cost on this content (:meth:`RateController.look_ahead`); nothing
        of the trial is kept, and no packet waits for a later frame."""
        s = self._s
        self._check(frame)
        index, intra = s.state.index, self._is_intra(s.state.index)
        x = pad_to_windows(frame_to_rgb(frame, self.color, s.device)[None], s.cfg.window)
        latents = motion = None
        if self.rate is None:
            quality = intra_boost(self.point, s.cfg.qualities, s.wide_steps, self.header.intra_period == -1) if intra else self.point
        else:
            curve, latents, motion = s.rate_curve(x, intra, self.rate.last_quality or 0.0)
            try:
                quality = self.rate.choose(intra, curve)
            except ValueError as e:  # a second pass on other input than its first pass's
                raise InputFormatError(str(e)) from None
        first = None
        if self.rate is not None and intra and upcoming and self.rate.plan is None:
            # what P frames cost against an intra frame depends on the quality: measured at the
            # quality the prior gave, and once more where that measurement moved it, if far
            for _ in range(2):
                first = self._look_ahead(x, frame, quality, motion, latents, upcoming[:LOOKAHEAD_MAX])
                if not first[1][0]:
                    break
                quality, before = self.rate.look_ahead(*first[1]), quality
                if abs(quality - before) <= LOOKAHEAD_AGAIN:
                    break
        if first is not None and first[0][0] == quality:  # the trial's intra frame is the one to send
            out, new, skip, payload, ideal, planes = first[0][1]
        else:
            out, new, skip, payload, ideal, planes = self._code(x, frame, intra, quality, motion, latents)
        if self.rate is not None:
            tries = {quality: (out, new, skip, payload, ideal, planes)}
            # far off its share of the budget: again, at another quality (ratecontrol.RateController.recode)
            while (again := self.rate.recode(_packet_bits(intra, index, payload))) is not None:
                tries[again] = out, new, skip, payload, ideal, planes = self._code(x, frame, intra, again, motion, latents)
            quality = self.rate.keep()
            out, new, skip, payload, ideal, planes = tries[quality]
        s.commit(out, new, planes, self._source(x))
        if self.rate is not None:
            self.rate.update(intra, quality, _packet_bits(intra, index, payload))
        self.last = FrameStats("I" if intra else "P", len(payload), ideal, 0 if skip is None else int(skip.sum()), quality)
        return Packet("I" if intra else "P", index, payload, quality_length=1 if planes is None else 2)

    def _source(self, x: torch.Tensor) -> torch.Tensor | None:
        """What :meth:`_Session.commit` keeps of a frame's source: only preset ``fast``'s early skip reads it."""
        return x if self.preset.early_skip and self.skip else None

    def _check(self, frame: VideoFrame) -> None:
        """:class:`InputFormatError` unless ``frame`` has this stream's size and pixel format."""
        frame.validate(self.header.width, self.header.height)
        if frame.pix_fmt != self.header.pix_fmt:
            raise InputFormatError(f"frame is {frame.pix_fmt}, the stream was opened for {self.header.pix_fmt}")

    def _look_ahead(self, x: torch.Tensor, frame: VideoFrame, quality: float, motion, latents,
                    upcoming: Sequence[VideoFrame]):
        """Code intra frame ``x`` at ``quality``, then the ``upcoming`` frames after it as P frames
        at the same quality, on trial: returns ((quality, the intra frame's coding), (the P frames'
        packet bits, their measured rate curves)); the session is left as it was."""
        s = self._s
        saved = s.state, s.last_symbols, s.last_coefficients, s.last_update, s.window_error
        try:
            coded = self._code(x, frame, True, quality, motion, latents)
            s.commit(coded[0], coded[1], coded[5], self._source(x))
            bits, curves = [], []
            for f in upcoming:
                try:
                    self._check(f)
                except InputFormatError:
                    break  # a bad frame is reported when it is encoded, not here
                xp = pad_to_windows(frame_to_rgb(f, self.color, s.device)[None], s.cfg.window)
                curve, lat, mot = s.rate_curve(xp, False, quality)
                out, new, _, payload, _, planes = self._code(xp, f, False, quality, mot, lat)
                bits.append(_packet_bits(False, s.state.index, payload))
                curves.append(curve)
                s.commit(out, new, planes, self._source(xp))
        finally:
            s.state, s.last_symbols, s.last_coefficients, s.last_update, s.window_error = saved
        return (quality, coded), (bits, curves)

    def _code(self, x: torch.Tensor, frame: VideoFrame, intra: bool, quality: float, motion: torch.Tensor | None,
              latents: torch.Tensor | None):
        """One ``frame`` (``x``: its RGB, padded) at ``quality``: the step, the skip decision (P
        frames), the enhancement layer (above the highest level), the packet's payload; nothing is
        committed."""
        s = self._s
        tokens_quality, e = split_enhanced(quality, s.cfg.qualities)
        skip = None
        if LAYER_SKIPS_TOKENS and e > 0 and s.entropy.layer_modes(intra) and self.skip:
            skip = np.ones(s.windows, dtype=bool)
            out, new = s.step(intra, tokens_quality, x=x, motion=motion, latents=latents, skip=skip, e=e)
        elif not intra and self.skip and self.preset.early_skip:  # preset fast: decided before the synthesis
            skip, motion, latents, reference = s.early_skip(x, tokens_quality, motion, latents)
            out, new = s.step(intra, tokens_quality, x=x, motion=motion, latents=latents, skip=skip, reference=reference)
        else:
            out, new = s.step(intra, tokens_quality, x=x, motion=motion, latents=latents, e=e)
        update = None
        if intra and self.preset.adapt_steps and s.entropy.update_size:  # preset slow: the decoder adapted
            update = s.adapt(x, out, tokens_quality, self.preset.adapt_steps)
            if update is not None:
                out, new = s.step(intra, tokens_quality, symbols=out.symbols, update=update)
        if not intra and skip is None:
            skip = s.choose_skip(x, out, tokens_quality) if self.skip else np.zeros(s.windows, dtype=bool)
            if skip.any():  # code again with those windows copied from the reference
                out, new = s.step(intra, tokens_quality, symbols=out.symbols, skip=skip, motion=out.motion,
                                  reference=out.reference)
        layer = None
        if e > 0:
            # the layer aims at the picture whose 4:2:0 conversion is the source's (color.py)
            target = pad_to_windows(frame_to_rgb(frame, self.color, s.device, chroma="nearest", extended=s.extended)[None],
                                    s.cfg.window)
            modes, delta = None, s.layer_step(e)
            if s.entropy.layer_modes(intra):
                modes = enhancement.choose_modes(target, out.x_hat.clamp(0, 1), s.state.last_picture, out.motion,
                                                 s.cfg.motion_block, delta, out.context.residual_tables, (s.rows, s.cols),
                                                 s.cfg.window, s.extended)
            prediction = s.layer_prediction(out, modes)
            layer = enhancement.analyse(target, prediction, s.height, s.width, delta) + ([] if modes is None else [modes])
            out, new = refine(out, new, prediction, enhancement.synthesise(layer[:3], delta, s.device), layer,
                              s.cfg.window, s.extended, initial=s.entropy.residual_tables(None))
        payload, ideal = s.entropy.encode(out.symbols, out.context, skip, (s.rows, s.cols), out.motion,
                                          enhancement=None if layer is None else (e, layer), update=update)
        return out, new, skip, payload, ideal, layer

    def pass_stats(self) -> PassStats:
        """What rate control measured on the frames so far, for a second pass over the same input
        (``Encoder(first_pass=...)``; ``pass_stats().dumps(start)`` gives the stats file's text, from
        frame ``start`` on: a first pass may write it as it goes)."""
        if self.rate is None:
            raise SettingsError("a first pass needs rate control: give bitrate or target bpp, not quality")
        return self.rate.pass_stats(self.header.width, self.header.height, self._weights_sha256)

    def rate_report(self) -> RateReport | None:
        """Rate control's account so far (``None`` at a fixed quality)."""
        return None if self.rate is None else self.rate.report()

    def encode(self, frame: VideoFrame, upcoming: Sequence[VideoFrame] = ()) -> bytes:
        """One frame in, one packet (bytes) out (``upcoming``: :meth:`encode_packet`)."""
        return self._framer.frame(self.encode_packet(frame, upcoming))


class Decoder(_Coder):
    """Decodes packets to frames. Refuses streams made for other weights or entropy models, and
    streams whose frames are above ``max_pixels`` luma samples (checked before anything is loaded).

    A ``decode`` that raises leaves the state as it was. After a lost frame (:meth:`skip`,
    :meth:`conceal`) the next P frame is decoded from the last good frame's state: its reference
    picture, previous symbols and long-term memory. The encoder used the lost frame's, so pictures
    (and, since the entropy model's probabilities depend on that state, usually the symbols too) are
    wrong until the next intra frame; a P frame whose symbols come out of range is lost in turn.
    """

    def __init__(self, header: bytes | StreamHeader, *, weights: str | LoadedWeights | None = None, device: str = "cpu",
                 pix_fmt: str | None = None, threads: int | None = None, max_pixels: int | None = DEFAULT_MAX_PIXELS):
        if isinstance(header, (bytes, bytearray)):
            header = read_header(io.BytesIO(bytes(header)))
        check_frame_size(header.width, header.height, max_pixels)  # before loading anything
        configure_threads(threads, header.width * header.height)
        self.header = header
        dev = resolve_device(device)
        loaded = _load(weights, dev)
        need = header.weights_sha256_prefix.hex()
        have = bytes.fromhex(loaded.sha256)[:16].hex()
        if header.entropy_model_id not in DECODABLE_IDS:
            raise UnsupportedStreamError(f"stream uses entropy model {header.entropy_model_id}; this decoder has "
                                         f"{', '.join(map(str, DECODABLE_IDS))}")
        if header.config_id != loaded.config.name or need != have:
            raise UnsupportedStreamError(
                f"stream needs weights {header.config_id} sha256 {need}..., loaded {loaded.config.name} sha256 {have}...")
        self.pix_fmt = pix_fmt or header.pix_fmt
        if self.pix_fmt not in PIX_FMTS:
            raise SettingsError(f"unsupported output pixel format {self.pix_fmt!r} (need one of {', '.join(PIX_FMTS)})")
        self.color = ColorInfo(header.color_matrix, header.color_range, header.chroma_location)
        self._s = _Session(loaded, dev, header.width, header.height, header.entropy_model_id, header.extended_range,
                           header.wide_steps)
        self.last_quality: float | None = None  # the quality of the last frame decoded
        self.frames_lost = 0  # frames skipped or concealed by decode_stream
        self.lost_frame_indices: list[int] = []  # the first LOST_INDICES_KEPT of them
        self.first_error: BitstreamError | None = None  # what lost the first of them
        self._on_error = "stop"

    LOST_INDICES_KEPT = 16

    @property
    def frames_decoded(self) -> int:
        """Frames accounted for so far (decoded or lost): the index the next packet must carry."""
        return self._s.state.index

    def decode_rgb(self, packet: Packet) -> torch.Tensor:
        """One packet in, the reconstructed RGB frame [3, H, W] out: in [0, 1], or in
        ``color.EXTENDED_RANGE`` for a stream with extended range (``decode`` converts it back to
        the samples it stands for)."""
        s = self._s
        index = s.state.index
        if packet.frame_index != index:
            raise CorruptPacketError(f"expected frame {index}, got packet for frame {packet.frame_index}", packet.frame_index)
        if index == 0 and packet.frame_type != "I":
            raise CorruptPacketError("the first frame of a stream must be intra", 0)
        intra = packet.frame_type == "I"
        if not intra and s.state.reference is None:  # only after frames were lost
            raise CorruptPacketError(f"frame {index} is predicted from a lost frame (no intra frame decoded yet)", index)
        quality = s.entropy.payload_quality(packet.payload, index)
        tokens_quality = s.entropy.tokens_quality(packet.payload, index)
        e = quality - (s.cfg.qualities - 1)
        symbols, skip, motion, layer, update, tables = s.entropy.decode(packet.payload, (s.rows, s.cols),
                                                                s.state.entropy_context(tokens_quality, intra), index)
        out, new = s.step(intra, tokens_quality, symbols=symbols, skip=skip, motion=motion, update=update)
        if layer is not None:
            prediction = s.layer_prediction(out, layer[3] if len(layer) > 3 else None)
            out, new = refine(out, new, prediction, enhancement.synthesise(layer[:3], s.layer_step(e), s.device), layer,
                              s.cfg.window, s.extended, tables)
            _check_finite(out.x_hat, "enhancement layer")
        s.commit(out, new, layer)
        self.last_quality = quality
        return s.picture()

    def decode(self, packet: Packet) -> VideoFrame:
        return rgb_to_frame(self.decode_rgb(packet), self.pix_fmt, self.color, self._s.extended)

    def _from_frame(self, reader: PacketReader, start: int) -> Iterator[Packet | PacketLoss]:
        """The items of ``reader`` from frame ``start`` on, the decoder having decoded (not yielded)
        the frames from the intra frame at or before ``start``: only the packets since the last
        intra frame are kept, and only they are decoded."""
        if isinstance(start, bool) or not isinstance(start, int) or start < 0:
            raise SettingsError(f"start frame must be a non-negative integer, got {start!r}")
        since_intra: list[Packet] = []
        for item in reader:
            index = item.frame_index
            if index < start:
                if isinstance(item, PacketLoss):
                    since_intra = []  # no picture before the next intra frame
                elif item.frame_type == "I":
                    since_intra = [item]
                elif since_intra:
                    since_intra.append(item)
                continue
            self.restart(since_intra[0].frame_index if since_intra else index)
            for p in since_intra:
                self.decode_rgb(p)
            yield item
            break
        yield from reader

    def restart(self, frame_index: int) -> None:
        """Start again at frame ``frame_index``, whose packet must be intra (random access: after a
        seek, or to decode from a later intra frame). An intra frame resets everything a frame
        carries to the next (step.step), so the frames from there decode exactly as in a decode from
        frame 0."""
        if isinstance(frame_index, bool) or not isinstance(frame_index, int) or frame_index < 0:
            raise SettingsError(f"frame index must be a non-negative integer, got {frame_index!r}")
        self._s.state = CodingState(index=frame_index)
        self._s.last_symbols = self._s.last_coefficients = None

    def skip(self) -> None:
        """Account for the loss of the next frame: the next packet expected is the one after it.
        The decoding state stays that of the last good frame."""
        self._s.state = self._s.state.lost()

    def conceal(self) -> VideoFrame:
        """Account for the loss of the next frame and return its replacement: the last good
        frame again, or mid-grey if there is none. The decoding state stays that of the last good frame."""
        s = self._s
        rgb = s.picture() if s.state.reference is not None else torch.full((3, s.height, s.width), 0.5)
        self.skip()
        return rgb_to_frame(rgb, self.pix_fmt, self.color, s.extended)

    def decode_stream(self, stream: BinaryIO, on_error: str = "stop",
                      max_payload: int | None = None, start_frame: int = 0) -> Iterator[DecodedFrame]:
        """Decode the packets of ``stream`` (positioned after the header), one :class:`DecodedFrame`
        per frame, in order.

        ``start_frame`` N > 0: the frames before N are not output; only those from the intra frame at
        or before N are decoded (random access: :meth:`restart`).

        ``on_error="stop"``: a truncated or corrupt packet raises (the frames before it have been
        yielded). ``"skip"`` / ``"conceal"``: a lost frame is yielded with its ``error`` and no
        picture / the :meth:`conceal` picture, the reader resynchronises on the next good packet
        (:class:`PacketReader` with ``resync=True``), and decoding goes on; ``frames_lost``,
        ``lost_frame_indices`` and ``first_error`` (and :meth:`loss_summary`) tell what was lost.
        Model errors (e.g. non-finite output from broken weights) always raise.
        """
        if on_error not in ON_ERROR_MODES:
            raise SettingsError(f"unknown on_error mode {on_error!r} (need one of {', '.join(ON_ERROR_MODES)})")
        self._on_error = on_error
        reader = PacketReader(stream, self.header, max_payload, resync=on_error != "stop")
        for item in self._from_frame(reader, start_frame) if start_frame else reader:
            if isinstance(item, PacketLoss):
                losses = [(item.frame_index + k, item.error) for k in range(item.count)]
            else:
                try:
                    frame = self.decode(item)
                except CorruptPacketError as e:
                    if on_error == "stop":
                        raise
                    losses = [(item.frame_index, e)]
                else:
                    yield DecodedFrame(item.frame_index, frame, None, reader.last_size)
                    continue
            for index, error in losses:
                self.frames_lost += 1
                if len(self.lost_frame_indices) < self.LOST_INDICES_KEPT:
                    self.lost_frame_indices.append(index)
                if self.first_error is None:
                    self.first_error = error
                if on_error == "conceal":
                    yield DecodedFrame(index, self.conceal(), error)
                else:
                    self.skip()
                    yield DecodedFrame(index, None, error)

    def loss_summary(self) -> str | None:
        """One line on the frames :meth:`decode_stream` lost, or ``None`` if it lost none."""
        if not self.frames_lost:
            return None
        shown = ", ".join(map(str, self.lost_frame_indices))
        more = ", ..." if self.frames_lost > len(self.lost_frame_indices) else ""
        how = "concealed" if self._on_error == "conceal" else "skipped"
        return (f"{self.frames_lost} of {self.frames_decoded} frames could not be decoded and were {how} "
                f"(frames {shown}{more}); first error: {self.first_error}")
