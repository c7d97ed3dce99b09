"""What the two atheris targets share: options, limits, and the CRC-fixing custom mutator.

Options of our own (everything else goes to libFuzzer, e.g. ``-max_total_time=600``):

``--raw``              no custom mutator: plain libFuzzer mutations, so most inputs die at a CRC
``--max-as-mb N``      address-space limit (RLIMIT_AS) of the fuzzing process, a hard memory
                       bound that makes an oversized allocation fail at once (a finding) instead of
                       pushing the machine into swap or the OOM killer
"""
from __future__ import annotations

import os
import random
import resource
import sys
from pathlib import Path

import atheris

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


def import_instrumented() -> None:
    """Import the codec with coverage instrumentation (before anything else imports it)."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    with atheris.instrument_imports(include=["gvc1d_codec"]):
        import gvc1d_codec
        import gvc1d_codec.bitstream
        import gvc1d_codec.codec  # noqa: F401
    import torch

    torch.set_num_threads(1)


def _take_option(argv: list[str], name: str, has_value: bool) -> tuple[list[str], str | bool | None]:
    out, value = [], None
    it = iter(argv)
    for a in it:
        if a == name:
            value = next(it) if has_value else True
        elif has_value and a.startswith(name + "="):
            value = a.split("=", 1)[1]
        else:
            out.append(a)
    return out, value


def limit_address_space(mb: int) -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    want = mb << 20
    if hard != resource.RLIM_INFINITY:
        want = min(want, hard)
    resource.setrlimit(resource.RLIMIT_AS, (want, hard))


def fuzz(test_one_input, *, identity: bytes | None = None, default_as_mb: int = 4096) -> None:
    """Run libFuzzer on ``test_one_input``. ``identity``: a valid header whose model identity
    (config, weights prefix, entropy model) the mutator restores in 90% of the inputs, so that the
    decoder target mostly gets streams it accepts."""
    import streamtools as st

    argv, raw = _take_option(sys.argv, "--raw", False)
    argv, as_mb = _take_option(argv, "--max-as-mb", True)
    limit_address_space(int(as_mb) if as_mb else default_as_mb)

    def mutator(data: bytes, max_size: int, seed: int) -> bytes:
        rng = random.Random(seed)
        if rng.random() < 0.35:
            data = st.structured_mutate(data, rng, max_size=max_size)
        else:
            data = atheris.Mutate(data, max_size)
        if rng.random() < 0.15:  # stack a second mutation now and then
            data = atheris.Mutate(data, max_size)
        if identity is not None and rng.random() < 0.9:
            data = st.set_identity(data, identity)
        if rng.random() < 0.95:  # a few inputs keep a broken CRC: the CRC paths stay covered
            data = st.fix_crcs(data)
        return data[:max_size]

    def crossover(data1: bytes, data2: bytes, max_out_size: int, seed: int) -> bytes:
        rng = random.Random(seed)
        return st.fix_crcs(st.crossover(data1, data2, rng))[:max_out_size]

    if raw:
        atheris.Setup(argv, test_one_input)
    else:
        atheris.Setup(argv, test_one_input, custom_mutator=mutator, custom_crossover=crossover)
    atheris.Fuzz()
