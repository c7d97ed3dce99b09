"""Device handling: the integer entropy model lives on the CPU, outside the float model, so moving
the float model to another device (``meta`` here, CUDA when present) cannot change a symbol.

The shipped conformance streams are decoded with the float transforms on that device and must give
exactly the symbols of the manifest."""
from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
import torch

from conftest import REPO
from gvc1d_codec.bitstream import PacketReader, read_header
from gvc1d_codec.codec import Decoder, resolve_device
from gvc1d_codec.conformance import MANIFEST_NAME, load_manifest, symbols_sha256
from gvc1d_codec.errors import GVC1DError
from gvc1d_codec.weights import load_weights

SHIPPED = Path(os.environ.get("GVC1D_CONFORMANCE_DIR", REPO / "conformance"))
SHIPPED_WEIGHTS = os.environ.get("GVC1D_CONFORMANCE_WEIGHTS", "gvc1d-tiny")
needs_shipped = pytest.mark.skipif(not (SHIPPED / MANIFEST_NAME).is_file(), reason="no shipped conformance set")


def decode_symbols_with_float_model_on(device: str) -> dict[str, list[str]]:
    """Decode every shipped conformance stream with the float model moved to ``device``;
    the symbols' SHA-256 per frame, per stream."""
    manifest = load_manifest(SHIPPED)
    loaded = load_weights(SHIPPED_WEIGHTS)
    loaded.model.to(device)
    assert next(loaded.model.parameters()).device.type == device
    hashes = {}
    for entry in manifest["streams"]:
        data = (SHIPPED / entry["file"]).read_bytes()
        src = io.BytesIO(data)
        header = read_header(src)
        dec = Decoder(header, weights=loaded)
        out = []
        for packet in PacketReader(src, header):
            picture = dec.decode_rgb(packet)
            assert picture.device.type == device  # the pixels were made on that device
            out.append(symbols_sha256(dec.last_symbols, dec.last_coefficients, dec.last_update))
        hashes[entry["file"]] = out
    return hashes


def expected_hashes() -> dict[str, list[str]]:
    return {e["file"]: e["symbols_sha256"] for e in load_manifest(SHIPPED)["streams"]}


@needs_shipped
def test_conformance_symbols_exact_with_the_float_model_on_the_meta_device():
    assert decode_symbols_with_float_model_on("meta") == expected_hashes()


@needs_shipped
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_conformance_symbols_exact_with_the_float_model_on_cuda():
    assert decode_symbols_with_float_model_on("cuda") == expected_hashes()


def test_the_integer_entropy_model_is_not_part_of_the_float_model(loaded):
    params = {id(p) for p in loaded.model.parameters()} | {id(b) for b in loaded.model.buffers()}
    for layer in loaded.entropy.layers.values():
        assert all(id(t) not in params and t.device.type == "cpu" for t in layer.values())


def test_device_names_are_checked():
    assert resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(GVC1DError, match="unknown device"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(GVC1DError, match="no CUDA device"):
            resolve_device("cuda")
