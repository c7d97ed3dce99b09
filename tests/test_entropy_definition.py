"""The entropy-model definition (``gvc1d_codec/entropy/definition.py``) is what a weights file must
match: a foreign entropy-model id, a frequency table of the wrong shape or with a zero entry, or
missing integer layers are refused at load time with one clear error."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from gvc1d_codec.config import ModelConfig
from gvc1d_codec.entropy.definition import (
    ENTROPY_MODEL_ID,
    RESIDUAL_RANGE,
    TABLE_TOTAL,
    build_freq_table,
    check_freq_table,
    freq_table_shape,
    scale_grid,
)
from gvc1d_codec.errors import WeightsError
from gvc1d_codec.weights import load_weights


def rewrite(src: Path, dst: Path, tensors=None, **meta) -> Path:
    """A copy of a weights file with some tensors and metadata replaced."""
    raw = src.read_bytes()
    n = int.from_bytes(raw[:8], "little")
    metadata = json.loads(raw[8 : 8 + n])["__metadata__"]
    metadata.update(meta)
    t = load_file(str(src))
    t.update(tensors or {})
    save_file(t, str(dst), metadata=metadata)
    return dst


def test_a_weights_file_for_another_entropy_model_is_refused(weights_path, tmp_path):
    bad = rewrite(weights_path, tmp_path / "foreign.safetensors", entropy_model_id=str(ENTROPY_MODEL_ID + 1))
    with pytest.raises(WeightsError, match=f"entropy model '{ENTROPY_MODEL_ID + 1}'.*implements entropy model {ENTROPY_MODEL_ID}"):
        load_weights(bad)


def test_a_frequency_table_of_the_wrong_shape_is_refused(weights_path, tmp_path):
    table = load_file(str(weights_path))["entropy.freq_table"]
    bad = rewrite(weights_path, tmp_path / "shape.safetensors", {"entropy.freq_table": table[:-1].contiguous()})
    with pytest.raises(WeightsError, match="frequency table has shape"):
        load_weights(bad)


def test_a_frequency_table_with_a_zero_entry_is_refused(weights_path, tmp_path):
    table = load_file(str(weights_path))["entropy.freq_table"].clone()
    table[3, 1, 0] = 0
    bad = rewrite(weights_path, tmp_path / "zero.safetensors", {"entropy.freq_table": table})
    with pytest.raises(WeightsError, match="below 1"):
        load_weights(bad)


def test_a_float_frequency_table_is_refused(weights_path, tmp_path):
    table = load_file(str(weights_path))["entropy.freq_table"].to(torch.float32)
    bad = rewrite(weights_path, tmp_path / "float.safetensors", {"entropy.freq_table": table})
    with pytest.raises(WeightsError, match="integers"):
        load_weights(bad)


def test_a_missing_integer_layer_is_refused(weights_path, tmp_path):
    t = load_file(str(weights_path))
    del t["entropy.int.ar_mix.m"]
    raw = weights_path.read_bytes()
    meta = json.loads(raw[8 : 8 + int.from_bytes(raw[:8], "little")])["__metadata__"]
    bad = tmp_path / "missing.safetensors"
    save_file(t, str(bad), metadata=meta)
    with pytest.raises(WeightsError, match="ar_mix"):
        load_weights(bad)


def test_the_shipped_table_is_the_definition_s_table(loaded):
    cfg = loaded.config
    table = build_freq_table(cfg)
    assert table.shape == freq_table_shape(cfg) == (cfg.scale_levels, 4, 2 * RESIDUAL_RANGE)
    assert np.array_equal(loaded.entropy.freq_table, table.astype(np.float64))
    assert (table >= 1).all() and abs(int(table.sum(axis=-1).max()) - TABLE_TOTAL) < 2 * RESIDUAL_RANGE
    sigma = scale_grid(cfg)
    assert sigma[0] == pytest.approx(cfg.scale_min) and sigma[-1] == pytest.approx(cfg.scale_max)
    assert check_freq_table(table, cfg).dtype == np.float64


def test_check_freq_table_rejects_row_sums_the_coder_cannot_take():
    cfg = ModelConfig()
    table = build_freq_table(cfg)
    table[0, 0, 0] = 1 << 24
    with pytest.raises(ValueError, match="2\\*\\*24"):
        check_freq_table(table, cfg)
