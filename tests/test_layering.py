"""Runtime vs tooling: the codec a user runs (config, frame, color, io, model, entropy, bitstream,
weights, step, codec, cli, conformance) imports nothing from training, data download, metrics or
benchmarks, so those can change (and pull their own dependencies) without touching the codec."""
from __future__ import annotations

import json
import subprocess
import sys

from conftest import REPO

RUNTIME = ["config", "frame", "color", "io", "model.gvc1d", "entropy.model", "entropy.prior", "entropy.definition",
           "bitstream", "weights", "step", "codec", "cli", "conformance",
           "batch", "batch.items", "batch.work", "batch.report", "batch.cli"]
# gvc1d-batch's scheduler (the [batch] extra; tqdm is not checked: torch imports it): only when a batch run starts
OPTIONAL = ("ray",)
TOOLING = ("gvc1d_codec.train", "gvc1d_codec.data", "gvc1d_codec.metrics", "gvc1d_codec.evaluate", "benchmarks")


def test_runtime_modules_import_no_tooling():
    code = ("import importlib, json, sys\n"
            f"for m in {RUNTIME!r}: importlib.import_module('gvc1d_codec.' + m)\n"
            "print(json.dumps(sorted(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True).stdout
    loaded = json.loads(out)
    leaked = [m for m in loaded if m.startswith(TOOLING)]
    assert not leaked, f"the runtime imports tooling: {leaked}"
    optional = sorted({m.split(".")[0] for m in loaded if m.split(".")[0] in OPTIONAL})
    assert not optional, f"the runtime imports an optional dependency at import time: {optional}"
