"""Synthetic camera motion over a still photograph: deterministic training clips.

A :class:`CameraPath` moves a crop window (the output size) over a photograph in three segments:

1. ``static`` frames with the window at ``start`` (its top-left corner, in photo pixels);
2. ``pan`` frames, the window moving by ``velocity`` photo pixels per frame (integer or sub-pixel);
3. ``zoom`` frames, the window scaled linearly, around its centre where the pan ended, to ``zoom_to``
   times the output size (below 1 zooms in, above 1 zooms out).

The path is continuous (no cut between segments) and the whole window stays inside the photograph.

Resampling (:func:`render`): separable Catmull-Rom (Keys cubic, a = -0.5), output sample ``i`` of a
window at ``left`` with scale ``s`` (photo pixels per output pixel) reads photo coordinate
``left + (i + 0.5) s - 0.5``; when zooming out (``s > 1``) the kernel is stretched by ``s`` and
normalised (antialiasing, as PIL and ``F.interpolate(antialias=True)`` do). The kernel is
interpolating, so a window at integer coordinates and scale 1 copies the photo's pixels exactly
(static frames and integer pans are exact shifts). The arithmetic is float64 numpy with explicit
elementwise steps in a fixed order (no BLAS, no library ``pow``), so the RGB frames are the same on
every machine. R'G'B' -> Y'CbCr 4:2:0 is the codec's own conversion (:func:`gvc1d_codec.color.rgb_to_yuv420`,
BT.709 limited range, the ``ColorInfo`` default under which the codec reads y4m).

There are no random numbers: a clip is a function of the photograph and its :class:`CameraPath`.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

__all__ = ["CameraPath", "render"]


@dataclass(frozen=True)
class CameraPath:
    """The crop window's path over a ``photo_width`` x ``photo_height`` photograph (see module doc)."""

    photo_width: int
    photo_height: int
    start: tuple[float, float]
    velocity: tuple[float, float]
    zoom_to: float
    static: int = 4
    pan: int = 16
    zoom: int = 12

    @property
    def frames(self) -> int:
        return self.static + self.pan + self.zoom

    def windows(self, width: int, height: int) -> list[tuple[float, float, float]]:
        """``(left, top, scale)`` of the window of every frame, for a ``width`` x ``height`` output.

        Raises ``ValueError`` when a window leaves the photograph.
        """
        (x0, y0), (vx, vy) = self.start, self.velocity
        out = []
        for t in range(self.frames):
            moved = min(max(t - self.static + 1, 0), self.pan)          # pan steps taken so far
            left, top = x0 + vx * moved, y0 + vy * moved
            zoomed = max(t - self.static - self.pan + 1, 0)             # zoom steps taken so far
            scale = 1.0 + (self.zoom_to - 1.0) * zoomed / max(self.zoom, 1)
            if zoomed:  # scale about the centre where the pan ended
                left += width * (1.0 - scale) / 2.0
                top += height * (1.0 - scale) / 2.0
            if left < 0 or top < 0 or left + width * scale > self.photo_width \
                    or top + height * scale > self.photo_height:
                raise ValueError(f"frame {t}: window {width * scale:.1f}x{height * scale:.1f} at "
                                 f"({left:.2f}, {top:.2f}) leaves the "
                                 f"{self.photo_width}x{self.photo_height} photograph")
            out.append((left, top, scale))
        return out


def _keys_cubic(d: np.ndarray) -> np.ndarray:
    """Catmull-Rom weights (Keys, a = -0.5) at distances ``d``, with multiplications only."""
    x = np.abs(d)
    x2 = x * x
    x3 = x2 * x
    near = 1.5 * x3 - 2.5 * x2 + 1.0
    far = -0.5 * x3 + 2.5 * x2 - 4.0 * x + 2.0
    return np.where(x < 1.0, near, np.where(x < 2.0, far, 0.0))


def _taps(start: float, scale: float, n: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Source indices ``[n, k]`` (clamped to the photo) and normalised weights ``[n, k]``."""
    stretch = max(1.0, scale)
    centre = start + (np.arange(n, dtype=np.float64) + 0.5) * scale - 0.5
    k = int(np.ceil(4.0 * stretch)) + 1
    first = np.floor(centre - 2.0 * stretch).astype(np.int64)
    idx = first[:, None] + np.arange(k, dtype=np.int64)[None, :]
    weights = _keys_cubic((idx - centre[:, None]) / stretch)
    total = weights[:, 0].copy()
    for j in range(1, k):  # a fixed summation order
        total = total + weights[:, j]
    return np.clip(idx, 0, size - 1), weights / total[:, None]


def _resample(photo: np.ndarray, left: float, top: float, scale: float, width: int,
              height: int) -> np.ndarray:
    """The ``height`` x ``width`` window of a float64 ``[H, W, 3]`` photo, float64 ``[height, width, 3]``."""
    iy, wy = _taps(top, scale, height, photo.shape[0])
    ix, wx = _taps(left, scale, width, photo.shape[1])
    rows = wy[:, 0, None, None] * photo[iy[:, 0]]
    for j in range(1, iy.shape[1]):
        rows = rows + wy[:, j, None, None] * photo[iy[:, j]]
    out = wx[None, :, 0, None] * rows[:, ix[:, 0]]
    for j in range(1, ix.shape[1]):
        out = out + wx[None, :, j, None] * rows[:, ix[:, j]]
    return out


def render(photo: np.ndarray, path: CameraPath, width: int, height: int,
           frames: int | None = None) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Frames ``(Y[height, width], U, V[height/2, width/2])`` uint8 of ``photo`` (uint8 ``[H, W, 3]``
    R'G'B') along ``path``; only the first ``frames`` when given."""
    import torch  # deferred: the clip registry (python -m gvc1d_codec.data list) is torch-free

    from ..color import rgb_to_yuv420

    if width % 2 or height % 2:
        raise ValueError(f"output size must be even, got {width}x{height}")
    if photo.shape != (path.photo_height, path.photo_width, 3) or photo.dtype != np.uint8:
        raise ValueError(f"photo is {photo.dtype} {photo.shape}, the camera path expects uint8 "
                         f"({path.photo_height}, {path.photo_width}, 3)")
    rgb = photo.astype(np.float64) / 255.0
    windows = path.windows(width, height)
    for left, top, scale in windows[:frames]:
        window = _resample(rgb, left, top, scale, width, height)
        chw = torch.from_numpy(np.ascontiguousarray(window.transpose(2, 0, 1), dtype=np.float32))
        y, u, v = rgb_to_yuv420(chw)
        yield y.numpy(), u.numpy(), v.numpy()
