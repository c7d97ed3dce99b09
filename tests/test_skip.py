"""Skip mode (docs/bitstream.md, "Skip flags"): in a P frame the encoder may copy a window from the
previous reconstruction instead of coding its tokens, chosen by rate-distortion cost. A static clip
then costs almost nothing per P frame and its quality does not fall; skipped windows are exact
copies on both sides; the decoder follows whatever flags the stream carries."""
from __future__ import annotations

import io

import numpy as np
import pytest

from gvc1d_codec.bitstream import PacketReader, read_header
from gvc1d_codec.codec import Decoder, Encoder
from gvc1d_codec.metrics.psnr import psnr_yuv
from gvc1d_codec.weights import load_weights

SHIPPED_WEIGHTS = "gvc1d-tiny"


@pytest.fixture(scope="module")
def shipped():
    return load_weights(SHIPPED_WEIGHTS)


def code(frames, loaded, quality, intra_period=-1):
    f0 = frames[0]
    enc = Encoder(f0.width, f0.height, quality=quality, intra_period=intra_period, weights=loaded)
    data = [enc.header_bytes()]
    stats = []
    for f in frames:
        data.append(enc.encode(f))
        stats.append(enc.last)
    stream = b"".join(data)
    src = io.BytesIO(stream)
    header = read_header(src)
    dec = Decoder(header, weights=loaded)
    decoded = [dec.decode(p) for p in PacketReader(src, header)]
    return stats, decoded


@pytest.mark.slow
def test_a_static_clip_costs_almost_nothing_per_p_frame_and_keeps_its_quality(real_frames, shipped):
    frames = [real_frames[0]] * 32
    quality = shipped.config.qualities // 2  # the middle level
    stats, decoded = code(frames, shipped, quality)
    intra = stats[0].payload_bytes
    p_bytes = [s.payload_bytes for s in stats[1:]]
    assert np.mean(p_bytes) <= 0.10 * intra, (intra, p_bytes)
    win = shipped.config.window
    windows = -(-frames[0].width // win) * -(-frames[0].height // win)
    assert all(s.skipped_windows == windows for s in stats[-8:]), [s.skipped_windows for s in stats]
    assert max(p_bytes[-8:]) <= 0.02 * intra, (intra, p_bytes)  # a few bytes: flags and words
    quality_db = [psnr_yuv(frames[0].planes, d.planes) for d in decoded]
    assert min(quality_db[1:]) >= quality_db[0] - 0.01, quality_db  # never worse than the intra frame
    # and it does not drift down at the end: within 0.01 dB of its best (gvc1d-tiny of 2026-12-07 re-codes a
    # window or two after frame 3 of this clip and ends 0.003 dB below that frame's 26.285 dB)
    assert quality_db[-1] >= max(quality_db) - 0.01, quality_db


def test_skipped_windows_are_exact_copies_of_the_reference(real_frames, loaded):
    # a random model codes badly, so the encoder skips many windows of a static clip
    frames = [real_frames[0]] * 4
    stats, decoded = code(frames, loaded, quality=0)
    assert sum(s.skipped_windows for s in stats[1:]) > 0
    for s, prev, cur in zip(stats[1:], decoded, decoded[1:]):
        if s.skipped_windows == 6:  # 320x192: 3 x 2 windows, all copied: the picture repeats exactly
            assert all(np.array_equal(a, b) for a, b in zip(prev.planes, cur.planes))


def test_the_decoder_follows_the_flags_whatever_the_encoder_chose(real_frames, loaded, monkeypatch):
    """Force every P window to be skipped, then none: both streams decode, the first to frozen pictures."""
    from gvc1d_codec import codec

    frames = real_frames[:3]
    for forced in (True, False):
        monkeypatch.setattr(codec._Session, "choose_skip",
                            lambda self, x, out, *rest, forced=forced: np.full(self.windows, forced))
        stats, decoded = code(frames, loaded, quality=2)
        assert [s.skipped_windows for s in stats] == [0, 6 * forced, 6 * forced]
        if forced:
            assert all(np.array_equal(a, b) for a, b in zip(decoded[0].planes, decoded[2].planes))
        else:
            assert not all(np.array_equal(a, b) for a, b in zip(decoded[0].planes, decoded[2].planes))


def test_intra_frames_have_no_skip_flags(real_frames, loaded):
    stats, _ = code(real_frames[:4], loaded, quality=1, intra_period=2)
    assert [s.frame_type for s in stats] == ["I", "P", "I", "P"]
    assert stats[0].skipped_windows == stats[2].skipped_windows == 0
