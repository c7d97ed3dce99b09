"""Process-wide runtime pieces: torch's thread defaults (runtime.py) and files that appear only
when complete (io/atomic.py)."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from conftest import cli_env
from gvc1d_codec.io.atomic import atomic_path, atomic_write
from gvc1d_codec.runtime import MAX_DEFAULT_THREADS, available_cores

_PROBE = ("import torch; from gvc1d_codec import Encoder; Encoder({size}{args}); "
          "print(torch.get_num_threads(), torch.get_num_interop_threads())")


def _threads_after_encoder(args: str = "", size: str = "1280, 720", **env: str) -> tuple[int, int]:
    e = cli_env()
    e.pop("OMP_NUM_THREADS", None)
    e.update(env)
    p = subprocess.run([sys.executable, "-c", _PROBE.format(args=args, size=size)], capture_output=True, text=True, env=e,
                       timeout=120)
    assert p.returncode == 0, p.stderr
    intra, inter = p.stdout.split()
    return int(intra), int(inter)


def test_default_threads_are_the_available_cores_capped_with_one_interop_thread():
    assert _threads_after_encoder() == (min(available_cores(), MAX_DEFAULT_THREADS), 1)


def test_small_pictures_default_to_one_thread():
    assert _threads_after_encoder(size="416, 240") == (1, 1)
    assert _threads_after_encoder(", threads=2", size="416, 240")[0] == 2  # unless asked


def test_threads_argument_and_omp_num_threads_win_over_the_default():
    assert _threads_after_encoder(", threads=1") == (1, 1)
    assert _threads_after_encoder(OMP_NUM_THREADS="1")[0] == 1


def test_bad_thread_count_is_an_error():
    from gvc1d_codec.errors import GVC1DError
    from gvc1d_codec.runtime import configure_threads

    with pytest.raises(GVC1DError, match="threads must be"):
        configure_threads(-2)


_MALLOC_PROBE = """
import gvc1d_codec.runtime as r

def rss():
    return int(open("/proc/self/statm").read().split()[1]) * 4096 >> 20

tuned = r.keep_freed_memory()
before = rss()
blocks = [bytearray(b"x" * (24 << 20)) for _ in range(4)]  # 96 MiB in blocks below the mmap threshold
del blocks
print(tuned, rss() - before)
"""


def _malloc_probe(**env: str) -> tuple[str, int]:
    e = cli_env()
    for k in [k for k in e if k.startswith("MALLOC_") or k == "GVC1D_MALLOC"]:
        del e[k]
    e.update(env)
    p = subprocess.run([sys.executable, "-c", _MALLOC_PROBE], capture_output=True, text=True, env=e, timeout=120)
    assert p.returncode == 0, p.stderr
    tuned, kept = p.stdout.split()
    return tuned, int(kept)


def _glibc() -> bool:
    try:
        return sys.platform.startswith("linux") and os.confstr("CS_GNU_LIBC_VERSION").startswith("glibc")
    except (ValueError, OSError, AttributeError):
        return False


@pytest.mark.skipif(not _glibc(), reason="glibc's malloc only")
def test_freed_memory_is_kept_for_the_next_frame_unless_the_user_chose():
    """With the tuning, large freed blocks stay in the process for reuse (no fresh pages, no page
    faults, next frame); with ``GVC1D_MALLOC=default`` or the user's own malloc settings
    glibc's behaviour is left alone and they go back to the kernel."""
    tuned, kept = _malloc_probe()
    assert tuned == "True" and kept >= 64, kept
    for env in ({"GVC1D_MALLOC": "default"}, {"MALLOC_TRIM_THRESHOLD_": "131072"}, {"GLIBC_TUNABLES": "glibc.malloc.trim_threshold=131072"}):
        tuned, kept = _malloc_probe(**env)
        assert tuned == "False" and kept < 32, (env, kept)


def test_atomic_write_replaces_the_target_whole(tmp_path):
    target = tmp_path / "a.bin"
    target.write_bytes(b"old")
    atomic_write(target, b"new")
    assert target.read_bytes() == b"new" and os.listdir(tmp_path) == ["a.bin"]


def test_a_failed_atomic_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "a.bin"
    target.write_bytes(b"old")
    with pytest.raises(KeyboardInterrupt), atomic_path(target) as tmp:
        tmp.write_bytes(b"half")
        raise KeyboardInterrupt
    assert target.read_bytes() == b"old" and os.listdir(tmp_path) == ["a.bin"]


def test_salvage_keeps_what_it_cut_back(tmp_path):
    target = tmp_path / "a.bin"

    def salvage(tmp):
        os.truncate(tmp, 3)
        return True

    with pytest.raises(ValueError), atomic_path(target, salvage) as tmp:
        tmp.write_bytes(b"completehalf")
        raise ValueError
    assert target.read_bytes() == b"com" and os.listdir(tmp_path) == ["a.bin"]


def test_a_named_pipe_or_device_target_is_written_in_place_not_replaced(tmp_path):
    import stat
    import threading

    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()))
    reader.start()
    atomic_write(fifo, b"data")
    reader.join(10)
    assert got == [b"data"] and stat.S_ISFIFO(os.stat(fifo).st_mode) and os.listdir(tmp_path) == ["pipe"]
