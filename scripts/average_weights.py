#!/usr/bin/env python3
"""Average several weights files of one architecture into one (uniform average of every float
parameter, the integer entropy model exported again from the averaged float prior, as a training
save does).

    python scripts/average_weights.py OUT.safetensors A.safetensors B.safetensors [...]

The generative stage moves LPIPS by tens of percent between saves 25 steps apart (training/evals);
the average of a few consecutive saves is steadier (what the trainer's --ema now keeps as it runs).
The output's metadata keeps the last input's training record and names the files averaged.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import torch
from safetensors import safe_open

try:
    import gvc1d_codec  # noqa: F401
except ImportError:  # run from a checkout without installing
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gvc1d_codec.weights import load_weights, save_weights  # noqa: E402


def main(argv: list[str]) -> int:
    if len(argv) < 3:
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    out, paths = argv[0], argv[1:]
    models = [load_weights(p).model for p in paths]
    if any(m.cfg != models[0].cfg for m in models):
        print("average_weights.py: error: the files have different architectures", file=sys.stderr)
        return 1
    base = models[0]
    state = {k: torch.stack([m.state_dict()[k].float() for m in models]).mean(0).to(v.dtype) if v.is_floating_point() else v
             for k, v in base.state_dict().items()}
    base.load_state_dict(state)
    with safe_open(paths[-1], "pt") as f:
        meta = f.metadata()
    extra = {k: v for k, v in meta.items() if k not in ("format", "config", "entropy_model_id")}
    extra["averaged"] = json.dumps([Path(p).name for p in paths])
    print(save_weights(base, Path(out), extra))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
