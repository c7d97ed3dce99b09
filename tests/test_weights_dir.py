"""weights/ holds exactly what the registry ships: each safetensors file is registered, hashed in
SHA256SUMS with its real digest, and nothing else lies there but the model card. Training
checkpoints live in training/checkpoints/ with their optimiser state, so a run resumes anywhere."""
from __future__ import annotations

from conftest import REPO
from gvc1d_codec.registry import REGISTRY, WEIGHTS_DIR, sha256_file


def test_weights_dir_holds_only_registered_hashed_files():
    sums = {}
    for line in (WEIGHTS_DIR / "SHA256SUMS").read_text().splitlines():
        digest, name = line.split()
        sums[name.lstrip("*")] = digest
    registered = set(REGISTRY.values())
    assert set(sums) == registered, "SHA256SUMS and the registry name different files"
    files = {p.name for p in WEIGHTS_DIR.iterdir()}
    assert files == registered | {"SHA256SUMS", "README.md"}, f"not in the registry: {sorted(files - registered)}"
    for name in registered:
        assert sha256_file(WEIGHTS_DIR / name) == sums[name], name


def test_training_checkpoints_keep_their_optimiser_state():
    checkpoints = REPO / "training" / "checkpoints"
    runs = [p for p in checkpoints.glob("*.safetensors") if not p.name.endswith((".opt.safetensors", ".disc.safetensors"))]
    assert runs, "no training checkpoint"
    for run in runs:
        if run.stem.endswith("-intra"):  # intra pretraining (scripts/intra_ceiling.py) keeps no optimiser
            continue
        assert run.with_name(run.stem + ".opt.safetensors").is_file(), f"{run.name} has no optimiser state"
