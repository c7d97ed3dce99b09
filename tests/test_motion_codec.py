"""Block motion in the codec (models with ``motion_block``): the encoder estimates integer vectors,
codes them (docs/bitstream.md, "Motion vectors"), and encoder and decoder move the previous
reconstruction by them identically; skipped windows copy the moved reference."""
from __future__ import annotations

import io

import numpy as np
import pytest
import torch

from gvc1d_codec.bitstream import PacketReader, read_header
from gvc1d_codec.codec import Decoder, Encoder
from gvc1d_codec.frame import VideoFrame
from gvc1d_codec.model.motion import warp
from gvc1d_codec.weights import load_weights


@pytest.fixture(scope="module")
def motion_loaded(motion_weights_path):
    return load_weights(motion_weights_path)


def panning(frame: VideoFrame, n: int, dy: int = 2, dx: int = 4) -> list[VideoFrame]:
    """The frame moved by (t * dy, t * dx) luma pixels at frame t (chroma by half)."""
    out = []
    for t in range(n):
        planes = tuple(np.roll(p, (t * dy // (1 + (i > 0)), t * dx // (1 + (i > 0))), axis=(0, 1))
                       for i, p in enumerate(frame.planes))
        out.append(VideoFrame(frame.pix_fmt, planes))
    return out


@pytest.fixture(scope="module")
def overlap_loaded(tmp_path_factory):
    from conftest import SMALL_MOTION, build_weights

    path = build_weights(tmp_path_factory.mktemp("w") / "overlap.safetensors", seed=0,
                         config=dict(SMALL_MOTION, name="test-overlap", motion_overlap=True))
    return load_weights(path)


@pytest.mark.parametrize("model", ["motion_loaded", "overlap_loaded"])
def test_encoder_and_decoder_move_the_reference_identically(real_frames, model, request):
    motion_loaded = request.getfixturevalue(model)
    frames = panning(real_frames[0], 4)
    f0 = frames[0]
    # quality 5: the enhancement layer makes the reference close to the source, so the (untrained)
    # test model's pictures have the clip's structure for the motion search to find
    enc = Encoder(f0.width, f0.height, quality=5, intra_period=-1, weights=motion_loaded)
    stream, enc_states = [enc.header_bytes()], []
    for f in frames:
        stream.append(enc.encode(f))
        enc_states.append(enc._s.state)
    src = io.BytesIO(b"".join(stream))
    header = read_header(src)
    dec = Decoder(header, weights=motion_loaded)
    for p, es in zip(PacketReader(src, header), enc_states):
        dec.decode(p)
        ds = dec._s.state
        assert torch.equal(es.prev_symbols, ds.prev_symbols)
        assert torch.equal(es.reference, ds.reference)
        assert (es.motion is None) == (ds.motion is None) == (p.frame_type == "I")
        if es.motion is not None:
            assert torch.equal(es.motion, ds.motion)
    moved = [s.motion for s in enc_states[1:]]
    assert all(m.shape == (1, 2, 192 // 16, 320 // 16) for m in moved)
    assert any(bool((m != 0).any()) for m in moved), "a panning clip should find non-zero vectors"


def test_skipped_windows_copy_the_motion_compensated_reference(real_frames, motion_loaded, monkeypatch):
    from gvc1d_codec import codec

    monkeypatch.setattr(codec._Session, "choose_skip", lambda self, x, out, *rest: np.ones(self.windows, dtype=bool))
    frames = panning(real_frames[0], 3)
    f0 = frames[0]
    enc = Encoder(f0.width, f0.height, quality=2, intra_period=-1, weights=motion_loaded)
    enc.encode(frames[0])
    before = enc._s.state.reference
    enc.encode(frames[1])
    after = enc._s.state
    assert enc.last.skipped_windows == enc._s.windows
    assert torch.equal(after.reference, warp(before, after.motion, motion_loaded.config.motion_block))


def test_a_corrupt_motion_vector_is_a_corrupt_packet(real_frames, motion_loaded):
    from gvc1d_codec.errors import CorruptPacketError

    frames = panning(real_frames[0], 2)
    f0 = frames[0]
    enc = Encoder(f0.width, f0.height, quality=2, intra_period=-1, weights=motion_loaded)
    header = enc.header_bytes()
    packets = [enc.encode_packet(f) for f in frames]
    dec = Decoder(header, weights=motion_loaded)
    dec.decode(packets[0])
    state = dec._s.state
    bad = type(packets[1])(packets[1].frame_type, packets[1].frame_index, b"\xff" * 8)
    with pytest.raises(CorruptPacketError):
        dec.decode(bad)
    assert dec._s.state is state  # a failed frame leaves the state as it was


def test_the_encoder_chooses_vectors_by_rate_distortion_cost(real_frames, motion_loaded, monkeypatch):
    """A still picture whose search returns small spurious vectors (as a search against a lossy
    reconstruction does): the rate-distortion choice (the level's lambda, the syntax's bits) codes
    fewer non-zero vectors and fewer bytes than those vectors would cost."""
    import gvc1d_codec.model.gvc1d as gvc1d_module

    def spurious(x, ref, block, search, **_):  # the search's stand-in: a seeded field of +-1 vectors
        g = torch.Generator().manual_seed(int(x.sum() * 1000) % 1000)
        return torch.randint(-1, 2, (x.shape[0], 2, -(-x.shape[-2] // block), -(-x.shape[-1] // block)), generator=g)

    monkeypatch.setattr(gvc1d_module, "estimate_motion", spurious)

    def code(frames):
        enc = Encoder(frames[0].width, frames[0].height, quality=5, intra_period=-1, weights=motion_loaded)
        sizes, moving = [], 0
        for f in frames:
            enc.encode_packet(f)
            sizes.append(enc.last.payload_bytes)
            if enc._s.state.motion is not None:
                moving += int((enc._s.state.motion != 0).any(dim=1).sum())
        return sum(sizes[1:]), moving

    frames = [real_frames[0]] * 4
    rd_bytes, rd_moving = code(frames)
    calls = []
    monkeypatch.setattr(gvc1d_module, "choose_motion_rd", lambda x, ref, mv, *a: calls.append(1) or mv)
    plain_bytes, plain_moving = code(frames)
    assert len(calls) == 3  # the encoder asked for the RD choice at every P frame
    assert plain_moving > 0
    assert rd_moving < plain_moving and rd_bytes < plain_bytes, (rd_bytes, plain_bytes, rd_moving, plain_moving)


def test_frames_with_the_enhancement_layer_weigh_their_vectors_with_the_layers_lambda(real_frames, motion_loaded,
                                                                                      monkeypatch):
    """The vectors' lambda (quality.motion_lambda): the tokens' level's times MOTION_LAMBDA_SCALE in a
    frame of the tokens alone, times LAYER_MOTION_LAMBDA_SCALE in a frame with the enhancement layer
    (whose sub-pel prediction starts from the vectors), at the same tokens' level."""
    import gvc1d_codec.model.gvc1d as gvc1d_module
    from gvc1d_codec import quality

    seen = []
    real = gvc1d_module.choose_motion_rd
    monkeypatch.setattr(gvc1d_module, "choose_motion_rd", lambda x, ref, mv, prev, block, window, lam:
                        seen.append(lam) or real(x, ref, mv, prev, block, window, lam))
    frames = panning(real_frames[0], 2)
    levels = motion_loaded.config.qualities
    for q in (levels - 1, levels - 1 + 1.5):  # the highest level alone; the layer on its tokens
        enc = Encoder(frames[0].width, frames[0].height, point=q, intra_period=-1, weights=motion_loaded)
        for f in frames:
            enc.encode_packet(f)
    assert len(seen) == 2
    lambdas = motion_loaded.config.lambdas
    tokens, e = quality.split_enhanced(levels - 1 + 1.5, levels)  # the layer's tokens' level (the encoder's choice)
    assert e > 0
    assert seen[0] == pytest.approx(quality.level_lambda(lambdas, levels - 1) * quality.MOTION_LAMBDA_SCALE)
    assert seen[1] == pytest.approx(quality.level_lambda(lambdas, tokens) * quality.LAYER_MOTION_LAMBDA_SCALE)
    assert quality.LAYER_MOTION_LAMBDA_SCALE > quality.MOTION_LAMBDA_SCALE
