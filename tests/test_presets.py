"""Encoder presets (gvc1d_codec/presets.py): ``fast`` searches less and synthesises each P frame
once; every preset's stream decodes with the same decoder to the encoder's own pictures."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from gvc1d_codec.codec import Decoder, Encoder
from gvc1d_codec.entropy.definition import UNADAPTED_ID
from gvc1d_codec.errors import SettingsError
from gvc1d_codec.model import gvc1d as gvc1d_model
from gvc1d_codec.model.motion import estimate_motion
from gvc1d_codec.presets import DEFAULT_PRESET, PRESETS, preset


@pytest.fixture(scope="module")
def motion_loaded(motion_weights_path):
    from gvc1d_codec.weights import load_weights

    return load_weights(motion_weights_path)


def _encode(loaded, frames, name, **kw):
    """Packets and the encoder's own pictures, and how many times the synthesis ran."""
    calls = [0]
    original = gvc1d_model.GVC1D.synthesis

    def counted(self, *a, **k):
        calls[0] += 1
        return original(self, *a, **k)

    with pytest.MonkeyPatch.context() as m:
        m.setattr(gvc1d_model.GVC1D, "synthesis", counted)
        enc = Encoder(frames[0].width, frames[0].height, weights=loaded, preset=name, **kw)
        packets, pictures, skipped = [], [], []
        for i, f in enumerate(frames):
            packets.append(enc.encode_packet(f, frames[i + 1:i + 3]))
            pictures.append(enc._s.picture().clone())
            skipped.append(enc.last.skipped_windows)
    return enc, packets, pictures, calls[0], skipped


def test_the_presets_and_their_names():
    assert DEFAULT_PRESET == "medium" and list(PRESETS) == ["fast", "medium", "slow"]
    assert preset("fast").early_skip and preset("fast").motion_effort < 1 and not preset("fast").adapt_steps
    assert not preset("medium").early_skip and preset("medium").motion_effort == 1
    with pytest.raises(SettingsError, match="unknown preset 'turbo' .*fast, medium, slow"):
        preset("turbo")


@pytest.mark.parametrize("kw", [dict(quality=1, intra_period=3), dict(bitrate=20000, intra_period=4)])
def test_fast_streams_decode_with_the_one_decoder_to_the_encoders_pictures(real_frames, loaded, kw):
    """Fixed quality and rate control (look-ahead trials included): the decoder rebuilds every picture
    the fast encoder kept as its reference, from a stream of the unadapted entropy model."""
    frames = real_frames[:6]
    enc, packets, pictures, _, _ = _encode(loaded, frames, "fast", **kw)
    assert enc.header.entropy_model_id == UNADAPTED_ID
    dec = Decoder(enc.header_bytes(), weights=loaded)
    for p, picture in zip(packets, pictures):
        assert torch.equal(dec.decode_rgb(p), picture)


def test_fast_synthesises_each_frame_at_most_once_and_medium_twice_where_it_skips(real_frames, loaded):
    frames = real_frames[:5]
    _, _, _, fast_calls, fast_skipped = _encode(loaded, frames, "fast", quality=0)
    _, _, _, medium_calls, medium_skipped = _encode(loaded, frames, "medium", quality=0)
    windows = Encoder(frames[0].width, frames[0].height, weights=loaded)._s.windows
    # a P frame whose every window is skipped needs no synthesis at all
    assert fast_calls == len(frames) - sum(s == windows for s in fast_skipped)
    # medium synthesises every frame, decides, and synthesises it again when it skips some windows
    # (a frame whose every window is skipped is the reference: no second synthesis)
    assert medium_calls == len(frames) + sum(0 < s < windows for s in medium_skipped)
    assert any(medium_skipped) and fast_calls < medium_calls


def test_the_early_skip_estimates_a_windows_coded_error_by_its_error_when_last_coded(real_frames, loaded):
    frames = real_frames[:4]
    enc = Encoder(frames[0].width, frames[0].height, weights=loaded, preset="fast", quality=0)
    s = enc._s
    enc.encode_packet(frames[0])
    assert s.window_error is not None and s.window_error.shape == (s.windows,)  # the intra frame's errors
    for f in frames[1:]:
        before = s.window_error.copy()
        enc.encode_packet(f)
        kept = s.state.skip
        if kept is not None:
            assert np.array_equal(s.window_error[kept], before[kept])  # a skipped window keeps its old estimate
    medium = Encoder(frames[0].width, frames[0].height, weights=loaded, quality=0)
    medium.encode_packet(frames[0])
    assert medium._s.window_error is None  # only fast keeps the estimate


def test_a_lower_motion_effort_still_finds_a_global_shift_exactly():
    g = torch.Generator().manual_seed(0)
    ref = torch.nn.functional.interpolate(torch.rand(1, 3, 16, 20, generator=g), size=(128, 160), mode="bicubic",
                                          align_corners=False).clamp(0, 1)
    x = torch.roll(ref, (3, -5), (2, 3))
    for effort in (1.0, 0.5):
        mv = estimate_motion(x, ref, 16, 16, effort=effort)
        inner = mv[:, :, 1:-1, 1:-1]  # away from the rolled-in edges
        assert (inner[:, 0] == -3).all() and (inner[:, 1] == 5).all(), effort
