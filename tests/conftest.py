"""Shared fixtures: a small untrained model, real and synthetic frames, and a CLI runner.

The model is random (untrained): the tests specify the machinery (exact round trips, stream
format, error handling), not compression quality. It is small so the suite stays fast on 2 cores.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import gvc1d_codec  # noqa: F401  (first: it sets OMP_WAIT_POLICY before torch loads OpenMP; runtime.py)
import numpy as np
import pytest
import torch

from gvc1d_codec.config import ModelConfig
from gvc1d_codec.frame import VideoFrame

REPO = Path(__file__).resolve().parent.parent
CLI = [sys.executable, "-m", "gvc1d_codec.cli"]
CLI_SHELL = f"{sys.executable} -m gvc1d_codec.cli"  # for shell pipelines
ERROR_PREFIX = "gvc1d-pipe: error:"

SMALL = dict(name="test", enc_width=32, dec_width=32, heads=2, enc_local_layers=1, dec_local_layers=1,
             prior_hidden=16, memory_dim=8, memory_tokens=4)

# a small model with the v2 transform and block motion (64 px windows, 16 px motion blocks)
SMALL_MOTION = dict(SMALL, name="test-motion", window=64, latent_tokens=16, ar_groups=16, conv_width=8,
                    motion_block=16, motion_search=8, global_tokens=4)

needs_ffmpeg = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg not on PATH")


def build_weights(path: Path, seed: int, config: dict = SMALL) -> Path:
    """A small untrained model, exported like a trained one."""
    from gvc1d_codec.model.gvc1d import GVC1D
    from gvc1d_codec.weights import save_weights

    torch.manual_seed(seed)
    save_weights(GVC1D(ModelConfig(**config)), path)
    return path


@pytest.fixture(scope="session")
def weights_path(tmp_path_factory) -> Path:
    return build_weights(tmp_path_factory.mktemp("weights") / "test.safetensors", seed=0)


@pytest.fixture(scope="session")
def other_weights_path(tmp_path_factory) -> Path:
    """Same config, different parameters (another seed): streams are not interchangeable."""
    return build_weights(tmp_path_factory.mktemp("weights") / "other.safetensors", seed=1)


@pytest.fixture(scope="session")
def motion_weights_path(tmp_path_factory) -> Path:
    return build_weights(tmp_path_factory.mktemp("weights") / "motion.safetensors", seed=0, config=SMALL_MOTION)


@pytest.fixture(scope="session")
def loaded(weights_path):
    from gvc1d_codec.weights import load_weights

    return load_weights(weights_path)


@pytest.fixture(scope="session", autouse=True)
def _default_weights(weights_path):
    """The API and the CLI default to ``$GVC1D_WEIGHTS``; point it at the test model."""
    old = os.environ.get("GVC1D_WEIGHTS")
    os.environ["GVC1D_WEIGHTS"] = str(weights_path)
    yield
    if old is None:
        os.environ.pop("GVC1D_WEIGHTS", None)
    else:
        os.environ["GVC1D_WEIGHTS"] = old


# ---- frames ---------------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def real_clip_path() -> Path:
    """cisco_2people: 320x192, 9 frames, 4:2:0, decoded from ../shared (skips without it)."""
    from gvc1d_codec.data.clips import clip_y4m
    from gvc1d_codec.errors import GVC1DError

    try:
        return clip_y4m("cisco_2people")
    except GVC1DError as e:
        pytest.skip(f"real clip cisco_2people unavailable: {e}")


@pytest.fixture(scope="session")
def real_frames(real_clip_path) -> list[VideoFrame]:
    from gvc1d_codec.io import Y4MReader

    with open(real_clip_path, "rb") as f:
        return list(Y4MReader(f))


def moving_gradient(width: int, height: int, frames: int, pix_fmt: str = "yuv420p") -> list[VideoFrame]:
    """Synthetic video of any size: diagonal gradients that move a few pixels per frame."""
    out = []
    cw, ch = (width + 1) // 2, (height + 1) // 2
    for t in range(frames):
        yy, xx = np.mgrid[0:height, 0:width]
        if pix_fmt == "rgb24":
            rgb = np.stack([(xx * 4 + t * 5) % 256, (yy * 3 + t * 3) % 256, ((xx + yy) * 2 + 64) % 256], axis=-1)
            out.append(VideoFrame("rgb24", (rgb.astype(np.uint8),)))
            continue
        cy, cx = np.mgrid[0:ch, 0:cw]
        y = 16 + ((xx * 3 + yy * 2 + t * 6) % 220)
        u = 128 + ((cx * 2 - t * 3) % 60) - 30
        v = 128 + ((cy * 2 + t * 2) % 60) - 30
        out.append(VideoFrame("yuv420p", tuple(p.astype(np.uint8) for p in (y, u, v))))
    return out


def y4m_bytes(frames: list[VideoFrame], fps: int = 25) -> bytes:
    import io
    from fractions import Fraction

    from gvc1d_codec.io import Y4MWriter

    buf = io.BytesIO()
    w = Y4MWriter(buf, frames[0].width, frames[0].height, Fraction(fps))
    for f in frames:
        w.write_frame(f)
    return buf.getvalue()


def raw_bytes(frames: list[VideoFrame]) -> bytes:
    return b"".join(p.tobytes() for f in frames for p in f.planes)


# ---- the CLI as a user runs it --------------------------------------------------------------------

def cli_env(weights: Path | str | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.pop("GVC1D_DEBUG", None)
    if weights is not None:
        env["GVC1D_WEIGHTS"] = str(weights)
    return env


def run_cli(*args: str, input: bytes | None = None, weights: Path | str | None = None, cwd: Path | None = None,
            timeout: float = 120) -> subprocess.CompletedProcess:
    """``gvc1d-pipe ARGS`` in a subprocess (stdin = ``input`` or empty); bytes stdout, text stderr."""
    p = subprocess.run(CLI + [str(a) for a in args], input=input if input is not None else b"",
                       capture_output=True, env=cli_env(weights), cwd=cwd, timeout=timeout)
    return subprocess.CompletedProcess(p.args, p.returncode, p.stdout, p.stderr.decode("utf-8", "replace"))


def run_shell(cmd: str, weights: Path | str | None = None, cwd: Path | None = None, timeout: float = 180,
              input: bytes | None = None) -> subprocess.CompletedProcess:
    """A bash pipeline; write ``$GVC`` for the CLI. Bytes stdout, text stderr."""
    env = cli_env(weights)
    env["GVC"] = CLI_SHELL
    p = subprocess.run(["bash", "-c", cmd], input=input if input is not None else b"", capture_output=True,
                       env=env, cwd=cwd, timeout=timeout)
    return subprocess.CompletedProcess(p.args, p.returncode, p.stdout, p.stderr.decode("utf-8", "replace"))


def assert_cli_error(proc: subprocess.CompletedProcess, *words: str) -> str:
    """Exactly one stderr line ``gvc1d-pipe: error: ...`` (naming ``words``), non-zero exit, no traceback."""
    assert proc.returncode != 0, f"expected failure, got exit 0 (stderr: {proc.stderr!r})"
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = proc.stderr.strip("\n").splitlines()
    assert len(lines) == 1, f"expected one stderr line, got {lines!r}"
    assert lines[0].startswith(ERROR_PREFIX), lines[0]
    for w in words:
        assert w.lower() in lines[0].lower(), f"{w!r} not in {lines[0]!r}"
    return lines[0]


@pytest.fixture(scope="module")
def foreman():
    """The training clip foreman as a cached y4m (skip when it cannot be prepared)."""
    from gvc1d_codec.data.clips import clip_y4m
    from gvc1d_codec.errors import GVC1DError

    try:
        return clip_y4m("foreman")
    except GVC1DError as e:
        pytest.skip(f"training clip foreman unavailable: {e}")
