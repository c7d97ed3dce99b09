"""One frame-coding step of the low-delay recurrence, shared by every caller.

    state_0 = CodingState()
    for t, x_t in enumerate(frames):
        out, state_{t+1} = step(model, context_model, state_t, x=x_t, intra=..., quality=q)

The codec's encoder and decoder (:mod:`gvc1d_codec.codec`), the training unroll
(:func:`gvc1d_codec.train.loss.unroll`), the entropy-model stage's symbol cache
(:func:`gvc1d_codec.train.prior_stage.build_cache`) and the entropy ablation all run this one
function; nothing else knows the order of the recurrence. Per frame (paper Fig. 2)::

    s_t     = Q(analysis(x_t, x̂_{t-1}, mem_{t-1}))         encoder (or: s_t decoded from the packet)
    ctx_t   = (s_{t-1}, mem_{t-1}, quality, frame type)       what the entropy model codes s_t with
    x̂_t     = synthesis(s_t, x̂_{t-1}, mem_{t-1})
    mem_t   = memory_update(mem_{t-1}, s_t)                  integer network, explicit (advance)

An intra frame starts from nothing: no reference, no previous symbols, an empty memory.

:class:`CodingState` is frozen: ``step`` returns a new state and never changes the one it was
given, so a caller that fails half-way (a corrupt packet, non-finite pixels) still holds the state
from before the frame, by construction. The ``context_model`` is the integer
:class:`~gvc1d_codec.entropy.prior.IntegerPrior` in the codec (CPU, exact) or the float
shadow :class:`~gvc1d_codec.entropy.prior.FloatShadowPrior` in training; both run the same graph.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import torch

from . import adaptation
from .color import EXTENDED_RANGE
from .entropy import residual_syntax
from .entropy.model import EntropyContext
from .entropy.prior import ContextGraph
from .model.gvc1d import GVC1D
from .model.motion import compensate


@dataclass(frozen=True)
class CodingState:
    """What encoder and decoder know before a frame.

    ``reference``: the previous reconstruction x̂_{t-1}, padded to whole windows and clamped to
    [0, 1], [B, 3, H, W] on the float model's device. ``prev_symbols`` [N, L, C] and ``memory``
    [N, M, D]: integer-valued tensors in the context model's representation (float64 on the CPU in
    the codec). ``index``: frames accounted for so far (coded, decoded or lost)."""

    reference: torch.Tensor | None = None
    prev_symbols: torch.Tensor | None = None
    memory: torch.Tensor | None = None
    index: int = 0
    skip: np.ndarray | None = None  # bool [N]: the windows the last frame skipped (None: none)
    motion: torch.Tensor | None = None  # long [B, 2, bh, bw]: the last frame's block motion (None: none)
    # the enhancement layer's adaptive tables after the last frame that had one (None: initial)
    residual_tables: residual_syntax.Tables | None = None
    # the intra period's decoder update (gvc1d_codec/adaptation.py), set by the intra frame that
    # sent it, dropped at the next intra frame (None: none)
    update: adaptation.Update | None = None
    # streams with extended range (StreamHeader.extended_range): the last picture x̂'_{t-1} as the
    # enhancement layer left it, clamped to color.EXTENDED_RANGE instead of [0, 1]; what the
    # decoder outputs and the layer's sub-pel prediction reads (None: ``reference`` is the picture)
    picture: torch.Tensor | None = None

    @property
    def last_picture(self) -> torch.Tensor | None:
        """x̂'_{t-1} as decoded: :attr:`picture` where the stream keeps one, else :attr:`reference`."""
        return self.reference if self.picture is None else self.picture

    def entropy_context(self, quality: int | torch.Tensor, intra: bool) -> EntropyContext:
        """The entropy model's context for the next frame (nothing at an intra frame)."""
        if intra:
            return EntropyContext(None, None, quality, True)
        return EntropyContext(self.prev_symbols, self.memory, quality, False, self.skip, self.motion,
                              self.residual_tables)

    def lost(self) -> "CodingState":
        """The state after a frame that was lost: the same knowledge, one frame further."""
        return dataclasses.replace(self, index=self.index + 1)


@dataclass(frozen=True)
class StepOutput:
    symbols: torch.Tensor  # s_t [N, L, C] as the entropy model sees it (see ``detach_context``)
    x_hat: torch.Tensor  # x̂_t [B, 3, H, W], padded, not clamped
    context: EntropyContext  # what s_t is entropy coded with
    reference: torch.Tensor | None = None  # the short-term reference x̄_t (x̂_{t-1}, motion compensated)
    motion: torch.Tensor | None = None  # long [B, 2, bh, bw] block motion of a P frame (None: none)
    rate_symbols: torch.Tensor | None = None  # training with ``rate_noise``: y · gain + uniform noise


def window_quality(quality: int | torch.Tensor, batch: int, windows: int, device) -> torch.Tensor:
    """Quality per window [B * windows] from a level or a LongTensor [B] of levels (long), or a
    quality between levels (a multiple of 1/16, :mod:`gvc1d_codec.quality`: float32, exact)."""
    whole = isinstance(quality, int) or (torch.is_tensor(quality) and not quality.is_floating_point())
    q = torch.as_tensor(quality, dtype=torch.long if whole else torch.float32, device=device).reshape(-1).expand(batch)
    return q.repeat_interleave(windows)


def model_device(model: torch.nn.Module) -> torch.device:
    return next(model.parameters()).device


def step(model: GVC1D, context_model: ContextGraph, state: CodingState, *, intra: bool,
         quality: int | torch.Tensor, x: torch.Tensor | None = None, symbols: torch.Tensor | None = None,
         grid: tuple[int, int] | None = None, skip: np.ndarray | None = None, motion: torch.Tensor | None = None,
         detach_context: bool = False, encoder_grad: bool = True,
         motion_lambda: float | None = None, motion_effort: float = 1.0, rate_noise: bool = False,
         latents: torch.Tensor | None = None,
         update: adaptation.Update | None = None,
         reference: torch.Tensor | None = None) -> tuple[StepOutput, CodingState]:
    """Code one frame. Give ``x`` ([B, 3, H, W] in [0, 1], whole windows; encoder and training) or
    ``symbols`` ([N, L, C] decoded from a packet) and the ``grid`` (rows, columns) of windows of
    the frame (decoder: one frame, ``x`` not needed).

    The short-term reference x̄_t of a P frame is x̂_{t-1}, moved by integer block motion
    (:mod:`gvc1d_codec.model.motion`) when the config has ``motion_block``: estimated from ``x``
    (encoder, training) unless ``motion`` is given (decoder: decoded; encoder: a second pass).
    ``skip`` (bool [N], P frames of one frame only): windows that are not coded: their symbols
    repeat the previous frame's and their pixels are x̄_t's, exactly. ``motion_lambda`` (the
    codec's encoder): choose the estimated vectors by rate-distortion cost with this lambda;
    ``motion_effort``: its preset's search effort (model/motion.py: estimate_motion).
    ``latents``: the analysis of ``x`` already made by :func:`analyse` from this state (with its
    ``motion``): the encoder's rate control measures a frame's rates before choosing its quality.
    ``update`` (intra frames): the decoder update its packet carries (:mod:`gvc1d_codec.adaptation`);
    the synthesis of this frame and of every P frame after it, up to the next intra frame, uses it.
    ``reference`` (with ``motion``): x̄_t as an earlier step from this state made it with that
    motion (its ``StepOutput.reference``): the encoder's second pass reuses it.

    Training knobs: ``detach_context`` (stage ``recon``) lets the prior and the memory see the
    symbols without gradient, so the rate does not shape the tokens; ``encoder_grad=False`` (stage
    ``gan``) runs analysis, quantiser and memory without gradients (only the synthesis learns);
    ``rate_noise`` also returns y · gain plus uniform noise (``rate_symbols``) for the rate estimate
    (mixed quantisation: the pictures, the prior's contexts and the memory still see the rounded
    symbols).
    """
    if intra:
        state = CodingState(index=state.index, update=update)
    elif update is not None:
        raise ValueError("a decoder update is sent with an intra frame")
    device = model_device(model)
    cfg = model.cfg
    win = cfg.window
    if reference is not None and motion is not None and not intra:
        ref, mv = reference, motion
    else:
        ref, mv = short_term_reference(model, state, intra, x, motion, motion_lambda, motion_effort)
    memory_f = _memory(state, device)
    encoder_ctx = torch.set_grad_enabled(torch.is_grad_enabled() and encoder_grad)
    if symbols is None:
        if x is None:
            raise ValueError("step needs a frame or its symbols")
        batch, rows, cols = x.shape[0], x.shape[-2] // win, x.shape[-1] // win
        q_win = window_quality(quality, batch, rows * cols, device)
        with encoder_ctx:
            y = latents if latents is not None else model.analysis(x, ref if ref is None or encoder_grad else ref.detach(), memory_f, intra)
            s = model.quantise(y, q_win)
            rate_symbols = model.noisy(y, q_win) if rate_noise else None
    else:
        if grid is None or grid[0] * grid[1] != symbols.shape[0]:
            raise ValueError(f"decoding symbols of {symbols.shape[0]} windows needs their grid of windows, got {grid}")
        s = symbols.to(device=device, dtype=torch.float32)
        rate_symbols = None
        batch, (rows, cols) = 1, grid
        q_win = window_quality(quality, batch, rows * cols, device)
    context = state.entropy_context(q_win if torch.is_tensor(quality) else quality, intra)
    # the context model reads the symbols as given (decoder: exact CPU integers, whatever the device)
    s_ctx = context_model.symbols_in(symbols if symbols is not None else s.detach() if detach_context else s)
    skipped = None
    if skip is not None and not intra and np.any(skip):
        if batch != 1 or rate_symbols is not None:
            raise ValueError("skip flags are per window of one frame (and not for training)")
        skipped = torch.from_numpy(np.asarray(skip, dtype=bool))
        s_ctx = torch.where(skipped[:, None, None].to(s_ctx.device), state.prev_symbols, s_ctx)
        s = torch.where(skipped[:, None, None].to(device), state.prev_symbols.to(device, s.dtype), s)
    if skipped is not None and bool(skipped.all()):
        x_hat = ref  # nothing is coded: the frame is the (motion-compensated) reference
    else:
        x_hat = model.synthesis(model.dequantise(s, q_win), ref, memory_f, intra, rows, cols,
                                None if state.update is None else state.update.layers)
        if skipped is not None:
            x_hat = copy_windows(x_hat, ref, skipped, rows, cols, win)
    new = advance(context_model, state, s_ctx, x_hat, memory_grad=encoder_grad)
    new = dataclasses.replace(new, skip=None if skipped is None else skipped.numpy(),
                              motion=None if mv is None else mv.detach().cpu())
    if rate_symbols is not None and detach_context:
        rate_symbols = rate_symbols.detach()
    return StepOutput(s_ctx, x_hat, context, ref, None if mv is None else mv.detach().cpu(), rate_symbols), new


def refine(out: StepOutput, new: CodingState, prediction: torch.Tensor, residual: torch.Tensor,
           layer: list[np.ndarray], window: int, extended: bool = False,
           tables: residual_syntax.Tables | None = None,
           initial: residual_syntax.Tables | None = None) -> tuple[StepOutput, CodingState]:
    """The step's output and state with the enhancement layer: its decoded ``residual`` (RGB [B, 3,
    H, W], :mod:`gvc1d_codec.enhancement`) added to its ``prediction`` (clamp(x̂_t), or per block a
    sub-pel block of x̂'_{t-1}: :func:`~gvc1d_codec.enhancement.predict`), x̂'_t = p_t + r, the
    frame's picture and (clamped to [0, 1]) the next frame's reference; ``extended`` (streams with
    extended range): the picture is kept apart, clamped to ``color.EXTENDED_RANGE`` only
    (:attr:`CodingState.picture`); and, for a P frame, its adaptive tables advanced by the frame's
    ``layer`` (coefficients and modes; explicit, like the long-term memory): ``tables`` when the
    caller has them already (the decoder derives them while decoding the layer), else
    :func:`~gvc1d_codec.entropy.residual_syntax.adapt`'s from the state's tables, or ``initial``
    (the stream's initial tables, :meth:`EntropyCoder.residual_tables`) when the state has none."""
    x_hat = prediction.to(out.x_hat.device, out.x_hat.dtype) + residual.to(out.x_hat.device, out.x_hat.dtype)
    if out.context.intra:
        tables = None  # an intra frame's statistics are not a P frame's: its tables are not kept
    elif tables is None:
        grid = frame_grid(out.x_hat.shape[-2], out.x_hat.shape[-1], window)
        tables = residual_syntax.adapt(out.context.residual_tables or initial, layer, grid, window)
    picture = x_hat.clamp(*EXTENDED_RANGE) if extended else None
    return (dataclasses.replace(out, x_hat=x_hat if picture is None else picture),
            dataclasses.replace(new, reference=x_hat.clamp(0, 1), residual_tables=tables, picture=picture))


def short_term_reference(model: GVC1D, state: CodingState, intra: bool, x: torch.Tensor | None,
                         motion: torch.Tensor | None, motion_lambda: float | None,
                         motion_effort: float = 1.0) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """x̄_t and its block motion (None: none): see :func:`step`."""
    if intra:
        return None, None
    if state.reference is None:
        raise ValueError("a predicted frame needs a reference (code an intra frame first)")
    cfg = model.cfg
    ref, mv = state.reference, None
    if cfg.motion_block:
        if motion is not None:  # the decoded (or chosen) integers stay where they are: the state keeps them
            mv = motion
            ref = compensate(ref, motion.to(ref.device), cfg.motion_block, cfg.motion_overlap)
        elif x is not None:
            rd = None if motion_lambda is None else (motion_lambda, state.motion)
            ref, mv = model.motion_reference(x, ref, rd, motion_effort)
        else:
            raise ValueError("a predicted frame of this model needs its motion field")
    return ref, mv


def _memory(state: CodingState, device: torch.device) -> torch.Tensor | None:
    return None if state.memory is None else state.memory.to(device=device, dtype=torch.float32)


def analyse(model: GVC1D, state: CodingState, x: torch.Tensor, intra: bool,
            motion_lambda: float | None = None, motion_effort: float = 1.0
            ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
    """The encoder's analysis of frame ``x`` from ``state``, before any quality is chosen:
    (y [N, L, C], the block motion it used or None, the short-term reference x̄_t or None).
    Quantising y at a quality and coding it with ``step(..., motion=that motion, latents=y,
    reference=x̄_t)`` is exactly what ``step`` does from ``x``."""
    if intra:
        state = CodingState(index=state.index)
    ref, mv = short_term_reference(model, state, intra, x, None, motion_lambda, motion_effort)
    y = model.analysis(x, ref, _memory(state, model_device(model)), intra)
    return y, None if mv is None else mv.detach().cpu(), ref


def copy_windows(x_hat: torch.Tensor, reference: torch.Tensor, skipped: torch.Tensor, rows: int, cols: int,
                 win: int) -> torch.Tensor:
    """x_hat [1, 3, H, W] with the ``skipped`` windows (bool [rows * cols]) taken from ``reference``."""
    mask = skipped.view(1, 1, rows, 1, cols, 1).expand(1, 1, rows, win, cols, win).reshape(1, 1, rows * win, cols * win)
    return torch.where(mask.to(x_hat.device), reference, x_hat)


def advance(context_model: ContextGraph, state: CodingState, symbols: torch.Tensor, x_hat: torch.Tensor | None,
            memory_grad: bool = True) -> CodingState:
    """The state after a frame with ``symbols`` (in the context model's representation) and
    reconstruction ``x_hat``: the explicit long-term memory update."""
    with torch.set_grad_enabled(torch.is_grad_enabled() and memory_grad):
        memory = context_model.memory_update(state.memory, symbols)
    return CodingState(
        reference=None if x_hat is None else x_hat.clamp(0, 1),  # the decoder keeps a clamped reference
        prev_symbols=symbols, memory=memory, index=state.index + 1,
        residual_tables=state.residual_tables,  # an intra frame's state starts without them
        update=state.update)


def frame_grid(height: int, width: int, window: int) -> tuple[int, int]:
    """Rows and columns of windows of a padded frame of ``height`` x ``width``."""
    return -(-height // window), -(-width // window)
