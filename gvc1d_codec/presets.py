"""Encoder presets, as x265's ``--preset``: how hard the encoder searches, never what the decoder
does (every preset writes the same syntax; a stream decodes the same whatever made it).

* ``medium`` (the default): the encoder as it always was: one analysis per frame, rounded.
* ``slow``: the analysis' latents are refined before rounding (``refine_steps`` Adam steps on the
  training objective, bits + lambda * MSE, through the frozen synthesis and the float shadow of
  the prior: :meth:`gvc1d_codec.codec._Session.refine_latents`; issue P16). It costs about
  ``refine_steps`` + 1 extra forward and backward passes of the synthesis per frame. Measured
  (docs/results.md, "Encoder presets"): -2.4 % BD-rate under PSNR-YUV, +34 % under LPIPS-Alex: it
  buys PSNR, not perceptual quality.

A ``fast`` preset (issue P12: at least twice ``medium``'s encode speed for at most 5 % BD-rate) is
not offered yet: nothing measured so far buys that.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Preset:
    name: str
    refine_steps: int  # latent refinement steps per frame (0: none)


PRESETS = {p.name: p for p in (Preset("medium", 0), Preset("slow", 8))}
DEFAULT_PRESET = "medium"


def preset(name: str) -> Preset:
    from .errors import SettingsError

    try:
        return PRESETS[name]
    except (KeyError, TypeError):
        raise SettingsError(f"unknown preset {name!r} (need one of {', '.join(PRESETS)})") from None
