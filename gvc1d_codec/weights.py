"""Weights files: safetensors only, named in a registry, checked against a recorded SHA-256.

A weights file holds
* the float parameters of the analysis/synthesis transforms (pixels only),
* ``entropy.int.*``: the exported integer context model (int8 weights, int64 biases/multipliers),
* ``entropy.freq_table``: the integer frequency tables of the entropy coder,
and in its metadata the JSON :class:`ModelConfig`, the entropy-model definition id and the
training record. Nothing is regenerated from float at load time on the probability path.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from .config import ModelConfig
from .entropy.definition import ENTROPY_MODEL_ID, WEIGHTS_COMPATIBLE_IDS, build_freq_table
from .entropy.prior import IntegerPrior
from .errors import WeightsError
from .registry import DEFAULT_MODEL, REGISTRY, WEIGHTS_DIR, recorded_sha256, resolve, sha256_file  # noqa: F401 (re-exported)
from .model.gvc1d import GVC1D

FORMAT = "gvc1d-weights-v1"
MAX_WEIGHTS_BYTES = 512 << 20


@dataclass
class LoadedWeights:
    """A verified weights file: the float model (transforms; its ``context_model`` is the training
    shadow) and, for inference, the integer entropy model, a CPU object outside the float model."""

    model: GVC1D
    entropy: IntegerPrior
    config: ModelConfig
    sha256: str
    metadata: dict
    path: Path


def save_weights(model: GVC1D, path: Path, extra_metadata: dict | None = None) -> str:
    """Export a trained model: float params + integer context model + tables. Returns SHA-256."""
    cfg = model.cfg
    tensors = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    for k, v in model.context_model.export_integer().items():
        tensors[f"entropy.int.{k}"] = v.contiguous()
    tensors["entropy.freq_table"] = torch.from_numpy(build_freq_table(cfg))
    meta = {"format": FORMAT, "config": cfg.to_json(), "entropy_model_id": str(ENTROPY_MODEL_ID)}
    meta.update({k: json.dumps(v) if not isinstance(v, str) else v for k, v in (extra_metadata or {}).items()})
    data = st_save(tensors, metadata=meta)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return hashlib.sha256(data).hexdigest()


def load_weights(spec: str | os.PathLike | None = None, device: str | torch.device = "cpu",
                 config_changes=None) -> LoadedWeights:
    """Load and verify a weights file: the float model on ``device`` (with its training shadow of
    the context model) and the shipped integer entropy model (CPU), checked against this
    codec's entropy-model definition. ``config_changes`` (the trainer's): a function of the file's
    config giving the fields to change before the model is built (e.g. its lambdas; they must keep
    every shape); its ValueError propagates."""
    path, expected = resolve(spec)
    if not path.is_file():
        raise WeightsError(f"weights file not found: {path}")
    size = path.stat().st_size
    if size > MAX_WEIGHTS_BYTES:
        raise WeightsError(f"weights file {path} is too large ({size} bytes)")
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if expected is not None and digest != expected:
        raise WeightsError(f"weights file {path} does not match its recorded SHA-256 (tampered or truncated?)")
    try:
        tensors = st_load(data)
        header_len = int.from_bytes(data[:8], "little")
        meta = json.loads(data[8 : 8 + header_len]).get("__metadata__", {})
    except (SafetensorError, ValueError, json.JSONDecodeError, UnicodeDecodeError) as e:
        raise WeightsError(f"{path} is not a valid safetensors weights file ({str(e).splitlines()[0]})") from None
    if meta.get("format") != FORMAT:
        raise WeightsError(f"{path} is not a gvc1d weights file (format {meta.get('format')!r}, need {FORMAT})")
    if meta.get("entropy_model_id") not in [str(i) for i in WEIGHTS_COMPATIBLE_IDS]:
        raise WeightsError(f"{path} was exported for entropy model {meta.get('entropy_model_id')!r}; "
                           f"this codec implements entropy model {ENTROPY_MODEL_ID}")
    try:
        cfg = ModelConfig.from_json(meta["config"])
    except (KeyError, ValueError, TypeError) as e:
        raise WeightsError(f"{path} does not hold a complete gvc1d model ({str(e).splitlines()[0][:200]})") from None
    if config_changes is not None:
        cfg = dataclasses.replace(cfg, **config_changes(cfg))
    try:
        model = GVC1D(cfg)
        float_state = {k: v for k, v in tensors.items() if not k.startswith("entropy.")}
        model.load_state_dict(float_state, strict=True)
        ints = {k[len("entropy.int."):]: v for k, v in tensors.items() if k.startswith("entropy.int.")}
        entropy = IntegerPrior(cfg, ints, tensors["entropy.freq_table"].numpy())
    except (KeyError, RuntimeError, ValueError, TypeError) as e:
        raise WeightsError(f"{path} does not hold a complete gvc1d model ({str(e).splitlines()[0][:200]})") from None
    model.to(device).eval()
    return LoadedWeights(model, entropy, cfg, digest, meta, path)
