"""Encoders and decoders running at the same time give the same bytes as one at a time.

Two kinds of concurrency: separate ``gvc1d-pipe encode`` processes (stdout and a shared output
file), and several ``Encoder`` / ``Decoder`` instances on threads of one process (what the C bridge
and a server embedding the API do). Output must be byte-identical to serial runs of the same kind;
benchmarks/load.py runs the same check with the shipped weights.
"""
from __future__ import annotations

import subprocess
from concurrent.futures import ThreadPoolExecutor

import pytest
import torch
from conftest import CLI, cli_env, moving_gradient, run_cli, y4m_bytes

from gvc1d_codec import Decoder, Encoder
from gvc1d_codec.bitstream import PacketReader, read_header

CONFIGS = [(0, -1), (1, 2), (2, -1), (3, 1)]  # (quality, intra period), one per worker


@pytest.fixture
def one_torch_thread():
    """Four workers with two intra-op threads each on a 2-core CI machine mostly wait for each
    other; one intra-op thread keeps the test fast and changes nothing it checks (serial and
    threaded runs use the same setting)."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def encode_api(frames, quality: int, intra_period: int, weights) -> bytes:
    enc = Encoder(frames[0].width, frames[0].height, quality=quality, intra_period=intra_period, weights=weights)
    return enc.header_bytes() + b"".join(enc.encode(f) for f in frames)


def decode_api(data: bytes, weights) -> list[bytes]:
    import io

    stream = io.BytesIO(data)
    header = read_header(stream)
    dec = Decoder(header, weights=weights)
    out = []
    for p in PacketReader(stream, header):
        out.append(b"".join(plane.tobytes() for plane in dec.decode(p).planes))
        out.append(dec.last_symbols.tobytes())
    return out


def test_four_concurrent_cli_encoders_write_what_one_writes_alone(tmp_path):
    y4m = y4m_bytes(moving_gradient(64, 48, 3))
    args = ["encode", "-q", "1", "--intra-period", "2", "--threads", "1"]
    serial = run_cli(*args, input=y4m)
    assert serial.returncode == 0, serial.stderr
    shared = tmp_path / "shared.gvc"
    outputs = [["-o", "-"], ["-o", "-"], ["-o", str(shared)], ["-o", str(shared)]]
    procs = [subprocess.Popen(CLI + args + o, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              env=cli_env()) for o in outputs]
    results = [p.communicate(y4m, timeout=180) for p in procs]
    for p, (out, err) in zip(procs, results):
        assert p.returncode == 0, err.decode()
    assert results[0][0] == results[1][0] == serial.stdout
    assert shared.read_bytes() == serial.stdout, "concurrent writers of one file leave one complete stream"
    assert sorted(x.name for x in tmp_path.iterdir()) == ["shared.gvc"], "no partial files left behind"


def test_encoders_on_four_threads_write_what_serial_encoders_write(loaded, weights_path, one_torch_thread):
    frames = moving_gradient(160, 48, 3)
    serial = [encode_api(frames, q, ip, loaded) for q, ip in CONFIGS]
    # two workers share one loaded model, two load their own
    weights = [loaded, loaded, str(weights_path), str(weights_path)]
    with ThreadPoolExecutor(4) as pool:
        threaded = list(pool.map(lambda i: encode_api(frames, *CONFIGS[i], weights[i]), range(4)))
    assert threaded == serial


def test_decoders_on_four_threads_decode_what_serial_decoders_decode(loaded, weights_path, one_torch_thread):
    frames = moving_gradient(160, 48, 3)
    streams = [encode_api(frames, q, ip, loaded) for q, ip in CONFIGS]
    serial = [decode_api(s, loaded) for s in streams]
    weights = [loaded, loaded, str(weights_path), str(weights_path)]
    with ThreadPoolExecutor(4) as pool:
        threaded = list(pool.map(lambda i: decode_api(streams[i], weights[i]), range(4)))
    assert threaded == serial
