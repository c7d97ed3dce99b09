"""A decoder adapted to the content, per intra period (issue P16).

gvc1d is trained on two CPU cores; the synthesis it learned is a compromise over its training
clips. Overfitted codecs (Cool-chic, C3) and instance-adaptive compression (van Rozendaal et al.,
2021) show what fitting the decoder to the content itself buys when training compute is short. Here
the encoder (preset ``slow``) fits a small, declared set of synthesis parameters to each intra
frame, quantises it and sends it in the intra packet; the decoder applies it to that frame and to
every P frame after it, and drops it at the next intra frame (so seeking and chunked encoding work
as before).

The declared set: for every layer of the conv decoder
(:meth:`gvc1d_codec.model.conv.ContextualDecoder.layers`, in that order), a **scale** and an
**offset** per output channel: the layer runs with ``weight · (1 + scale)`` and ``bias + offset``
(616 values for ``gvc1d-tiny``). Each is an integer ``v`` in ``[-UPDATE_MAX, UPDATE_MAX]`` standing
for ``v / 2^STEP_LOG2``; per layer, the scales of its output channels come first, then the offsets.
The integers are range coded with fixed integer tables (entropy models 7 and 9,
:mod:`gvc1d_codec.entropy.definition`); only pixels depend on them, never a probability.

The encoder's fit (:func:`fit`): Adam on the intra frame's MSE through the frozen Transformer decoder
(its output is computed once) and the adapted conv decoder, then rounding. Whether to send it is an
RD decision on the intra frame alone (:func:`worth_sending`), which undercounts the gain: the P
frames of the period are predicted from the better pictures and use the adapted decoder too.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from .entropy.definition import UPDATE_FREQ, UPDATE_MAX, UPDATE_SPREAD_FREQ
from .model.conv import scale_widths

STEP_LOG2 = 9  # an update value v stands for v / 2^9
FIT_LR = 1e-3  # Adam's step on the continuous values (about half a quantisation step)

Layers = list[tuple[torch.Tensor, torch.Tensor]]  # (scale, offset) per conv decoder layer


@dataclass(frozen=True)
class Update:
    """A decoder update: its integers (int64, stream order) and what they stand for, (scale,
    offset) per conv decoder layer on the model's device."""

    values: np.ndarray
    layers: Layers


def channels(conv_width: int) -> list[int]:
    """Output channels of each conv decoder layer, in the declared order (inp, fuse 1/16 .. 1/2,
    up, out); empty for a model without the conv decoder."""
    if conv_width <= 0:
        return []
    w = scale_widths(conv_width)
    return [w[3], w[3], w[2], w[1], w[0], w[2], w[1], w[0], 4]


def update_size(conv_width: int) -> int:
    """How many integers a decoder update has (0: the model cannot be adapted)."""
    return 2 * sum(channels(conv_width))


def dequantise(values: np.ndarray, conv_width: int, device: torch.device | str = "cpu") -> Update:
    """The integers of an update -> the :class:`Update`, (scale, offset) per layer float32 on ``device``."""
    values = np.array(values, dtype=np.int64).reshape(-1)
    v = torch.as_tensor(values, dtype=torch.float32) / 2**STEP_LOG2
    if v.numel() != update_size(conv_width):
        raise ValueError(f"a decoder update of this model has {update_size(conv_width)} values, got {v.numel()}")
    return Update(values, _layers(v.to(device), conv_width))


def _layers(v: torch.Tensor, conv_width: int) -> Layers:
    """The update's values in stream order [update_size] -> (scale, offset) per layer."""
    out, at = [], 0
    for c in channels(conv_width):
        out.append((v[at : at + c], v[at + c : at + 2 * c]))
        at += 2 * c
    return out


def spread_bits(values: np.ndarray) -> tuple[int, float]:
    """The spread k (1..UPDATE_SPREADS) that codes ``values`` in the fewest bits, and those bits
    (ideal, including the spread symbol's)."""
    v = np.asarray(values, dtype=np.int64) + UPDATE_MAX
    rows = UPDATE_FREQ / UPDATE_FREQ.sum(axis=1, keepdims=True)
    bits = -np.log2(rows[:, v]).sum(axis=1)
    k = int(np.argmin(bits))
    return k + 1, float(bits[k]) + math.log2(UPDATE_SPREAD_FREQ.sum())


def fit(model, features: torch.Tensor, pyramid: list[torch.Tensor], x: torch.Tensor, height: int, width: int,
        steps: int, lr: float = FIT_LR, perceptual=None) -> np.ndarray:
    """Fit an update to an intra frame: ``features`` and ``pyramid`` are its
    :meth:`~gvc1d_codec.model.gvc1d.GVC1D.synthesis_features` (from the decoded tokens, no
    gradient), ``x`` its picture [1, 3, H, W] (padded; the first ``height`` x ``width`` pixels
    count). ``steps`` Adam steps on the MSE (plus ``perceptual(x_hat, x)`` / 100, the training
    stage ``prd``'s balance, when given), then the values rounded to the update's integers.
    Returns the integers (zeros when no step lowered the error)."""
    conv_width = model.cfg.conv_width
    n = update_size(conv_width)
    with torch.inference_mode(False), torch.enable_grad():
        features, x = features.clone(), x[..., :height, :width].clone()
        pyramid = [p.clone() for p in pyramid]
        ref = torch.zeros(1, 3, features.shape[-2], features.shape[-1], device=x.device)
        u = torch.zeros(n, device=x.device, requires_grad=True)
        opt = torch.optim.Adam([u], lr=lr)
        best, best_loss = torch.zeros(n), math.inf
        frozen = [p.requires_grad for p in model.parameters()]
        for p in model.parameters():
            p.requires_grad_(False)
        try:
            for _ in range(steps + 1):
                x_hat = model.conv_synthesis(features, pyramid, ref, True, _layers(u, conv_width))[..., :height, :width]
                loss = distortion(x_hat, x, perceptual)
                if loss.item() < best_loss:  # judged before the step: the last step's update counts too
                    best, best_loss = u.detach().clone(), loss.item()
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
        finally:
            for p, g in zip(model.parameters(), frozen):
                p.requires_grad_(g)
    scaled = (best.cpu().double() * 2**STEP_LOG2).round().clamp(-UPDATE_MAX, UPDATE_MAX)
    return scaled.long().numpy()


def distortion(x_hat: torch.Tensor, x: torch.Tensor, perceptual=None) -> torch.Tensor:
    """What the fit lowers: the MSE of clamp(x_hat) on [0, 1] RGB, plus ``perceptual(x_hat, x)`` / 100
    when given (the training stage ``prd``'s balance)."""
    x_hat = x_hat.clamp(0, 1)
    d = torch.mean((x_hat - x) ** 2)
    return d if perceptual is None else d + perceptual(x_hat, x) / 100


def worth_sending(before: float, after: float, bits: float, lam: float, pixels: int) -> bool:
    """The RD decision of the intra frame alone (the training objective bits + lambda · pixels · D,
    D the :func:`distortion`): send when the update's bits cost less than the distortion it removes."""
    return bits < lam * pixels * (before - after)
