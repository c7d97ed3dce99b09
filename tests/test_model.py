"""Specification of the model presets: the paper-scale configuration builds and runs."""
from __future__ import annotations

import pytest
import torch

from gvc1d_codec.config import PAPER, PRESETS


def test_paper_preset_builds_and_codes_one_256px_window():
    from gvc1d_codec.model.gvc1d import GVC1D

    cfg = PAPER
    torch.manual_seed(0)
    model = GVC1D(cfg).eval()
    q = torch.tensor([cfg.qualities - 1])
    with torch.no_grad():
        x = torch.rand(1, 3, cfg.window, cfg.window)
        y = model.analysis(x, None, None, intra=True)
        s = model.quantise(y, q)
        x_hat = model.synthesis(model.dequantise(s, q), None, None, True, 1, 1)
    assert cfg.window == 256
    assert y.shape == (1, cfg.latent_tokens, cfg.token_dim) == (1, 32, 16)
    assert torch.equal(s, s.round()) and int(s.abs().max()) <= cfg.symbol_max
    assert x_hat.shape == (1, 3, 256, 256) and bool(torch.isfinite(x_hat).all())


def test_configs_of_older_files_with_retired_fields_still_load():
    """Older weights files record the pixel refiner's fields (removed): at "no refiner" they load
    (the shipped files do), with a refiner they are refused with a clear message."""
    import json

    from gvc1d_codec.config import ModelConfig

    cfg = PRESETS["gvc1d-tiny"]
    old = json.loads(cfg.to_json()) | {"refine_width": 0, "refine_blocks": 2}
    assert ModelConfig.from_json(json.dumps(old)) == cfg
    with pytest.raises(ValueError, match="refine_width=8 needs a feature this version no longer has"):
        ModelConfig.from_json(json.dumps(old | {"refine_width": 8}))
