"""Plot a trainer's JSONL log(s): loss, rate (bpp), PSNR and, for the generative stage, LPIPS and
the discriminator's outputs (stage prior: its training bpp), against the step (needs the ``bench`` extra: matplotlib).

    python scripts/plot_training.py training/logs/gvc1d-tiny-v1.train-log.jsonl training/logs/gvc1d-tiny-v1.gan-log.jsonl -o training.png

Runs are drawn one after the other: where the step count starts again (a run started with
``--init``, or the next log file) the steps are offset so the stages follow each other.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("logs", nargs="+", type=Path)
    ap.add_argument("-o", "--out", type=Path, required=True, help="output PNG")
    args = ap.parse_args(argv)
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("plot_training: needs matplotlib (pip install -e '.[bench]')", file=sys.stderr)
        return 2
    rows, offset = [], 0
    for path in args.logs:
        try:
            log = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        except (OSError, json.JSONDecodeError) as e:
            print(f"plot_training: cannot read {path}: {e}", file=sys.stderr)
            return 1
        last = 0
        for r in log:
            if r["step"] <= last:  # a run started with --init counts from 0 again
                offset = rows[-1]["step"]
            last = r["step"]
            rows.append(dict(r, step=r["step"] + offset))
        offset = rows[-1]["step"] if rows else offset
    keys = [k for k in ("loss", "bpp", "train_bpp", "psnr", "lpips", "d_real", "d_fake") if any(k in r for r in rows)]
    fig, axes = plt.subplots(len(keys), 1, figsize=(8, 1.8 * len(keys)), sharex=True)
    colour = {stage: f"C{i}" for i, stage in enumerate(dict.fromkeys(r["stage"] for r in rows))}  # one per stage
    for ax, key in zip(axes, keys):
        for stage in colour:
            pts = [(r["step"], r[key]) for r in rows if r["stage"] == stage and key in r]
            if pts:
                ax.plot(*zip(*pts), label=stage, lw=0.8, color=colour[stage])
        ax.set_ylabel(key)
        ax.grid(alpha=0.3)
    handles = {h.get_label(): h for ax in axes for h in ax.get_lines()}
    axes[0].legend(list(handles.values()), list(handles), fontsize=7)
    axes[-1].set_xlabel("step")
    fig.tight_layout()
    fig.savefig(args.out, dpi=90)
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
