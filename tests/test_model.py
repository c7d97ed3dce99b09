"""Specification of the model presets: the paper-scale configuration builds and runs."""
from __future__ import annotations

import torch

from gvc1d_codec.config import PRESETS


def test_paper_preset_builds_and_codes_one_256px_window():
    from gvc1d_codec.model.gvc1d import GVC1D

    cfg = PRESETS["paper"]
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


def test_a_grown_refiner_starts_as_the_identity_and_then_changes_the_output():
    """`--refine-width` gives a trained model a pixel refiner: before training it decodes exactly
    as the model without it; once its last layer moves, it refines using the reference frame."""
    from gvc1d_codec.model.gvc1d import GVC1D
    from gvc1d_codec.train.trainer import _with_refiner

    torch.manual_seed(0)
    model = GVC1D(PRESETS["tiny"]).eval()
    grown = _with_refiner(model, 8).eval()
    assert grown.cfg.refine_width == 8 and model.refiner is None
    y_hat = torch.randn(2, 32, 16)
    ref = torch.rand(1, 3, 128, 256)
    with torch.no_grad():
        for intra in (True, False):
            assert torch.equal(model.synthesis(y_hat, ref, None, intra, 1, 2), grown.synthesis(y_hat, ref, None, intra, 1, 2))
        torch.nn.init.normal_(grown.refiner.out.weight, std=0.05)
        a = grown.synthesis(y_hat, ref, None, False, 1, 2)
        b = grown.synthesis(y_hat, ref.flip(-1), None, False, 1, 2)
    assert a.shape == (1, 3, 128, 256)
    assert not torch.equal(a, model.synthesis(y_hat, ref, None, False, 1, 2))
    assert not torch.equal(a, b), "the refiner sees the reference frame"
    assert grown.last_layer() is grown.refiner.out.weight
