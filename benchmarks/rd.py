"""Rate-distortion of gvc1d against x264, x265, SVT-AV1 and VVC (vvenc) on the held-out clips, with BD-rates.

    python benchmarks/rd.py [--weights W] [--frames 32] [--json F] [--plot-dir D] [--markdown F] [--doc F]
    python benchmarks/rd.py --quick ...                  # smoke test: 4 frames, 2 rate points per codec
    python benchmarks/rd.py --from-json F --markdown F2 --plot-dir D --doc F3   # re-render, no coding
    python benchmarks/rd.py --reuse-anchors F --extra-weights gvc1d-tiny-mse ...  # code gvc1d only, anchors from F

``--reuse-anchors F`` takes the anchor points (rates, metrics, times, settings, commands, versions)
from an earlier results JSON that has the requested clips with the same frame counts (refused
otherwise, exit 2; its other clips are left out) and codes only gvc1d; F may be the ``--json``
output path (it is read in full first).
``--extra-weights NAME=SPEC`` (repeatable or comma-separated; ``SPEC`` alone names it after the
registry name / file stem) codes more gvc1d weights as extra curves, labelled "gvc1d (NAME)"; the
BD-rates against the anchors stay those of the main weights, and a further table gives the BD-rate
of the main weights against each extra curve.

Test conditions (../shared/docs/evaluation.md):

* Clips: ``clip_names("heldout")``, the first ``--frames`` frames of each (clips shorter than that
  are used whole, and the output says so), decoded once to 8-bit 4:2:0 (gvc1d_codec.data).
* Low delay, intra period -1: one intra frame, then predicted frames; no B-frames, no look-ahead.
* gvc1d: every quality level of the weights, through the frame-level API (``Encoder`` /
  ``Decoder``, via :func:`gvc1d_codec.evaluate.code_clip`); bpp from the whole .gvc stream.
* Anchors through ffmpeg from the same frames (written as 8-bit yuv420p Y4M, 25 fps), decoded by
  the same ffmpeg binary, bpp from the whole output file: elementary streams (``-f h264``,
  ``-f hevc``, ``-f vvc``) and IVF for AV1 (32-byte file header + 12 bytes per frame). The
  encoder-information SEI that x264 always writes (its version and option string, ~600 bytes)
  is removed with ffmpeg's ``filter_units`` bitstream filter, and x265 is told not to write its
  own (``info=0``): neither takes part in decoding. See :data:`ANCHORS` for each command line.
* Metrics per frame, then the mean over the frames of a clip (gvc1d_codec.evaluate.frame_metrics):
  PSNR-YUV ((6Y+U+V)/8, 8-bit planes), and on RGB from the codec's one BT.709 limited-range
  conversion PSNR-RGB, MS-SSIM (fewer scales below 161 px: 4 at 176x144), LPIPS-Alex and DISTS,
  on every frame.
* BD-rate (gvc1d_codec.metrics.bdrate, PCHIP in log-rate, overlapping quality range only) of
  gvc1d against each anchor, per clip and metric, then the mean over the clips where it is
  defined. LPIPS and DISTS are negated (lower is better). Negative = gvc1d needs fewer bits.
* Times: the coding calls only for gvc1d; for the anchors the wall time of the ffmpeg process
  (includes its start-up and reading/writing the small files), so compare ratios, not absolutes.

Progress goes to stderr; the Markdown tables to stdout.
"""
from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from gvc1d_codec.data.clips import CLIPS, clip_names, load_clip  # noqa: E402
from gvc1d_codec.evaluate import code_clip, frame_metrics, mean_metrics  # noqa: E402
from gvc1d_codec.frame import VideoFrame  # noqa: E402
from gvc1d_codec.quality import highest  # noqa: E402
from gvc1d_codec.io import Y4MWriter  # noqa: E402
from gvc1d_codec.metrics.bdrate import BDRateUndefined, bd_rate  # noqa: E402

FPS = 25
QUICK_FRAMES = 4
# A BD-rate over a sliver of common quality (e.g. one end point of one curve just inside the
# other's range) says little: below this fraction of the narrower curve's span it is n/a.
MIN_OVERLAP = 0.25
DOC_MARKER = "rd-table"

# key, label, higher is better
METRICS = [
    ("psnr_yuv", "PSNR-YUV (dB)", True),
    ("psnr_rgb", "PSNR-RGB (dB)", True),
    ("ms_ssim", "MS-SSIM", True),
    ("lpips_alex", "LPIPS-Alex", False),
    ("dists", "DISTS", False),
]
METRIC_LABEL = {k: lab for k, lab, _ in METRICS}
HIGHER_BETTER = {k: hb for k, _, hb in METRICS}


def log(msg: str) -> None:
    print(f"rd: {msg}", file=sys.stderr, flush=True)


def refuse(msg: str) -> None:
    """A one-line error and exit status 2."""
    print(f"rd.py: {msg}", file=sys.stderr, flush=True)
    sys.exit(2)


EXTRA_PREFIX = "gvc1d:"  # codec key of an --extra-weights curve: "gvc1d:<name>"


def is_gvc(codec: str) -> bool:
    """The main gvc1d curve or an --extra-weights one (everything else is an anchor)."""
    return codec == "gvc1d" or codec.startswith(EXTRA_PREFIX)


def parse_extra_weights(specs: list[str] | None) -> list[tuple[str, str]]:
    """``--extra-weights`` values -> [(name, spec)]: ``NAME=SPEC`` or just ``SPEC`` (named after its
    registry name or file stem), repeatable and comma-separated."""
    out: list[tuple[str, str]] = []
    for item in (x.strip() for s in specs or [] for x in s.split(",")):
        if not item:
            continue
        name, _, spec = item.partition("=") if "=" in item else (Path(item).stem if item.endswith(".safetensors") else item, "", item)
        name, spec = name.strip(), spec.strip()
        if not name or not spec:
            refuse(f"--extra-weights {item!r}: expected NAME=SPEC or SPEC")
        if name in {n for n, _ in out}:
            refuse(f"--extra-weights: name {name!r} given twice")
        out.append((name, spec))
    return out


def _qualities(spec: str | None, levels: int) -> list[float]:
    """The --qualities list (whole numbers printed as ints), or every level 0..highest(levels)."""
    if not spec:
        return list(range(highest(levels) + 1))
    try:
        qs = [float(v) for v in spec.split(",") if v]
    except ValueError:
        sys.exit(f"rd.py: --qualities {spec!r}: need comma-separated numbers")
    if not qs or any(not 0 <= q <= highest(levels) for q in qs):
        sys.exit(f"rd.py: --qualities {spec!r}: need values in 0..{highest(levels)}")
    return sorted(int(q) if q == int(q) else q for q in qs)


def read_reused_anchors(path: str, clips: list[str], frames_wanted: int, quick: bool, metrics: list[str]) -> dict:
    """The earlier results JSON for ``--reuse-anchors``, read in full, after checking that it has
    the requested clips (its other clips are dropped), frame counts, mode and metrics (else a
    one-line error, exit 2)."""
    try:
        old = json.loads(Path(path).read_text())
        old_clips = {c["clip"]: c for c in old["clips"]}
        old_cond = old["conditions"]
        old["codecs"], old["points"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        refuse(f"--reuse-anchors {path}: not a readable rd.py results JSON ({type(e).__name__}: {e})")
    if not set(clips) <= set(old_clips):
        refuse(f"--reuse-anchors {path}: clips differ (JSON: {','.join(old_clips) or '-'}; requested: {','.join(clips)})")
    old["clips"] = [c for c in old["clips"] if c["clip"] in clips]
    old["points"] = [p for p in old["points"] if p["clip"] in clips]
    old["skipped"] = [s for s in old.get("skipped", []) if s.get("clip") in clips or "clip" not in s]
    if bool(old_cond.get("quick")) != bool(quick):
        refuse(f"--reuse-anchors {path}: the JSON is {'a' if old_cond.get('quick') else 'not a'} --quick run, this run is "
               f"{'' if quick else 'not '}--quick")
    want = {n: min(frames_wanted, CLIPS[n].frames) for n in clips}
    diff = [f"{n} {old_clips[n].get('frames')} in JSON, {want[n]} requested" for n in clips
            if old_clips[n].get("frames") != want[n]]
    if diff:
        refuse(f"--reuse-anchors {path}: frame counts differ ({'; '.join(diff)})")
    missing = [m for m in metrics if m not in old_cond.get("metrics", [])]
    if missing:
        refuse(f"--reuse-anchors {path}: metric(s) {', '.join(missing)} not in the JSON (it has "
               f"{', '.join(old_cond.get('metrics', []))}); pass --metrics")
    return old


# ----------------------------------------------------------------------------- anchors


@dataclass(frozen=True)
class Anchor:
    """A classical codec run through ffmpeg: ``ffmpeg -i src.y4m <args(value, preset)> -f <fmt> out``."""

    name: str
    codec: str                    # for labels: "x264", "SVT-AV1 preset", ...
    encoder: str                  # ffmpeg encoder name
    binaries: tuple[str, ...]     # which ffmpeg to use, in order of preference: "system", "imageio"
    fmt: str                      # ffmpeg muxer
    ext: str
    param: str                    # the rate parameter's name (crf / qp)
    ladder: tuple[int, ...]       # its values
    quick_ladder: tuple[int, ...]
    preset: str
    quick_preset: str             # --quick is a smoke test: the slowest encoder may use a faster preset there
    args: Callable[[int | str, str], list[str]]  # (rate value, preset) -> the codec options
    bit_depth: int = 8            # what the encoder is fed and what the decoder writes
    notes: str = ""

    def label(self, quick: bool = False) -> str:
        return f"{self.codec} {self.quick_preset if quick else self.preset}"


def _x264(crf: int | str, preset: str) -> list[str]:
    return ["-c:v", "libx264", "-preset", preset, "-crf", str(crf), "-bf", "0", "-g", "9999",
            "-sc_threshold", "0", "-x264-params", "rc-lookahead=0",
            "-bsf:v", "filter_units=remove_types=6"]


def _x265(crf: int | str, preset: str) -> list[str]:
    return ["-c:v", "libx265", "-preset", preset, "-crf", str(crf),
            "-x265-params", "bframes=0:keyint=-1:scenecut=0:rc-lookahead=0:info=0:log-level=error"]


def _svtav1(crf: int | str, preset: str) -> list[str]:
    return ["-c:v", "libsvtav1", "-preset", preset, "-crf", str(crf),
            "-svtav1-params", "pred-struct=1:keyint=-1:scd=0"]


def _vvenc(qp: int | str, preset: str) -> list[str]:
    return ["-pix_fmt", "yuv420p10le", "-c:v", "libvvenc", "-preset", preset, "-qp", str(qp), "-qpa", "0",
            "-vvenc-params", "PicReordering=0:GOPSize=8:IntraPeriod=-1:DecodingRefreshType=0:LookAhead=0:MCTFFutureReference=0"]


ANCHORS = [
    Anchor("x264", "x264", "libx264", ("system", "imageio"), "h264", "264", "crf",
           (23, 30, 37, 44, 51), (30, 44), "veryslow", "veryslow", _x264,
           notes="no B-frames, one IDR (-g 9999, scenecut off), rc-lookahead=0 (so no mb-tree); "
                 "the x264 version/options SEI is stripped (filter_units=remove_types=6)"),
    Anchor("x265", "x265", "libx265", ("system", "imageio"), "hevc", "265", "crf",
           (23, 30, 37, 44, 51), (30, 44), "veryslow", "veryslow", _x265,
           notes="bframes=0, keyint=-1 (one IDR), scenecut off, rc-lookahead=0 (so no cu-tree), info=0 (no version SEI)"),
    Anchor("svtav1", "SVT-AV1 preset", "libsvtav1", ("imageio", "system"), "ivf", "ivf", "crf",
           (31, 39, 47, 55, 63), (39, 55), "2", "2", _svtav1,
           notes="pred-struct=1 (low delay), keyint=-1 (one key frame), scene-change detection off; IVF "
                 "(32 + 12 bytes per frame of framing counted). SVT-AV1 1.x (Debian's ffmpeg 5.1) forces "
                 "preset 8 in low delay, so the newer SVT-AV1 of imageio-ffmpeg is preferred"),
    Anchor("vvc", "VVC vvenc", "libvvenc", ("imageio", "system"), "vvc", "266", "qp",
           (27, 34, 41, 48, 55), (34, 48), "slower", "faster", _vvenc, bit_depth=10,
           notes="vvenc low delay: PicReordering=0 (no reordering, low-delay B/P with past references only), "
                 "GOPSize=8, IntraPeriod=-1, no look-ahead, MCTF without future frames; constant QP with the "
                 "perceptual QP adaptation off (-qpa 0), as in the VVC common test conditions; 10-bit "
                 "internal (vvenc takes yuv420p10le: input x<<2, output rounded (x+2)>>2 to 8 bits)"),
]
ANCHOR_BY_NAME = {a.name: a for a in ANCHORS}


def ffmpeg_binaries() -> dict[str, str]:
    """The ffmpeg programs at hand: ``system`` (on PATH) and ``imageio`` (the imageio-ffmpeg wheel)."""
    out = {}
    exe = shutil.which("ffmpeg")
    if exe:
        out["system"] = exe
    try:
        import imageio_ffmpeg

        out["imageio"] = imageio_ffmpeg.get_ffmpeg_exe()
    except Exception:  # noqa: BLE001 - not installed, or its binary is missing
        pass
    return out


@functools.lru_cache(maxsize=None)
def _listed(exe: str, what: str) -> set[str]:
    """Names listed by ``ffmpeg -encoders`` / ``-decoders``."""
    p = subprocess.run([exe, "-hide_banner", f"-{what}"], capture_output=True, text=True)
    names = set()
    for line in p.stdout.splitlines():
        parts = line.split()
        if len(parts) >= 2 and len(parts[0]) == 6 and parts[0][0] in "VAS":
            names.add(parts[1])
    return names


def ffmpeg_version(exe: str) -> str:
    p = subprocess.run([exe, "-hide_banner", "-version"], capture_output=True, text=True)
    return (p.stdout.splitlines() or ["?"])[0]


DECODER_FOR = {"h264": "h264", "hevc": "hevc", "ivf": None, "vvc": "vvc"}


def resolve_anchor(anchor: Anchor, binaries: dict[str, str]) -> tuple[str | None, str]:
    """(ffmpeg path, which) for an anchor, or (None, reason it is skipped)."""
    tried = []
    for which in anchor.binaries:
        exe = binaries.get(which)
        if exe is None:
            tried.append(f"no {which} ffmpeg" + (" (pip install imageio-ffmpeg==0.8.1, the `bench` extra)"
                                                   if which == "imageio" else ""))
            continue
        if anchor.encoder not in _listed(exe, "encoders"):
            tried.append(f"{which} ffmpeg ({exe}) has no {anchor.encoder}")
            continue
        dec = DECODER_FOR[anchor.fmt]
        if dec is not None and dec not in _listed(exe, "decoders"):
            tried.append(f"{which} ffmpeg ({exe}) cannot decode {dec}")
            continue
        return exe, which
    return None, "; ".join(tried)


def _run(cmd: list[str]) -> tuple[float, str]:
    t0 = time.perf_counter()
    p = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wall = time.perf_counter() - t0
    err = p.stderr.decode("utf-8", "replace")
    if p.returncode != 0:
        raise RuntimeError(f"command failed ({p.returncode}): {' '.join(cmd)}\n{err[-1500:]}")
    return wall, err


def _read_decoded(path: Path, w: int, h: int, bit_depth: int, frames: int) -> list[VideoFrame]:
    """Raw yuv420p (8-bit) or yuv420p10le frames -> 8-bit VideoFrames (10-bit: (x + 2) >> 2)."""
    cw, ch = (w + 1) // 2, (h + 1) // 2
    per = w * h + 2 * cw * ch
    data = np.fromfile(path, dtype=np.uint8 if bit_depth == 8 else "<u2")
    if data.size != frames * per:
        raise RuntimeError(f"{path.name}: decoded {data.size / per:.2f} frames, expected {frames}")
    if bit_depth != 8:
        data = np.minimum((data.astype(np.uint32) + (1 << (bit_depth - 9))) >> (bit_depth - 8), 255).astype(np.uint8)
    out = []
    for i in range(frames):
        f = data[i * per:(i + 1) * per]
        y = f[:w * h].reshape(h, w)
        u = f[w * h:w * h + cw * ch].reshape(ch, cw)
        v = f[w * h + cw * ch:].reshape(ch, cw)
        out.append(VideoFrame("yuv420p", (y.copy(), u.copy(), v.copy())))
    return out


def code_anchor(anchor: Anchor, exe: str, value: int, src_y4m: Path, w: int, h: int, frames: int,
                workdir: Path, tag: str, threads: int, preset: str, keep: bool = False) -> dict:
    """Encode and decode one rate point: the file size, the coding times, the decoded frames, the
    encoder's warnings (and with ``keep`` the bitstream's ``path``; otherwise it is deleted)."""
    out = workdir / f"{tag}.{anchor.name}.{value}.{anchor.ext}"
    rec = workdir / f"{tag}.{anchor.name}.{value}.yuv"
    base = [exe, "-nostdin", "-hide_banner", "-loglevel", "error", "-y"]
    enc_cmd = base + ["-i", str(src_y4m), "-frames:v", str(frames), "-threads", str(threads),
                      *anchor.args(value, preset), "-f", anchor.fmt, str(out)]
    t_enc, err = _run(enc_cmd)
    pix = "yuv420p" if anchor.bit_depth == 8 else "yuv420p10le"
    dec_cmd = base + ["-threads", str(threads), "-i", str(out), "-f", "rawvideo", "-pix_fmt", pix, str(rec)]
    t_dec, _ = _run(dec_cmd)
    size = out.stat().st_size
    decoded = _read_decoded(rec, w, h, anchor.bit_depth, frames)
    rec.unlink()
    if not keep:
        out.unlink()
    warnings = sorted({ln.strip() for ln in err.splitlines() if "warn" in ln.lower() and "thread priority" not in ln})
    return {"bytes": size, "encode_seconds": t_enc, "decode_seconds": t_dec, "decoded": decoded,
            "warnings": warnings, "path": out if keep else None}


# ----------------------------------------------------------------------------- measuring


@dataclass
class MetricNets:
    lpips: object = None
    dists: object = None
    skipped: dict = field(default_factory=dict)


def load_metric_nets(wanted: list[str]) -> MetricNets:
    from gvc1d_codec import metrics

    nets = MetricNets()
    for key, make in (("lpips_alex", lambda: metrics.LPIPS("alex")), ("dists", metrics.DISTS)):
        if key not in wanted:
            continue
        try:
            net = make().eval()
        except Exception as e:  # noqa: BLE001 - weights not fetchable here: report without it
            nets.skipped[key] = f"{METRIC_LABEL[key]} unavailable: {e}"
            log(nets.skipped[key])
            continue
        setattr(nets, "lpips" if key == "lpips_alex" else "dists", net)
    return nets


def measure(src: list[VideoFrame], dec: list[VideoFrame], nets: MetricNets, wanted: list[str]) -> dict:
    rows = [frame_metrics(a, b, lpips_net=nets.lpips, dists_net=nets.dists) for a, b in zip(src, dec)]
    m = mean_metrics(rows)
    return {k: m[k] for k in wanted if k in m}


def run(a) -> dict:
    import torch

    from gvc1d_codec.weights import load_weights

    torch.set_num_threads(a.threads)
    t_start = time.perf_counter()
    wanted = [m for m in a.metrics.split(",") if m]
    unknown = set(wanted) - set(METRIC_LABEL)
    if unknown:
        sys.exit(f"rd.py: unknown metric(s) {', '.join(sorted(unknown))} (known: {', '.join(METRIC_LABEL)})")
    loaded = load_weights(a.weights)
    qualities = _qualities(a.qualities, loaded.config.qualities)
    if a.quick:
        qualities = sorted({qualities[0], qualities[-1]})
    nets = load_metric_nets(wanted)
    wanted = [m for m in wanted if m not in nets.skipped]

    reused = getattr(a, "reused", None)
    extras = [(name, spec, load_weights(spec)) for name, spec in parse_extra_weights(getattr(a, "extra_weights", None))]
    binaries = ffmpeg_binaries() if reused is None else {}
    anchors, skipped, reused_anchors = [], [], []
    for name in [n for n in a.anchors.split(",") if n]:
        if name not in ANCHOR_BY_NAME:
            sys.exit(f"rd.py: unknown anchor {name!r} (known: {', '.join(ANCHOR_BY_NAME)})")
        if reused is not None:
            if name in reused["codecs"]:
                reused_anchors.append(name)
            else:
                skip = next((s for s in reused.get("skipped", []) if s["codec"] == name),
                            {"codec": name, "reason": f"not in the reused {a.reuse_anchors}"})
                log(f"skipping {name}: {skip['reason']}")
                skipped.append(skip)
            continue
        anchor = ANCHOR_BY_NAME[name]
        exe, which = resolve_anchor(anchor, binaries)
        if exe is None:
            log(f"skipping {anchor.label(a.quick)}: {which}")
            skipped.append({"codec": name, "reason": which})
            continue
        anchors.append((anchor, exe, which))
    codecs = {"gvc1d": {"label": f"gvc1d ({Path(loaded.path).stem})", "param": "quality", "values": qualities,
                        "weights": str(loaded.path), "weights_sha256": loaded.sha256,
                        "notes": "frame-level API (Encoder/Decoder), intra period -1, bpp of the whole .gvc stream"}}
    extra_q = {}
    for name, spec, w in extras:
        q = _qualities(a.qualities, w.config.qualities)
        extra_q[name] = sorted({q[0], q[-1]}) if a.quick else q
        codecs[EXTRA_PREFIX + name] = {"label": f"gvc1d ({name})", "param": "quality", "values": extra_q[name],
                                       "weights": str(w.path), "weights_sha256": w.sha256, "extra": True,
                                       "notes": codecs["gvc1d"]["notes"]}
    for name in reused_anchors:
        codecs[name] = reused["codecs"][name]
    for anchor, exe, which in anchors:
        ladder = anchor.quick_ladder if a.quick else anchor.ladder
        preset = anchor.quick_preset if a.quick else anchor.preset
        codecs[anchor.name] = {"label": anchor.label(a.quick), "param": anchor.param, "values": list(ladder),
                               "preset": preset,
                               "ffmpeg": which, "ffmpeg_path": exe, "ffmpeg_version": ffmpeg_version(exe),
                               "format": anchor.fmt, "notes": anchor.notes,
                               "command": f"ffmpeg -i src.y4m -frames:v N -threads {a.threads} "
                                          + " ".join(anchor.args(f"<{anchor.param}>", preset))
                                          + f" -f {anchor.fmt} out.{anchor.ext}"}

    frames_wanted = QUICK_FRAMES if a.quick else a.frames
    clips, points = [], []
    with tempfile.TemporaryDirectory(prefix="gvc1d-rd.") as tmp:
        workdir = Path(tmp)
        for name in [c for c in a.clips.split(",") if c]:
            y, u, v = load_clip(name, max_frames=frames_wanted)
            t, h, w = y.shape
            have = CLIPS[name].frames
            note = f"{t} frames" + (" (all it has)" if t < frames_wanted else "")
            clips.append({"clip": name, "size": f"{w}x{h}", "width": w, "height": h, "frames": t,
                          "frames_in_clip": have, "note": note})
            log(f"{name} {w}x{h}: {note}")
            src = [VideoFrame("yuv420p", (y[i], u[i], v[i])) for i in range(t)]
            src_y4m = workdir / f"{name}.y4m"
            with open(src_y4m, "wb") as f:
                wr = Y4MWriter(f, w, h, Fraction(FPS))
                for fr in src:
                    wr.write_frame(fr)
            if reused is not None:
                old_t = next(c["frames"] for c in reused["clips"] if c["clip"] == name)
                if old_t != t:
                    refuse(f"--reuse-anchors {a.reuse_anchors}: frame counts differ ({name} {old_t} in JSON, {t} here)")
            for codec, wts, qs in [("gvc1d", loaded, qualities)] + [(EXTRA_PREFIX + n, wx, extra_q[n]) for n, _, wx in extras]:
                for q in qs:
                    coded = code_clip(src, q, weights=wts)
                    p = {"clip": name, "codec": codec, "param": "quality", "value": q, "bytes": len(coded.stream),
                         "bpp": coded.bpp(w, h), "encode_seconds": coded.encode_seconds,
                         "decode_seconds": coded.decode_seconds}
                    p.update(measure(src, coded.decoded, nets, wanted))
                    points.append(p)
                    log(_point_line(p))
            for anc in reused_anchors:
                for p in reused["points"]:
                    if p["clip"] == name and p["codec"] == anc:
                        points.append(dict(p))
                        log("reused " + _point_line(p))
            for anchor, exe, _ in anchors:
                for value in codecs[anchor.name]["values"]:
                    r = code_anchor(anchor, exe, value, src_y4m, w, h, t, workdir, name, a.threads,
                                    codecs[anchor.name]["preset"])
                    p = {"clip": name, "codec": anchor.name, "param": anchor.param, "value": value,
                         "bytes": r["bytes"], "bpp": 8 * r["bytes"] / (w * h * t),
                         "encode_seconds": r["encode_seconds"], "decode_seconds": r["decode_seconds"]}
                    p.update(measure(src, r["decoded"], nets, wanted))
                    if r["warnings"]:
                        p["encoder_warnings"] = r["warnings"]
                    points.append(p)
                    log(_point_line(p))

    result = {
        "command": "python benchmarks/rd.py " + " ".join(sys.argv[1:]),
        "conditions": {"low_delay": True, "intra_period": -1, "frames_requested": frames_wanted, "fps": FPS,
                       "quick": bool(a.quick), "threads": a.threads,
                       "colour": "BT.709 limited range (gvc1d_codec.color), for the RGB metrics",
                       "bpp": "8 * file bytes / (width * height * frames), whole file",
                       "metrics": wanted, "metrics_skipped": nets.skipped,
                       "ms_ssim_note": "MS-SSIM uses fewer scales below 161 px on the short side (4 at 176x144)",
                       "bd_rate": "PCHIP in log10(bpp) over the overlapping quality range; LPIPS/DISTS negated; "
                                  "dominated points dropped; mean over the clips where defined"},
        "min_overlap": a.min_overlap,
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "python": platform.python_version(),
                    "torch": torch.__version__},
        "clips": clips, "codecs": codecs, "skipped": skipped, "points": points,
        "elapsed_seconds": time.perf_counter() - t_start,
    }
    if reused is not None:
        # where the anchor points come from (if that run reused them in turn: the run that coded them)
        origin = reused.get("anchors_reused_from") or {
            "json": str(a.reuse_anchors), "command": reused.get("command"),
            "elapsed_seconds": reused.get("elapsed_seconds"), "machine": reused.get("machine"),
            "threads": reused["conditions"].get("threads")}
        result["anchors_reused_from"] = origin
        if origin.get("threads") != a.threads:
            log(f"note: the reused anchors were coded with {origin.get('threads')} thread(s), gvc1d now with {a.threads}")
    result.update(compute_bd(result, a.min_overlap))
    return result


def _point_line(p: dict) -> str:
    parts = [f"{p['clip']} {p['codec']} {p['param']} {p['value']}: {p['bpp']:.4f} bpp"]
    for k in METRIC_LABEL:
        if k in p:
            parts.append(f"{k} {p[k]:.4f}")
    parts.append(f"enc {p['encode_seconds']:.2f} s, dec {p['decode_seconds']:.2f} s")
    return ", ".join(parts)


# ----------------------------------------------------------------------------- BD-rates


def _curve(points: list[dict], clip: str, codec: str, metric: str) -> tuple[list[float], list[float], list]:
    sel = [p for p in points if p["clip"] == clip and p["codec"] == codec and metric in p]
    return [p["bpp"] for p in sel], [p[metric] for p in sel], [p["value"] for p in sel]


def _bd(points, clip, anchor, test, metric, min_overlap: float) -> dict:
    ra, qa, va = _curve(points, clip, anchor, metric)
    rt, qt, vt = _curve(points, clip, test, metric)
    entry = {"clip": clip, "anchor": anchor, "test": test, "metric": metric}
    try:
        r = bd_rate(ra, qa, rt, qt, higher_is_better=HIGHER_BETTER[metric], min_overlap=min_overlap)
    except BDRateUndefined as e:
        entry.update(percent=None, reason=str(e), anchor_range=e.anchor_range, test_range=e.test_range,
                     overlap=e.overlap)
        return entry
    entry.update(percent=r.percent, overlap=list(r.overlap), overlap_of_test=r.overlap_of_test,
                 overlap_of_anchor=r.overlap_of_anchor, dropped_test=[vt[i] for i in r.dropped_test],
                 dropped_anchor=[va[i] for i in r.dropped_anchor])
    return entry


def compute_bd(result: dict, min_overlap: float) -> dict:
    """BD-rates of gvc1d against every anchor (and, as a check of the setup, of the anchors against
    the first anchor in PSNR-YUV), per clip and metric, and their means over the clips."""
    points, clips = result["points"], [c["clip"] for c in result["clips"]]
    anchors = [c for c in result["codecs"] if not is_gvc(c)]
    extras = [c for c in result["codecs"] if c.startswith(EXTRA_PREFIX)]
    metrics = result["conditions"]["metrics"]

    def table(refs: list[str]) -> tuple[list[dict], list[dict]]:
        bd = [_bd(points, clip, ref, "gvc1d", m, min_overlap) for ref in refs for m in metrics for clip in clips]
        means = []
        for ref in refs:
            for m in metrics:
                vals = [e["percent"] for e in bd if e["anchor"] == ref and e["metric"] == m and e["percent"] is not None]
                means.append({"anchor": ref, "metric": m, "percent": float(np.mean(vals)) if vals else None,
                              "clips_defined": len(vals), "clips": len(clips)})
        return bd, means

    bd, means = table(anchors)
    sanity = []
    if len(anchors) > 1 and "psnr_yuv" in metrics:
        ref = anchors[0]
        sanity = [_bd(points, clip, ref, other, "psnr_yuv", min_overlap) for other in anchors[1:] for clip in clips]
    out = {"bd_rate": bd, "bd_rate_mean": means, "bd_rate_anchors": sanity}
    if extras:  # the main gvc1d weights against each --extra-weights curve
        out["bd_rate_gvc1d"], out["bd_rate_gvc1d_mean"] = table(extras)
    return out


# ----------------------------------------------------------------------------- reporting


def _fmt_metric(k: str, v: float | None) -> str:
    if v is None:
        return "-"
    return f"{v:.2f}" if k.startswith("psnr") else f"{v:.4f}"


def _fmt_range(metric: str, r) -> str:
    return f"{r[0]:.2f}-{r[1]:.2f}" if metric.startswith("psnr") else f"{r[0]:.3f}-{r[1]:.3f}"


def _fmt_bd(e: dict, codecs: dict) -> str:
    """One BD-rate cell: the value and the quality range it covers, or why it is n/a."""
    if e["percent"] is None:
        if e.get("overlap"):
            return (f"n/a: overlap {_fmt_range(e['metric'], e['overlap'])} only ({e['anchor']} "
                    f"{_fmt_range(e['metric'], e['anchor_range'])}, {e['test']} {_fmt_range(e['metric'], e['test_range'])})")
        if e.get("anchor_range"):
            return (f"n/a: no overlap ({e['anchor']} {_fmt_range(e['metric'], e['anchor_range'])}, "
                    f"{e['test']} {_fmt_range(e['metric'], e['test_range'])})")
        return f"n/a: {e['reason']}"
    out = f"{e['percent']:+.1f}% (over {_fmt_range(e['metric'], e['overlap'])}"
    for who, key in ((e["test"], "dropped_test"), (e["anchor"], "dropped_anchor")):
        if e[key]:
            out += f"; {who} {codecs[who]['param']} {', '.join(map(str, e[key]))} dominated, dropped"
    return out + ")"


def markdown(result: dict) -> str:
    """The Markdown report: conditions, the table of every rate point, the BD-rate tables."""
    codecs, clips, metrics = result["codecs"], result["clips"], result["conditions"]["metrics"]
    g = codecs["gvc1d"]
    extras = [c for c in codecs if c.startswith(EXTRA_PREFIX)]
    reused = result.get("anchors_reused_from")
    head = (f"Produced by `{result['command']}` ({result['elapsed_seconds'] / 60:.0f} min on "
            f"{result['machine']['cpus']} cores, {result['conditions']['threads']} thread(s) per coder).")
    if reused:
        mins = f"{reused['elapsed_seconds'] / 60:.0f} min, " if reused.get("elapsed_seconds") is not None else ""
        cpus = (reused.get("machine") or {}).get("cpus", "?")
        which = (f"For {', '.join(reused['clips'])} only gvc1d was coded; their" if reused.get("clips")
                 else "Only gvc1d was coded in this run; the")
        head += (f" {which} anchor points (rates, metrics, times) are reused from "
                 f"`{reused.get('command')}` ({mins}{cpus} cores, {reused.get('threads')} thread(s) per coder).")
    lines = [head,
             "",
             f"gvc1d weights `{Path(g['weights']).name}` (SHA-256 `{g['weights_sha256'][:16]}...`)"
             + "".join(f"; extra curve **{codecs[x]['label']}**: weights `{Path(codecs[x]['weights']).name}` "
                       f"(SHA-256 `{codecs[x]['weights_sha256'][:16]}...`)" for x in extras)
             + ". Clips: "
             + "; ".join(f"{c['clip']} {c['size']}, {c['note']}" for c in clips)
             + f". Low delay, intra period -1 (one intra frame), {FPS} fps Y4M input."
             + (" **Quick mode (smoke test): not a measurement.**" if result["conditions"]["quick"] else ""),
             "bpp counts every byte of each file (gvc1d: the .gvc stream with its header; anchors: the "
             "elementary stream, IVF for AV1). Metrics are means over the frames of a clip; RGB metrics "
             "use the one BT.709 limited-range conversion; MS-SSIM has 4 scales at 176x144, 5 above.",
             "",
             "Anchors:"]
    for name, c in codecs.items():
        if is_gvc(name):
            continue
        lines.append(f"- **{c['label']}** ({c['ffmpeg']} ffmpeg: {c['ffmpeg_version'].split(' Copyright')[0]}): "
                     f"`{c['command']}`. {c['notes']}.")
    for s in result["skipped"]:
        lines.append(f"- skipped **{s['codec']}**: {s['reason']}")
    for k, why in result["conditions"].get("metrics_skipped", {}).items():
        lines.append(f"- metric {k} skipped: {why}")
    lines += ["", "| clip | codec | setting | bpp | " + " | ".join(METRIC_LABEL[m] for m in metrics)
              + " | encode s | decode s |",
              "|---|---|---|---|" + "---|" * len(metrics) + "---|---|"]
    for c in clips:
        for p in result["points"]:
            if p["clip"] != c["clip"]:
                continue
            lines.append(f"| {c['clip']} | {codecs[p['codec']]['label']} | {p['param']} {p['value']} | {p['bpp']:.4f} | "
                         + " | ".join(_fmt_metric(m, p.get(m)) for m in metrics)
                         + f" | {p['encode_seconds']:.2f} | {p['decode_seconds']:.2f} |")
    frames = {c["clip"]: c["frames"] for c in clips}
    lines += ["", f"Coding speed over all points above (frames per second of coding time, {result['conditions']['threads']} "
              "thread(s); gvc1d: the Encoder/Decoder calls; anchors: the ffmpeg process, start-up included):", "",
              "| codec | encode fps | decode fps |", "|---|---|---|"]
    for name, c in codecs.items():
        pts = [p for p in result["points"] if p["codec"] == name]
        n = sum(frames[p["clip"]] for p in pts)
        enc, dec = sum(p["encode_seconds"] for p in pts), sum(p["decode_seconds"] for p in pts)
        if pts and enc > 0 and dec > 0:
            lines.append(f"| {c['label']} | {n / enc:.1f} | {n / dec:.1f} |")
    names = [c["clip"] for c in clips]
    lines += ["", "BD-rate of gvc1d against each anchor (negative: gvc1d needs fewer bits for the same quality), "
              "over the quality range both curves cover (shown; no extrapolation), n/a where they do not overlap "
              f"or overlap over less than {100 * result.get('min_overlap', 0):.0f}% of the narrower curve's span. "
              "PCHIP interpolation of log(bpp) against the metric; LPIPS and DISTS are negated (lower is better); "
              "a point that another point of the same curve beats in both rate and quality is dropped (noted). "
              "Mean: over the clips where the BD-rate is defined.", "",
              "| anchor | metric | " + " | ".join(names) + " | mean |", "|---|---|" + "---|" * (len(names) + 1)]
    for m_entry in result["bd_rate_mean"]:
        anc, m = m_entry["anchor"], m_entry["metric"]
        cells = []
        for clip in names:
            e = next(e for e in result["bd_rate"] if e["anchor"] == anc and e["metric"] == m and e["clip"] == clip)
            cells.append(_fmt_bd(e, codecs))
        mean = ("n/a" if m_entry["percent"] is None else f"{m_entry['percent']:+.1f}%") \
            + f" ({m_entry['clips_defined']}/{m_entry['clips']} clips)"
        lines.append(f"| {codecs[anc]['label']} | {METRIC_LABEL[m]} | " + " | ".join(cells) + f" | {mean} |")
    if result.get("bd_rate_gvc1d_mean"):
        lines += ["", f"BD-rate of {g['label']} against the other gvc1d weights (negative: {g['label']} needs fewer "
                  "bits for the same quality), computed as above.", "",
                  "| against | metric | " + " | ".join(names) + " | mean |", "|---|---|" + "---|" * (len(names) + 1)]
        for m_entry in result["bd_rate_gvc1d_mean"]:
            ref, m = m_entry["anchor"], m_entry["metric"]
            cells = [_fmt_bd(next(e for e in result["bd_rate_gvc1d"] if e["anchor"] == ref and e["metric"] == m
                                  and e["clip"] == clip), codecs) for clip in names]
            mean = ("n/a" if m_entry["percent"] is None else f"{m_entry['percent']:+.1f}%") \
                + f" ({m_entry['clips_defined']}/{m_entry['clips']} clips)"
            lines.append(f"| {codecs[ref]['label']} | {METRIC_LABEL[m]} | " + " | ".join(cells) + f" | {mean} |")
    if result["bd_rate_anchors"]:
        ref = result["bd_rate_anchors"][0]["anchor"]
        lines += ["", f"Check of the anchor setup: BD-rate (PSNR-YUV) of each anchor against {codecs[ref]['label']}.",
                  "", "| codec | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
        for other in dict.fromkeys(e["test"] for e in result["bd_rate_anchors"]):
            cells = [_fmt_bd(next(e for e in result["bd_rate_anchors"] if e["test"] == other and e["clip"] == clip),
                             codecs) for clip in names]
            lines.append(f"| {codecs[other]['label']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def summary(result: dict, anchor: str = "x265") -> str:
    """The short table of docs/results.md's summary: gvc1d's lowest and highest level against the anchor's two lowest
    rates on every clip (bpp / LPIPS-Alex / DISTS), then gvc1d's mean BD-rates against every anchor."""
    codecs, pts = result["codecs"], result["points"]

    def cell(p: dict | None) -> str:
        if p is None:
            return "-"
        return f"{p['bpp']:.3f} / " + " / ".join(_fmt_metric(m, p.get(m)) for m in ("lpips_alex", "dists"))

    a_label = codecs[anchor]["label"] if anchor in codecs else anchor
    lines = [f"| clip | gvc1d lowest level: bpp / LPIPS / DISTS | gvc1d highest level | {a_label}, lowest rate "
             f"| {a_label}, second lowest |", "|---|---|---|---|---|"]
    for c in result["clips"]:
        g = sorted((p for p in pts if p["clip"] == c["clip"] and p["codec"] == "gvc1d"), key=lambda p: p["bpp"])
        a = sorted((p for p in pts if p["clip"] == c["clip"] and p["codec"] == anchor), key=lambda p: p["bpp"])
        lines.append(f"| {c['clip']} ({c['frames']} frames) | {cell(g[0] if g else None)} | {cell(g[-1] if g else None)} "
                     f"| {cell(a[0] if a else None)} | {cell(a[1] if len(a) > 1 else None)} |")
    lines += ["", "| BD-rate of gvc1d against | " + " | ".join(METRIC_LABEL[m] for m in result["conditions"]["metrics"]) + " |",
              "|---|" + "---|" * len(result["conditions"]["metrics"])]
    for name in codecs:
        if is_gvc(name):
            continue
        cells = []
        for m in result["conditions"]["metrics"]:
            e = next((e for e in result["bd_rate_mean"] if e["anchor"] == name and e["metric"] == m), None)
            cells.append("n/a" if e is None or e["percent"] is None else
                         f"{e['percent']:+.0f}% ({e['clips_defined']}/{e['clips']} clips)")
        lines.append(f"| {codecs[name]['label']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def update_doc(path: Path, body: str, marker: str = DOC_MARKER) -> None:
    """Replace the text between ``<!-- marker -->`` and ``<!-- /marker -->`` in ``path``."""
    text = path.read_text()
    start, end = f"<!-- {marker} -->\n", f"\n<!-- /{marker} -->"
    i, j = text.find(start), text.find(end)
    if i < 0 or j < i:
        sys.exit(f"rd.py: {path} has no {start.strip()} ... {end.strip()} markers")
    path.write_text(text[:i + len(start)] + body.rstrip("\n") + text[j:])


def plot(result: dict, out_dir: Path) -> list[Path]:
    """One PNG per clip: every metric against bpp (log scale), one curve per codec."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.ticker import FormatStrFormatter, LogLocator, NullFormatter
    except ImportError:
        log("matplotlib not installed (pip install matplotlib, the `bench` extra): no plots")
        return []
    out_dir.mkdir(parents=True, exist_ok=True)
    metrics, codecs = result["conditions"]["metrics"], result["codecs"]
    files = []
    for c in result["clips"]:
        n = len(metrics)
        cols = 3 if n > 2 else n
        rows = -(-n // cols)
        fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.4 * rows), squeeze=False)
        for ax, m in zip(axes.flat, metrics):
            for codec in codecs:
                pts = sorted((p["bpp"], p[m]) for p in result["points"]
                             if p["clip"] == c["clip"] and p["codec"] == codec and m in p)
                if pts:
                    x, y = zip(*pts)
                    style = "o-" if codec == "gvc1d" else "s--" if is_gvc(codec) else ".-"
                    ax.plot(x, y, style, lw=2 if codec == "gvc1d" else 1.5 if is_gvc(codec) else 1,
                            ms=5 if codec == "gvc1d" else 4, label=codecs[codec]["label"])
            ax.set_xscale("log")
            ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
            ax.xaxis.set_major_formatter(FormatStrFormatter("%g"))
            ax.xaxis.set_minor_formatter(NullFormatter())
            ax.set_xlabel("bpp")
            ax.set_title(METRIC_LABEL[m] + ("" if HIGHER_BETTER[m] else " (lower is better)"), fontsize=10)
            ax.grid(True, which="both", alpha=0.3)
        handles, labels = axes.flat[0].get_legend_handles_labels()
        spare = list(axes.flat)[n:]
        for ax in spare:
            ax.axis("off")
        if spare:
            spare[0].legend(handles, labels, loc="center", fontsize=9)
        else:
            fig.legend(handles, labels, loc="lower center", ncol=len(labels), fontsize=9)
        fig.suptitle(f"{c['clip']} {c['size']}, {c['frames']} frames, low delay", fontsize=11)
        fig.tight_layout()
        path = out_dir / f"rd-{c['clip']}.png"
        fig.savefig(path, dpi=72)
        plt.close(fig)
        files.append(path)
    return files


# ----------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", help="registry name or weights file (default: the shipped gvc1d-tiny)")
    ap.add_argument("--frames", type=int, default=32, help="frames per clip (shorter clips are used whole)")
    ap.add_argument("--qualities", help="gvc1d qualities to code, comma-separated (default: every level, the "
                    "enhancement layer's included: 0..Q+3)")
    ap.add_argument("--clips", default=",".join(clip_names("heldout")))
    ap.add_argument("--anchors", default=",".join(ANCHOR_BY_NAME), help="comma-separated: " + ", ".join(ANCHOR_BY_NAME))
    ap.add_argument("--metrics", default=",".join(METRIC_LABEL), help="comma-separated: " + ", ".join(METRIC_LABEL))
    ap.add_argument("--threads", type=int, default=1, help="threads for torch and for each ffmpeg coder")
    ap.add_argument("--quick", action="store_true",
                    help=f"smoke test: {QUICK_FRAMES} frames, 2 rate points per anchor, lowest and highest gvc1d quality")
    ap.add_argument("--json", help="write the results here")
    ap.add_argument("--plot-dir", help="write one PNG per clip here (needs matplotlib)")
    ap.add_argument("--markdown", help="write the Markdown report here too")
    ap.add_argument("--doc", help="replace the <!-- rd-table --> section of this Markdown file with the report")
    ap.add_argument("--readme", help="replace the <!-- rd-summary --> section of this Markdown file with the short table")
    ap.add_argument("--min-overlap", type=float, default=MIN_OVERLAP,
                    help="BD-rate n/a when the curves overlap over less than this fraction of the narrower one's "
                         f"quality span (default {MIN_OVERLAP})")
    ap.add_argument("--from-json", help="do not code anything: recompute the BD-rates of a results JSON and "
                                        "render them (with --json, write the JSON back)")
    ap.add_argument("--reuse-anchors", metavar="JSON",
                    help="take the anchor points (metrics, settings, commands, versions) from this earlier results "
                         "JSON of the same clips and frame counts and code only gvc1d (may be the --json path)")
    ap.add_argument("--extra-weights", metavar="NAME=SPEC", action="append",
                    help="also code these gvc1d weights as extra curves labelled 'gvc1d (NAME)' (repeatable or "
                         "comma-separated; SPEC alone: named after it), with the BD-rate of the main weights against each")
    a = ap.parse_args(argv)
    a.reused = None
    if a.reuse_anchors:
        if a.from_json:
            refuse("--reuse-anchors and --from-json do not go together")
        parse_extra_weights(a.extra_weights)  # fail early on a bad value
        a.reused = read_reused_anchors(a.reuse_anchors, [c for c in a.clips.split(",") if c],
                                       QUICK_FRAMES if a.quick else a.frames, a.quick,
                                       [m for m in a.metrics.split(",") if m])
    if a.from_json:
        result = json.loads(Path(a.from_json).read_text())
        result["min_overlap"] = a.min_overlap
        result.update(compute_bd(result, a.min_overlap))
        if a.json:
            Path(a.json).write_text(json.dumps(result, indent=1) + "\n")
            log(f"wrote {a.json}")
    else:
        result = run(a)
        if a.json:
            Path(a.json).write_text(json.dumps(result, indent=1) + "\n")
            log(f"wrote {a.json}")
    report = markdown(result)
    sys.stdout.write(report)
    if a.markdown:
        Path(a.markdown).write_text(report)
    if a.doc:
        update_doc(Path(a.doc), report)
        log(f"updated {a.doc}")
    if a.readme:
        update_doc(Path(a.readme), summary(result), "rd-summary")
        log(f"updated {a.readme}")
    if a.plot_dir:
        for f in plot(result, Path(a.plot_dir)):
            log(f"wrote {f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
