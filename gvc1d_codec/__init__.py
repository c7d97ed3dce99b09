"""gvc1d: generative video compression with 1D latent tokens (GVC1D, CVPR 2026).

Frame-level API: :class:`Encoder` and :class:`Decoder` (see :mod:`gvc1d_codec.codec`).
They are imported on first use, so that ``import gvc1d_codec`` (and ``gvc1d-pipe info``) does not
pay for importing torch.
"""
__version__ = "0.1.0"

from .runtime import prefer_passive_omp_wait as _prefer_passive_omp_wait  # noqa: E402

_prefer_passive_omp_wait()  # before anything imports torch (gvc1d_codec/runtime.py)

__all__ = ["Encoder", "Decoder", "FrameStats", "VideoFrame", "ColorInfo", "__version__"]

_LAZY = {"Encoder": "codec", "Decoder": "codec", "FrameStats": "codec", "VideoFrame": "frame", "ColorInfo": "frame"}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
