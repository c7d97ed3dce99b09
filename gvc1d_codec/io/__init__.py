"""Video input and output: YUV4MPEG2 and raw ``yuv420p`` / ``rgb24`` streams, read frame by frame."""
from .y4m import RawReader, RawWriter, Y4MReader, Y4MWriter

__all__ = ["RawReader", "RawWriter", "Y4MReader", "Y4MWriter"]
