"""The shipped weights by name: where they live and the SHA-256 recorded for each.

The default model ships inside the package (``gvc1d_codec/models/``, package data with its
``SHA256SUMS``), so an installed wheel works anywhere. The others (earlier and MSE-only models) are
found by name in a checkout's ``weights/`` folder (each with its line in ``weights/SHA256SUMS``),
or ``$GVC1D_WEIGHTS_DIR`` when set; any file can also be given as a path.

Torch-free on purpose: ``gvc1d-pipe --version`` and ``info`` name the default weights without
loading a model (:mod:`gvc1d_codec.weights` loads and verifies them).
"""
from __future__ import annotations

import hashlib
import os
from importlib import resources
from pathlib import Path

PACKAGE_MODELS = Path(str(resources.files(__package__) / "models"))
WEIGHTS_DIR = Path(os.environ.get("GVC1D_WEIGHTS_DIR") or Path(__file__).resolve().parent.parent / "weights")
REGISTRY = {
    "gvc1d-tiny": "gvc1d-tiny.safetensors",  # the default: preset gvc1d-tiny after joint perceptual RD (stage prd3, DISTS: its moving average at step 1000 averaged 1:4 with gvc1d-tiny-v3)
    "gvc1d-tiny-mse": "gvc1d-tiny-mse.safetensors",  # the same model before stage prd (MSE only)
    "gvc1d-tiny-v3": "gvc1d-tiny-v3.safetensors",  # the previous default (stage prd; the average of saves 10400-10500), for comparison
    "gvc1d-tiny-v2": "gvc1d-tiny-v2.safetensors",  # the previous default (stage prd at step 4,838), for comparison
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


def registry_dir(name: str) -> Path:
    """Where a registry name's file lives: the package's models, else the weights folder."""
    return PACKAGE_MODELS if (PACKAGE_MODELS / REGISTRY.get(name, name)).is_file() else WEIGHTS_DIR


def recorded_sha256(name: str) -> str | None:
    """The SHA-256 recorded in the ``SHA256SUMS`` beside a registry file."""
    sums = registry_dir(name) / "SHA256SUMS"
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
        return registry_dir(spec) / REGISTRY[spec], recorded_sha256(spec)
    return Path(spec), None
