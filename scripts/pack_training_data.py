"""Pack the training clips into one .npz for a machine that cannot fetch them (the device tool's
GPU machine has no network; what travels there is capped at 64 MiB).

    python scripts/pack_training_data.py [--out .device/train-clips.npz] [--mib 44] [--clips train]

Per clip: one run of consecutive frames (from the middle of the clip), as many as its share of the
budget holds (equal shares; at least --min-frames), cut to at most --max-side px around the
centre (even offsets, so the chroma planes cut at the same place). Stored uncompressed uint8:
``<name>.y [T,H,W]``, ``<name>.u``, ``<name>.v`` [T,H/2,W/2]. The trainer reads it with
``--data FILE`` (``VideoCropDataset.from_arrays``); held-out clips are refused, as in training.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gvc1d_codec.data.clips import CLIPS, clip_names, load_clip  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=".device/train-clips.npz")
    ap.add_argument("--mib", type=float, default=44.0, help="budget for all the planes together")
    ap.add_argument("--clips", default="train")
    ap.add_argument("--max-side", type=int, default=512)
    ap.add_argument("--min-frames", type=int, default=4)
    a = ap.parse_args()
    names = clip_names("train") if a.clips == "train" else a.clips.split(",")
    for n in names:
        if CLIPS[n].split != "train":
            raise SystemExit(f"pack_training_data: {n} is {CLIPS[n].split!r}: training never sees it")
    share = a.mib * 2**20 / len(names)
    arrays, total = {}, 0
    for n in names:
        y, u, v = load_clip(n)
        t, h, w = y.shape
        ch, cw = min(h, a.max_side) // 2 * 2, min(w, a.max_side) // 2 * 2
        y0, x0 = (h - ch) // 4 * 2, (w - cw) // 4 * 2
        frames = int(max(a.min_frames, min(t, share // (ch * cw * 3 // 2))))
        t0 = max(0, (t - frames) // 2)
        sl = slice(t0, t0 + frames)
        arrays[f"{n}.y"] = np.ascontiguousarray(y[sl, y0:y0 + ch, x0:x0 + cw])
        arrays[f"{n}.u"] = np.ascontiguousarray(u[sl, y0 // 2:(y0 + ch) // 2, x0 // 2:(x0 + cw) // 2])
        arrays[f"{n}.v"] = np.ascontiguousarray(v[sl, y0 // 2:(y0 + ch) // 2, x0 // 2:(x0 + cw) // 2])
        size = sum(arrays[f"{n}.{p}"].nbytes for p in "yuv")
        total += size
        print(f"{n:<18} {cw}x{ch} frames {t0}..{t0 + frames - 1} ({size / 2**20:.1f} MiB)")
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(out, **arrays)
    print(f"wrote {out}: {len(names)} clips, {total / 2**20:.1f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
