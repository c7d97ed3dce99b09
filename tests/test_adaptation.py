"""A decoder adapted per intra period (preset ``slow``, entropy models 7 and 9; gvc1d_codec/adaptation.py)."""
from __future__ import annotations

import io

import numpy as np
import pytest
import torch

from conftest import moving_gradient
from gvc1d_codec import adaptation
from gvc1d_codec.bitstream import read_header
from gvc1d_codec.codec import Decoder, Encoder
from gvc1d_codec.entropy.definition import ENTROPY_MODEL_ID, UNADAPTED_ID, UPDATE_FREQ, UPDATE_MAX
from gvc1d_codec.entropy.model import EntropyCoder
from gvc1d_codec.errors import CorruptPacketError
from gvc1d_codec.step import CodingState


@pytest.fixture(scope="module")
def motion_loaded(motion_weights_path):
    from gvc1d_codec.weights import load_weights

    return load_weights(motion_weights_path)


def _stream(loaded, frames, preset="slow", **kw):
    enc = Encoder(frames[0].width, frames[0].height, weights=loaded, quality=1, preset=preset, **kw)
    packets, pictures = [], []
    for f in frames:
        packets.append(enc.encode_packet(f))
        pictures.append(enc._s.picture().clone())
    return enc, packets, pictures


def test_update_size_counts_a_scale_and_an_offset_per_conv_decoder_channel(motion_loaded):
    layers = motion_loaded.model.conv_decoder.layers()
    assert adaptation.update_size(8) == 2 * sum(layer.bias.numel() for layer in layers)
    assert adaptation.channels(8) == [layer.bias.numel() for layer in layers]
    assert adaptation.update_size(0) == 0  # the first release's transform cannot be adapted
    with pytest.raises(ValueError, match="has 616 values"):
        adaptation.dequantise(np.zeros(3), 16)


def test_a_zero_update_is_the_trained_decoder_and_a_scale_changes_the_picture(motion_loaded):
    model = motion_loaded.model
    n = adaptation.update_size(model.cfg.conv_width)
    with torch.no_grad():
        y = torch.randn(6, model.cfg.latent_tokens, model.cfg.token_dim)
        plain = model.synthesis(y, None, None, True, 2, 3)
        zero = model.synthesis(y, None, None, True, 2, 3, adaptation.dequantise(np.zeros(n), 8).layers)
        values = np.zeros(n, dtype=np.int64)
        values[-8:-4] = 40  # the output layer's scales
        moved = model.synthesis(y, None, None, True, 2, 3, adaptation.dequantise(values, 8).layers)
    assert torch.equal(plain, zero)
    assert not torch.allclose(plain, moved)


def test_update_syntax_round_trips_through_the_range_coder(motion_loaded):
    coder = EntropyCoder(motion_loaded.entropy, ENTROPY_MODEL_ID)
    n = coder.update_size
    rng = np.random.default_rng(0)
    update = np.clip(np.round(rng.laplace(0, 4, n)), -UPDATE_MAX, UPDATE_MAX).astype(np.int64)
    update[0] = UPDATE_MAX  # the ends of the alphabet are codable
    update[1] = -UPDATE_MAX
    cfg = motion_loaded.config
    symbols = torch.from_numpy(rng.integers(-3, 4, (2, cfg.latent_tokens, cfg.token_dim))).double()
    ctx = CodingState().entropy_context(1, True)
    for sent in (update, None):
        payload, ideal = coder.encode(symbols, ctx, grid=(1, 2), update=sent)
        s, _, _, _, got, _ = coder.decode(payload, (1, 2), ctx, 0)
        assert torch.equal(s, symbols)
        assert (got is None) if sent is None else np.array_equal(got, sent)
    k, bits = adaptation.spread_bits(update)
    assert 1 <= k <= len(UPDATE_FREQ) and bits > 0
    with pytest.raises(ValueError, match="integers in"):
        coder.encode(symbols, ctx, grid=(1, 2), update=np.full(n, UPDATE_MAX + 1))
    with pytest.raises(ValueError, match="intra frame"):
        coder.encode(symbols, CodingState(prev_symbols=symbols, memory=None).entropy_context(1, False),
                      grid=(1, 2), update=update)


def test_medium_writes_entropy_model_6_and_slow_model_7_and_one_decoder_reads_both(motion_loaded, monkeypatch):
    frames = moving_gradient(96, 64, 3)
    monkeypatch.setattr(adaptation, "worth_sending", lambda *a: True)  # send whatever the fit found
    for preset, model_id in (("medium", UNADAPTED_ID), ("slow", ENTROPY_MODEL_ID)):
        enc, packets, pictures = _stream(motion_loaded, frames, preset)
        assert enc.header.entropy_model_id == model_id
        dec = Decoder(enc.header_bytes(), weights=motion_loaded)
        for p, picture in zip(packets, pictures):
            assert torch.equal(dec.decode_rgb(p), picture)  # the decoder rebuilds the encoder's pictures
            assert (dec._s.state.update is not None) == (preset == "slow")  # kept over the P frames


def test_the_update_is_dropped_at_the_next_intra_frame_and_seeking_restarts_clean(motion_loaded, monkeypatch):
    frames = moving_gradient(96, 64, 4)
    sent = iter([True, False])  # the first intra frame sends one, the second does not
    monkeypatch.setattr(adaptation, "worth_sending", lambda *a: next(sent))
    enc, packets, pictures = _stream(motion_loaded, frames, intra_period=2)
    dec = Decoder(enc.header_bytes(), weights=motion_loaded)
    had = []
    for p, picture in zip(packets, pictures):
        assert torch.equal(dec.decode_rgb(p), picture)
        had.append(dec._s.state.update is not None)
    assert had == [True, True, False, False]
    dec.restart(2)  # a decoder that starts at the second intra frame gets the same pictures
    assert torch.equal(dec.decode_rgb(packets[2]), pictures[2])


def test_a_model_7_stream_decodes_the_same_without_updates_as_model_6(motion_loaded):
    """A slow encoder whose fits never pay sends no updates: the pictures are medium's."""
    frames = moving_gradient(96, 64, 2)
    _, _, medium = _stream(motion_loaded, frames, "medium")
    with pytest.MonkeyPatch.context() as m:
        m.setattr(adaptation, "worth_sending", lambda *a: False)
        _, _, slow = _stream(motion_loaded, frames, "slow")
    assert all(torch.equal(a, b) for a, b in zip(medium, slow))


def test_an_update_for_a_model_without_the_conv_decoder_is_a_corrupt_packet(loaded):
    """The first release's transform (conv_width 0) has nothing to adapt: a non-zero spread is corrupt."""
    from gvc1d_codec.entropy.coder import SymbolEncoder
    from gvc1d_codec.entropy.definition import UPDATE_SPREAD_FREQ

    enc = Encoder(48, 32, weights=loaded, quality=1, preset="slow")
    header = read_header(io.BytesIO(enc.header_bytes()))
    assert header.entropy_model_id == UNADAPTED_ID  # nothing to adapt: the encoder says so
    coder = SymbolEncoder()
    coder.encode(np.array([3]), UPDATE_SPREAD_FREQ)
    payload = bytes([16]) + coder.finish()
    dec = EntropyCoder(loaded.entropy, ENTROPY_MODEL_ID)
    with pytest.raises(CorruptPacketError, match="cannot apply"):
        dec.decode(payload, (1, 1), CodingState().entropy_context(1, True), 0)


def test_fit_lowers_the_intra_frames_error_and_returns_bounded_integers(motion_loaded):
    model = motion_loaded.model
    torch.manual_seed(0)
    x = torch.rand(1, 3, 64, 128)
    with torch.no_grad():
        y = torch.randn(2, model.cfg.latent_tokens, model.cfg.token_dim)
        features, pyramid, ref = model.synthesis_features(y, None, None, True, 1, 2)
        before = float(adaptation.distortion(model.conv_synthesis(features, pyramid, ref, True), x))
    flags = [p.requires_grad for p in model.parameters()]
    values = adaptation.fit(model, features, pyramid, x, 64, 128, steps=20, lr=0.05)
    assert values.dtype == np.int64 and np.abs(values).max() <= UPDATE_MAX and values.any()
    with torch.no_grad():
        after = float(adaptation.distortion(
            model.conv_synthesis(features, pyramid, ref, True, adaptation.dequantise(values, 8).layers), x))
    assert after < before
    assert [p.requires_grad for p in model.parameters()] == flags  # the model is left as it was
