"""The shipped weights by name: where they live and the SHA-256 recorded for each.

Torch-free on purpose: ``gvc1d-pipe --version`` and ``info`` name the default weights without
loading a model (:mod:`gvc1d_codec.weights` loads and verifies them).
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"
REGISTRY = {
    "gvc1d-tiny": "gvc1d-tiny.safetensors",  # the default: tiny4 after joint perceptual RD (stage prd)
    "gvc1d-tiny-mse": "gvc1d-tiny-mse.safetensors",  # the same model before stage prd (MSE only)
    "gvc1d-tiny-v1": "gvc1d-tiny-v1.safetensors",  # the first release's default, for comparison
    "gvc1d-tiny-v1-mse": "gvc1d-tiny-v1-mse.safetensors",  # the first release's MSE model
}
DEFAULT_MODEL = "gvc1d-tiny"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def recorded_sha256(name: str) -> str | None:
    """The SHA-256 recorded in ``weights/SHA256SUMS`` for a registry file."""
    sums = WEIGHTS_DIR / "SHA256SUMS"
    if not sums.exists():
        return None
    for line in sums.read_text().splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].lstrip("*") == REGISTRY.get(name, name):
            return parts[0]
    return None


def resolve(spec: str | os.PathLike | None) -> tuple[Path, str | None]:
    """A registry name (default: ``$GVC1D_WEIGHTS`` or the shipped model) or a path -> (path,
    expected SHA-256 or None)."""
    if spec is None:
        spec = os.environ.get("GVC1D_WEIGHTS", DEFAULT_MODEL)
    spec = str(spec)
    if spec in REGISTRY:
        return WEIGHTS_DIR / REGISTRY[spec], recorded_sha256(spec)
    return Path(spec), None
