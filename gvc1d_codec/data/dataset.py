"""Random spatio-temporal crops of the training clips, as uint8 Y'CbCr 4:2:0 tensors.

Colour conversion and scaling are the caller's job (``gvc1d_codec.color``); this module only cuts.
"""
from __future__ import annotations

import os
import warnings

import numpy as np
import torch

from .clips import CLIPS, load_clip

__all__ = ["VideoCropDataset", "MAX_CLIP_WEIGHT"]

MAX_CLIP_WEIGHT = 300
"""A clip is drawn with probability proportional to ``min(frames, MAX_CLIP_WEIGHT)``."""

Planes = tuple[torch.Tensor, torch.Tensor, torch.Tensor]


class VideoCropDataset(torch.utils.data.Dataset):
    """Random ``seq_len`` x ``crop`` x ``crop`` windows of the named *train* clips.

    One sample: pick a clip (weight ``min(frames, 300)``, so the 1700-frame clip does not
    dominate), a temporal stride of 1 or 2 (2 only when the clip is long enough), ``seq_len``
    frames at that stride, a ``crop`` x ``crop`` window at even offsets (so the chroma planes cut
    at the same place), and a horizontal flip with probability 1/2. Returns uint8 tensors
    ``Y[T, crop, crop]``, ``U[T, crop/2, crop/2]``, ``V[...]``. (A flip mirrors the chroma
    planes too; with left-sited 4:2:0 chroma that moves chroma half a luma pixel, which is
    harmless for training.)

    ``crop`` must be even and no larger than any clip's height or width; ``seq_len`` no larger
    than any clip's length. Clips that do not fit raise ``ValueError``, unless ``skip_unfit`` is
    set, in which case they are left out with a warning (``self.names`` lists the clips used).
    Held-out clips are refused.

    Sampling is reproducible: ``dataset[i]`` depends only on ``(seed, i)`` (so a ``DataLoader``
    with any number of workers yields the same samples), and :meth:`sample_batch` depends only
    on the generator it is given. ``len(dataset)`` is the nominal epoch size ``epoch_size``.
    """

    def __init__(self, names: list[str] | tuple[str, ...], seq_len: int, crop: int,
                 seed: int = 0, *, cache_dir: str | os.PathLike | None = None,
                 skip_unfit: bool = False, epoch_size: int = 10_000):
        if not names:
            raise ValueError("VideoCropDataset needs at least one clip name")
        for name in names:
            if name not in CLIPS:
                raise ValueError(f"unknown clip {name!r}")
            if CLIPS[name].split != "train":
                raise ValueError(f"clip {name!r} is {CLIPS[name].split!r}: training never sees it")
        _check_sizes(seq_len, crop)
        sizes = {n: (CLIPS[n].frames, CLIPS[n].height, CLIPS[n].width) for n in names}
        names = _fitting(sizes, seq_len, crop, skip_unfit)
        clips = {n: load_clip(n, cache_dir=cache_dir) for n in names}
        self._setup(clips, seq_len, crop, seed, epoch_size)

    @classmethod
    def from_arrays(cls, clips: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]],
                    seq_len: int, crop: int, seed: int = 0, *, skip_unfit: bool = False,
                    epoch_size: int = 10_000) -> "VideoCropDataset":
        """A dataset over given ``(Y[T,H,W], U, V[T,H/2,W/2])`` uint8 clips (synthetic data,
        tests). Bypasses the registry, so the caller answers for the split."""
        if not clips:
            raise ValueError("VideoCropDataset needs at least one clip")
        _check_sizes(seq_len, crop)
        for name, (y, u, v) in clips.items():
            t, h, w = y.shape
            if y.dtype != np.uint8 or h % 2 or w % 2 or u.shape != (t, h // 2, w // 2) \
                    or v.shape != u.shape:
                raise ValueError(f"clip {name!r}: need uint8 Y[T,H,W] with even H, W and "
                                 f"U, V[T,H/2,W/2], got {y.shape}, {u.shape}, {v.shape}")
        names = _fitting({n: c[0].shape for n, c in clips.items()}, seq_len, crop, skip_unfit)
        self = cls.__new__(cls)
        self._setup({n: clips[n] for n in names}, seq_len, crop, seed, epoch_size)
        return self

    def _setup(self, clips: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]], seq_len: int,
               crop: int, seed: int, epoch_size: int) -> None:
        self.names = list(clips)
        self.clips = list(clips.values())
        self.seq_len, self.crop, self.seed, self.epoch_size = seq_len, crop, seed, epoch_size
        weights = np.array([min(c[0].shape[0], MAX_CLIP_WEIGHT) for c in self.clips], np.float64)
        self.weights = weights / weights.sum()

    def __len__(self) -> int:
        return self.epoch_size

    def __getitem__(self, index: int) -> Planes:
        return self.sample(np.random.default_rng([self.seed, int(index)]))

    def sample(self, rng: np.random.Generator) -> Planes:
        """One random window, drawn with ``rng``."""
        k = int(rng.choice(len(self.clips), p=self.weights))
        y, u, v = self.clips[k]
        frames, height, width = y.shape
        strides = [s for s in (1, 2) if (self.seq_len - 1) * s < frames]
        stride = strides[int(rng.integers(len(strides)))]
        t0 = int(rng.integers(frames - (self.seq_len - 1) * stride))
        c = self.crop
        y0 = 2 * int(rng.integers((height - c) // 2 + 1))
        x0 = 2 * int(rng.integers((width - c) // 2 + 1))
        t = slice(t0, t0 + (self.seq_len - 1) * stride + 1, stride)
        flip = bool(rng.integers(2))
        out = []
        for plane, (py, px, pc) in zip((y, u, v), ((y0, x0, c), (y0 // 2, x0 // 2, c // 2),
                                                   (y0 // 2, x0 // 2, c // 2))):
            window = plane[t, py:py + pc, px:px + pc]
            if flip:
                window = window[:, :, ::-1]
            out.append(torch.from_numpy(np.ascontiguousarray(window)))
        return out[0], out[1], out[2]

    def sample_batch(self, batch_size: int,
                     generator: torch.Generator | np.random.Generator | int | None = None
                     ) -> Planes:
        """``batch_size`` windows stacked: ``Y[B,T,crop,crop]``, ``U``, ``V[B,T,crop/2,crop/2]``.

        ``generator`` may be a ``torch.Generator`` (one draw from it seeds the batch), a numpy
        ``Generator``, an int seed, or ``None`` (then the dataset's own ``seed``; the same batch
        every call).
        """
        rng = _numpy_rng(generator, self.seed)
        samples = [self.sample(rng) for _ in range(batch_size)]
        return tuple(torch.stack([s[i] for s in samples]) for i in range(3))  # type: ignore


def _numpy_rng(generator: torch.Generator | np.random.Generator | int | None,
               default_seed: int) -> np.random.Generator:
    if isinstance(generator, np.random.Generator):
        return generator
    if isinstance(generator, torch.Generator):
        seed = int(torch.randint(0, 2**62, (1,), generator=generator))
        return np.random.default_rng(seed)
    return np.random.default_rng(default_seed if generator is None else int(generator))


def _check_sizes(seq_len: int, crop: int) -> None:
    if seq_len < 1:
        raise ValueError(f"seq_len must be >= 1, got {seq_len}")
    if crop < 2 or crop % 2:
        raise ValueError(f"crop must be even and >= 2, got {crop}")


def _fitting(sizes: dict[str, tuple[int, int, int]], seq_len: int, crop: int,
             skip_unfit: bool) -> list[str]:
    """Names whose ``(frames, height, width)`` hold a window; the rest raise or are warned of."""
    unfit = [n for n, (t, h, w) in sizes.items() if t < seq_len or min(h, w) < crop]
    if unfit and not skip_unfit:
        raise ValueError(f"clips too small for seq_len={seq_len} crop={crop}: {', '.join(unfit)}"
                         " (choose smaller sizes or pass skip_unfit=True)")
    if unfit:
        warnings.warn(f"VideoCropDataset leaves out clips too small for seq_len={seq_len} "
                      f"crop={crop}: {', '.join(unfit)}", stacklevel=3)
    names = [n for n in sizes if n not in unfit]
    if not names:
        raise ValueError(f"no clip fits seq_len={seq_len} crop={crop}")
    return names
