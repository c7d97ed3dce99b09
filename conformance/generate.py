#!/usr/bin/env python3
"""Write the conformance set (streams + manifest.json) from one weights file, in one command.

    nice -n 19 python conformance/generate.py --weights weights/gvc1d-tiny.safetensors            # -> conformance/
    nice -n 19 python conformance/generate.py --weights /tmp/w.safetensors --out /tmp/conf --force

Encodes every stream of ``gvc1d_codec.conformance.STREAM_SPECS`` from the registry clips
(``../shared`` and PyPI, see gvc1d_codec/data/clips.py), decodes each again with a fresh decoder,
checks that the decoder's symbols equal the encoder's, and writes the ``.gvc`` files and the
manifest (SHA-256 per stream, per-frame symbol SHA-256 and picture MD5). Refuses to overwrite an
existing set without ``--force``. See docs/conformance.md.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

try:
    import gvc1d_codec  # noqa: F401
except ImportError:  # run from a checkout without installing
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gvc1d_codec.conformance import DEFAULT_DIR, STREAM_SPECS, generate  # noqa: E402
from gvc1d_codec.errors import GVC1DError  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="generate.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--weights", required=True, help="weights file (or registry name) the set is made for")
    p.add_argument("--out", default=str(DEFAULT_DIR), help=f"output directory (default {DEFAULT_DIR})")
    p.add_argument("--force", action="store_true", help="replace an existing conformance set")
    p.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    p.add_argument("--streams", help="comma-separated subset of stream names (default: all)")
    p.add_argument("--list", action="store_true", help="list the stream matrix and exit")
    a = p.parse_args(argv)
    specs = list(STREAM_SPECS)
    if a.list:
        for s in specs:
            print(f"{s.name:28s} {s.why}")
        return 0
    if a.streams:
        want = set(a.streams.split(","))
        specs = [s for s in specs if s.name in want]
        if len(specs) != len(want):
            p.error(f"unknown stream(s): {', '.join(sorted(want - {s.name for s in specs}))}")
    try:
        m = generate(a.out, a.weights, specs, force=a.force, threads=a.threads,
                     log=lambda s: print(s, file=sys.stderr, flush=True))
    except GVC1DError as e:
        print(f"generate.py: error: {e}", file=sys.stderr)
        return 1
    print(f"wrote {len(m['streams'])} streams ({m['total_bytes']} bytes) and manifest.json to {a.out}; "
          f"weights sha256 {m['weights']['sha256']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
