"""Specification of the frame-level API (gvc1d_codec.codec): Encoder and Decoder.

The decoder must rebuild exactly what the encoder had: the same symbols for every frame and the
same reconstruction (the reference of the next frame), bit for bit. Streams name the weights and
entropy model they need, and a decoder with anything else refuses them before decoding.
"""
from __future__ import annotations

import dataclasses
import io
from fractions import Fraction

import numpy as np
import pytest
import torch

from conftest import moving_gradient
from gvc1d_codec.bitstream import Framer, PacketReader, compact, read_header
from gvc1d_codec.codec import Decoder, Encoder
from gvc1d_codec.errors import CorruptPacketError, GVC1DError, InputFormatError, UnsupportedStreamError
from gvc1d_codec.quality import max_code
from gvc1d_codec.frame import VideoFrame
from gvc1d_codec.entropy.definition import ENTROPY_MODEL_ID


@dataclasses.dataclass
class Trace:
    """What one encode + decode of a sequence produced, frame by frame."""

    stream: bytes
    types: list[str]
    enc_symbols: list[torch.Tensor]
    dec_symbols: list[torch.Tensor]
    enc_refs: list[torch.Tensor]
    dec_refs: list[torch.Tensor]
    decoded: list[VideoFrame]
    stats: list


def round_trip(frames, loaded, **enc_kwargs) -> Trace:
    f0 = frames[0]
    enc = Encoder(f0.width, f0.height, Fraction(25), pix_fmt=f0.pix_fmt, weights=loaded, **enc_kwargs)
    parts, types, es, er, stats = [enc.header_bytes()], [], [], [], []
    framer = Framer(enc.header)
    for f in frames:
        packet = enc.encode_packet(f)
        parts.append(framer.frame(packet))
        types.append(packet.frame_type)
        es.append(enc._s.state.prev_symbols.clone())
        er.append(enc._s.state.reference.clone())
        stats.append(enc.last)
    stream = b"".join(parts)
    src = io.BytesIO(stream)
    header = read_header(src)
    dec = Decoder(header, weights=loaded)
    ds, dr, decoded = [], [], []
    for packet in PacketReader(src, header):
        decoded.append(dec.decode(packet))
        ds.append(dec._s.state.prev_symbols.clone())
        dr.append(dec._s.state.reference.clone())
    return Trace(stream, types, es, ds, er, dr, decoded, stats)


def assert_exact(trace: Trace, n: int) -> None:
    assert len(trace.dec_symbols) == len(trace.enc_symbols) == n
    for i in range(n):
        assert torch.equal(trace.enc_symbols[i], trace.dec_symbols[i]), f"symbols differ in frame {i}"
        assert torch.equal(trace.enc_refs[i], trace.dec_refs[i]), f"reconstruction differs in frame {i}"


@pytest.fixture(scope="module")
def clip_trace(real_frames, loaded) -> Trace:
    """The first 6 frames of the real clip, an intra frame every 3."""
    return round_trip(real_frames[:6], loaded, intra_period=3)


# ---- exactness -----------------------------------------------------------------------------------

def test_decoder_recovers_the_encoders_symbols_for_every_frame(clip_trace):
    for i, (a, b) in enumerate(zip(clip_trace.enc_symbols, clip_trace.dec_symbols)):
        assert torch.equal(a, b), f"frame {i}"
    assert len(clip_trace.dec_symbols) == 6


def test_decoder_reconstruction_equals_encoder_reference_bit_exactly(clip_trace):
    assert_exact(clip_trace, 6)


def test_decoded_frames_have_the_source_size_and_format(clip_trace, real_frames):
    for f in clip_trace.decoded:
        f.validate(real_frames[0].width, real_frames[0].height)
        assert f.pix_fmt == "yuv420p"


def test_intra_period_3_gives_I_P_P_I_P_P(clip_trace):
    assert clip_trace.types == ["I", "P", "P", "I", "P", "P"]
    assert [s.frame_type for s in clip_trace.stats] == clip_trace.types


def test_default_intra_period_is_32_and_minus_1_codes_only_the_first_frame_intra(loaded):
    from gvc1d_codec.config import DEFAULT_INTRA_PERIOD

    assert Encoder(32, 32, weights=loaded).header.intra_period == DEFAULT_INTRA_PERIOD == 32
    enc = Encoder(32, 32, weights=loaded, intra_period=-1)
    types = [enc.encode_packet(f).frame_type for f in moving_gradient(32, 32, 4)]
    assert types == ["I", "P", "P", "P"]


def test_every_quality_level_round_trips_exactly(loaded):
    frames = moving_gradient(48, 40, 2)
    streams = []
    for q in range(loaded.config.qualities):
        trace = round_trip(frames, loaded, quality=q)
        assert_exact(trace, 2)
        assert read_header(io.BytesIO(trace.stream)).quality == 16 * q  # the quality code (levels x 16)
        streams.append(trace.stream)
    assert len(set(streams)) == len(streams), "quality levels must code differently"


@pytest.mark.parametrize("width,height,n", [(16, 16, 3), (130, 98, 2), (176, 144, 2), (1920, 1080, 1)])
def test_any_frame_size_round_trips_exactly(loaded, width, height, n):
    trace = round_trip(moving_gradient(width, height, n), loaded)
    assert_exact(trace, n)
    for f in trace.decoded:
        f.validate(width, height)


def test_rgb24_frames_round_trip_and_decode_to_rgb24(loaded):
    trace = round_trip(moving_gradient(37, 23, 2, "rgb24"), loaded)
    assert_exact(trace, 2)
    assert read_header(io.BytesIO(trace.stream)).pix_fmt == "rgb24"
    for f in trace.decoded:
        assert f.pix_fmt == "rgb24"
        f.validate(37, 23)


def test_decoder_can_output_another_pixel_format_than_the_source(loaded):
    trace = round_trip(moving_gradient(24, 18, 1), loaded)
    dec = Decoder(trace.stream, weights=loaded, pix_fmt="rgb24")  # the header; what follows is ignored
    src = io.BytesIO(trace.stream)
    frame = dec.decode(next(iter(PacketReader(src, read_header(src)))))
    assert frame.pix_fmt == "rgb24" and frame.planes[0].shape == (18, 24, 3)


# ---- independence and determinism -----------------------------------------------------------------

def _encode_all(enc: Encoder, frames) -> bytes:
    return enc.header_bytes() + b"".join(enc.encode(f) for f in frames)


def test_two_encoders_interleaved_give_the_same_bytes_as_each_alone(loaded, real_frames):
    a_frames = real_frames[:3]
    b_frames = moving_gradient(64, 48, 3)

    def make_a():
        return Encoder(320, 192, weights=loaded, quality=1)

    def make_b():
        return Encoder(64, 48, weights=loaded, quality=3, intra_period=2)

    alone_a, alone_b = _encode_all(make_a(), a_frames), _encode_all(make_b(), b_frames)
    ea, eb = make_a(), make_b()
    out_a, out_b = [ea.header_bytes()], [eb.header_bytes()]
    for fa, fb in zip(a_frames, b_frames):
        out_a.append(ea.encode(fa))
        out_b.append(eb.encode(fb))
    assert b"".join(out_a) == alone_a
    assert b"".join(out_b) == alone_b


def test_encoder_is_deterministic(loaded):
    frames = moving_gradient(40, 30, 3)
    assert _encode_all(Encoder(40, 30, weights=loaded), frames) == _encode_all(Encoder(40, 30, weights=loaded), frames)


def test_encoder_and_decoder_default_to_GVC1D_WEIGHTS(loaded):
    enc = Encoder(16, 16)  # weights from the environment (conftest points it at the test model)
    assert enc.header.weights_sha256_prefix == bytes.fromhex(loaded.sha256)[:16]
    assert enc.header.config_id == "test"
    Decoder(enc.header_bytes())


# ---- streams this decoder must refuse ---------------------------------------------------------------

@pytest.fixture(scope="module")
def header(loaded):
    return Encoder(64, 48, weights=loaded).header


def test_decoder_refuses_a_stream_made_for_other_weights(loaded, header):
    other = dataclasses.replace(header, weights_sha256_prefix=bytes(range(16)))
    with pytest.raises(UnsupportedStreamError) as e:
        Decoder(other.pack(), weights=loaded)
    assert bytes(range(16)).hex() in str(e.value)


def test_decoder_refuses_a_stream_made_for_another_entropy_model(loaded, header):
    other = dataclasses.replace(header, entropy_model_id=ENTROPY_MODEL_ID + 1)
    with pytest.raises(UnsupportedStreamError) as e:
        Decoder(other, weights=loaded)
    assert f"entropy model {ENTROPY_MODEL_ID + 1}" in str(e.value)


def test_decoder_refuses_a_stream_made_for_another_config(loaded, header):
    other = dataclasses.replace(header, config_id="paper")
    with pytest.raises(UnsupportedStreamError) as e:
        Decoder(other, weights=loaded)
    assert "paper" in str(e.value)


def test_a_packet_with_a_quality_the_model_does_not_have_is_corrupt(loaded):
    """Each payload starts with its quality code (16 x level); beyond the top level it is corrupt,
    and the decoder's state is kept (the next good packet still decodes)."""
    frames = moving_gradient(32, 32, 2)
    enc = Encoder(32, 32, weights=loaded, quality=1)
    header, p0, p1 = enc.header_bytes(), enc.encode_packet(frames[0]), enc.encode_packet(frames[1])
    assert p0.payload[0] == p1.payload[0] == 16
    dec = Decoder(header, weights=loaded)
    bad = dataclasses.replace(p0, payload=bytes([max_code(loaded.config.qualities, enhanced=True) + 1]) + p0.payload[1:])
    with pytest.raises(CorruptPacketError, match="quality code"):
        dec.decode(bad)
    with pytest.raises(CorruptPacketError, match="empty"):
        dec.decode(dataclasses.replace(p0, payload=b""))
    dec.decode(p0)
    dec.decode(p1)
    assert dec.last_quality == 1.0


def test_a_quality_between_levels_codes_between_them_and_round_trips_exactly(loaded, real_frames):
    """Continuous quality: 1.5 is carried in every packet (code 24); its bits lie between
    levels 1 and 2's, and the decoder reproduces the encoder's symbols and pictures exactly."""
    frames = real_frames[:3]
    sizes = {}
    for q in (1, 1.5, 2):
        trace = round_trip(frames, loaded, quality=q, intra_period=-1)
        assert_exact(trace, 3)
        assert all(f.quality == q for f in trace.stats)
        sizes[q] = sum(f.ideal_bits for f in trace.stats)
    assert read_header(io.BytesIO(round_trip(frames[:1], loaded, quality=1.5).stream)).quality == 24
    assert sizes[1] < sizes[1.5] < sizes[2], sizes


@pytest.mark.parametrize("bad", [-0.5, 7.5, float("nan"), "high"])
def test_a_quality_out_of_range_is_a_one_line_error(loaded, bad):
    with pytest.raises(GVC1DError, match="quality"):
        Encoder(32, 32, weights=loaded, quality=bad)


def test_decoder_refuses_a_stream_made_with_another_model(other_weights_path, loaded):
    enc = Encoder(16, 16, weights=str(other_weights_path))
    with pytest.raises(UnsupportedStreamError) as e:
        Decoder(enc.header_bytes(), weights=loaded)
    assert enc.header.weights_sha256_prefix.hex() in str(e.value)


# ---- damaged streams ------------------------------------------------------------------------------------

def test_a_flipped_payload_bit_is_a_corrupt_packet_naming_its_frame(loaded):
    frames = moving_gradient(32, 32, 3)
    enc = Encoder(32, 32, weights=loaded)
    head = enc.header_bytes()
    p0, p1 = enc.encode(frames[0]), bytearray(enc.encode(frames[1]))
    p1[len(p1) // 2] ^= 0x10  # a payload byte of frame 1
    src = io.BytesIO(head + p0 + bytes(p1) + enc.encode(frames[2]))
    h = read_header(src)
    dec = Decoder(h, weights=loaded)
    reader = PacketReader(src, h)
    dec.decode(next(reader))
    with pytest.raises(CorruptPacketError) as e:
        next(reader)
    assert e.value.frame_index == 1
    assert "frame 1" in str(e.value)


def test_decoder_refuses_a_packet_out_of_order(loaded):
    enc = Encoder(16, 16, weights=loaded)
    p0 = enc.encode_packet(moving_gradient(16, 16, 1)[0])
    dec = Decoder(enc.header, weights=loaded)
    with pytest.raises(CorruptPacketError) as e:
        dec.decode(dataclasses.replace(p0, frame_index=1))
    assert e.value.frame_index == 1


# ---- bad input -----------------------------------------------------------------------------------------

def test_a_frame_of_the_wrong_size_is_an_input_format_error(loaded):
    enc = Encoder(32, 32, weights=loaded)
    with pytest.raises(InputFormatError, match="32x32"):
        enc.encode(moving_gradient(32, 30, 1)[0])


def test_a_frame_of_the_wrong_pixel_format_is_an_input_format_error(loaded):
    enc = Encoder(32, 32, weights=loaded)
    with pytest.raises(InputFormatError, match="rgb24"):
        enc.encode(moving_gradient(32, 32, 1, "rgb24")[0])


def test_a_malformed_frame_is_an_input_format_error(loaded):
    enc = Encoder(32, 32, weights=loaded)
    y = np.zeros((32, 32), np.uint8)
    with pytest.raises(InputFormatError):
        enc.encode(VideoFrame("yuv420p", (y, np.zeros((16, 15), np.uint8), np.zeros((16, 16), np.uint8))))
    with pytest.raises(InputFormatError):
        enc.encode(VideoFrame("yuv420p", (y.astype(np.float32), y[:16, :16], y[:16, :16])))


@pytest.mark.parametrize("quality", [-1, 8, 255])
def test_a_quality_out_of_range_is_refused(loaded, quality):
    with pytest.raises(GVC1DError, match="out of range"):
        Encoder(32, 32, weights=loaded, quality=quality)


@pytest.mark.parametrize("period", [0, -2])
def test_an_invalid_intra_period_is_refused(loaded, period):
    with pytest.raises(GVC1DError, match="intra period"):
        Encoder(32, 32, weights=loaded, intra_period=period)


def test_an_unknown_device_is_refused(loaded):
    with pytest.raises(GVC1DError, match="tpu"):
        Encoder(32, 32, weights=loaded, device="tpu")


def test_non_finite_model_output_is_a_weights_error_not_a_crash(weights_path, tmp_path):
    from gvc1d_codec.errors import WeightsError
    from gvc1d_codec.weights import load_weights

    broken = load_weights(weights_path)
    with torch.no_grad():
        broken.model.to_tokens.weight[0, 0] = float("nan")
    enc = Encoder(32, 32, weights=broken)
    with pytest.raises(WeightsError, match="non-finite"):
        enc.encode(moving_gradient(32, 32, 1)[0])


# ---- entropy coding ------------------------------------------------------------------------------------

def test_entropy_coder_spends_within_1_percent_of_the_models_ideal_bits(loaded, real_frames):
    enc = Encoder(real_frames[0].width, real_frames[0].height, weights=loaded)
    payload_bits = ideal_bits = 0.0
    for f in real_frames:
        index = enc.frames_coded
        packet = enc.encode(f)
        framing = len(packet) - enc.last.payload_bytes
        assert 1 <= framing <= compact.framing_bytes("P", index, enc.last.payload_bytes)  # quality may be elided
        payload_bits += 8 * enc.last.payload_bytes
        ideal_bits += enc.last.ideal_bits
    n = len(real_frames)
    assert n == 9
    assert abs(payload_bits - ideal_bits) <= 0.01 * ideal_bits + 32 * n, (payload_bits, ideal_bits)


# ---- random access ---------------------------------------------------------------------------------------

def test_decoding_from_any_frame_equals_the_full_decode(loaded):
    """``start_frame`` N: decoding restarts at the intra frame at or before N (intra frames reset
    all state) and the frames from N on are exactly those of a decode from frame 0."""
    frames = moving_gradient(32, 24, 7)
    enc = Encoder(32, 24, weights=loaded, intra_period=3, quality=1)
    data = enc.header_bytes() + b"".join(enc.encode(f) for f in frames)
    src = io.BytesIO(data)
    full = [o.frame for o in Decoder(read_header(src), weights=loaded).decode_stream(src)]
    for start in range(7):
        src = io.BytesIO(data)
        dec = Decoder(read_header(src), weights=loaded)
        out = list(dec.decode_stream(src, start_frame=start))
        assert [o.frame_index for o in out] == list(range(start, 7))
        assert all(np.array_equal(a, b) for o, f in zip(out, full[start:]) for a, b in zip(o.frame.planes, f.planes))
    dec = Decoder(read_header(io.BytesIO(data)), weights=loaded)
    src = io.BytesIO(data)
    read_header(src)
    packets = list(PacketReader(src, dec.header))
    dec.restart(3)
    assert np.array_equal(dec.decode(packets[3]).planes[0], full[3].planes[0])
    dec.restart(4)
    with pytest.raises(CorruptPacketError, match="predicted from a lost frame"):
        dec.decode(packets[4])


# ---- presets -----------------------------------------------------------------------------------------

def test_an_unknown_preset_is_a_settings_error(loaded):
    from gvc1d_codec.errors import SettingsError

    with pytest.raises(SettingsError, match="unknown preset 'placebo'"):
        Encoder(48, 32, weights=loaded, preset="placebo")
