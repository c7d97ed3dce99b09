"""Speed, memory and entropy-coding overhead of gvc1d, next to x265 ``-preset medium``.

    python benchmarks/speed.py [--weights W] [--frames N] [--threads N] [--json out.json]

Test material (prepared once, not timed): real footage converted with ffmpeg to raw 8-bit
yuv420p on tmpfs, then read into memory as frames:

* 416x240  from ``bikes`` (640x272; centre-cropped to 16:9, then scaled down) or ``--small-clip``;
* 1920x1080 from ``zhling720p`` (1280x720, *scaled up*: the clip has no 1080p source).

gvc1d is driven through the public frame-level API only (``Encoder`` / ``Decoder``). Each
(size, encode|decode) measurement runs in a fresh subprocess of this script (``--_child``), so the
peak RSS it reports (``ru_maxrss`` at the end of that process) belongs to that phase alone; it
includes the Python interpreter, torch and the model. Timed: only the ``enc.encode(frame)`` and
``dec.decode(packet)`` calls; weights loading and container parsing are reported separately.

x265 runs in the same invocation on the same frames: ``ffmpeg -f rawvideo -i pipe:0 -c:v libx265
-preset medium -crf 35 -f hevc`` with stdin from the raw file on tmpfs (encode time = wall time of
that ffmpeg process), and ``ffmpeg -i x.hevc -f null -`` (decode time = wall time of that
process). Process wall time includes ffmpeg start-up, which dominates for short, small inputs; the
ffmpeg-internal ``-benchmark`` real time is reported as well.

At 416x240 the same frames are also coded at the lowest and at the highest quality (the
enhancement layer's finest step) and decoded, for P12's ratio of their decode times.

Targets are printed next to the numbers; nothing is asserted.
"""
from __future__ import annotations

import argparse
import io
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

X265_PRESET = "medium"
X265_CRF = 35
FPS = 25

# name, width, height, default frames, target decode fps
SIZES = {
    "416x240": dict(width=416, height=240, frames=16, target_dec_fps=10.0),
    "1920x1080": dict(width=1920, height=1080, frames=4, target_dec_fps=1.0),
}
TARGET_RSS_MIB_1080P = 2048.0
TARGET_ENTROPY_OVERHEAD_PCT = 1.0
TARGET_LEVEL_RATIO = 1.5  # P12: decode time at the highest quality over the lowest, same frames


# ----------------------------------------------------------------------------- helpers


def _ffmpeg() -> str:
    exe = shutil.which("ffmpeg")
    if exe is None:
        sys.exit("speed.py: ffmpeg not found on PATH")
    return exe


def _frame_bytes(w: int, h: int) -> int:
    return w * h + 2 * ((w + 1) // 2) * ((h + 1) // 2)


def _read_raw_frames(path: Path, w: int, h: int):
    """All frames of a raw yuv420p file as VideoFrames (in memory)."""
    from gvc1d_codec.io.y4m import RawReader

    with open(path, "rb") as f:
        return list(RawReader(f, w, h, "yuv420p"))


def _mean_psnr_raw(src: Path, rec: Path, w: int, h: int, n: int) -> float:
    from gvc1d_codec.metrics.psnr import psnr_uint8

    fb, ys = _frame_bytes(w, h), w * h
    a, b = np.fromfile(src, np.uint8), np.fromfile(rec, np.uint8)
    if b.size != n * fb:
        return float("nan")
    return float(np.mean([psnr_uint8(a[i * fb:i * fb + ys], b[i * fb:i * fb + ys]) for i in range(n)]))


def _peak_rss_mib() -> float:
    # Linux reports ru_maxrss in KiB
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _run_timed(cmd: list[str], stdin_path: Path | None = None) -> tuple[float, str]:
    """Run a process; return (wall seconds, stderr). (No RSS: on Linux a child's ru_maxrss starts from
    this process's RSS at fork time, so it would measure this script, not ffmpeg.)"""
    stdin = open(stdin_path, "rb") if stdin_path is not None else subprocess.DEVNULL
    try:
        t0 = time.perf_counter()
        p = subprocess.run(cmd, stdin=stdin, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        wall = time.perf_counter() - t0
    finally:
        if stdin_path is not None:
            stdin.close()
    text = p.stderr.decode("utf-8", "replace")
    if p.returncode != 0:
        sys.exit(f"speed.py: command failed ({p.returncode}): {' '.join(cmd)}\n{text[-2000:]}")
    return wall, text


def _bench_rtime(stderr: str) -> float | None:
    """The ``rtime=`` of ffmpeg ``-benchmark`` output (seconds), if present."""
    for line in stderr.splitlines():
        if line.startswith("bench:") and "rtime=" in line:
            try:
                return float(line.split("rtime=")[1].split("s")[0])
            except (IndexError, ValueError):
                return None
    return None


# ----------------------------------------------------------------------------- child processes


def child_encode(a) -> dict:
    from gvc1d_codec.codec import Encoder

    w, h = a._w, a._h
    frames = _read_raw_frames(Path(a._raw), w, h)
    t0 = time.perf_counter()
    enc = Encoder(w, h, fps=FPS, quality=a.quality, weights=a.weights, threads=a.threads)
    setup = time.perf_counter() - t0
    import torch

    header = enc.header_bytes()
    packets, times, ideal, payload = [], [], [], []
    for frame in frames:
        t = time.perf_counter()
        pkt = enc.encode(frame)
        times.append(time.perf_counter() - t)
        packets.append(pkt)
        ideal.append(float(enc.last.ideal_bits))
        payload.append(int(enc.last.payload_bytes))
    rss = _peak_rss_mib()
    with open(a._gvc, "wb") as f:
        f.write(header)
        for p in packets:
            f.write(p)
    profile = _profile(lambda: Encoder(w, h, fps=FPS, quality=a.quality, weights=a.weights, threads=a.threads),
                       lambda coder, frame: coder.encode(frame), frames)
    return dict(phase="encode", frames=len(frames), seconds=sum(times), frame_seconds=times, setup_seconds=setup,
                peak_rss_mib=rss, header_bytes=len(header), packet_bytes=[len(p) for p in packets],
                payload_bytes=payload, ideal_bits=ideal, quality=enc.quality,
                torch_version=torch.__version__, torch_threads=torch.get_num_threads(), profile=profile)


def _profile(make, call, items) -> dict:
    """The stage profile (benchmarks/stages.py) of ``call(coder, item)`` over ``items`` with a fresh
    coder from ``make()``, the transforms' FLOPs over the same items (another fresh coder) and the
    machine's float32 matrix-product GFLOP/s."""
    from stages import peak_gflops, profile_stages, transform_flops

    coder = make()
    total, stages = profile_stages(lambda item: call(coder, item), items)
    coder = make()
    flops = sum(transform_flops(coder._s.model, lambda item=item: call(coder, item)) for item in items)
    return dict(seconds=total, stages=stages, transform_flops=flops, peak_gflops=peak_gflops())


def child_decode(a) -> dict:
    from gvc1d_codec.bitstream import PacketReader, read_header
    from gvc1d_codec.codec import Decoder
    from gvc1d_codec.metrics.psnr import psnr_uint8

    data = Path(a._gvc).read_bytes()
    t0 = time.perf_counter()
    stream = io.BytesIO(data)
    header = read_header(stream)
    header_bytes = data[: stream.tell()]
    packets = list(PacketReader(stream, header))
    parse = time.perf_counter() - t0
    t0 = time.perf_counter()
    dec = Decoder(header_bytes, weights=a.weights, threads=a.threads)
    setup = time.perf_counter() - t0
    import torch

    out, times = [], []
    for pkt in packets:
        t = time.perf_counter()
        frame = dec.decode(pkt)
        times.append(time.perf_counter() - t)
        out.append(frame.planes[0])
    rss = _peak_rss_mib()  # before the source frames are loaded for PSNR
    profile = _profile(lambda: Decoder(header_bytes, weights=a.weights, threads=a.threads),
                       lambda coder, packet: coder.decode(packet), packets)
    src = _read_raw_frames(Path(a._raw), header.width, header.height)
    psnr = float(np.mean([psnr_uint8(s.planes[0], y) for s, y in zip(src, out)])) if out else float("nan")
    return dict(phase="decode", frames=len(packets), seconds=sum(times), frame_seconds=times, setup_seconds=setup,
                parse_seconds=parse, peak_rss_mib=rss, psnr_y=psnr,
                torch_version=torch.__version__, torch_threads=torch.get_num_threads(), profile=profile)


def run_child(phase: str, size: dict | None, raw: Path | None, gvc: Path | None, args) -> dict:
    """Run one phase in a fresh process of this script and return its JSON result.

    The parent never imports torch, so its RSS (inherited into the child's ru_maxrss on Linux) stays
    below any child's own; ``parent_rss_mib`` records it as the floor of the child's number."""
    with tempfile.NamedTemporaryFile(prefix="gvc1d-speed-", suffix=".json", dir=args._tmp, delete=False) as f:
        out = Path(f.name)
    cmd = [sys.executable, str(Path(__file__).resolve()), "--_child", phase, "--_out", str(out),
           "--small-clip", args.small_clip]
    if size is not None:
        cmd += ["--_raw", str(raw), "--_gvc", str(gvc), "--_w", str(size["width"]), "--_h", str(size["height"])]
    if args.weights is not None:
        cmd += ["--weights", str(args.weights)]
    if args.threads:
        cmd += ["--threads", str(args.threads)]
    if args.quality is not None:
        cmd += ["--quality", str(args.quality)]
    floor = _peak_rss_mib()
    proc = subprocess.run(cmd)
    if proc.returncode != 0:
        sys.exit(f"speed.py: {phase} child failed ({proc.returncode})")
    res = json.loads(out.read_text())
    out.unlink()
    if "error" in res:
        sys.exit(f"speed.py: {res['error']}")
    res["parent_rss_mib"] = floor
    return res


# ----------------------------------------------------------------------------- material and x265


def child_prepare(a) -> dict:
    """Resolve the weights and the cached clips (run in a subprocess: gvc1d_codec imports torch)."""
    from gvc1d_codec.data.clips import CLIPS, clip_y4m
    from gvc1d_codec.weights import resolve, sha256_file

    from gvc1d_codec.quality import highest
    from gvc1d_codec.weights import load_weights

    wpath, _ = resolve(a.weights)
    if not wpath.is_file():
        return dict(error=f"weights file not found: {wpath} (pass --weights)")
    levels = load_weights(str(wpath)).config.qualities
    clips = {}
    for name in (a.small_clip, "zhling720p"):
        spec = CLIPS[name]
        clips[name] = dict(y4m=str(clip_y4m(name)), width=spec.width, height=spec.height, frames=spec.frames)
    return dict(weights=dict(path=str(wpath), sha256=sha256_file(wpath)), clips=clips, qualities=[0, highest(levels)])


def prepare(name: str, size: dict, frames: int, clip: str, spec: dict, tmp: Path) -> tuple[Path, dict]:
    """Convert real footage to raw yuv420p at the target size; returns (path, description)."""
    w, h = size["width"], size["height"]
    n = min(frames, spec["frames"])
    src = spec["y4m"]
    sw, sh = spec["width"], spec["height"]
    # centre-crop to the target aspect ratio, then scale
    if sw * h > sh * w:
        cw, ch = (sh * w // h) // 2 * 2, sh
    else:
        cw, ch = sw, (sw * h // w) // 2 * 2
    vf = []
    if (cw, ch) != (sw, sh):
        vf.append(f"crop={cw}:{ch}")
    vf.append(f"scale={w}:{h}:flags=lanczos")
    how = "scaled up" if w * h > sw * sh else "scaled down" if w * h < sw * sh else "same size"
    raw = tmp / f"src_{name}.yuv"
    cmd = [_ffmpeg(), "-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-i", str(src), "-frames:v", str(n),
           "-vf", ",".join(vf), "-pix_fmt", "yuv420p", "-f", "rawvideo", str(raw)]
    subprocess.run(cmd, check=True)
    got = raw.stat().st_size // _frame_bytes(w, h)
    desc = f"{clip} {sw}x{sh}" + (f" crop {cw}x{ch}" if (cw, ch) != (sw, sh) else "") + f", {how} (lanczos)"
    return raw, dict(clip=clip, frames=got, source=desc, requested_frames=frames)


def run_x265(size: dict, raw: Path, n: int, tmp: Path, threads: int | None, crf: int = X265_CRF) -> dict:
    w, h = size["width"], size["height"]
    hevc = tmp / f"x265_{w}x{h}.hevc"
    params = "log-level=error" + (f":pools={threads}" if threads else "")
    # -loglevel info so that -benchmark's "bench: ... rtime=" line is printed (x265 itself stays quiet)
    enc_cmd = [_ffmpeg(), "-hide_banner", "-nostats", "-loglevel", "info", "-benchmark", "-y",
               "-f", "rawvideo", "-pix_fmt", "yuv420p", "-s", f"{w}x{h}", "-r", str(FPS), "-i", "pipe:0",
               "-frames:v", str(n), "-c:v", "libx265", "-preset", X265_PRESET, "-crf", str(crf),
               "-x265-params", params, "-f", "hevc", str(hevc)]
    enc_wall, enc_err = _run_timed(enc_cmd, stdin_path=raw)
    thr = ["-threads", str(threads)] if threads else []
    dec_cmd = [_ffmpeg(), "-nostdin", "-hide_banner", "-nostats", "-loglevel", "info", "-benchmark", *thr,
               "-i", str(hevc),
               "-f", "null", "-"]
    dec_wall, dec_err = _run_timed(dec_cmd)
    # quality (not timed): decode to raw and compare the luma
    rec = tmp / f"x265_{w}x{h}.yuv"
    subprocess.run([_ffmpeg(), "-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-i", str(hevc),
                    "-pix_fmt", "yuv420p", "-f", "rawvideo", str(rec)], check=True)
    psnr = _mean_psnr_raw(raw, rec, w, h, n)
    bits = hevc.stat().st_size * 8
    res = dict(preset=X265_PRESET, crf=crf, frames=n, bytes=hevc.stat().st_size, bpp=bits / (w * h * n),
               psnr_y=psnr, enc_seconds=enc_wall, dec_seconds=dec_wall, enc_fps=n / enc_wall, dec_fps=n / dec_wall,
               enc_bench_rtime=_bench_rtime(enc_err), dec_bench_rtime=_bench_rtime(dec_err),
               enc_cmd=" ".join(enc_cmd) + f" < {raw}", dec_cmd=" ".join(dec_cmd))
    for k in ("enc", "dec"):
        rt = res[f"{k}_bench_rtime"]
        res[f"{k}_bench_fps"] = n / rt if rt else None
    rec.unlink(missing_ok=True)
    return res


# ----------------------------------------------------------------------------- report


def machine_info(child: dict, threads: int | None) -> dict:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ffv = subprocess.run([_ffmpeg(), "-hide_banner", "-version"], capture_output=True, text=True).stdout.split("\n")[0]
    return dict(nproc=os.cpu_count(), affinity=len(os.sched_getaffinity(0)), cpu=cpu or platform.processor(),
                python=platform.python_version(), torch_version=child["torch_version"],
                torch_threads=child["torch_threads"], threads_arg=threads, ffmpeg=ffv,
                loadavg_at_start=list(os.getloadavg()))


def _fmt(v, spec=".2f") -> str:
    if v is None or (isinstance(v, float) and not np.isfinite(v)):
        return "n/a"
    return format(v, spec)


def _mark(ok: bool) -> str:
    return "ok" if ok else "MISS"


def render_stages(report: dict) -> list[str]:
    """The stage profile table (benchmarks/stages.py): ms per frame of each stage in a profiled pass."""
    from stages import STAGES

    rows = [(s["size"], phase, s["frames"], s["gvc1d"].get(f"{phase[:3]}_profile")) for s in report["sizes"]
            for phase in ("encode", "decode")]
    rows = [r for r in rows if r[3]]
    if not rows:
        return []
    L = ["Where the time goes (a second pass under cProfile, ms per frame; stages nest: benchmarks/stages.py; "
         "transforms = analysis + synthesis, their GFLOP/s against a float32 matrix product's on the same threads):", "",
         "| size | phase | profiled total | " + " | ".join(STAGES) + " | transforms GFLOP/s (share of peak) |",
         "|---|---|---|" + "---|" * len(STAGES) + "---|"]
    for size, phase, n, p in rows:
        t = p["stages"].get("analysis", 0.0) + p["stages"].get("synthesis", 0.0)
        rate = p["transform_flops"] / t / 1e9 if t > 0 else float("nan")
        L.append(f"| {size} | {phase} | {1000 * p['seconds'] / n:.0f} | "
                 + " | ".join(f"{1000 * p['stages'].get(k, 0.0) / n:.0f}" for k in STAGES)
                 + f" | {rate:.1f} of {p['peak_gflops']:.0f} ({100 * rate / p['peak_gflops']:.0f} %) |")
    return L


def render(report: dict) -> str:
    m = report["machine"]
    floor = max((s["gvc1d"]["parent_rss_mib_at_spawn"] for s in report["sizes"]), default=None)
    L = ["# gvc1d speed benchmark", ""]
    L.append(f"machine: nproc={m['nproc']} (affinity {m['affinity']}), {m['cpu']}; python {m['python']}, "
             f"torch {m['torch_version']} ({m['torch_threads']} threads), {m['ffmpeg']}")
    L.append(f"load average at start: {', '.join(f'{x:.2f}' for x in m['loadavg_at_start'])}")
    L.append(f"weights: {report['weights']['path']}  sha256 {report['weights']['sha256']}")
    L.append(f"gvc1d quality: {report['quality']}; x265: -preset {X265_PRESET} -crf {report['x265']['crf']}")
    for s in report["sizes"]:
        L.append(f"material {s['size']}: {s['frames']} frames of {s['source']}")
    L.append("")
    L.append("| size | frames | gvc1d enc fps | gvc1d dec fps | peak RSS enc / dec MiB | x265 enc fps | x265 dec fps "
             "| enc ratio gvc1d/x265 | dec ratio gvc1d/x265 | entropy overhead payload / file |")
    L.append("|---|---|---|---|---|---|---|---|---|---|")
    for s in report["sizes"]:
        g, x = s["gvc1d"], s["x265"]
        L.append(f"| {s['size']} | {s['frames']} | {_fmt(g['enc_fps'])} | {_fmt(g['dec_fps'])} "
                 f"| {_fmt(g['enc_peak_rss_mib'], '.0f')} / {_fmt(g['dec_peak_rss_mib'], '.0f')} "
                 f"| {_fmt(x['enc_fps'])} | {_fmt(x['dec_fps'])} | {_fmt(s['enc_ratio'], '.4f')} "
                 f"| {_fmt(s['dec_ratio'], '.4f')} "
                 f"| {_fmt(g['payload_overhead_pct'], '+.3f')}% / {_fmt(g['file_overhead_pct'], '+.3f')}% |")
    L.append("")
    L.append("| size | gvc1d bpp | gvc1d PSNR-Y dB | x265 bpp | x265 PSNR-Y dB | gvc1d load s (enc/dec) "
             "| x265 fps via ffmpeg -benchmark rtime (enc/dec) |")
    L.append("|---|---|---|---|---|---|---|")
    for s in report["sizes"]:
        g, x = s["gvc1d"], s["x265"]
        L.append(f"| {s['size']} | {_fmt(g['bpp'], '.4f')} | {_fmt(g['psnr_y'])} | {_fmt(x['bpp'], '.4f')} "
                 f"| {_fmt(x['psnr_y'])} | {_fmt(g['enc_setup_seconds'])} / {_fmt(g['dec_setup_seconds'])} "
                 f"| {_fmt(x['enc_bench_fps'])} / {_fmt(x['dec_bench_fps'])} |")
    L.append("")
    L += render_stages(report)
    L.append("")
    L.append("Targets (not asserted):")
    for t in report["targets"]:
        L.append(f"- {t['what']}: {t['value']} (target {t['target']}) {t['status']}")
    L.append("")
    L.append("Notes: gvc1d fps time only the Encoder.encode / Decoder.decode calls (weights loading excluded, shown "
             "as 'load s'); x265 fps are the wall time of the whole ffmpeg process (start-up included). Peak RSS is "
             "ru_maxrss of a fresh process per phase (interpreter + torch + model + frames; the launching process, "
             f"whose RSS Linux carries into it, stayed at {_fmt(floor, '.0f')} MiB). Entropy overhead = "
             "payload bits (resp. header + packets) / sum of the model's ideal bits - 1. 1920x1080 is zhling720p "
             "scaled up.")
    return "\n".join(L)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--weights", default=None, help="weights file or registry name (default: the shipped model)")
    ap.add_argument("--frames", type=int, default=None,
                    help="frames per size (default: 16 at 416x240, 4 at 1920x1080)")
    ap.add_argument("--threads", type=int, default=None,
                    help="torch threads for gvc1d (also x265 pools / ffmpeg decode threads); default: library defaults")
    ap.add_argument("--quality", type=int, default=None, help="gvc1d quality (default: the model's middle one)")
    ap.add_argument("--sizes", default=",".join(SIZES), help=f"comma-separated subset of {','.join(SIZES)}")
    ap.add_argument("--small-clip", default="bikes", choices=["bikes", "foreman"], help="source of 416x240")
    ap.add_argument("--x265-crf", type=int, default=X265_CRF, help=f"x265 crf (default {X265_CRF})")
    ap.add_argument("--json", default=None, help="also write the results as JSON here")
    ap.add_argument("--_child", choices=["prepare", "encode", "decode"], help=argparse.SUPPRESS)
    for k in ("_raw", "_gvc", "_out"):
        ap.add_argument(f"--{k}", help=argparse.SUPPRESS)
    ap.add_argument("--_w", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--_h", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args._child:
        res = {"prepare": child_prepare, "encode": child_encode, "decode": child_decode}[args._child](args)
        Path(args._out).write_text(json.dumps(res))
        return 0

    # nothing from gvc1d_codec (hence torch) is imported in this process: see run_child
    sizes = [s.strip() for s in args.sizes.split(",") if s.strip()]
    for s in sizes:
        if s not in SIZES:
            sys.exit(f"speed.py: unknown size {s!r} (known: {', '.join(SIZES)})")

    shm = Path("/dev/shm")
    base = shm if shm.is_dir() and os.access(shm, os.W_OK) else None
    with tempfile.TemporaryDirectory(prefix="gvc1d-speed-", dir=base) as tmpd:
        tmp = Path(tmpd)
        args._tmp = tmp
        info = run_child("prepare", None, None, None, args)
        weights = info["weights"]
        results, machine, level_ratio = [], None, None
        for name in sizes:
            size = SIZES[name]
            w, h = size["width"], size["height"]
            clip = args.small_clip if name == "416x240" else "zhling720p"
            raw, mat = prepare(name, size, args.frames or size["frames"], clip, info["clips"][clip], tmp)
            n = mat["frames"]
            print(f"[{name}] {n} frames of {mat['source']}; encoding...", file=sys.stderr, flush=True)
            gvc = tmp / f"gvc1d_{name}.gvc"
            e = run_child("encode", size, raw, gvc, args)
            print(f"[{name}] decoding...", file=sys.stderr, flush=True)
            d = run_child("decode", size, raw, gvc, args)
            print(f"[{name}] x265...", file=sys.stderr, flush=True)
            x = run_x265(size, raw, n, tmp, args.threads, args.x265_crf)
            machine = machine or machine_info(e, args.threads)
            ideal = sum(e["ideal_bits"])
            payload_bits = 8 * sum(e["payload_bytes"])
            file_bits = 8 * (e["header_bytes"] + sum(e["packet_bytes"]))
            g = dict(enc_fps=n / e["seconds"], dec_fps=d["frames"] / d["seconds"],
                     enc_seconds=e["seconds"], dec_seconds=d["seconds"],
                     enc_frame_seconds=e["frame_seconds"], dec_frame_seconds=d["frame_seconds"],
                     enc_setup_seconds=e["setup_seconds"], dec_setup_seconds=d["setup_seconds"],
                     dec_parse_seconds=d["parse_seconds"],
                     enc_peak_rss_mib=e["peak_rss_mib"], dec_peak_rss_mib=d["peak_rss_mib"],
                     parent_rss_mib_at_spawn=max(e["parent_rss_mib"], d["parent_rss_mib"]),
                     ideal_bits=ideal, payload_bits=payload_bits, file_bits=file_bits,
                     payload_overhead_pct=100.0 * (payload_bits / ideal - 1) if ideal > 0 else None,
                     file_overhead_pct=100.0 * (file_bits / ideal - 1) if ideal > 0 else None,
                     bpp=file_bits / (w * h * n), psnr_y=d["psnr_y"], quality=e["quality"],
                     enc_profile=e["profile"], dec_profile=d["profile"])
            results.append(dict(size=name, width=w, height=h, **mat, gvc1d=g, x265=x,
                                enc_ratio=g["enc_fps"] / x["enc_fps"], dec_ratio=g["dec_fps"] / x["dec_fps"]))
            if name == "416x240":  # decode time at the lowest and the highest quality of the same frames
                levels, chosen = {}, args.quality
                for q in info["qualities"]:
                    args.quality = q
                    print(f"[{name}] quality {q}: encoding, decoding...", file=sys.stderr, flush=True)
                    run_child("encode", size, raw, gvc, args)
                    levels[q] = run_child("decode", size, raw, gvc, args)["seconds"]
                args.quality = chosen
                lo, hi = info["qualities"]
                level_ratio = dict(size=name, frames=n, lowest=lo, highest=hi, lowest_dec_seconds=levels[lo],
                                   highest_dec_seconds=levels[hi], ratio=levels[hi] / levels[lo])

    targets = []
    if level_ratio is not None:
        v = level_ratio["ratio"]
        targets.append(dict(what=f"decode time at quality {level_ratio['highest']} / quality {level_ratio['lowest']} "
                                 f"at {level_ratio['size']}", value=f"{v:.2f}x", target=f"<= {TARGET_LEVEL_RATIO:g}x",
                            status=_mark(v <= TARGET_LEVEL_RATIO)))
    for s in results:
        t = SIZES[s["size"]]["target_dec_fps"]
        v = s["gvc1d"]["dec_fps"]
        targets.append(dict(what=f"decode fps at {s['size']}", value=f"{v:.2f}", target=f">= {t:g}",
                            status=_mark(v >= t)))
    for s in results:
        if s["size"] == "1920x1080":
            v = max(s["gvc1d"]["enc_peak_rss_mib"], s["gvc1d"]["dec_peak_rss_mib"])
            targets.append(dict(what="peak RSS at 1920x1080 (max of enc, dec)", value=f"{v:.0f} MiB",
                                target=f"<= {TARGET_RSS_MIB_1080P:.0f} MiB", status=_mark(v <= TARGET_RSS_MIB_1080P)))
    for s in results:
        v = s["gvc1d"]["payload_overhead_pct"]
        if v is not None:
            targets.append(dict(what=f"entropy overhead (payload) at {s['size']}", value=f"{v:+.3f}%",
                                target=f"<= {TARGET_ENTROPY_OVERHEAD_PCT:g}%",
                                status=_mark(v <= TARGET_ENTROPY_OVERHEAD_PCT)))
    report = dict(machine=machine, weights=weights, quality=results[0]["gvc1d"]["quality"] if results else None,
                  x265=dict(preset=X265_PRESET, crf=args.x265_crf), sizes=results, targets=targets, level_ratio=level_ratio,
                  command=" ".join([Path(sys.executable).name, *sys.argv]))
    print(render(report))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
