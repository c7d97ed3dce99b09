"""Process-wide runtime settings: torch's thread pools, chosen in one place.

Torch's default is one intra-op thread per core plus as many inter-op threads, with OpenMP
workers that spin while they wait. Next to any other CPU-bound process (a second encode, an
ffmpeg in the same pipe, a training job) those threads fight over the cores and a run becomes
10-16x slower than on an idle machine. gvc1d's graphs are small and sequential, so:

* intra-op threads: ``threads`` when given (0 or ``None``: the default) (``--threads N``, ``Encoder(threads=N)``), else
  ``$OMP_NUM_THREADS`` when the user set it, else 1 for pictures below :data:`SMALL_PICTURE_PIXELS`
  and ``min(cores this process may run on, 4)`` for larger ones (the first coder's picture decides);
* inter-op threads: 1 (nothing in gvc1d runs independent ops in parallel);
* OpenMP workers sleep instead of spinning while they wait (``OMP_WAIT_POLICY=PASSIVE``, set by
  ``import gvc1d_codec`` unless the variable is already set or torch was imported first: OpenMP
  reads it once, when torch loads it). A spinning worker holds a core that another process (or
  the worker that has the work) needs; that was most of the slowdown.
* freed memory is kept for reuse (:func:`keep_freed_memory`): glibc's malloc returns large blocks
  to the kernel as soon as they are freed, so every frame's large tensors were fresh pages again,
  and page faults took a quarter of the CPU time of a 720p encode and a third at 1080p.

:func:`configure_threads` is called by ``Encoder``/``Decoder`` and by the CLI (through them);
without an explicit ``threads`` it sets the default only once per process, so a program that sets
``torch.set_num_threads`` itself after the first ``Encoder`` keeps its choice. The symbols a
decoder produces never depend on the thread count (docs/conformance.md).
"""
from __future__ import annotations

import os
import sys

from .errors import GVC1DError

MAX_DEFAULT_THREADS = 4  # beyond this the small per-window matrices gain nothing from more threads
SMALL_PICTURE_PIXELS = 640 * 480
"""Below this, one intra-op thread by default: a frame's operations are too small to share. Measured
(benchmarks/speed.py, 2 cores, 2026-12-07): at 416x240 one thread encoded 18.3 fps and decoded 53.6
against 12.0 and 47.2 with two; at 1920x1080 two threads were 1.3x one."""

_default_applied = False

MMAP_THRESHOLD = 32 << 20
"""Blocks below this come from malloc's heap, reused, instead of fresh mmap'd pages (glibc's
largest; its default starts at 128 KiB and only grows as big blocks are freed)."""
TRIM_THRESHOLD = 256 << 20
"""malloc keeps up to this much free memory at the top of its heap instead of returning it."""
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameters (malloc.h)
_malloc_tuned = False
_USER_MALLOC = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_", "MALLOC_MMAP_MAX_")


def keep_freed_memory() -> bool:
    """Tell glibc's malloc to keep freed memory for the next frame (:data:`MMAP_THRESHOLD`,
    :data:`TRIM_THRESHOLD`), once per process; False where it does not apply: another C library,
    or the user's own settings in the environment (``MALLOC_TRIM_THRESHOLD_`` and the like, or
    ``GLIBC_TUNABLES=glibc.malloc...``), or ``GVC1D_MALLOC=default``.
    Process-wide, like the thread settings: it changes how much memory stays mapped, never what is
    computed. Measured on a 4-frame 720p encode and decode at quality 2 (one thread, next to
    another busy process; /proc counters via ``resource.getrusage``): 330k-500k page faults, 2.5-3.2 s
    of system time and 11.0-13.3 s wall without it; 120k, 0.5 s and 6.9-7.6 s with it, peak RSS
    +40 MiB (a trim threshold of 64 MiB kept 340k of the faults; 512 MiB gained nothing more)."""
    global _malloc_tuned
    if _malloc_tuned:
        return True
    if os.environ.get("GVC1D_MALLOC", "").strip() == "default" or any(k in os.environ for k in _USER_MALLOC) \
            or "glibc.malloc." in os.environ.get("GLIBC_TUNABLES", ""):
        return False
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        libc = ctypes.CDLL(None)
        if not hasattr(libc, "gnu_get_libc_version"):  # musl and others: no such knobs
            return False
        ok = libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1 and libc.mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1
    except (OSError, AttributeError):
        return False
    _malloc_tuned = ok
    return ok


def prefer_passive_omp_wait() -> None:
    """``OMP_WAIT_POLICY=PASSIVE`` unless the user chose a policy or OpenMP is already loaded."""
    if "torch" not in sys.modules:
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity, e.g. under taskset or a container's cpuset)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):  # not Linux
        return os.cpu_count() or 1


def default_threads(pixels: int | None = None) -> int:
    """The intra-op thread count used when none is given, for pictures of ``pixels`` (None:
    unknown, as large) (see the module docstring)."""
    env = os.environ.get("OMP_NUM_THREADS", "").strip()
    if env.isdigit() and int(env) > 0:
        return int(env)
    if pixels is not None and pixels < SMALL_PICTURE_PIXELS:
        return 1
    return max(1, min(available_cores(), MAX_DEFAULT_THREADS))


def configure_threads(threads: int | None = None, pixels: int | None = None) -> int:
    """Set torch's intra-op threads (``threads``, or the default for pictures of ``pixels`` once per
    process) and one inter-op thread; return the intra-op thread count now in effect."""
    global _default_applied
    import torch  # deferred: the package's import sets the thread defaults before torch loads

    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 0):
        raise GVC1DError(f"threads must be a positive integer (or 0 / None for the default), got {threads!r}")
    threads = threads or None
    if threads is None and _default_applied:
        return torch.get_num_threads()
    if not _default_applied:
        keep_freed_memory()
        try:
            torch.set_num_interop_threads(1)
        except RuntimeError:  # torch allows it only before the first inter-op work; keep what is there
            pass
    torch.set_num_threads(threads if threads is not None else default_threads(pixels))
    _default_applied = True
    return torch.get_num_threads()
