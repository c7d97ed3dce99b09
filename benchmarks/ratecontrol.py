"""Rate control: target against achieved bitrate on the held-out clips (the table of docs/results.md).

    python benchmarks/ratecontrol.py [--weights W] [--frames 120] [--bpp 0.02,0.04,0.08]
        [--clips carphone,cisco_2people,cisco_men,cockatoo:32] [--intra-period 32] [--modes one,lookahead,two]
        [--json out.json] [--readme docs/results.md]

Targets: by default, for each clip, the geometric mean of each pair of neighbouring levels'
bitrates measured on the same frames (so every target lies inside the range the levels cover and
rate control must interpolate); or ``--bpp`` in bits per pixel per frame, one list for every size
(the bitrate asked for is ``bpp x width x height x 25 fps``). For each clip and target it encodes with ``Encoder(bitrate=...)``
through the frame-level API, decodes, and prints the achieved bitrate (the whole .gvc file, header
included), its error against the target, PSNR-YUV, LPIPS-Alex, the range of qualities rate control
chose and the mean quality of the first intra period (in a clip of one period: its first quarter)
against the whole clip's (a sacrificed start shows as a negative difference). Modes: ``one`` (one pass, ``--lookahead 0``), ``lookahead`` (one
pass with gvc1d-pipe's default look-ahead, ``Encoder.encode(frame, upcoming)``), ``two`` (a second
pass planned with the lookahead run's stats, ``Encoder(first_pass=...)``, as ``--pass 1`` then
``--pass 2``), ``vbv`` (lookahead with ``--maxrate`` = the target and ``--bufsize`` = one second).
Every stream's packets are replayed through a VBV of maxrate = target, bufsize = 1 s
(``gvc1d-pipe info --vbv``): "VBV fill" is the fullest it gets (over 100 %: it overflows; only the
``vbv`` mode promises not to).
Also the fixed levels' own bitrates on the same frames, to show where the targets sit.
"""
from __future__ import annotations

import argparse
import io
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gvc1d_codec import VideoFrame, metrics  # noqa: E402
from gvc1d_codec.bitstream import PacketReader, read_header  # noqa: E402
from gvc1d_codec.data.clips import load_clip  # noqa: E402
from gvc1d_codec.codec import DEFAULT_LOOKAHEAD  # noqa: E402
from gvc1d_codec.evaluate import code_clip, frame_metrics, mean_metrics  # noqa: E402
from gvc1d_codec.ratecontrol import vbv_replay  # noqa: E402
from gvc1d_codec.weights import load_weights  # noqa: E402

FPS = 25


def packet_bits(stream: bytes) -> tuple[list[int], int]:
    """(each packet's bits, the header's bits) of a .gvc stream, as gvc1d-pipe info reads them."""
    buf = io.BytesIO(stream)
    header = read_header(buf)
    reader = PacketReader(buf, header)
    return [8 * reader.last_size for _ in reader], 8 * len(header.pack())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights")
    ap.add_argument("--frames", type=int, default=120)
    ap.add_argument("--bpp", help="targets, bits per pixel per frame (default: between neighbouring levels)")
    ap.add_argument("--clips", default="carphone,cisco_2people,cisco_men,cockatoo:32",
                    help="held-out clips; NAME:N codes that clip's first N frames instead of --frames")
    ap.add_argument("--intra-period", type=int, default=32)
    ap.add_argument("--modes", default="one,lookahead,two,vbv",
                    help="rate control modes: one (one pass, no look-ahead), lookahead (one pass, gvc1d-pipe's default "
                         "look-ahead), two (a second pass on the lookahead run's stats), vbv (lookahead with "
                         "--maxrate = the target, --bufsize = 1 s)")
    ap.add_argument("--json")
    ap.add_argument("--readme", help="replace the table between <!-- ratecontrol-table --> markers in this file")
    a = ap.parse_args()
    loaded = load_weights(a.weights)
    rows = []
    table = ["| clip | frames | mode | target kbit/s | achieved kbit/s | error | PSNR-YUV | LPIPS | qualities chosen "
             "| first period - all | VBV fill | levels 0..Q-1, kbit/s |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    modes = a.modes.split(",")
    if not set(modes) <= {"one", "lookahead", "two", "vbv"}:
        raise SystemExit("--modes: one, lookahead, two, vbv")
    lpips = metrics.LPIPS("alex")
    print("\n".join(table))
    for spec in a.clips.split(","):
        name, _, count = spec.partition(":")  # "cockatoo:32": that clip's own frame count
        y, u, v = load_clip(name, max_frames=int(count) if count else a.frames)
        t, h, w = y.shape
        src = [VideoFrame("yuv420p", (y[i], u[i], v[i])) for i in range(t)]
        levels = []
        for q in range(loaded.config.qualities):
            coded = code_clip(src, None, weights=loaded, intra_period=a.intra_period, fps=FPS, point=q)  # the levels rate control picks among
            levels.append(coded.bpp(w, h) * w * h * FPS / 1000)
        if a.bpp:
            targets = [float(b) * w * h * FPS for b in a.bpp.split(",")]
        else:
            targets = [1000 * (lo * hi) ** 0.5 for lo, hi in zip(levels, levels[1:])]
        for target in targets:
            stats = None
            for mode in ("one", "lookahead", "two", "vbv"):
                if mode not in modes and not (mode == "lookahead" and "two" in modes):
                    continue
                t0 = time.perf_counter()
                coded = code_clip(src, None, weights=loaded, intra_period=a.intra_period, fps=FPS, bitrate=target,
                                  first_pass=stats if mode == "two" else None,
                                  lookahead=DEFAULT_LOOKAHEAD if mode in ("lookahead", "vbv") else 0,
                                  maxrate=target if mode == "vbv" else None)
                if mode == "lookahead":
                    stats = coded.pass_stats  # the first pass, as gvc1d-pipe --pass 1 runs it
                if mode not in modes:
                    continue
                achieved = coded.bpp(w, h) * w * h * FPS
                # the stream's packets through a VBV of maxrate = target, bufsize = 1 s (gvc1d-pipe info --vbv)
                sizes, header_bits = packet_bits(coded.stream)
                worst, overflows = vbv_replay(sizes, target / FPS, target, header_bits)
                m = mean_metrics([frame_metrics(f, d, lpips_net=lpips) for f, d in zip(src, coded.decoded)])
                # the first intra period; in a clip of one period, its first quarter
                period = coded.qualities[: a.intra_period if 0 < a.intra_period < t else max(t // 4, 1)]
                start = sum(period) / len(period) - sum(coded.qualities) / len(coded.qualities)
                row = {"clip": name, "size": f"{w}x{h}", "frames": t, "intra_period": a.intra_period, "mode": mode,
                       "target_bps": target, "achieved_bps": achieved, "error": achieved / target - 1,
                       "psnr_yuv": m["psnr_yuv"], "lpips_alex": m["lpips_alex"], "qualities": coded.qualities,
                       "first_period_minus_all": start, "vbv_worst_fill": worst, "vbv_overflows": overflows, "level_kbps": levels, "seconds": time.perf_counter() - t0, "encode_seconds": coded.encode_seconds}
                rows.append(row)
                table.append(f"| {name} {w}x{h} | {t} | {mode} | {target / 1000:.1f} | {achieved / 1000:.1f} "
                             f"| {100 * row['error']:+.1f}% | {m['psnr_yuv']:.2f} | {m['lpips_alex']:.4f} "
                             f"| {min(coded.qualities):g}..{max(coded.qualities):g} | {start:+.2f} | {100 * worst:.0f}% "
                             f"| {' / '.join(f'{k:.1f}' for k in levels)} |")
                print(table[-1], flush=True)
    lines = []
    for mode in modes:
        errors = [abs(r["error"]) for r in rows if r["mode"] == mode]
        starts = [r["first_period_minus_all"] for r in rows if r["mode"] == mode]
        fills = [r["vbv_worst_fill"] for r in rows if r["mode"] == mode]
        lines.append(f"{mode}: mean |error| {100 * sum(errors) / len(errors):.1f}%, "
                     f"max {100 * max(errors):.1f}%, within 2%: {sum(e <= 0.02 for e in errors)} of {len(errors)}, "
                     f"within 5%: {sum(e <= 0.05 for e in errors)}; first intra period's mean quality against the "
                     f"clip's: {min(starts):+.2f} .. {max(starts):+.2f}; VBV (maxrate = target, 1 s) fullest "
                     f"{100 * max(fills):.0f}%, overflowing streams {sum(r['vbv_overflows'] > 0 for r in rows if r['mode'] == mode)}")
    summary = "\n".join(lines)
    print("\n" + summary)
    if a.readme:
        text = Path(a.readme).read_text()
        start, end = "<!-- ratecontrol-table -->", "<!-- /ratecontrol-table -->"
        if start not in text or end not in text:
            raise SystemExit(f"{a.readme} has no {start} ... {end} markers")
        head, rest = text.split(start, 1)
        Path(a.readme).write_text(head + start + "\n" + "\n".join(table) + "\n\n" + summary + "\n" + end + rest.split(end, 1)[1])
    if a.json:
        Path(a.json).write_text(json.dumps({"weights_sha256": loaded.sha256, "rows": rows}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
