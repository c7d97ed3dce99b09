"""Files that appear only when complete: write under a temporary name, rename at the end.

:func:`atomic_path` is the one implementation (the CLI's outputs, the clip cache, the conformance
set use it): it yields a temporary path beside the target (``.NAME.partial-PID``, same directory,
so the rename is atomic). When the block ends normally the temporary file replaces the target;
on any exception (KeyboardInterrupt and SystemExit included) it is removed and an existing target
is left untouched, unless ``salvage(tmp)`` (called first) returns True, in which case the
temporary file, as ``salvage`` left it, replaces the target (the CLI's ``--keep-partial``).
While cleaning up after an exception, SIGINT and SIGTERM are held off (main thread only), so a
second Ctrl-C cannot leave a temporary file behind.

A target that exists and is not a regular file (``/dev/null``, a named pipe, a terminal) is
written in place: renaming over it would replace the device with a file.
"""
from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Callable, Iterator
from pathlib import Path


def partial_name(target: Path) -> Path:
    """The temporary name of ``target`` while it is being written."""
    return target.with_name(f".{target.name}.partial-{os.getpid()}")


@contextlib.contextmanager
def signals_held() -> Iterator[None]:
    """Hold off SIGINT and SIGTERM for the block (a no-op outside the main thread)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike, salvage: Callable[[Path], bool] | None = None) -> Iterator[Path]:
    """Yield a temporary path for ``target``; rename it over ``target`` when the block succeeds."""
    target = Path(target)
    if target.exists() and not target.is_file():
        yield target
        return
    tmp = partial_name(target)
    try:
        yield tmp
        os.replace(tmp, target)
    except BaseException:
        with signals_held():
            kept = False
            if salvage is not None:
                with contextlib.suppress(OSError):
                    if salvage(tmp):
                        os.replace(tmp, target)
                        kept = True
            if not kept:
                with contextlib.suppress(OSError):
                    tmp.unlink()
        raise


def atomic_write(target: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``target`` so that readers see the old file or the whole new one."""
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)
