"""What the C API (libgvc1d) adds to the per-frame codec time, next to the Python API, same run.

    python benchmarks/bridge.py [--weights W] [--frames 8] [--rounds 3] [--threads N] [--json out.json]

Material: 416x240 yuv420p, from the cached ``bikes`` clip (640x272, centre-cropped to 16:9 and
scaled down with ffmpeg) when it is available, else a synthetic moving gradient. Prepared once,
not timed.

Each round times the same frames both ways, alternating which goes first:

* Python API, in this process: ``Encoder.encode(frame)`` per frame, then ``Decoder.decode(packet)``
  per packet (packets parsed beforehand, so parsing is not counted on this side);
* C API, ``ffbridge/build/gvc1d-bench`` in a subprocess: ``gvc1d_encoder_encode()`` per frame
  (including the copy of the caller's planes), ``gvc1d_decoder_decode()`` per packet (including
  packet parsing, the CRC check and the copy of the picture), timed in C with CLOCK_MONOTONIC.

Both sides must produce the same stream, byte for byte (checked). The first frame of every run is
warm-up and left out; the overhead is the ratio of the medians of the remaining per-frame times.
Target: the C API adds at most 5%. Nothing is asserted. On a busy machine the numbers are noisy;
``--rounds`` and the per-round medians show how much.

Without --weights (and without $GVC1D_WEIGHTS / the shipped model) an untrained model of the
shipped ``tiny`` configuration is used: speed does not depend on training.
"""
from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

W, H = 416, 240
TARGET_OVERHEAD_PCT = 5.0
BENCH = REPO / "ffbridge" / "build" / "gvc1d-bench"


def frame_bytes(w: int, h: int) -> int:
    return w * h + 2 * ((w + 1) // 2) * ((h + 1) // 2)


def material(n: int, tmp: Path) -> tuple[Path, str]:
    """Raw yuv420p 416x240 frames on disk; returns (path, description)."""
    raw = tmp / "frames.yuv"
    ffmpeg = shutil.which("ffmpeg")
    try:
        from gvc1d_codec.data.clips import default_cache_dir

        src = default_cache_dir() / "bikes.y4m"  # only if already cached: nothing is downloaded here
        if ffmpeg and src.is_file():
            cw = (272 * W // H) // 2 * 2
            subprocess.run([ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-i", str(src),
                            "-frames:v", str(n), "-vf", f"crop={cw}:272,scale={W}:{H}:flags=lanczos",
                            "-pix_fmt", "yuv420p", "-f", "rawvideo", str(raw)], check=True)
            if raw.stat().st_size == n * frame_bytes(W, H):
                return raw, f"bikes 640x272, crop {cw}x272, scaled to {W}x{H}"
    except (OSError, subprocess.CalledProcessError, ImportError):
        pass
    sys.path.insert(0, str(REPO / "tests"))
    from conftest import moving_gradient

    with open(raw, "wb") as f:
        for fr in moving_gradient(W, H, n):
            for p in fr.planes:
                f.write(p.tobytes())
    return raw, f"synthetic moving gradient {W}x{H}"


def resolve_weights(spec: str | None, tmp: Path) -> tuple[str, str]:
    from gvc1d_codec.weights import resolve

    path, _ = resolve(spec)
    if path.is_file():
        return str(path), str(path)
    if spec is not None:
        sys.exit(f"bridge.py: weights file not found: {path}")
    from gvc1d_codec.config import PRESETS
    from gvc1d_codec.model.gvc1d import GVC1D
    from gvc1d_codec.weights import save_weights
    import torch

    torch.manual_seed(0)
    out = tmp / "tiny-untrained.safetensors"
    save_weights(GVC1D(PRESETS["gvc1d-tiny-v1"]), out)
    return str(out), f"untrained 'tiny' model ({path} not found)"


def run_python(raw: Path, n: int, weights: str, quality: int | None) -> dict:
    from gvc1d_codec.bitstream import PacketReader, read_header
    from gvc1d_codec.codec import Decoder, Encoder
    from gvc1d_codec.io.y4m import RawReader

    with open(raw, "rb") as f:
        frames = list(RawReader(f, W, H, "yuv420p"))[:n]
    enc = Encoder(W, H, 25, quality=quality, weights=weights)
    data = [enc.header_bytes()]
    enc_ms = []
    for fr in frames:
        t = time.perf_counter()
        pkt = enc.encode(fr)
        enc_ms.append((time.perf_counter() - t) * 1e3)
        data.append(pkt)
    stream = b"".join(data)
    bio = io.BytesIO(stream)
    header = read_header(bio)
    packets = list(PacketReader(bio, header))
    dec = Decoder(data[0], weights=weights)
    dec_ms = []
    for pkt in packets:
        t = time.perf_counter()
        dec.decode(pkt)
        dec_ms.append((time.perf_counter() - t) * 1e3)
    return dict(encode_ms=enc_ms, decode_ms=dec_ms, stream=stream)


def run_c(raw: Path, n: int, weights: str, quality: int | None, tmp: Path, threads: int | None) -> dict:
    out = tmp / "c.gvc"
    cmd = [str(BENCH), "-s", f"{W}x{H}", "-n", str(n), "-w", weights, "-o", str(out)]
    if quality is not None:
        cmd += ["-q", str(quality)]
    env = dict(os.environ)
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    with open(raw, "rb") as f:
        p = subprocess.run(cmd, stdin=f, capture_output=True, env=env)
    if p.returncode != 0:
        sys.exit(f"bridge.py: gvc1d-bench failed: {p.stderr.decode(errors='replace').strip()}")
    res = json.loads(p.stdout)
    res["stream"] = out.read_bytes()
    return res


def med(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", help="weights file or registry name (default: $GVC1D_WEIGHTS / shipped / untrained tiny)")
    ap.add_argument("--frames", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--quality", type=int)
    ap.add_argument("--threads", type=int, help="torch threads on both sides (default: torch's choice)")
    ap.add_argument("--no-build", action="store_true", help="do not run make -C ffbridge first")
    ap.add_argument("--json", help="write the results here")
    a = ap.parse_args()

    if not a.no_build:
        subprocess.run(["make", "-s", "-C", str(REPO / "ffbridge"), f"PYTHON={sys.executable}"], check=True)
    import torch

    if a.threads:
        torch.set_num_threads(a.threads)
    with tempfile.TemporaryDirectory(prefix="gvc1d-bridge-") as td:
        tmp = Path(td)
        weights, wdesc = resolve_weights(a.weights, tmp)
        raw, mdesc = material(a.frames, tmp)
        rounds = []
        for r in range(a.rounds):
            order = ("python", "c") if r % 2 == 0 else ("c", "python")
            res = {}
            for side in order:
                res[side] = run_python(raw, a.frames, weights, a.quality) if side == "python" else \
                    run_c(raw, a.frames, weights, a.quality, tmp, a.threads)
            if res["python"]["stream"] != res["c"]["stream"]:
                sys.exit("bridge.py: the C API and the Python API produced different streams")
            rounds.append({side: {k: res[side][k] for k in ("encode_ms", "decode_ms")} for side in res})
            print(f"round {r + 1}/{a.rounds} ({' then '.join(order)}): " + ", ".join(
                f"{side} enc {med(rounds[-1][side]['encode_ms'][1:]):.1f} ms dec {med(rounds[-1][side]['decode_ms'][1:]):.1f} ms"
                for side in ("python", "c")), flush=True)

    summary = {}
    for phase in ("encode_ms", "decode_ms"):
        py = [t for rd in rounds for t in rd["python"][phase][1:]]
        c = [t for rd in rounds for t in rd["c"][phase][1:]]
        per_round = [(med(rd["c"][phase][1:]) / med(rd["python"][phase][1:]) - 1) * 100 for rd in rounds]
        summary[phase] = dict(python_median=med(py), c_median=med(c), overhead_pct=(med(c) / med(py) - 1) * 100,
                              overhead_pct_per_round=per_round)
    print(f"\n{W}x{H}, {a.frames} frames x {a.rounds} rounds (first frame of each run left out), "
          f"torch threads {torch.get_num_threads()}; material: {mdesc}; weights: {wdesc}")
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs (noisy if busy)")
    print(f"{'':8}{'Python API':>14}{'C API':>12}{'overhead':>10}   per round")
    for phase, s in summary.items():
        rounds_txt = " ".join(f"{v:+.1f}%" for v in s["overhead_pct_per_round"])
        print(f"{phase[:6]:8}{s['python_median']:11.1f} ms{s['c_median']:9.1f} ms{s['overhead_pct']:+9.1f}%   {rounds_txt}")
    print(f"target: the C API adds at most {TARGET_OVERHEAD_PCT:.0f}%")
    if a.json:
        Path(a.json).write_text(json.dumps(dict(width=W, height=H, frames=a.frames, rounds=rounds, summary=summary,
                                                material=mdesc, weights=wdesc, threads=torch.get_num_threads(),
                                                loadavg=os.getloadavg()), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
