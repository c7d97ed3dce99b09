#!/usr/bin/env python3
"""Determinism matrix: decode the conformance streams in fresh processes under every CPU
configuration we can make here, and compare symbols and pictures with the manifest.

    nice -n 19 python conformance/matrix.py                         # conformance/, shipped weights
    nice -n 19 python conformance/matrix.py /tmp/conf --weights W --json /tmp/matrix.json --out /tmp/matrix.md
    nice -n 19 python conformance/matrix.py --quick                 # 2 short streams (the CI subset)

Configurations (each one fresh ``python`` process, one after the other):

* ``native``: the environment as it is (torch picks the widest SIMD the CPU has);
* ``ATEN_CPU_CAPABILITY`` = ``default`` / ``avx2`` / ``avx512`` (the last only where
  ``/proc/cpuinfo`` lists ``avx512f``), each with torch threads 1 and 2;
* ``OMP_NUM_THREADS`` / ``MKL_NUM_THREADS`` variations with torch's own thread choice
  (1/1, 2/1, 1/2, 3/3: OpenMP-parallel ATen kernels vs multi-threaded MKL BLAS, oversubscribed);
* ``minimal-isa``: ATen ``default`` kernels, MKL restricted to SSE4.2 (``MKL_ENABLE_INSTRUCTIONS``)
  and oneDNN to SSE4.1 (``ONEDNN_MAX_CPU_ISA``), one thread.

Each worker runs :func:`gvc1d_codec.conformance.check` and writes its decoded pictures to a
temporary directory. Per configuration the report gives symbol agreement with the manifest (must be
exact) and picture-hash agreement; where pictures differ, the largest absolute sample difference
and the lowest per-frame PSNR against the reference decode (the decode of the first configuration
that reproduces the manifest's picture hashes; if none does, the ``native`` one, flagged).
Writes a markdown table (stdout, ``--out``) and, with ``--json``, the full results.
Exit status 1 if any configuration disagrees on a symbol, fails to decode, or exceeds the pixel
tolerance (docs/conformance.md); 0 otherwise.
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

try:
    import gvc1d_codec  # noqa: F401
except ImportError:  # run from a checkout without installing
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

REPO = Path(__file__).resolve().parent.parent
CONTROLLED = ("ATEN_CPU_CAPABILITY", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "MKL_ENABLE_INSTRUCTIONS",
              "ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA", "MKL_CBWR", "GVC1D_DEBUG")


def cpu_flags() -> set[str]:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def configurations(flags: set[str]) -> tuple[list[dict], list[str]]:
    """(configurations to run, notes on those skipped)."""
    caps = [("default", None), ("avx2", "avx2"), ("avx512", "avx512f")]
    configs = [{"name": "native", "env": {}, "threads": None}]
    skipped = []
    for cap, flag in caps:
        if flag is not None and flag not in flags:
            skipped.append(f"ATEN_CPU_CAPABILITY={cap}: /proc/cpuinfo has no {flag}")
            continue
        for t in (1, 2):
            configs.append({"name": f"{cap}-t{t}", "env": {"ATEN_CPU_CAPABILITY": cap}, "threads": t})
    for omp, mkl in ((1, 1), (2, 1), (1, 2), (3, 3)):
        configs.append({"name": f"omp{omp}-mkl{mkl}", "env": {"OMP_NUM_THREADS": str(omp), "MKL_NUM_THREADS": str(mkl)},
                        "threads": None})
    configs.append({"name": "minimal-isa", "threads": 1,
                    "env": {"ATEN_CPU_CAPABILITY": "default", "MKL_ENABLE_INSTRUCTIONS": "SSE4_2",
                            "ONEDNN_MAX_CPU_ISA": "SSE41"}})
    return configs, skipped


# ---- worker (one fresh process per configuration) -----------------------------------------------------

def worker(a: argparse.Namespace) -> int:
    from gvc1d_codec.conformance import check

    streams = a.streams.split(",") if a.streams else None
    report = check(a.dir, weights=a.weights, threads=a.threads, streams=streams, planes_dir=a.planes)
    sys.stdout.write(json.dumps(report.to_dict()) + "\n")
    return 0


def run_config(cfg: dict, a: argparse.Namespace, planes: Path, timeout: float) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in CONTROLLED}
    env.update(cfg["env"])
    env["PYTHONPATH"] = str(REPO) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    cmd = [sys.executable, str(Path(__file__).resolve()), str(a.dir), "--worker", "--planes", str(planes)]
    if a.weights:
        cmd += ["--weights", str(a.weights)]
    if a.streams:
        cmd += ["--streams", a.streams]
    if cfg["threads"]:
        cmd += ["--threads", str(cfg["threads"])]
    t0 = time.monotonic()
    try:
        p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s", "seconds": time.monotonic() - t0}
    out = {"seconds": time.monotonic() - t0}
    lines = [ln for ln in p.stdout.splitlines() if ln.startswith("{")]
    if p.returncode != 0 or not lines:
        err = (p.stderr.strip().splitlines() or [f"exit {p.returncode}"])[-1]
        out["error"] = err
        return out
    out["report"] = json.loads(lines[-1])
    return out


# ---- comparison -----------------------------------------------------------------------------------

def frame_bytes(width: int, height: int, pix_fmt: str) -> int:
    if pix_fmt == "rgb24":
        return width * height * 3
    return width * height + 2 * ((width + 1) // 2) * ((height + 1) // 2)


def compare(results: list[dict], manifest: dict, planes_root: Path) -> dict:
    """Pick the reference decode per stream and measure every configuration's pixels against it."""
    import numpy as np

    from gvc1d_codec.metrics.psnr import psnr_uint8 as psnr

    entries = {Path(e["file"]).stem: e for e in manifest["streams"]}
    names = None
    for r in results:
        if "report" in r:
            names = [s["name"] for s in r["report"]["streams"]]
            break
    refs = {}
    for name in names or []:
        ref = None
        for r in results:
            s = _stream(r, name)
            if s is not None and s["pixels_ok"]:
                ref = (r["config"]["name"], True)
                break
        if ref is None:  # nobody reproduces the manifest: the first configuration that decoded the stream
            fallback = next((r for r in results if (_stream(r, name) or {}).get("frames_decoded")), None)
            if fallback is None:
                continue
            ref = (fallback["config"]["name"], False)
        refs[name] = {"config": ref[0], "matches_manifest": ref[1]}
    for r in results:
        r["streams"] = {}
        for name in names or []:
            s = _stream(r, name)
            if s is None or name not in refs:
                continue
            e = entries[name]
            src = e["source"]
            fb = frame_bytes(src["width"], src["height"], src["pix_fmt"])
            d = {"symbols_ok": s["symbols_ok"], "pixels_ok": s["pixels_ok"], "frames": s["frames_decoded"],
                 "frames_expected": s["frames_expected"], "symbol_mismatches": s["symbol_mismatches"],
                 "pixel_mismatches": s["pixel_mismatches"], "error": s["error"], "max_abs_diff": 0,
                 "min_psnr_db": None, "reference": refs[name]["config"]}
            ref_cfg = refs[name]["config"]
            ref_stream = _stream(next(x for x in results if x["config"]["name"] == ref_cfg), name)
            differing = [i for i in range(min(s["frames_decoded"], ref_stream["frames_decoded"]))
                         if s["picture_md5"][i] != ref_stream["picture_md5"][i]]
            if differing:
                mine = np.fromfile(planes_root / r["config"]["name"] / f"{name}.yuv", np.uint8)
                theirs = np.fromfile(planes_root / ref_cfg / f"{name}.yuv", np.uint8)
                worst_abs, worst_psnr = 0, float("inf")
                for i in differing:
                    a_, b_ = mine[i * fb:(i + 1) * fb], theirs[i * fb:(i + 1) * fb]
                    worst_abs = max(worst_abs, int(np.abs(a_.astype(np.int16) - b_.astype(np.int16)).max()))
                    worst_psnr = min(worst_psnr, psnr(a_, b_))
                d["max_abs_diff"], d["min_psnr_db"] = worst_abs, round(worst_psnr, 2)
                d["frames_differing_from_reference"] = differing
            r["streams"][name] = d
    return refs


def _stream(r: dict, name: str) -> dict | None:
    if "report" not in r:
        return None
    return next((s for s in r["report"]["streams"] if s["name"] == name), None)


def summarise(r: dict, tol_abs: int, tol_psnr: float) -> dict:
    st = r.get("streams", {})
    n = len(st)
    sym = sum(s["symbols_ok"] for s in st.values())
    pix = sum(s["pixels_ok"] for s in st.values())
    frames_diff = sum(len(s["pixel_mismatches"]) for s in st.values())
    frames_total = sum(s["frames"] for s in st.values())
    max_abs = max((s["max_abs_diff"] for s in st.values()), default=0)
    psnrs = [s["min_psnr_db"] for s in st.values() if s["min_psnr_db"] is not None]
    min_psnr = min(psnrs) if psnrs else None
    within = max_abs <= tol_abs and (min_psnr is None or min_psnr >= tol_psnr)
    ok = "error" not in r and n > 0 and sym == n and within
    return {"streams": n, "symbols_agree": sym, "pixels_exact": pix, "frames_differing": frames_diff,
            "frames_total": frames_total, "max_abs_diff": max_abs, "min_psnr_db": min_psnr,
            "within_tolerance": within, "ok": ok}


def markdown(results: list[dict], refs: dict, skipped: list[str], meta: dict) -> str:
    lines = [f"Determinism matrix: {meta['streams']} streams of `{meta['dir']}`, weights sha256 "
             f"`{meta['weights_sha256'][:16]}...`, {meta['cpu']}, torch {meta['torch']}, python {meta['python']}.",
             "",
             "| configuration | environment | threads torch/omp/mkl | ATen capability | symbols agree | pixels exact "
             "| frames differing | max abs diff | min PSNR (dB) | time (s) |",
             "|---|---|---:|---|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        c = r["config"]
        env = " ".join(f"{k}={v}" for k, v in c["env"].items()) or "(unchanged)"
        if "error" in r:
            lines.append(f"| {c['name']} | {env} | {c['threads'] or 'auto'} | - | ERROR: {r['error']} | | | | | {r['seconds']:.0f} |")
            continue
        s = r["summary"]
        e = r["report"]["environment"]
        cap = e["cpu_capability"]
        want = c["env"].get("ATEN_CPU_CAPABILITY")
        if want and cap.lower() != want.lower():
            cap += f" (asked {want})"
        psnr_cell = "-" if s["min_psnr_db"] is None else f"{s['min_psnr_db']:.2f}"
        thr = f"{e['torch_threads']}/{e.get('omp_threads', '?')}/{e.get('mkl_threads', '?')}"
        lines.append(f"| {c['name']} | {env} | {thr} | {cap} | {s['symbols_agree']}/{s['streams']} "
                     f"| {s['pixels_exact']}/{s['streams']} | {s['frames_differing']}/{s['frames_total']} "
                     f"| {s['max_abs_diff']} | {psnr_cell} | {r['seconds']:.0f} |")
    lines.append("")
    lines.append("symbols agree / pixels exact: streams whose every frame's symbol SHA-256 / picture MD5 equals the "
                 "manifest. max abs diff and min PSNR: against the reference decode, over the frames that differ.")
    for name, ref in refs.items():
        if not ref["matches_manifest"]:
            lines.append(f"- {name}: no configuration reproduced the manifest's picture hashes; pixel differences "
                         f"are measured against `{ref['config']}`.")
    for s in skipped:
        lines.append(f"- skipped: {s}")
    bad = [r["config"]["name"] for r in results if not r.get("summary", {}).get("ok")]
    lines.append("")
    lines.append(f"**{'FAIL' if bad else 'PASS'}**: " + (f"failing configurations: {', '.join(bad)}" if bad else
                 "every configuration decodes every stream to the manifest's symbols; pixels within tolerance "
                 f"(max abs diff <= {meta['tol_abs']}, PSNR >= {meta['tol_psnr']} dB)."))
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    from gvc1d_codec.conformance import DEFAULT_DIR, PIXEL_MAX_ABS_DIFF, PIXEL_MIN_PSNR_DB, QUICK_SUBSET

    p = argparse.ArgumentParser(prog="matrix.py", description=__doc__.split("\n\n")[0])
    p.add_argument("dir", nargs="?", default=str(DEFAULT_DIR), help="conformance directory (default: conformance/)")
    p.add_argument("--weights", help="weights file or registry name (default: the shipped model)")
    p.add_argument("--streams", help="comma-separated subset of streams (default: all)")
    p.add_argument("--quick", action="store_true", help=f"only {', '.join(QUICK_SUBSET)}")
    p.add_argument("--configs", help="comma-separated subset of configuration names")
    p.add_argument("--out", help="also write the markdown table to this file")
    p.add_argument("--json", help="write the full results as JSON to this file ('-' = stdout, then no markdown)")
    p.add_argument("--timeout", type=float, default=3600, help="seconds per configuration (default 3600)")
    p.add_argument("--max-abs-diff", type=int, default=PIXEL_MAX_ABS_DIFF, help="pixel tolerance: largest sample difference")
    p.add_argument("--min-psnr", type=float, default=PIXEL_MIN_PSNR_DB, help="pixel tolerance: lowest per-frame PSNR")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--planes", help=argparse.SUPPRESS)
    p.add_argument("--threads", type=int, help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.worker:
        return worker(a)
    if a.quick and not a.streams:
        a.streams = ",".join(QUICK_SUBSET)

    import platform

    import torch

    from gvc1d_codec.conformance import load_manifest
    from gvc1d_codec.errors import GVC1DError

    try:
        manifest = load_manifest(a.dir)
    except GVC1DError as e:
        print(f"matrix.py: error: {e}", file=sys.stderr)
        return 1
    flags = cpu_flags()
    configs, skipped = configurations(flags)
    if a.configs:
        want = a.configs.split(",")
        unknown = set(want) - {c["name"] for c in configs}
        if unknown:
            p.error(f"unknown or unavailable configuration(s): {', '.join(sorted(unknown))}")
        configs = [c for c in configs if c["name"] in want]
    model = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                  if ln.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").exists() else platform.processor()
    n_streams = len(a.streams.split(",")) if a.streams else len(manifest["streams"])
    meta = {"dir": str(a.dir), "weights_sha256": manifest["weights"]["sha256"], "cpu": f"{model} ({os.cpu_count()} cpus)",
            "cpu_flags": sorted(f for f in flags if f.startswith(("avx", "fma", "sse4"))),
            "torch": torch.__version__, "python": platform.python_version(), "streams": n_streams,
            "tol_abs": a.max_abs_diff, "tol_psnr": a.min_psnr, "skipped": skipped}
    results = []
    with tempfile.TemporaryDirectory(prefix="gvc1d-matrix-") as tmp:
        for cfg in configs:
            planes = Path(tmp) / cfg["name"]
            r = run_config(cfg, a, planes, a.timeout)
            r["config"] = cfg
            results.append(r)
            status = r.get("error") or ("symbols ok" if r["report"]["symbols_ok"] else "SYMBOLS DIFFER")
            print(f"matrix: {cfg['name']}: {status} ({r['seconds']:.1f} s)", file=sys.stderr, flush=True)
        refs = compare(results, manifest, Path(tmp))
    for r in results:
        r["summary"] = summarise(r, a.max_abs_diff, a.min_psnr)
        if "report" in r:  # keep the JSON small: hashes are in the manifest
            for s in r["report"]["streams"]:
                s.pop("symbols_sha256", None)
                s.pop("picture_md5", None)
    ok = bool(results) and all(r["summary"]["ok"] for r in results)
    md = markdown(results, refs, skipped, meta)
    doc = {"ok": ok, "meta": meta, "references": refs, "configurations": results}
    if a.json:
        text = json.dumps(doc, indent=1) + "\n"
        if a.json == "-":
            sys.stdout.write(text)
        else:
            Path(a.json).write_text(text)
    if a.json != "-":
        sys.stdout.write(md)
    if a.out:
        Path(a.out).write_text(md)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
