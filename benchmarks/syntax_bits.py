"""Where a stream's bits go: the entropy model's ideal bits of each syntax element, frame by frame.

    python benchmarks/syntax_bits.py [--clip zhling720p] [--frames 4] [--quality 3] [--intra-period -1]

Codes the first frames of a clip through ``Encoder`` and counts, for every symbol the range coder
is given, -log2 of its probability (``SymbolEncoder.encode`` is wrapped for the run; what is
coded does not change), by syntax element: the tokens, motion vectors (merge modes and vectors) and skip flags
(docs/bitstream.md, "Packet payload"), and the enhancement layer's prediction modes, window flags,
block classes, coefficients and escapes ("Enhancement layer"). A training clip by default: this is
for deciding what to code better, not a result on the held-out clips.
"""
from __future__ import annotations

import argparse
import collections
import inspect
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gvc1d_codec import VideoFrame  # noqa: E402
from gvc1d_codec.codec import Encoder  # noqa: E402
from gvc1d_codec.data.clips import load_clip  # noqa: E402
from gvc1d_codec.entropy import coder, residual_syntax  # noqa: E402
from gvc1d_codec.entropy.definition import MERGE_MODES, MV_FREQ  # noqa: E402

LAYER_WIDTHS = {residual_syntax.MODES: "layer modes", 2: "layer window flags", residual_syntax.CLASSES: "layer block classes",
                residual_syntax.ALPHABET: "layer coefficients"}


def element(filename: str, caller: str, width: int) -> str:
    """The syntax element of a call of ``SymbolEncoder.encode`` from ``caller`` in ``filename`` with
    rows of ``width`` symbols."""
    if filename.endswith("residual_syntax.py"):
        return "layer escapes" if caller == "_encode_escapes" else LAYER_WIDTHS.get(width, f"layer ({width} symbols)")
    if caller == "_encode_tokens":
        return "tokens"
    if width == MV_FREQ.shape[1]:
        return "motion vectors"
    if width == MERGE_MODES:
        return "motion merge modes"
    return "skip flags" if width == 2 else f"{caller} ({width} symbols)"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clip", default="zhling720p")
    ap.add_argument("--frames", type=int, default=4)
    ap.add_argument("--quality", type=float, default=3.0)
    ap.add_argument("--intra-period", type=int, default=-1)
    ap.add_argument("--weights")
    a = ap.parse_args()
    bits: collections.Counter = collections.Counter()
    wrapped = coder.SymbolEncoder.encode

    def counting(self, residuals, freqs):
        r = np.asarray(residuals).reshape(-1)
        f = np.broadcast_to(np.asarray(freqs, dtype=np.float64), (r.size, np.shape(freqs)[-1]))
        p = f[np.arange(r.size), r] / f.sum(axis=1)
        caller = inspect.stack()[1]
        bits[element(caller.filename, caller.function, f.shape[1])] += float(-np.log2(p).sum())
        return wrapped(self, residuals, freqs)

    coder.SymbolEncoder.encode = counting
    try:
        y, u, v = load_clip(a.clip, max_frames=a.frames)
        t, h, w = y.shape
        enc = Encoder(w, h, quality=a.quality, intra_period=a.intra_period, weights=a.weights)
        print(f"{a.clip} {w}x{h}, quality {a.quality:g}, intra period {a.intra_period}: ideal bytes per syntax element")
        print("| frame | type | payload bytes | element: ideal bytes (share) |")
        print("|---|---|---|---|")
        for i in range(t):
            before = dict(bits)
            packet = enc.encode_packet(VideoFrame("yuv420p", (y[i], u[i], v[i])))
            delta = {k: bits[k] - before.get(k, 0.0) for k in bits if bits[k] - before.get(k, 0.0) > 0}
            total = sum(delta.values())
            parts = ", ".join(f"{k} {d / 8:.0f} B ({100 * d / total:.0f} %)" for k, d in sorted(delta.items(), key=lambda kv: -kv[1]))
            print(f"| {i} | {packet.frame_type} | {len(packet.payload)} | {parts} |", flush=True)
    finally:
        coder.SymbolEncoder.encode = wrapped
    return 0


if __name__ == "__main__":
    sys.exit(main())
