"""gvc1d-batch throughput with 1 and 2 local workers, and its overhead against gvc1d-pipe on one item.

    python benchmarks/batch.py [--weights W] [--size 176x144] [--frames 48] [--intra-period 8] [--json out.json]

Material: one synthetic Y4M clip (moving diagonal gradients; speed does not depend on content),
written once, not timed. Every command runs as a user runs it, in a subprocess, and is timed
from start to exit (so Ray's start and shutdown are in the batch figures):

* ``gvc1d-pipe encode --threads 1`` : the plain CLI, serially;
* ``gvc1d-batch encode --workers 1 --threads 1 --chunk-frames 0`` : one item, one task (the
  overhead against the line above is Ray's start, the task's dispatch and the report);
* ``gvc1d-batch encode --workers 1|2 --threads 1 --chunk-frames INTRA_PERIOD`` : the clip in
  chunks of one intra period, on 1 and on 2 workers (the speed-up of chunking).

All outputs must be byte-identical to the plain CLI's (checked). Nothing is asserted about speed:
on a machine where something else is busy (here: a training job on one of the 2 cores) two
workers cannot be twice as fast. "wall" counts the whole command; "item" is the report's seconds for
the item (from its first task's submission to its output written: no Ray start-up or shutdown;
for gvc1d-pipe the same as wall).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


def _clip(path: Path, width: int, height: int, frames: int) -> None:
    import numpy as np

    from gvc1d_codec.frame import VideoFrame
    from gvc1d_codec.io import Y4MWriter
    from fractions import Fraction

    cw, ch = (width + 1) // 2, (height + 1) // 2
    yy, xx = np.mgrid[0:height, 0:width]
    cy, cx = np.mgrid[0:ch, 0:cw]
    with open(path, "wb") as f:
        w = Y4MWriter(f, width, height, Fraction(25))
        for t in range(frames):
            planes = (16 + ((xx * 3 + yy * 2 + t * 6) % 220), 128 + ((cx * 2 - t * 3) % 60) - 30,
                      128 + ((cy * 2 + t * 2) % 60) - 30)
            w.write_frame(VideoFrame("yuv420p", tuple(p.astype(np.uint8) for p in planes)))


def _timed(cmd: list[str], env: dict) -> float:
    t0 = time.monotonic()
    p = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"batch benchmark: {' '.join(cmd)} failed: {p.stderr.strip()}")
    return time.monotonic() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", help="weights (default: $GVC1D_WEIGHTS, else the shipped gvc1d-tiny)")
    ap.add_argument("--size", default="176x144")
    ap.add_argument("--frames", type=int, default=48)
    ap.add_argument("--intra-period", type=int, default=8)
    ap.add_argument("--json", help="also write the figures here")
    a = ap.parse_args()
    w, h = (int(v) for v in a.size.split("x"))
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    if a.weights:
        env["GVC1D_WEIGHTS"] = a.weights
    ip = str(a.intra_period)
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        src = d / "clip.y4m"
        _clip(src, w, h, a.frames)
        runs = [
            ("gvc1d-pipe encode (serial)", [sys.executable, "-m", "gvc1d_codec.cli", "encode", "-i", str(src), "-o",
                                            str(d / "pipe.gvc"), "--intra-period", ip, "--threads", "1"], d / "pipe.gvc"),
        ]
        for name, workers, chunk in (("gvc1d-batch, 1 worker, one task", 1, "0"),
                                     (f"gvc1d-batch, 1 worker, chunks of {ip}", 1, ip),
                                     (f"gvc1d-batch, 2 workers, chunks of {ip}", 2, ip)):
            out = d / f"w{workers}c{chunk}"
            runs.append((name, [sys.executable, "-m", "gvc1d_codec.batch", "encode", str(src), "-o", str(out),
                                "--workers", str(workers), "--threads", "1", "--chunk-frames", chunk,
                                "--intra-period", ip], out / "clip.gvc"))
        rows = []
        for name, cmd, output in runs:
            seconds = _timed(cmd, env)
            same = output.read_bytes() == (d / "pipe.gvc").read_bytes()
            report = output.parent / "gvc1d-batch.jsonl"
            item_s = json.loads(report.read_text().splitlines()[-1])["seconds"] if report.is_file() else seconds
            rows.append(dict(run=name, seconds=round(seconds, 2), fps=round(a.frames / seconds, 2),
                             item_seconds=item_s, item_fps=round(a.frames / item_s, 2), identical=same))
    base = rows[0]["seconds"]
    print(f"{a.frames} frames {w}x{h}, intra period {a.intra_period}, 1 thread per task, {os.cpu_count()} cores")
    print("| run | wall s | frames/s (wall) | vs gvc1d-pipe | item s (report) | frames/s (item) | output identical |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['run']} | {r['seconds']:.1f} | {r['fps']:.2f} | {r['seconds'] / base:.2f}x time | "
              f"{r['item_seconds']:.1f} | {r['item_fps']:.2f} | {'yes' if r['identical'] else 'NO'} |")
    if a.json:
        Path(a.json).write_text(json.dumps(dict(frames=a.frames, size=a.size, intra_period=a.intra_period, rows=rows),
                                           indent=1) + "\n")


if __name__ == "__main__":
    main()
