"""Specification of the trainer (``python -m gvc1d_codec.train``): it starts from scratch, saves
weights the codec loads, and ``--resume`` continues where it stopped."""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import cli_env, moving_gradient

TRAIN = [sys.executable, "-m", "gvc1d_codec.train"]
SMALL_RUN = ["--batch", "1", "--frames", "2", "--crop", "128", "--clips", "foreman", "--log-every", "1",
             "--save-every", "1000"]


@pytest.fixture(scope="module")
def foreman():
    from gvc1d_codec.data.clips import clip_y4m
    from gvc1d_codec.errors import GVC1DError

    try:
        return clip_y4m("foreman")
    except GVC1DError as e:
        pytest.skip(f"training clip foreman unavailable: {e}")


def train(*args: str) -> tuple[subprocess.CompletedProcess, float]:
    t0 = time.monotonic()
    proc = subprocess.run(TRAIN + list(args), capture_output=True, text=True, env=cli_env(), timeout=300)
    return proc, time.monotonic() - t0


def log_steps(path: Path) -> list[int]:
    return [json.loads(line)["step"] for line in path.read_text().splitlines()]


def test_trainer_runs_from_scratch_resumes_and_its_output_encodes(foreman, tmp_path):
    from gvc1d_codec.codec import Decoder, Encoder
    from gvc1d_codec.weights import load_weights

    out = tmp_path / "w.safetensors"
    proc, seconds = train("--out", str(out), "--config", "tiny", "--steps", "2", *SMALL_RUN)
    assert proc.returncode == 0, proc.stderr
    assert seconds < 60, f"2 training steps took {seconds:.1f} s"
    first = load_weights(out)
    record = json.loads(first.metadata["training"])
    assert record["steps"] == 2 and record["stages"] == {"rd": 2} and record["clips"] == ["foreman"]
    assert (tmp_path / "w.opt.safetensors").is_file()
    assert log_steps(tmp_path / "w.log.jsonl") == [1, 2]

    proc, _ = train("--out", str(out), "--resume", "--steps", "3", *SMALL_RUN)
    assert proc.returncode == 0, proc.stderr
    assert "from step 2" in proc.stderr
    resumed = load_weights(out)
    record = json.loads(resumed.metadata["training"])
    assert record["steps"] == 3 and record["stages"] == {"rd": 3}
    assert log_steps(tmp_path / "w.log.jsonl") == [1, 2, 3]
    assert resumed.sha256 != first.sha256, "the resumed step must change the weights"

    # the trained file is a codec model like any other
    assert resumed.config.name == "tiny"
    frame = moving_gradient(64, 48, 1)[0]
    enc = Encoder(64, 48, weights=resumed)
    packet = enc.encode_packet(frame)
    dec = Decoder(enc.header, weights=resumed)
    assert dec.decode(packet).width == 64
