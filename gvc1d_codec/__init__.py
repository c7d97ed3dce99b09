"""gvc1d: generative video compression with 1D latent tokens (GVC1D, CVPR 2026).

Frame-level API: :class:`Encoder` and :class:`Decoder` (see :mod:`gvc1d_codec.codec`).
"""
__version__ = "0.1.0"

from .codec import Decoder, Encoder, FrameStats  # noqa: E402
from .frame import ColorInfo, VideoFrame  # noqa: E402

__all__ = ["Encoder", "Decoder", "FrameStats", "VideoFrame", "ColorInfo", "__version__"]
