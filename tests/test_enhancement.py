"""The enhancement layer above the highest level (gvc1d_codec/enhancement.py, entropy models 4 and 5):
its integer syntax round-trips, the decoder rebuilds exactly the encoder's pictures, quality rises
with it, and its bytes are checked like the rest of a payload."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from gvc1d_codec import enhancement
from gvc1d_codec.codec import Decoder, Encoder, intra_boost
from gvc1d_codec.color import frame_to_rgb
from gvc1d_codec.entropy import residual_syntax
from gvc1d_codec.entropy.coder import SymbolDecoder, SymbolEncoder
from gvc1d_codec.errors import CorruptPacketError
from gvc1d_codec.quality import ENHANCEMENT_LEVELS, QUALITY_STEPS, coding_point, highest, max_code

from conftest import moving_gradient


def _planes(rng: np.random.Generator, grid: tuple[int, int], window: int) -> list[np.ndarray]:
    """Coefficient planes with empty windows, sparse blocks, large values (escapes) and signs."""
    rows, cols = grid
    out = []
    for per in (window // 8, window // 16, window // 16):
        p = np.zeros((rows * per, cols * per, 64), dtype=np.int64)
        dense = rng.random(p.shape) < 0.15
        p[dense] = rng.integers(-6, 7, size=int(dense.sum()))
        p[..., 0] += rng.integers(-40, 41, size=p.shape[:2]) * (rng.random(p.shape[:2]) < 0.3)
        p[0, 0, 1] = 1_000_000  # an escape with a long Exp-Golomb suffix
        p[-1, -1, 63] = -17
        p[:per, -per:] = 0  # an empty window (top right)
        out.append(p)
    return out


@pytest.mark.parametrize("grid,window", [((1, 1), 64), ((2, 3), 64), ((2, 2), 128)])
def test_coefficients_round_trip_through_the_range_coder(grid, window):
    planes = _planes(np.random.default_rng(sum(grid) + window), grid, window)
    enc = SymbolEncoder()
    residual_syntax.encode(enc, planes, grid, window)
    data = enc.finish()
    got, _ = residual_syntax.decode(SymbolDecoder(data, 0), grid, window, 0)
    for a, b in zip(planes, got):
        np.testing.assert_array_equal(a, b)


def test_initial_tables_are_integer_and_codable():
    for t in (residual_syntax.COEF_INIT, residual_syntax.CLASS_INIT, residual_syntax.FLAG_INIT, residual_syntax.ESCAPE_K_FREQ):
        assert t.dtype == np.int64 and int(t.min()) >= 1 and int(t.sum(axis=-1).max()) < 1 << 24
    # a coefficient row peaks at zero and is symmetric (two-sided geometric)
    row = residual_syntax.COEF_INIT[0]
    assert row.argmax() == residual_syntax.VMAX + 1 and (row == row[::-1]).all()


def test_transform_inverts_up_to_the_quantiser():
    """With the finest step a smooth residual (chroma is coded at half resolution) is reproduced to
    within the quantiser's error."""
    g = torch.Generator().manual_seed(0)
    x = torch.rand(1, 3, 64, 64, generator=g)
    smooth = torch.nn.functional.interpolate(torch.randn(1, 3, 8, 8, generator=g), size=(64, 64), mode="bilinear")
    x_hat = (x + 0.05 * smooth).clamp(0, 1)
    delta = enhancement.step_size(ENHANCEMENT_LEVELS, wide=True)
    assert delta == enhancement.step_size(ENHANCEMENT_LEVELS) == 4  # both kinds of stream end at the same step
    planes = enhancement.analyse(x, x_hat, 64, 64, delta)
    r = enhancement.synthesise(planes, delta, torch.device("cpu"))
    before = float((x - x_hat).pow(2).mean())
    after = float((x - x_hat - r).pow(2).mean())
    assert after < before / 10


def _code(frames, weights, quality):
    enc = Encoder(frames[0].width, frames[0].height, weights=weights, quality=quality, intra_period=-1)
    header = enc.header_bytes()
    packets, pictures = [], []
    for f in frames:
        packets.append(enc.encode_packet(f))
        pictures.append(enc.picture())
    return header, packets, pictures


@pytest.mark.parametrize("which", ["weights_path", "motion_weights_path"])
def test_decoder_rebuilds_the_encoders_pictures_and_quality_rises(which, request):
    weights = str(request.getfixturevalue(which))
    frames = moving_gradient(72, 40, 3)
    # what the layer aims at: the source's own samples, outside the RGB cube too (extended range)
    src = torch.stack([frame_to_rgb(f, chroma="nearest", extended=True) for f in frames])
    errors = []
    for quality in (2.0, 3.0, 4.0, 5.5, 7.0):
        header, packets, pictures = _code(frames, weights, quality)
        point = coding_point(quality, 4)  # above level 2: the layer on level 2's tokens
        dec = Decoder(header, weights=weights)
        for p, pic in zip(packets, pictures):
            torch.testing.assert_close(dec.decode_rgb(p), pic, rtol=0, atol=0)
            # an intra frame with the layer is coded higher (codec.intra_boost; intra period -1: the only one)
            assert dec.last_quality == (intra_boost(point, 4, dec.header.wide_steps, single=True)
                                        if p.frame_type == "I" else point)
        errors.append(float((torch.stack(pictures) - src).pow(2).mean()))
        if quality == 2.0:
            assert point == 2.0 and all(p.quality_length == 1 for p in packets)  # the tokens alone
            continue
        assert all(p.payload[0] == int(16 * dec_q) and p.payload[1] == 32
                   for p, dec_q in zip(packets, [intra_boost(point, 4, True, True)] + [point] * (len(packets) - 1)))
        assert all(p.quality_length == 2 for p in packets)  # two quality bytes, then a byte-terminated payload
    assert errors == sorted(errors, reverse=True) and errors[-1] < errors[0] / 4


def test_enhanced_payloads_are_checked(loaded):
    frames = moving_gradient(32, 32, 2)
    header, packets, _ = _code(frames, loaded, 5.0)
    p0 = packets[0]
    dec = Decoder(header, weights=loaded)
    top = max_code(loaded.config.qualities)
    for payload, what in ((bytes([p0.payload[0], top + 1]) + p0.payload[2:], "tokens' quality"),
                          (p0.payload[:1], "tokens' quality"),
                          (bytes([max_code(loaded.config.qualities, enhanced=True) + 1]) + p0.payload[1:], "quality code")):
        with pytest.raises(CorruptPacketError, match=what):
            dec.decode(dataclasses.replace(p0, payload=payload))
    dec.decode(p0)  # the state was kept
    point = coding_point(5.0, loaded.config.qualities)
    # the stream's only intra frame (intra period -1) a third of SINGLE_INTRA_BOOST higher (wide steps)
    assert dec.header.wide_steps and dec.last_quality == point + 1.0
    dec.decode(packets[1])
    assert dec.last_quality == point


def test_intra_boost_keeps_the_step_ratio_of_either_kind_of_stream():
    """The intra frame's step is 2^-0.5 times the P frames' (to 1/16 of a quality) in streams with
    and without wide steps; below the layer and at the top nothing changes."""
    for wide in (False, True):
        a, b = enhancement.step_size(1.0, wide), enhancement.step_size(intra_boost(4.0, 4, wide) - 3, wide)
        assert abs(b / a - 2 ** -0.5) < 0.03
        assert intra_boost(2.0, 4, wide) == 2.0 and intra_boost(7.0, 4, wide) == 7.0
    assert intra_boost(4.0, 4) == 4.5 and intra_boost(4.0, 4, True) == 4.3125
    # a stream's only intra frame (intra period -1): 2^-1.5 = 0.35 x the P frames' step
    for wide in (False, True):
        a, b = enhancement.step_size(1.0, wide), enhancement.step_size(intra_boost(4.0, 4, wide, single=True) - 3, wide)
        assert abs(b / a - 2 ** -1.5) < 0.03
    assert intra_boost(4.0, 4, True, single=True) == 5.0 and intra_boost(6.5, 4, True, single=True) == 7.0


def test_only_a_streams_single_intra_frame_gets_the_larger_boost():
    """With intra period -1 the first frame is coded SINGLE_INTRA_BOOST higher; with intra frames
    to come, INTRA_ENHANCEMENT_BOOST (a larger boost there pops at every intra frame)."""
    frames = moving_gradient(32, 32, 3)
    for period, boost in ((-1, 1.0), (2, 0.3125)):
        enc = Encoder(32, 32, quality=4.0, intra_period=period, weights="gvc1d-tiny")
        qualities = []
        for f in frames:
            enc.encode_packet(f)
            qualities.append(enc.last.quality)
        point = coding_point(4.0, 4)
        intra = [0] if period == -1 else [0, 2]
        assert [q - point for k, q in enumerate(qualities) if k in intra] == [boost] * len(intra)
        assert all(q == point for k, q in enumerate(qualities) if k not in intra)


@pytest.mark.parametrize("levels", [1, 2, 4, 6])
def test_coding_points_rise_with_quality_and_skip_the_dominated_levels(levels):
    """quality.coding_point: the tokens alone up to Q-2, then the layer from its coarsest step
    (Q-1 + 1/16) up to the finest (Q-1+E at the highest quality); never the tokens between Q-2
    and Q-1; never lower for a higher quality."""
    base = max(0, levels - 2)
    codes = range(QUALITY_STEPS * highest(levels) + 1)
    points = [coding_point(c / QUALITY_STEPS, levels) for c in codes]
    assert points == sorted(points)
    assert all(p == c / QUALITY_STEPS for c, p in zip(codes, points) if c <= QUALITY_STEPS * base)
    assert not any(base < p <= levels - 1 for p in points)
    above = [p for c, p in zip(codes, points) if c > QUALITY_STEPS * base]
    assert above[0] == levels - 1 + 1 / QUALITY_STEPS and above[-1] == highest(levels)
    assert all((p * QUALITY_STEPS).is_integer() for p in points)
    assert len(set(above)) >= len(above) * 3 // 4  # nearly every step is a different point


def test_quality_range_includes_the_enhancement_levels(loaded):
    q = loaded.config.qualities
    Encoder(32, 32, weights=loaded, quality=q - 1 + ENHANCEMENT_LEVELS)
    with pytest.raises(Exception, match="out of range"):
        Encoder(32, 32, weights=loaded, quality=q - 1 + ENHANCEMENT_LEVELS + 0.5)


@pytest.mark.parametrize("neighbour", [False, True])
@pytest.mark.parametrize("grid,window,block", [((1, 1), 64, 16), ((2, 3), 64, 16), ((2, 2), 128, 32)])
def test_prediction_modes_round_trip_and_adapt_as_decoded(grid, window, block, neighbour):
    """Entropy model 5: a P frame's modes come before each window's coefficients; the tables the
    decoder ends with are the ones :func:`adapt` replays, so a second frame decodes from them.
    ``neighbour``: entropy model 10's classes, coded in rows their neighbours choose."""
    rng = np.random.default_rng(sum(grid) + block)
    m = window // block
    frames = []
    for _ in range(2):
        modes = np.where(rng.random((grid[0] * m, grid[1] * m)) < 0.5, residual_syntax.MODE_TOKENS,
                         rng.integers(0, residual_syntax.MODES, size=(grid[0] * m, grid[1] * m)))
        frames.append(_planes(rng, grid, window) + [modes])
    frames[1][0][:1] = 0  # the top row of luma blocks without coefficients
    initial = residual_syntax.Tables(neighbour_classes=neighbour)
    enc, tables = SymbolEncoder(), initial
    for layer in frames:
        residual_syntax.encode(enc, layer, grid, window, tables)
        tables = residual_syntax.adapt(tables, layer, grid, window)
    dec, tables = SymbolDecoder(enc.finish(), 0), initial
    for layer in frames:
        got, after = residual_syntax.decode(dec, grid, window, 0, tables, mode_block=block)
        assert len(got) == 4
        for a, b in zip(layer, got):
            np.testing.assert_array_equal(a, b)
        tables = residual_syntax.adapt(tables, got, grid, window)
        for name in ("flag", "cls", "coef", "mode"):  # the decoder's own tables are adapt's
            np.testing.assert_array_equal(getattr(after, name), getattr(tables, name))
    assert not np.array_equal(tables.mode, residual_syntax.MODE_INIT)
    assert tables.cls.shape[0] == (7 + 49 if neighbour else 2)
    if neighbour and grid != (1, 1):  # more than one row per plane kind learned something (grid (1, 1): its one window is empty)
        learned = (tables.cls != residual_syntax.NEIGHBOUR_CLASS_INIT).any(axis=1)
        assert learned[:7].sum() >= 2 and learned[7:].sum() >= 2


def test_neighbour_class_rows_follow_the_definition():
    """Entropy model 10's class rows: luma by the bucket of left + top, chroma 7 + 7 · that bucket +
    the bucket of twice the largest class of the 2x2 luma blocks it covers (0 outside the frame)."""
    luma = np.array([[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11], [0, 0, 0, 11]])
    ys, xs = (a.reshape(-1) for a in np.indices((4, 4)))
    rows = residual_syntax.class_rows(0, luma, luma, ys, xs)
    bucket = {0: 0, 1: 1, 2: 1, 3: 2, 4: 2, 5: 3, 7: 3, 8: 4, 11: 4, 12: 5, 15: 5, 16: 6, 22: 6}
    for y, x, row in zip(ys, xs, rows):
        n = (luma[y, x - 1] if x else 0) + (luma[y - 1, x] if y else 0)
        assert row == bucket.get(int(n), residual_syntax.class_bucket(int(n)))
        assert row == residual_syntax._class_row(0, luma, luma, int(y), int(x))
    chroma = np.array([[3, 0], [1, 2]])
    rows = residual_syntax.class_rows(1, chroma, luma, np.array([0, 1, 1]), np.array([1, 0, 1]))
    # (0, 1): left 3, top none -> bucket 2; luma max of rows 0-1, cols 2-3 = 7 -> 2 · 7 = 14 -> 5
    # (1, 0): top 3 -> 2; luma max 9 -> 18 -> 6.  (1, 1): 1 + 0 -> 1; luma max 11 -> 22 -> 6
    assert rows.tolist() == [7 + 7 * 2 + 5, 7 + 7 * 2 + 6, 7 + 7 * 1 + 6]
    assert [residual_syntax._class_row(1, chroma, luma, y, x) for y, x in ((0, 1), (1, 0), (1, 1))] == rows.tolist()


def _full_picture_reference(picture: torch.Tensor, mv: torch.Tensor, block: int, fy: int, fx: int) -> torch.Tensor:
    """The text's definition computed another way: the whole picture interpolated by
    convolution with replicated edges, then the integer block copy (equal away from the edges)."""
    from gvc1d_codec.model.motion import warp

    def one(im, f, dim):
        whole, r = divmod(f, 4)
        pad = (8, 8, 0, 0) if dim == 3 else (0, 0, 8, 8)
        k = torch.tensor([(0, 0, 0, 64, 0, 0, 0, 0), (-1, 4, -10, 58, 17, -5, 1, 0), (-1, 4, -11, 40, 40, -11, 4, -1),
                          (0, 1, -5, 17, 58, -10, 4, -1)][r], dtype=im.dtype) / 64
        w = k.view(1, 1, 1, 8) if dim == 3 else k.view(1, 1, 8, 1)
        out = torch.nn.functional.conv2d(torch.nn.functional.pad(im, pad, mode="replicate"),
                                         w.expand(im.shape[1], 1, *w.shape[2:]).contiguous(), groups=im.shape[1])
        return out.narrow(dim, 5 + whole, im.shape[dim])

    return warp(one(one(picture, fx, 3), fy, 2), mv, block).clamp(0, 1)


def test_subpel_prediction_is_the_documented_interpolation():
    g = torch.Generator().manual_seed(1)
    previous = torch.rand(1, 3, 64, 96, generator=g, dtype=torch.float64)
    mv = torch.zeros(1, 2, 4, 6, dtype=torch.long)
    mv[0, :, 1, 2] = torch.tensor([3, -5])
    mv[0, :, 2, 3] = torch.tensor([-2, 1])
    rng = np.random.default_rng(0)
    modes = rng.integers(0, residual_syntax.MODES, size=(4, 6))
    x_hat = torch.rand(1, 3, 64, 96, generator=g, dtype=torch.float64)
    pred = enhancement.predict(x_hat, previous, mv, modes, 16)
    for by in range(1, 3):  # inner blocks: no edge
        for bx in range(1, 5):
            got = pred[..., by * 16:(by + 1) * 16, bx * 16:(bx + 1) * 16]
            k = int(modes[by, bx])
            if k == residual_syntax.MODE_TOKENS:
                want = x_hat
            else:
                want = _full_picture_reference(previous, mv, 16, *enhancement.mode_fraction(k))
            torch.testing.assert_close(got, want[..., by * 16:(by + 1) * 16, bx * 16:(bx + 1) * 16], rtol=0, atol=1e-12)
    # half a pel across a horizontal ramp is the midpoint; the whole-pel mode is the block copy
    ramp = (torch.arange(96, dtype=torch.float64) / 200).expand(1, 3, 64, 96).contiguous()
    zero = torch.zeros(1, 2, 4, 6, dtype=torch.long)
    half = enhancement.subpel_blocks(ramp, zero, 16, np.array([1]), np.array([2]), np.array([0]), np.array([2]))
    torch.testing.assert_close(half[0], ramp[0, :, 16:32, 32:48] + 0.5 / 200, rtol=0, atol=1e-12)
    whole = enhancement.subpel_blocks(previous, mv, 16, np.array([1]), np.array([2]), np.array([0]), np.array([0]))
    torch.testing.assert_close(whole[0], previous[0, :, 16 + 3:32 + 3, 32 - 5:48 - 5], rtol=0, atol=0)


def test_p_frames_of_a_motion_model_carry_prediction_modes(motion_weights_path):
    frames = moving_gradient(72, 40, 3)
    header, packets, _ = _code(frames, str(motion_weights_path), 5.0)
    dec = Decoder(header, weights=str(motion_weights_path))
    layers = []
    for p in packets:
        dec.decode(p)
        layers.append(dec.last_coefficients)
    assert len(layers[0]) == 3 and all(len(c) == 4 for c in layers[1:])
    assert {tuple(c[3].shape) for c in layers[1:]} == {(4, 8)}  # 16 px blocks of the 64x128 padded frame


def test_a_coding_point_bypasses_the_quality_scale(loaded):
    """Encoder(point=...) codes the payloads' own scale: the tokens' highest level, which no fixed
    quality maps to, and a layer point exactly as given (benchmarks of the model's levels)."""
    from gvc1d_codec.errors import SettingsError

    frames = moving_gradient(32, 32, 2)
    top = loaded.config.qualities - 1
    for point, lengths in ((float(top), {1}), (top + 1.25, {2})):
        enc = Encoder(32, 32, weights=loaded, point=point, intra_period=-1)
        packets = [enc.encode_packet(f) for f in frames]
        assert {p.quality_length for p in packets} == lengths
        assert packets[1].payload[0] == int(16 * point)
    with pytest.raises(SettingsError, match="coding point"):
        Encoder(32, 32, weights=loaded, point=1.0, quality=1.0)


def test_extended_range_keeps_superwhites_and_old_streams_clamp(weights_path, monkeypatch):
    """Samples outside the RGB cube (here luma 250 > 235, limited range) survive a stream with
    extended range at a fine layer step; a stream without the flag clamps them, as it always did."""
    import gvc1d_codec.codec as codec_module

    frames = moving_gradient(64, 48, 2)
    for f in frames:
        f.planes[0][8:24, 8:40] = 250
    decoded = {}
    for extended in (True, False):
        monkeypatch.setattr(codec_module, "EXTENDED_RANGE_STREAMS", extended)
        header, packets, pictures = _code(frames, str(weights_path), 7.0)
        dec = Decoder(header, weights=str(weights_path))
        assert dec.header.extended_range is extended
        decoded[extended] = [dec.decode(p) for p in packets]
        assert float(torch.stack(pictures).max()) > 1.0 if extended else float(torch.stack(pictures).max()) <= 1.0
    for ext, plain in zip(decoded[True], decoded[False]):
        assert abs(int(ext.planes[0][8:24, 8:40].astype(int).mean()) - 250) <= 2
        assert plain.planes[0][8:24, 8:40].max() <= 236
