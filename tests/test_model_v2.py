"""The shipped architecture (preset gvc1d-tiny): convolutional analysis/synthesis around the
Transformer, block motion, a copy gate that really copies; the first release's weights keep their
meaning, and configurations of the removed convolution design are refused with a clear message."""
from __future__ import annotations

import dataclasses

import torch

from gvc1d_codec.config import PRESETS, ModelConfig
from gvc1d_codec.model.conv import copy_gate
from gvc1d_codec.model.gvc1d import GVC1D
from gvc1d_codec.model.motion import compensate, warp


def _model() -> GVC1D:
    torch.manual_seed(0)
    return GVC1D(PRESETS["gvc1d-tiny"]).eval()


def test_the_shipped_preset_codes_frames_of_several_windows():
    model = _model()
    cfg = model.cfg
    assert cfg.window == 64 and cfg.latent_tokens == 16 and cfg.token_dim == 64 and cfg.patches_per_window == 16
    assert ModelConfig.from_json(cfg.to_json()) == cfg
    x, ref = torch.rand(2, 3, 128, 192), torch.rand(2, 3, 128, 192)
    q = torch.tensor([0, 3]).repeat_interleave(6)
    with torch.no_grad():
        for intra in (True, False):
            y = model.analysis(x, None if intra else ref, None, intra)
            assert y.shape == (12, 16, 64)
            s = model.quantise(y, q)
            x_hat = model.synthesis(model.dequantise(s, q), None if intra else ref, None, intra, 2, 3)
            assert x_hat.shape == (2, 3, 128, 192) and bool(torch.isfinite(x_hat).all())
    assert model.last_layer() is model.conv_decoder.out.weight
    assert sum(p.numel() for p in model.parameters()) < 2_000_000


def test_the_copy_gate_reaches_one_and_then_copies_the_reference_exactly():
    assert copy_gate(torch.tensor([-20.0, 20.0])).tolist() == [0.0, 1.0]
    model = _model()
    with torch.no_grad():
        model.conv_decoder.out.bias[3] = 50.0  # the gate's logit (output channel 3)
        ref = torch.rand(1, 3, 64, 128)
        x_hat = model.synthesis(torch.randn(2, 16, 64), ref, None, False, 1, 2)
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
    v1 = GVC1D(PRESETS["gvc1d-tiny-v1"])
    assert not v1.v2 and isinstance(v1.patch_embed, torch.nn.Conv2d) and hasattr(v1, "head")
    old_json = {k: v for k, v in dataclasses.asdict(PRESETS["gvc1d-tiny-v1"]).items()
                if k not in ("conv_width", "motion_block", "motion_search", "global_tokens")}
    import json
    assert ModelConfig.from_json(json.dumps(old_json)) == PRESETS["gvc1d-tiny-v1"]  # weights written before v2


def test_the_convolutions_code_intra_and_predicted_frames_and_learn_through_every_layer():
    """5x5 convolutions down, transposed convolutions up, contexts fused at every scale: every
    parameter gets a gradient from a predicted frame; the context fusions start as the identity."""
    from gvc1d_codec.model.conv import AnalysisStem, ContextualDecoder

    cfg = PRESETS["gvc1d-tiny"]
    assert ModelConfig.from_json(cfg.to_json()) == cfg
    torch.manual_seed(0)
    model = GVC1D(cfg)
    assert isinstance(model.patch_embed, AnalysisStem) and isinstance(model.conv_decoder, ContextualDecoder)
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


def test_configs_of_the_removed_convolution_design_are_refused_and_retired_fields_accepted():
    import json

    import pytest

    data = json.loads(PRESETS["gvc1d-tiny"].to_json())
    assert ModelConfig.from_json(json.dumps(dict(data, conv_design=2, conv_blocks=0))) == PRESETS["gvc1d-tiny"]
    with pytest.raises(ValueError, match="convolution design 1"):
        ModelConfig.from_json(json.dumps(dict(data, conv_design=1)))
    with pytest.raises(ValueError, match="conv_blocks"):
        ModelConfig.from_json(json.dumps(dict(data, conv_design=2, conv_blocks=2)))
