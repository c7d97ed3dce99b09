"""Specification of the model presets: the paper-scale configuration builds and runs."""
from __future__ import annotations

import time

import torch

from gvc1d_codec.config import PRESETS


def test_paper_preset_builds_and_codes_one_256px_window():
    from gvc1d_codec.model.gvc1d import GVC1D

    cfg = PRESETS["paper"]
    t0 = time.monotonic()
    torch.manual_seed(0)
    model = GVC1D(cfg).eval()
    q = torch.tensor([cfg.qualities - 1])
    with torch.no_grad():
        x = torch.rand(1, 3, cfg.window, cfg.window)
        y = model.analysis(x, None, None, intra=True)
        s = model.quantise(y, q)
        x_hat = model.synthesis(model.dequantise(s, q), None, None, True, 1, 1)
    seconds = time.monotonic() - t0
    assert cfg.window == 256
    assert y.shape == (1, cfg.latent_tokens, cfg.token_dim) == (1, 32, 16)
    assert torch.equal(s, s.round()) and int(s.abs().max()) <= cfg.symbol_max
    assert x_hat.shape == (1, 3, 256, 256) and bool(torch.isfinite(x_hat).all())
    assert seconds < 30, f"paper preset build + one forward pass took {seconds:.1f} s"
