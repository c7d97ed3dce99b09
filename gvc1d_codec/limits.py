"""The size limits, in one place: the format's dimension limit and the default pixel budget.

* :data:`MAX_DIMENSION`: width and height are u16 fields of the ``.gvc`` header, and the format
  allows 1..16384 (docs/bitstream.md, "Field limits"); Y4M and raw input are held to the same.
* :data:`DEFAULT_MAX_PIXELS`: the pixels-per-frame budget of ``Encoder``/``Decoder`` and of
  ``gvc1d-pipe --max-pixels`` (8K UHD, 8192x4320 luma samples; docs/security.md). A frame above
  it is refused by :func:`check_frame_size` before weights are loaded or frame-sized memory is
  allocated.

The C header ``ffbridge/include/gvc1d.h`` repeats both as ``GVC1D_MAX_DIMENSION`` and
``GVC1D_DEFAULT_MAX_PIXELS`` (C cannot import them); a test keeps the two in step.
"""
from __future__ import annotations

from .errors import GVC1DError, LimitError

MAX_DIMENSION = 16384  # luma samples, width and height (the format's limit)
DEFAULT_MAX_PIXELS = 8192 * 4320  # luma samples per frame (8K UHD); any shape, e.g. 16384x2160, fits


def check_frame_size(width: int, height: int, max_pixels: int | None) -> None:
    """Refuse a frame size above the pixels-per-frame budget (``None``: no budget) with LimitError."""
    if max_pixels is None:
        return
    if isinstance(max_pixels, bool) or not isinstance(max_pixels, int) or max_pixels < 1:
        raise GVC1DError(f"max_pixels must be a positive integer or None, got {max_pixels!r}")
    if width * height > max_pixels:
        raise LimitError(f"frame size {width}x{height} ({width * height} pixels) is above the limit of "
                         f"{max_pixels} pixels per frame (raise it with --max-pixels)")
