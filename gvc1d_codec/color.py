"""The one colour conversion of the codec: 8-bit Y'CbCr 4:2:0 <-> float R'G'B'.

Everything works on torch tensors (CPU or CUDA), batched over any leading dimensions. This module
is the documented behaviour; the conversion is exactly the following.

Constants
    ``bt709``: Kr = 0.2126, Kb = 0.0722; ``bt601``: Kr = 0.299, Kb = 0.114; Kg = 1 - Kr - Kb.
    ``limited`` range: Y = 16 + 219 * Y', C = 128 + 224 * P.
    ``full`` range:    Y = 255 * Y',      C = 128 + 255 * P.
    (Y' in [0, 1] and P in [-0.5, 0.5] are the normalised luma and colour differences.)

R'G'B' -> Y'CbCr 4:2:0 (:func:`rgb_to_yuv420`)
    1. Clamp R, G, B to [0, 1] (``extended``: to ``EXTENDED_RANGE``, below).
    2. Per pixel: Y' = Kr R + Kg G + Kb B,  Pb = (B - Y') / (2 (1 - Kb)),  Pr = (R - Y') / (2 (1 - Kr)),
       then scale to code values Y, Cb, Cr (floats) with the range above.
    3. Luma: Y rounded half up, ``floor(Y + 0.5)``, clipped to 0..255.
    4. Chroma: for an odd width or height the full-resolution Cb/Cr planes are first padded by one
       column/row repeating the last one (edge replication); each output sample is then the mean of
       its 2x2 block of unrounded Cb (Cr), rounded half up and clipped to 0..255. The chroma planes
       are ``ceil(H/2) x ceil(W/2)``.

Y'CbCr 4:2:0 -> R'G'B' (:func:`yuv420_to_rgb`)
    1. Normalise: Y' = (Y - 16) / 219, P = (C - 128) / 224 (limited) or Y' = Y / 255,
       P = (C - 128) / 255 (full).
    2. Chroma upsampling: bilinear interpolation (``F.interpolate(mode="bilinear",
       align_corners=False)``) of each ``ch x cw`` plane to ``2ch x 2cw``, then cropped to the
       top-left ``H x W`` (this handles odd sizes). ``chroma="nearest"`` instead repeats each
       sample over its 2x2 block: the one upsampling that step 4 of the other direction (the 2x2
       mean) inverts exactly. The encoder's enhancement layer aims at that picture, so that a frame
       it reproduces converts back to the source's own 4:2:0 samples; bilinear chroma loses about a
       quarter of the chroma detail on the way back (cisco_2people stopped at 37.5 dB PSNR-YUV).
    3. R = Y' + 2 (1 - Kr) Pr,  B = Y' + 2 (1 - Kb) Pb,  G = (Y' - Kr R - Kb B) / Kg.
    4. Clamp to [0, 1]; result is float32 ``[..., 3, H, W]``.

Extended range (``extended=True`` both ways; streams whose header sets ``extended_range``): real
video has samples outside the RGB cube (superwhites above Y = 235, blacks below 16, saturated
colours), which step 4 clamps away: one 720p training clip (Y 3..255) stopped at 34.7 dB luma PSNR
at every quality. With ``extended`` both directions clamp to ``EXTENDED_RANGE`` = [-1.5, 2.5] instead,
which holds every 8-bit Y'CbCr triple of either range and matrix, so such samples survive the round
trip; only the 8-bit code values are clipped (step 3 and 4 of the other direction).

8-bit R'G'B' (``rgb24``) <-> float: ``float = code / 255``; ``code = floor(float * 255 + 0.5)``
clipped to 0..255 (an exact round trip).
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from .frame import ColorInfo, VideoFrame
from .errors import InputFormatError

EXTENDED_RANGE = (-1.5, 2.5)
"""The R'G'B' range of the extended conversions: every 8-bit Y'CbCr triple converts into it."""


def rgb_range(extended: bool) -> tuple[float, float]:
    """What R'G'B' is clamped to: [0, 1], or :data:`EXTENDED_RANGE`."""
    return EXTENDED_RANGE if extended else (0.0, 1.0)

_MATRIX_K = {"bt709": (0.2126, 0.0722), "bt601": (0.299, 0.114)}

# (luma offset, luma scale, chroma scale); chroma is always centred on 128.
_RANGE = {"limited": (16.0, 219.0, 224.0), "full": (0.0, 255.0, 255.0)}


def _round_u8(x: torch.Tensor) -> torch.Tensor:
    """Round half up and clip to 0..255, as uint8."""
    return torch.floor(x + 0.5).clamp_(0.0, 255.0).to(torch.uint8)


CHROMA_UPSAMPLING = ("bilinear", "nearest")


def _upsample_chroma(c: torch.Tensor, height: int, width: int, mode: str = "bilinear") -> torch.Tensor:
    """2x upsampling (bilinear, or nearest: each sample over its 2x2) of ``[..., ch, cw]`` to
    ``[..., 2ch, 2cw]``, cropped to ``H x W``."""
    if mode not in CHROMA_UPSAMPLING:
        raise ValueError(f"chroma upsampling must be one of {CHROMA_UPSAMPLING}, got {mode!r}")
    if mode == "nearest":
        return c.repeat_interleave(2, dim=-2).repeat_interleave(2, dim=-1)[..., :height, :width]
    lead, (ch, cw) = c.shape[:-2], c.shape[-2:]
    flat = c.reshape(-1, 1, ch, cw)
    up = F.interpolate(flat, size=(2 * ch, 2 * cw), mode="bilinear", align_corners=False)
    return up[..., :height, :width].reshape(*lead, height, width)


def _downsample_chroma(c: torch.Tensor) -> torch.Tensor:
    """Mean over 2x2 blocks of ``[..., H, W]`` (edge-replicated to even size first)."""
    lead, (h, w) = c.shape[:-2], c.shape[-2:]
    flat = c.reshape(-1, 1, h, w)
    if h % 2 or w % 2:
        flat = F.pad(flat, (0, w % 2, 0, h % 2), mode="replicate")
    n, _, hp, wp = flat.shape
    blocks = flat.reshape(n, hp // 2, 2, wp // 2, 2).mean(dim=(2, 4))
    return blocks.reshape(*lead, hp // 2, wp // 2)


def yuv420_to_rgb(
    y: torch.Tensor, u: torch.Tensor, v: torch.Tensor, color: ColorInfo = ColorInfo(), chroma: str = "bilinear",
    extended: bool = False
) -> torch.Tensor:
    """8-bit Y [..., H, W] and U, V [..., ceil(H/2), ceil(W/2)] -> float32 RGB [..., 3, H, W] in [0, 1]
    (``chroma``: the upsampling, see the module doc; ``extended``: clamped to :data:`EXTENDED_RANGE`
    instead, so that samples outside the RGB cube convert back to themselves)."""
    height, width = y.shape[-2:]
    want = ((height + 1) // 2, (width + 1) // 2)
    if tuple(u.shape[-2:]) != want or tuple(v.shape[-2:]) != want:
        raise InputFormatError(
            f"chroma planes are {tuple(u.shape[-2:])} and {tuple(v.shape[-2:])}, expected {want} for {width}x{height}"
        )
    kr, kb = _MATRIX_K[color.matrix]
    kg = 1.0 - kr - kb
    y_off, y_scale, c_scale = _RANGE[color.range]
    luma = (y.to(torch.float32) - y_off) / y_scale
    pb = _upsample_chroma((u.to(torch.float32) - 128.0) / c_scale, height, width, chroma)
    pr = _upsample_chroma((v.to(torch.float32) - 128.0) / c_scale, height, width, chroma)
    r = luma + 2.0 * (1.0 - kr) * pr
    b = luma + 2.0 * (1.0 - kb) * pb
    g = (luma - kr * r - kb * b) / kg
    return torch.stack((r, g, b), dim=-3).clamp_(*rgb_range(extended))


def rgb_to_yuv420(
    rgb: torch.Tensor, color: ColorInfo = ColorInfo(), extended: bool = False
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Float RGB [..., 3, H, W] in [0, 1] -> uint8 (Y [..., H, W], U, V [..., ceil(H/2), ceil(W/2)])
    (``extended``: RGB in :data:`EXTENDED_RANGE`, not clamped to [0, 1] first: only the 8-bit
    samples are clipped)."""
    if rgb.dim() < 3 or rgb.shape[-3] != 3:
        raise InputFormatError(f"RGB tensor must have shape [..., 3, H, W], got {tuple(rgb.shape)}")
    kr, kb = _MATRIX_K[color.matrix]
    kg = 1.0 - kr - kb
    y_off, y_scale, c_scale = _RANGE[color.range]
    rgb = rgb.to(torch.float32).clamp(*rgb_range(extended))
    r, g, b = rgb.unbind(dim=-3)
    luma = kr * r + kg * g + kb * b
    cb = 128.0 + c_scale * (b - luma) / (2.0 * (1.0 - kb))
    cr = 128.0 + c_scale * (r - luma) / (2.0 * (1.0 - kr))
    y = _round_u8(y_off + y_scale * luma)
    return y, _round_u8(_downsample_chroma(cb)), _round_u8(_downsample_chroma(cr))


def _to_tensor(plane: np.ndarray, device: torch.device | str) -> torch.Tensor:
    """A numpy plane as a tensor on ``device`` (copies read-only arrays, which torch cannot share)."""
    if not plane.flags.writeable or not plane.flags.c_contiguous:
        plane = np.array(plane, copy=True, order="C")
    return torch.from_numpy(plane).to(device)


def frame_to_rgb(
    frame: VideoFrame, color: ColorInfo = ColorInfo(), device: torch.device | str = "cpu", chroma: str = "bilinear",
    extended: bool = False
) -> torch.Tensor:
    """A ``yuv420p`` or ``rgb24`` :class:`VideoFrame` -> float32 RGB [3, H, W] in [0, 1] on ``device``
    (``chroma``: the upsampling of a ``yuv420p`` frame's chroma, see the module doc; ``extended``:
    :func:`yuv420_to_rgb`'s)."""
    frame.validate()
    if frame.pix_fmt == "rgb24":
        return _to_tensor(frame.planes[0], device).permute(2, 0, 1).to(torch.float32) / 255.0
    y, u, v = (_to_tensor(p, device) for p in frame.planes)
    return yuv420_to_rgb(y, u, v, color, chroma, extended)


def rgb_to_frame(rgb: torch.Tensor, pix_fmt: str = "yuv420p", color: ColorInfo = ColorInfo(),
                 extended: bool = False) -> VideoFrame:
    """Float RGB [3, H, W] in [0, 1] (``extended``: in :data:`EXTENDED_RANGE`, see
    :func:`rgb_to_yuv420`) -> a ``yuv420p`` or ``rgb24`` :class:`VideoFrame` (numpy planes)."""
    if rgb.dim() != 3 or rgb.shape[0] != 3:
        raise InputFormatError(f"RGB tensor must have shape [3, H, W], got {tuple(rgb.shape)}")
    if pix_fmt == "rgb24":
        codes = _round_u8(rgb.detach().to(torch.float32) * 255.0).permute(1, 2, 0)
        return VideoFrame("rgb24", (np.ascontiguousarray(codes.cpu().numpy()),))
    if pix_fmt == "yuv420p":
        planes = rgb_to_yuv420(rgb.detach(), color, extended)
        return VideoFrame("yuv420p", tuple(np.ascontiguousarray(p.cpu().numpy()) for p in planes))
    raise InputFormatError(f"unsupported pixel format {pix_fmt!r} (need yuv420p or rgb24)")
