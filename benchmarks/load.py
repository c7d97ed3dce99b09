"""Load: a long video through the encoder and decoder in streaming mode, with memory sampled
along the way, and a check that concurrent encoders write what serial ones write.

    nice -n 19 python benchmarks/load.py [--frames 10000] [--threads 1] [--weights W] [--every 500]
                                         [--phases api,cli,concurrency] [--json out.json]

Material: the real clip ``carphone`` (176x144, from the data registry) looped forwards and
backwards to ``--frames`` frames, made on the fly (synthetic moving gradients if the clip cannot be
had). Quality 2, intra period -1: one intra frame, then P frames all the way, so the decoder's
state (reference picture, previous symbols, long-term memory) is carried over every frame.

Phases:

``api``          ``Encoder.encode`` per frame, packets appended to a file as they come; then
                 ``PacketReader`` + ``Decoder.decode`` per packet from that file. RSS (VmRSS of this
                 process) before the first frame, every ``--every`` frames and at the end; fps of
                 each pass; PSNR-Y of the sampled frames (drift over a long P chain would show).
``cli``          ``gvc1d-pipe encode | gvc1d-pipe decode``: this script writes Y4M into the first
                 process and reads Y4M out of the second, both running at once; VmRSS of both
                 processes sampled every ``--interval`` seconds; fps = frames out / wall time.
``concurrency``  4 ``gvc1d-pipe encode`` processes at once vs the same 4 one after another, and
                 4 ``Encoder`` instances on threads vs the same 4 in a row (4 qualities, each with
                 its own intra period), on the first ``--concurrency-frames`` frames: byte-identical
                 or not. tests/test_concurrency.py checks the same with the small test model.

Memory is "flat" when RSS at the end is within ``--flat-mib`` of RSS after the first ``--every``
frames (start-up, first-call allocations and caches are done by then). Exit status 1 if memory is
not flat or a concurrency output differs.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from fractions import Fraction
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

WIDTH, HEIGHT, FPS = 176, 144, 25
CLI = [sys.executable, "-m", "gvc1d_codec.cli"]
CONCURRENCY_CONFIGS = [(0, -1), (1, 4), (2, -1), (3, 2)]  # (quality, intra period)


# ----------------------------------------------------------------------------- material

class Material:
    """Frame ``i`` of a looped clip (forwards, then backwards, ...), as a VideoFrame."""

    def __init__(self, clip: str = "carphone"):
        from gvc1d_codec.errors import GVC1DError

        try:
            from gvc1d_codec.data import load_clip

            y, u, v = load_clip(clip)
            if y.shape[1:] != (HEIGHT, WIDTH):
                raise GVC1DError(f"{clip} is {y.shape[2]}x{y.shape[1]}")
            self.planes, self.source = (y, u, v), f"{clip} ({len(y)} frames, looped back and forth)"
        except (GVC1DError, OSError) as e:
            self.planes, self.source = self._synthetic(64), f"synthetic moving gradient (clip unavailable: {e})"
        self.n = len(self.planes[0])

    @staticmethod
    def _synthetic(n: int):
        yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH]
        cy, cx = np.mgrid[0:HEIGHT // 2, 0:WIDTH // 2]
        y = np.stack([16 + (xx * 3 + yy * 2 + t * 6) % 220 for t in range(n)]).astype(np.uint8)
        u = np.stack([128 + (cx * 2 - t * 3) % 60 - 30 for t in range(n)]).astype(np.uint8)
        v = np.stack([128 + (cy * 2 + t * 2) % 60 - 30 for t in range(n)]).astype(np.uint8)
        return y, u, v

    def index(self, i: int) -> int:
        period = 2 * self.n - 2 if self.n > 1 else 1
        k = i % period
        return k if k < self.n else period - k

    def frame(self, i: int):
        from gvc1d_codec.frame import VideoFrame

        k = self.index(i)
        return VideoFrame("yuv420p", tuple(np.ascontiguousarray(p[k]) for p in self.planes))

    def y4m_header(self) -> bytes:
        return f"YUV4MPEG2 W{WIDTH} H{HEIGHT} F{FPS}:1 Ip A1:1 C420jpeg\n".encode()

    def y4m_frame(self, i: int) -> bytes:
        k = self.index(i)
        return b"FRAME\n" + b"".join(p[k].tobytes() for p in self.planes)


# ----------------------------------------------------------------------------- helpers

def rss_mib(pid: int | str = "self") -> float | None:
    """VmRSS of a process in MiB (None once it has exited)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def _mib(v: float | None) -> str:
    return "gone" if v is None else f"{v:.0f} MiB"


def flat(samples: list[dict], key: str, every: int, tolerance: float) -> dict:
    """RSS growth from the first sample at or after ``every`` frames to the last one."""
    warm = next((s for s in samples if s["frames"] >= every and s.get(key) is not None), None)
    last = next((s for s in reversed(samples) if s.get(key) is not None), None)
    if warm is None or last is None:
        return {"growth_mib": None, "flat": None}
    growth = last[key] - warm[key]
    return {"warm_mib": round(warm[key], 1), "end_mib": round(last[key], 1), "growth_mib": round(growth, 1),
            "flat": growth <= tolerance}


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------- phases

def phase_api(a, mat: Material, tmp: Path) -> dict:
    from gvc1d_codec import Decoder, Encoder
    from gvc1d_codec.bitstream import PacketReader, read_header
    from gvc1d_codec.metrics.psnr import psnr_uint8
    from gvc1d_codec.weights import load_weights

    loaded = load_weights(a.weights)
    gvc = tmp / "load.gvc"
    enc = Encoder(WIDTH, HEIGHT, Fraction(FPS), quality=a.quality, intra_period=-1, weights=loaded)
    samples = [{"frames": 0, "rss_mib": rss_mib()}]
    t0 = time.perf_counter()
    with open(gvc, "wb") as out:
        out.write(enc.header_bytes())
        for i in range(a.frames):
            out.write(enc.encode(mat.frame(i)))
            if (i + 1) % a.every == 0 or i + 1 == a.frames:
                out.flush()
                samples.append({"frames": i + 1, "rss_mib": rss_mib(), "seconds": round(time.perf_counter() - t0, 1),
                                "bytes": out.tell()})
                log(f"api encode: {i + 1} frames, {samples[-1]['seconds']} s, RSS {samples[-1]['rss_mib']:.0f} MiB")
    enc_s = time.perf_counter() - t0
    size = gvc.stat().st_size
    del enc

    dsamples = [{"frames": 0, "rss_mib": rss_mib()}]
    t0 = time.perf_counter()
    n = 0
    with open(gvc, "rb") as f:
        header = read_header(f)
        dec = Decoder(header, weights=loaded)
        for packet in PacketReader(f, header):
            frame = dec.decode(packet)
            n += 1
            if n % a.every == 0 or n == a.frames:
                src = mat.frame(n - 1)
                dsamples.append({"frames": n, "rss_mib": rss_mib(), "seconds": round(time.perf_counter() - t0, 1),
                                 "psnr_y": round(psnr_uint8(frame.planes[0], src.planes[0]), 2)})
                log(f"api decode: {n} frames, {dsamples[-1]['seconds']} s, RSS {dsamples[-1]['rss_mib']:.0f} MiB, "
                    f"PSNR-Y {dsamples[-1]['psnr_y']} dB")
    dec_s = time.perf_counter() - t0
    gvc.unlink()
    return {
        "frames": a.frames, "decoded": n, "bytes": size, "bpp": round(8 * size / (a.frames * WIDTH * HEIGHT), 4),
        "encode": {"seconds": round(enc_s, 1), "fps": round(a.frames / enc_s, 2), "samples": samples,
                   **flat(samples, "rss_mib", a.every, a.flat_mib)},
        "decode": {"seconds": round(dec_s, 1), "fps": round(n / dec_s, 2), "samples": dsamples,
                   **flat(dsamples, "rss_mib", a.every, a.flat_mib)},
    }


def phase_cli(a, mat: Material) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    common = ["--threads", str(a.threads)] + (["--weights", a.weights] if a.weights else [])
    t0 = time.perf_counter()
    enc = subprocess.Popen(CLI + ["encode", "-q", str(a.quality)] + common, stdin=subprocess.PIPE,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    dec = subprocess.Popen(CLI + ["decode"] + common, stdin=enc.stdout, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, env=env)
    enc.stdout.close()  # the decoder owns the pipe now
    frame_size = WIDTH * HEIGHT * 3 // 2
    state = {"out": 0, "in": 0, "psnr": [], "first_out": None, "last_out": None}
    errors: list[str] = []

    def feed():
        try:
            enc.stdin.write(mat.y4m_header())
            for i in range(a.frames):
                enc.stdin.write(mat.y4m_frame(i))
                state["in"] = i + 1
            enc.stdin.close()
        except BrokenPipeError:
            errors.append("encoder closed its input early")

    def drain():
        from gvc1d_codec.metrics.psnr import psnr_uint8

        out = dec.stdout
        header = out.readline()
        if not header.startswith(b"YUV4MPEG2"):
            errors.append(f"decoder output is not Y4M: {header[:40]!r}")
            return
        while True:
            line = out.readline()
            if not line:
                return
            data = out.read(frame_size)
            if len(data) < frame_size:
                errors.append("decoder output ends inside a frame")
                return
            n = state["out"]
            if (n + 1) % a.every == 0:
                y = np.frombuffer(data[:WIDTH * HEIGHT], np.uint8).reshape(HEIGHT, WIDTH)
                state["psnr"].append((n + 1, round(psnr_uint8(y, mat.frame(n).planes[0]), 2)))
            state["out"] = n + 1
            state["last_out"] = time.perf_counter()
            if state["first_out"] is None:
                state["first_out"] = state["last_out"]

    threads = [threading.Thread(target=feed, daemon=True), threading.Thread(target=drain, daemon=True)]
    for t in threads:
        t.start()
    samples = []
    next_sample = 0.0
    while dec.poll() is None or threads[1].is_alive():
        now = time.perf_counter() - t0
        if now >= next_sample:
            samples.append({"seconds": round(now, 1), "frames": state["out"], "frames_in": state["in"],
                            "encoder_rss_mib": rss_mib(enc.pid), "decoder_rss_mib": rss_mib(dec.pid)})
            s = samples[-1]
            log(f"cli: {s['seconds']} s, {s['frames_in']} frames in, {s['frames']} out, RSS encoder "
                f"{_mib(s['encoder_rss_mib'])}, decoder {_mib(s['decoder_rss_mib'])}")
            next_sample += a.interval
        time.sleep(0.2)
    wall = time.perf_counter() - t0
    for t in threads:
        t.join(timeout=10)
    enc_rc, dec_rc = enc.wait(), dec.wait()
    enc_err, dec_err = enc.stderr.read().decode(errors="replace"), dec.stderr.read().decode(errors="replace")
    if enc_rc or dec_rc:
        errors.append(f"exit {enc_rc}/{dec_rc}: {enc_err.strip()[-300:]} {dec_err.strip()[-300:]}")
    live = [s for s in samples if s["encoder_rss_mib"] is not None and s["decoder_rss_mib"] is not None]
    steady = None  # frames 2..N over the time between the first and the last frame out: no start-up
    if state["out"] > 1:
        steady = round((state["out"] - 1) / (state["last_out"] - state["first_out"]), 2)
    return {
        "frames": a.frames, "decoded": state["out"], "seconds": round(wall, 1), "fps": round(state["out"] / wall, 2),
        "steady_fps": steady,
        "errors": errors, "psnr_y": state["psnr"], "samples": samples,
        "encoder": flat(live, "encoder_rss_mib", a.every, a.flat_mib),
        "decoder": flat(live, "decoder_rss_mib", a.every, a.flat_mib),
    }


def phase_concurrency(a, mat: Material) -> dict:
    from gvc1d_codec import Encoder
    from gvc1d_codec.weights import load_weights

    n = a.concurrency_frames
    y4m = mat.y4m_header() + b"".join(mat.y4m_frame(i) for i in range(n))
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")

    def cmd(q, ip):
        return CLI + ["encode", "-q", str(q), "--intra-period", str(ip), "--threads", str(a.threads)] + \
            (["--weights", a.weights] if a.weights else [])

    t0 = time.perf_counter()
    serial = []
    for q, ip in CONCURRENCY_CONFIGS:
        p = subprocess.run(cmd(q, ip), input=y4m, capture_output=True, env=env, check=False)
        if p.returncode:
            sys.exit(f"load.py: encode failed: {p.stderr.decode(errors='replace').strip()}")
        serial.append(p.stdout)
    serial_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    procs = [subprocess.Popen(cmd(q, ip), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              env=env) for q, ip in CONCURRENCY_CONFIGS]
    concurrent = [p.communicate(y4m)[0] for p in procs]
    concurrent_s = time.perf_counter() - t0

    loaded = load_weights(a.weights)
    frames = [mat.frame(i) for i in range(n)]

    def encode(i: int) -> bytes:
        q, ip = CONCURRENCY_CONFIGS[i]
        enc = Encoder(WIDTH, HEIGHT, Fraction(FPS), quality=q, intra_period=ip, weights=loaded)
        return enc.header_bytes() + b"".join(enc.encode(f) for f in frames)

    t0 = time.perf_counter()
    api_serial = [encode(i) for i in range(4)]
    api_serial_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    with ThreadPoolExecutor(4) as pool:
        api_threads = list(pool.map(encode, range(4)))
    api_threads_s = time.perf_counter() - t0
    return {
        "frames": n, "configs": CONCURRENCY_CONFIGS,
        "processes_identical": concurrent == serial, "threads_identical": api_threads == api_serial,
        "cli_equals_api": serial == api_serial,
        "seconds": {"processes_serial": round(serial_s, 1), "processes_concurrent": round(concurrent_s, 1),
                    "threads_serial": round(api_serial_s, 1), "threads_concurrent": round(api_threads_s, 1)},
    }


# ----------------------------------------------------------------------------- main

def render(r: dict) -> str:
    lines = [(f"load.py: {r['material']}, {WIDTH}x{HEIGHT}, quality {r['quality']}, intra period -1, "
              f"{r['threads']} torch thread(s), weights {r['weights']}")]
    if "api" in r:
        x = r["api"]
        for k in ("encode", "decode"):
            s = x[k]
            lines.append(f"api {k}: {x['frames'] if k == 'encode' else x['decoded']} frames in {s['seconds']} s = "
                         f"{s['fps']} fps; RSS start {s['samples'][0]['rss_mib']:.0f} MiB, after {r['every']} frames "
                         f"{s['warm_mib']} MiB, end {s['end_mib']} MiB (growth {s['growth_mib']} MiB: "
                         f"{'flat' if s['flat'] else 'NOT flat'})")
        lines.append(f"api: {x['bytes']} bytes, {x['bpp']} bpp; PSNR-Y of sampled frames "
                     + ", ".join(f"{s['frames']}: {s['psnr_y']}" for s in x["decode"]["samples"][1:]))
    if "cli" in r:
        x = r["cli"]
        lines.append(f"cli encode|decode: {x['decoded']} of {x['frames']} frames in {x['seconds']} s = {x['fps']} fps "
                     f"with start-up, {x['steady_fps']} fps from the first frame out to the last")
        for k in ("encoder", "decoder"):
            s = x[k]
            lines.append(f"cli {k}: RSS after {r['every']} frames {s.get('warm_mib')} MiB, end {s.get('end_mib')} MiB "
                         f"(growth {s['growth_mib']} MiB: {'flat' if s['flat'] else 'NOT flat'})")
        if x["errors"]:
            lines.append("cli errors: " + "; ".join(x["errors"]))
    if "concurrency" in r:
        x = r["concurrency"]
        lines.append(f"concurrency ({x['frames']} frames, 4 configs): 4 processes at once identical to serial: "
                     f"{x['processes_identical']}; 4 threads identical to serial: {x['threads_identical']}; "
                     f"CLI output equals API output: {x['cli_equals_api']}; seconds {x['seconds']}")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--frames", type=int, default=10000)
    p.add_argument("--every", type=int, default=500, help="RSS sample period in frames (api) (default 500)")
    p.add_argument("--interval", type=float, default=15.0, help="RSS sample period in seconds (cli) (default 15)")
    p.add_argument("--threads", type=int, default=1, help="torch threads, here and in the CLI (default 1)")
    p.add_argument("--quality", type=int, default=2)
    p.add_argument("--weights", help="weights file or registry name (default: the shipped gvc1d-tiny)")
    p.add_argument("--phases", default="api,cli,concurrency")
    p.add_argument("--concurrency-frames", type=int, default=8)
    p.add_argument("--flat-mib", type=float, default=16.0, help="allowed RSS growth after warm-up (default 16 MiB)")
    p.add_argument("--json", help="write the full report (all samples) here")
    a = p.parse_args(argv)
    import torch

    torch.set_num_threads(a.threads)
    from gvc1d_codec.weights import resolve

    phases = [x for x in a.phases.split(",") if x]
    mat = Material()
    report = {"material": mat.source, "quality": a.quality, "threads": a.threads, "every": a.every,
              "weights": str(resolve(a.weights)[0].name), "machine": f"{platform.machine()}, {os.cpu_count()} cpus, "
              f"torch {torch.__version__}", "command": " ".join(sys.argv)}
    with tempfile.TemporaryDirectory(prefix="gvc1d-load-") as tmp:
        if "api" in phases:
            report["api"] = phase_api(a, mat, Path(tmp))
        if "cli" in phases:
            report["cli"] = phase_cli(a, mat)
        if "concurrency" in phases:
            report["concurrency"] = phase_concurrency(a, mat)
    print(render(report))
    if a.json:
        Path(a.json).write_text(json.dumps(report, indent=1) + "\n")
    ok = all(report[k][s]["flat"] is not False for k, s in (("api", "encode"), ("api", "decode"), ("cli", "encoder"),
                                                             ("cli", "decoder")) if k in report)
    ok &= "cli" not in report or (not report["cli"]["errors"] and report["cli"]["decoded"] == a.frames)
    ok &= "concurrency" not in report or (report["concurrency"]["processes_identical"]
                                          and report["concurrency"]["threads_identical"])
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
