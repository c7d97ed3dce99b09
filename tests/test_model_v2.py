"""Model v2 (preset tiny2): convolutional analysis/synthesis around the Transformer, block motion,
a copy gate that really copies; v1 weights keep their meaning."""
from __future__ import annotations

import dataclasses

import torch

from gvc1d_codec.config import PRESETS, ModelConfig
from gvc1d_codec.model.conv import copy_gate
from gvc1d_codec.model.gvc1d import GVC1D
from gvc1d_codec.model.motion import compensate, warp


def _model() -> GVC1D:
    torch.manual_seed(0)
    return GVC1D(PRESETS["tiny2"]).eval()


def test_tiny2_codes_frames_of_several_windows():
    model = _model()
    cfg = model.cfg
    assert cfg.window == 64 and cfg.latent_tokens == 16 and cfg.token_dim == 16 and cfg.patches_per_window == 16
    assert ModelConfig.from_json(cfg.to_json()) == cfg
    x, ref = torch.rand(2, 3, 128, 192), torch.rand(2, 3, 128, 192)
    q = torch.tensor([0, 3]).repeat_interleave(6)
    with torch.no_grad():
        for intra in (True, False):
            y = model.analysis(x, None if intra else ref, None, intra)
            assert y.shape == (12, 16, 16)
            s = model.quantise(y, q)
            x_hat = model.synthesis(model.dequantise(s, q), None if intra else ref, None, intra, 2, 3)
            assert x_hat.shape == (2, 3, 128, 192) and bool(torch.isfinite(x_hat).all())
    assert model.last_layer() is model.conv_decoder.out.weight
    assert sum(p.numel() for p in model.parameters()) < 2_000_000


def test_the_copy_gate_reaches_one_and_then_copies_the_reference_exactly():
    assert copy_gate(torch.tensor([-20.0, 20.0])).tolist() == [0.0, 1.0]
    model = _model()
    with torch.no_grad():
        model.conv_decoder.out.bias[12:] = 50.0  # the gate's logits (pixel-shuffle order)
        ref = torch.rand(1, 3, 64, 128)
        x_hat = model.synthesis(torch.randn(2, 16, 16), ref, None, False, 1, 2)
    assert torch.equal(x_hat, ref)


def test_motion_reference_moves_the_previous_picture():
    model = _model()
    prev = torch.nn.functional.interpolate(torch.rand(1, 3, 16, 16), size=(128, 128), mode="bicubic").clamp(0, 1)
    x = torch.roll(prev, shifts=(-4, 6), dims=(2, 3))
    ref, mv = model.motion_reference(x, prev)
    assert mv.shape == (1, 2, 8, 8) and mv.dtype == torch.long
    assert torch.equal(ref, compensate(prev, mv, 16, model.cfg.motion_overlap))
    # one vector inside: the copy (overlapped weights sum to 1: equal up to float rounding)
    assert torch.allclose(ref[:, :, 24:-24, 24:-24], x[:, :, 24:-24, 24:-24], atol=1e-6)
    assert torch.equal(warp(prev, mv, 16)[:, :, 16:-16, 16:-16], x[:, :, 16:-16, 16:-16])


def test_v1_configs_build_the_v1_modules():
    v1 = GVC1D(PRESETS["tiny"])
    assert not v1.v2 and isinstance(v1.patch_embed, torch.nn.Conv2d) and hasattr(v1, "head")
    old_json = {k: v for k, v in dataclasses.asdict(PRESETS["tiny"]).items()
                if k not in ("conv_width", "motion_block", "motion_search", "global_tokens")}
    import json
    assert ModelConfig.from_json(json.dumps(old_json)) == PRESETS["tiny"]  # weights written before v2


def test_a_grown_model_decodes_as_before_when_its_new_channels_are_zero():
    """`--grow-to` grows a trained model (more channels per token, residual blocks): the old weights
    are kept and new blocks start as the identity, so with the new channels' symbols at zero the
    pictures, the long-term memory and the prior's parameters of the old channels are exactly the
    smaller model's; the new channels are coded, and the synthesis reads them (with small weights:
    zero weights would leave them without a gradient once their symbols quantise to zero)."""
    from gvc1d_codec.train.trainer import _grown

    model = _model()
    with torch.no_grad():  # a trained-looking model: non-zero biases and gains everywhere
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.01)
    target = dataclasses.replace(model.cfg, name="wide", token_dim=40, conv_blocks=1)
    grown = _grown(model, target).eval()
    assert grown.cfg == target and model.cfg.token_dim == 16
    cm, gm = model.context_model, grown.context_model
    x, ref = torch.rand(1, 3, 64, 128), torch.rand(1, 3, 64, 128)
    q = torch.tensor([1, 2])
    with torch.no_grad():
        y, y2 = model.analysis(x, ref, None, False), grown.analysis(x, ref, None, False)
        assert torch.allclose(y, y2[..., :16], atol=1e-5) and y2[..., 16:].abs().sum() > 0
        s = model.quantise(y, q)
        s2 = torch.cat([s, torch.zeros(2, 16, 24)], dim=-1)
        a = model.synthesis(model.dequantise(s, q), ref, None, False, 1, 2)
        b = grown.synthesis(grown.dequantise(s2, q), ref, None, False, 1, 2)
        assert torch.allclose(a, b, atol=1e-5)
        intra = grown.synthesis(grown.dequantise(s2, q), None, None, True, 1, 2)
        s3 = s2.clone()
        s3[..., 16:] = 3.0
        assert (intra - grown.synthesis(grown.dequantise(s3, q), None, None, True, 1, 2)).abs().max() > 1e-3
        mem, mem2 = cm.memory_update(None, s), gm.memory_update(None, s2)
        assert torch.equal(mem, mem2)
        ctx = cm.context(s, mem, 1, False, 2)
        ctx2 = gm.context(s2, mem2, 1, False, 2)
        assert torch.equal(ctx, ctx2)
        mu, idx = cm.params(ctx, s)
        mu2, idx2 = gm.params(ctx2, s2)
        assert torch.equal(mu, mu2[..., :16]) and torch.equal(idx, idx2[..., :16])
    import pytest

    with pytest.raises(ValueError, match="already has"):
        _grown(model, dataclasses.replace(model.cfg, name="same"))
    with pytest.raises(ValueError, match="fewer"):
        _grown(grown, model.cfg)
    with pytest.raises(ValueError, match="more than token_dim and conv_blocks .window"):
        _grown(model, dataclasses.replace(model.cfg, token_dim=32, window=128))
    assert PRESETS["tiny3"] == dataclasses.replace(PRESETS["tiny2"], name="tiny3", token_dim=64, conv_blocks=2,
                                                   lambdas=PRESETS["tiny3"].lambdas)


def test_conv_design_2_codes_intra_and_predicted_frames_and_learns_through_every_layer():
    """Design 2 (5x5 convolutions down, transposed convolutions up, contexts fused at every scale):
    same shapes as design 1; every parameter gets a gradient from a predicted frame; the context
    fusions start as the identity; residual blocks are refused."""
    import pytest

    from gvc1d_codec.model.conv import AnalysisStem5, ContextualDecoder5

    cfg = dataclasses.replace(PRESETS["tiny3"], conv_design=2, conv_blocks=0)
    assert ModelConfig.from_json(cfg.to_json()) == cfg
    torch.manual_seed(0)
    model = GVC1D(cfg)
    assert isinstance(model.patch_embed, AnalysisStem5) and isinstance(model.conv_decoder, ContextualDecoder5)
    assert all(float(f.weight.abs().sum()) == 0 for f in model.conv_decoder.fuse)
    x, ref = torch.rand(1, 3, 128, 192), torch.rand(1, 3, 128, 192)
    q = torch.full((6,), 2)
    for intra in (True, False):
        y = model.analysis(x, None if intra else ref, None, intra)
        x_hat = model.synthesis(model.dequantise(model.quantise(y, q), q), None if intra else ref, None, intra, 2, 3)
        assert x_hat.shape == x.shape and bool(torch.isfinite(x_hat).all())
    (x_hat - x).pow(2).mean().backward()
    for name in ("patch_embed.down.0.weight", "conv_decoder.out.weight", "conv_decoder.fuse.3.bias", "conv_decoder.up.0.weight"):
        assert float(dict(model.named_parameters())[name].grad.abs().sum()) > 0, name
    with pytest.raises(ValueError, match="conv_design"):
        dataclasses.replace(cfg, conv_blocks=2)
