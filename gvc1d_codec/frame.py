"""The picture type that crosses the frame-level API: 8-bit planes, as FFmpeg hands them over."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import InputFormatError

PIX_FMTS = ("yuv420p", "rgb24")


CHROMA_LOCATIONS = ("unspecified", "left", "center", "topleft", "top", "bottomleft", "bottom")  # FFmpeg's order


@dataclass(frozen=True)
class ColorInfo:
    """How Y'CbCr relates to R'G'B'. Defaults follow HD video: BT.709 matrix, limited range."""

    matrix: str = "bt709"  # "bt709" | "bt601"
    range: str = "limited"  # "limited" (16-235/240) | "full" (0-255)
    chroma_location: str = "unspecified"  # where 4:2:0 chroma sits (CHROMA_LOCATIONS); carried, not used by the
    # conversions (docs/bitstream.md, "Stream header, version 5")

    def __post_init__(self):
        if self.matrix not in ("bt709", "bt601"):
            raise InputFormatError(f"unsupported colour matrix {self.matrix!r} (need bt709 or bt601)")
        if self.range not in ("limited", "full"):
            raise InputFormatError(f"unsupported colour range {self.range!r} (need limited or full)")
        if self.chroma_location not in CHROMA_LOCATIONS:
            raise InputFormatError(f"unsupported chroma location {self.chroma_location!r} (need one of {', '.join(CHROMA_LOCATIONS)})")


@dataclass(frozen=True)
class VideoFrame:
    """One picture.

    ``yuv420p``: ``planes = (Y[H, W], U[(H+1)//2, (W+1)//2], V[same])``, uint8.
    ``rgb24``: ``planes = (RGB[H, W, 3],)``, uint8.
    """

    pix_fmt: str
    planes: tuple

    @property
    def height(self) -> int:
        return int(self.planes[0].shape[0])

    @property
    def width(self) -> int:
        return int(self.planes[0].shape[1])

    def validate(self, width: int | None = None, height: int | None = None) -> "VideoFrame":
        """Check plane shapes and dtypes; raise :class:`InputFormatError` naming the problem."""
        if self.pix_fmt not in PIX_FMTS:
            raise InputFormatError(f"unsupported pixel format {self.pix_fmt!r} (need one of {', '.join(PIX_FMTS)})")
        w, h = self.width, self.height
        if self.pix_fmt == "yuv420p":
            cw, ch = (w + 1) // 2, (h + 1) // 2
            want = [(h, w), (ch, cw), (ch, cw)]
        else:
            want = [(h, w, 3)]
        if len(self.planes) != len(want):
            raise InputFormatError(f"{self.pix_fmt} frame needs {len(want)} planes, got {len(self.planes)}")
        for i, (p, shape) in enumerate(zip(self.planes, want)):
            if not isinstance(p, np.ndarray) or p.dtype != np.uint8:
                raise InputFormatError(f"plane {i} must be a uint8 numpy array")
            if tuple(p.shape) != shape:
                raise InputFormatError(f"plane {i} has shape {tuple(p.shape)}, expected {shape}")
        if width is not None and (w, h) != (width, height):
            raise InputFormatError(f"frame is {w}x{h}, the stream is {width}x{height}")
        return self
