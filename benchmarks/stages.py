"""Where the coding time goes, stage by stage, and how close the transforms run to the machine's limit.

Used by ``benchmarks/speed.py`` (its children call :func:`profile_stages` after the timed pass):
a second pass over the same frames with a fresh ``Encoder`` / ``Decoder`` under ``cProfile``, whose
cumulative time per stage function is summed into the stages below. Profiling slows Python-heavy
code, so these are shares of a profiled run, next to the unprofiled fps of the timed pass. Stages
nest as the code does: "skip decisions" includes the prior passes it makes; "enhancement layer"
includes its range coding. The frames come from memory, so "colour conversion" is all of the
reading; what no stage names (the coding state's update, tensor bookkeeping) is the rest of the
profiled total.

The machine's limit: float32 GFLOP/s of a 2048 x 2048 matrix product with the same threads
(:func:`peak_gflops`). The transforms' FLOPs come from ``torch.utils.flop_counter`` over the
analysis and synthesis calls of one frame (:func:`transform_flops`), so GFLOP/s reached =
FLOPs / (their profiled seconds), as a share of that peak.
"""
from __future__ import annotations

import cProfile
import pstats
import time

# stage -> (file suffix, function name) pairs whose cumulative times add up to it
STAGES = {
    "colour conversion": [("color.py", "frame_to_rgb"), ("color.py", "rgb_to_frame")],
    "motion search": [("motion.py", "estimate_motion")],
    "analysis": [("gvc1d.py", "analysis")],
    "skip decisions": [("codec.py", "choose_skip")],
    "integer prior": [("prior.py", "params")],
    "range coder": [("coder.py", "encode"), ("coder.py", "finish"), ("coder.py", "decode")],
    "synthesis": [("gvc1d.py", "synthesis")],
    "enhancement layer": [("enhancement.py", "analyse"), ("enhancement.py", "choose_modes"),
                          ("enhancement.py", "predict"), ("enhancement.py", "synthesise"),
                          ("residual_syntax.py", "encode"), ("residual_syntax.py", "decode"),
                          ("residual_syntax.py", "adapt")],
    "writing": [("compact.py", "frame"), ("container.py", "frame"), ("container.py", "pack")],
}


def profile_stages(step, items) -> tuple[float, dict[str, float]]:
    """Run ``step(item)`` for every item under cProfile: (total seconds, {stage: cumulative seconds})."""
    prof = cProfile.Profile()
    t0 = time.perf_counter()
    prof.enable()
    for item in items:
        step(item)
    prof.disable()
    total = time.perf_counter() - t0
    stats = pstats.Stats(prof).stats  # (file, line, function) -> (cc, nc, tt, ct, callers)
    out = {}
    for stage, funcs in STAGES.items():
        out[stage] = sum(ct for (file, _line, fn), (_cc, _nc, _tt, ct, _callers) in stats.items()
                         if any(file.endswith(suffix) and fn == name for suffix, name in funcs))
    return total, out


def transform_flops(model, frame_call) -> float:
    """FLOPs of the model's analysis and synthesis during ``frame_call()`` (one frame's coding)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    counted = {"flops": 0}
    originals = {name: getattr(model, name) for name in ("analysis", "synthesis")}

    def wrap(fn):
        def inner(*args, **kwargs):
            with FlopCounterMode(display=False) as fc:
                out = fn(*args, **kwargs)
            counted["flops"] += fc.get_total_flops()
            return out
        return inner

    try:
        for name, fn in originals.items():
            setattr(model, name, wrap(fn))
        with torch.inference_mode():
            frame_call()
    finally:
        for name in originals:
            delattr(model, name)  # back to the class's methods
    return float(counted["flops"])


def peak_gflops(n: int = 2048, reps: int = 5) -> float:
    """float32 GFLOP/s of an n x n matrix product (the best of ``reps``), with torch's current threads."""
    import torch

    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.mm(a, b)  # warm-up
    best = float("inf")
    for _ in range(reps):
        t = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - t)
    return 2 * n ** 3 / best / 1e9
