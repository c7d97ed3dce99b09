"""The registry's files and nothing else: the default model inside the package (gvc1d_codec/models,
package data), the others in weights/; each registered and hashed in the SHA256SUMS beside it with
its real digest. Training checkpoints live in training/checkpoints/ with their optimiser state, so a
run resumes anywhere. A wheel built from the checkout encodes and decodes with the default model
when installed elsewhere."""
from __future__ import annotations

import subprocess
import sys

from conftest import REPO
from gvc1d_codec.registry import DEFAULT_MODEL, PACKAGE_MODELS, REGISTRY, sha256_file

WEIGHTS = REPO / "weights"


def _sums(directory):
    out = {}
    for line in (directory / "SHA256SUMS").read_text().splitlines():
        digest, name = line.split()
        out[name.lstrip("*")] = digest
    return out


def test_weights_folders_hold_only_registered_hashed_files():
    registered = set(REGISTRY.values())
    found = {}
    for directory, extra in ((PACKAGE_MODELS, {"SHA256SUMS"}), (WEIGHTS, {"SHA256SUMS", "README.md"})):
        sums = _sums(directory)
        files = {p.name for p in directory.iterdir()} - {"__pycache__"}
        assert files == set(sums) | extra, f"{directory}: files not in its SHA256SUMS: {sorted(files - set(sums) - extra)}"
        for name, digest in sums.items():
            assert name in registered, f"{directory / name} is not in the registry"
            assert sha256_file(directory / name) == digest, name
            found[name] = directory
    assert set(found) == registered, "a registry name has no file"
    assert found[REGISTRY[DEFAULT_MODEL]] == PACKAGE_MODELS, "the default model ships inside the package"


def test_training_checkpoints_keep_their_optimiser_state():
    checkpoints = REPO / "training" / "checkpoints"
    runs = [p for p in checkpoints.glob("*.safetensors") if not p.name.endswith((".opt.safetensors", ".disc.safetensors", ".ema.safetensors"))]
    assert runs, "no training checkpoint"
    for run in runs:
        if run.stem.endswith("-intra"):  # intra pretraining (scripts/intra_ceiling.py) keeps no optimiser
            continue
        assert run.with_name(run.stem + ".opt.safetensors").is_file(), f"{run.name} has no optimiser state"


def test_a_wheel_installed_outside_the_checkout_codes_with_the_default_model(tmp_path):
    """pip wheel, then the wheel's files alone (installed with --target, first on sys.path, run
    from a directory outside the checkout): the default model loads and a clip round-trips."""
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path / "wheel"), str(REPO)],
                   check=True, capture_output=True, timeout=600)
    (wheel,) = (tmp_path / "wheel").glob("gvc1d_codec-*.whl")
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(site), str(wheel)],
                   check=True, capture_output=True, timeout=600)
    code = (
        "import gvc1d_codec, numpy as np\n"
        "from gvc1d_codec import VideoFrame\n"
        "from gvc1d_codec.codec import Decoder, Encoder\n"
        f"assert gvc1d_codec.__file__.startswith({str(site)!r}), gvc1d_codec.__file__\n"
        "y = np.tile(np.arange(64, dtype=np.uint8) * 3, (48, 1)); u = np.full((24, 32), 120, np.uint8)\n"
        "enc = Encoder(64, 48, quality=1)\n"
        "dec = Decoder(enc.header_bytes())\n"
        "out = dec.decode(enc.encode_packet(VideoFrame('yuv420p', (y, u, u))))\n"
        "assert out.planes[0].shape == (48, 64)\n"
        "print('ok', enc.header.config_id)\n")
    env = {k: v for k, v in __import__("os").environ.items() if k not in ("GVC1D_WEIGHTS", "GVC1D_WEIGHTS_DIR", "PYTHONPATH")}
    env["PYTHONPATH"] = str(site)
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0 and proc.stdout.startswith("ok tiny4"), proc.stdout + proc.stderr
