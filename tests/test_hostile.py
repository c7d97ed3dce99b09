"""Specification of the decoder and encoder under hostile or damaged input (docs/security.md).

Limits are checked before anything is allocated or loaded; a damaged stream is stopped at, or with
``on_error`` skip/conceal survived, frame by frame and with bounded work; outputs are never left
half-written unless asked for; weights and pickles cannot run code or be swapped unnoticed.
"""
from __future__ import annotations

import hashlib
import io
import os
import pickle
import random
import signal
import struct
import subprocess
import time
import zlib
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from conftest import (
    CLI,
    assert_cli_error,
    cli_env,
    moving_gradient,
    needs_ffmpeg,
    run_cli,
    run_shell,
    y4m_bytes,
)

from gvc1d_codec.bitstream import (
    Framer,
    Packet,
    PacketLoss,
    PacketReader,
    StreamHeader,
    compact,
    container,
    pack_packet,
    read_header,
)
from gvc1d_codec.codec import DEFAULT_MAX_PIXELS, Decoder, Encoder, check_frame_size
from gvc1d_codec.errors import (
    CorruptPacketError,
    GVC1DError,
    LimitError,
    TruncatedStreamError,
    WeightsError,
)
from gvc1d_codec.io import Y4MReader

W, H = 64, 48
FRAMES = 8
INTRA_PERIOD = 4  # I P P P I P P P


# ---- streams ---------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def coded(loaded):
    """An 8-frame 64x48 stream with an intra frame every 4: (header, packets, clean decode)."""
    enc = Encoder(W, H, Fraction(25), weights=loaded, intra_period=INTRA_PERIOD)
    packets = [enc.encode_packet(f) for f in moving_gradient(W, H, FRAMES)]
    assert [p.frame_type for p in packets] == list("IPPPIPPP")
    dec = Decoder(enc.header, weights=loaded)
    clean = [dec.decode(p) for p in packets]
    return enc.header, packets, clean


def stream_bytes(header: StreamHeader, packets: list[Packet]) -> bytes:
    framer = Framer(header)
    return header.pack() + b"".join(framer.frame(p) for p in packets)


def undecodable(p: Packet) -> Packet:
    """Same frame, a payload with a valid CRC that decodes to out-of-range tokens (intra frames)."""
    return Packet(p.frame_type, p.frame_index, b"\xff" * len(p.payload))


def undecodable_at(header: StreamHeader, packets: list[Packet], k: int, loaded) -> Packet:
    """Packet k of a stream with a payload (valid CRC) that does not decode: out-of-range tokens
    or motion, or data the entropy model cannot produce. All 0xff words do that for an intra
    frame; a predicted frame's payload starts with skip flags, which any bits decode to, so seeded
    random payloads are tried on a decoder that has decoded the packets before it."""
    rng = random.Random(k)
    bad = undecodable(packets[k])
    for _ in range(200):
        dec = Decoder(header, weights=loaded)
        for p in packets[:k]:
            dec.decode(p)
        try:
            dec.decode(bad)
        except CorruptPacketError:
            return bad
        size = 4 * rng.randint(1, 16)
        bad = Packet(bad.frame_type, bad.frame_index, bytes(rng.randrange(256) for _ in range(size)))
    raise AssertionError(f"no undecodable payload found for frame {k}")


def same(a, b) -> bool:
    return a.pix_fmt == b.pix_fmt and all(np.array_equal(x, y) for x, y in zip(a.planes, b.planes))


def packet_start(header: StreamHeader, packets: list[Packet], k: int) -> int:
    return len(stream_bytes(header, packets[:k]))


def decode_all(header, data: bytes, loaded, on_error: str):
    src = io.BytesIO(data)
    read_header(src)
    dec = Decoder(header, weights=loaded)
    return dec, list(dec.decode_stream(src, on_error=on_error))


# ---- limits before allocation --------------------------------------------------------------------

def test_pixel_budget_default_is_8k_uhd_and_is_inclusive():
    assert DEFAULT_MAX_PIXELS == 8192 * 4320
    check_frame_size(8192, 4320, DEFAULT_MAX_PIXELS)
    check_frame_size(16384, 2160, DEFAULT_MAX_PIXELS)  # the same number of pixels, another shape
    with pytest.raises(LimitError, match="8193x4320 .* above the limit of 35389440 pixels"):
        check_frame_size(8193, 4320, DEFAULT_MAX_PIXELS)
    check_frame_size(16384, 16384, None)  # None: only the format's own 16384x16384
    with pytest.raises(GVC1DError):
        check_frame_size(16, 16, 0)


def test_decoder_refuses_a_huge_header_before_loading_weights(tmp_path):
    header = StreamHeader(width=16384, height=16384, fps_num=25, fps_den=1, pix_fmt="yuv420p",
                          color_matrix="bt709", color_range="limited", quality=0, intra_period=-1,
                          config_id="test", weights_sha256_prefix=bytes(16), entropy_model_id=1)
    missing = str(tmp_path / "no-such-weights.safetensors")
    with pytest.raises(LimitError, match="16384x16384"):  # not WeightsError: nothing was loaded
        Decoder(header.pack(), weights=missing)
    with pytest.raises(LimitError):
        Decoder(header, weights=missing, max_pixels=64 * 64)
    with pytest.raises(WeightsError):  # with the budget lifted it gets as far as the weights
        Decoder(header, weights=missing, max_pixels=None)


def test_encoder_refuses_a_frame_size_above_the_budget_before_loading_weights(tmp_path):
    missing = str(tmp_path / "no-such-weights.safetensors")
    with pytest.raises(LimitError, match="above the limit"):
        Encoder(16384, 16384, weights=missing)
    with pytest.raises(LimitError, match="35x21"):
        Encoder(35, 21, weights=missing, max_pixels=32 * 16)


class CountingBytesIO(io.BytesIO):
    """A seekable stream that records the size of every read request."""

    def __init__(self, data: bytes):
        super().__init__(data)
        self.requests: list[int] = []

    def read(self, n=-1):
        self.requests.append(n)
        return super().read(n)


def test_a_payload_length_beyond_the_bytes_left_is_truncation_without_reading(coded):
    header, packets, _ = coded
    length = compact.varint(70_000)  # within the payload limit (12354 + 2), past the end of the input
    data = stream_bytes(header, packets[:1]) + bytes([0xF2]) + length + bytes(100)  # P, q=1, length follows
    src = CountingBytesIO(bytes(data))
    reader = PacketReader(src, read_header(src), max_payload=80_000)
    assert next(reader) == packets[0]
    src.requests.clear()
    with pytest.raises(TruncatedStreamError, match="truncated in frame 1 \\(payload: got 96 of 70000") as info:
        next(reader)
    assert info.value.frame_index == 1
    assert src.requests == [1] * (1 + len(length))  # the head and the length field, nothing after them


# ---- resynchronising reader (no model needed) ------------------------------------------------------

def small_header(version: int = 4) -> StreamHeader:
    """The resync tests below that name byte offsets are of the version-4 layout (still read);
    those parametrised by version run on both."""
    return StreamHeader(width=64, height=48, fps_num=25, fps_den=1, pix_fmt="yuv420p", color_matrix="bt709",
                        color_range="limited", quality=0, intra_period=-1, config_id="test",
                        weights_sha256_prefix=bytes(16), entropy_model_id=1, format_version=version)


SMALL_PACKETS = [Packet("I", 0, b"intra" * 8)] + [Packet("P", i, bytes([i]) * (20 + i)) for i in range(1, 10)]


def resync_items(data: bytes) -> list:
    src = io.BytesIO(data)
    return list(PacketReader(src, read_header(src), resync=True))


def summary(items) -> list:
    return [(x.frame_index, x.count) if isinstance(x, PacketLoss) else x.frame_index for x in items]


@pytest.mark.parametrize("version", [4, 5])
def test_resync_reader_yields_a_clean_stream_unchanged(version):
    assert resync_items(stream_bytes(small_header(version), SMALL_PACKETS)) == SMALL_PACKETS


@pytest.mark.parametrize("field, offset", [("sync", 0), ("type", 1), ("index", 2), ("length", 8), ("payload", 12),
                                           ("crc", -1)])
def test_resync_reader_loses_exactly_the_damaged_packet(field, offset):
    h = small_header()
    data = bytearray(stream_bytes(h, SMALL_PACKETS))
    start = packet_start(h, SMALL_PACKETS, 3)
    end = packet_start(h, SMALL_PACKETS, 4)
    data[(end if offset < 0 else start) + offset] ^= 0x5A
    items = resync_items(bytes(data))
    assert summary(items) == [0, 1, 2, (3, 1), 4, 5, 6, 7, 8, 9]
    loss = items[3]
    assert loss.error.frame_index == 3 and "frame 3" in str(loss.error)
    assert [p for p in items if isinstance(p, Packet)] == SMALL_PACKETS[:3] + SMALL_PACKETS[4:]


def test_resync_reader_counts_packets_cut_out_of_the_stream():
    h = small_header()
    data = stream_bytes(h, SMALL_PACKETS[:2] + SMALL_PACKETS[5:])  # frames 2, 3, 4 are missing
    items = resync_items(data)
    assert summary(items) == [0, 1, (2, 3), 5, 6, 7, 8, 9]
    assert "frame index 5 out of order in frame 2" in str(items[2].error)


def test_resync_reader_skips_junk_between_packets():
    h = small_header()
    data = stream_bytes(h, SMALL_PACKETS[:4]) + b"\xa5\x50junk\xa5" * 5 + stream_bytes(h, SMALL_PACKETS[4:])[len(h.pack()):]
    assert summary(resync_items(data)) == [0, 1, 2, 3, (4, 1), 5, 6, 7, 8, 9]  # junk is where frame 4 should be


@pytest.mark.parametrize("version", [4, 5])
@pytest.mark.parametrize("cut", [1, 5, 10, 13, 30])
def test_resync_reader_ends_a_truncated_stream_with_one_loss(cut, version):
    h = small_header(version)
    data = stream_bytes(h, SMALL_PACKETS)
    start = packet_start(h, SMALL_PACKETS, 9)
    items = resync_items(data[:start + cut])
    assert summary(items) == list(range(9)) + [(9, 1)]
    assert isinstance(items[-1].error, TruncatedStreamError)


def test_resync_reader_refuses_a_frame_index_jump_the_input_cannot_hold():
    """A later packet with a valid CRC but an index far beyond what the bytes read could hold as
    14-byte packets (plus 250 frames) is not believed: no output amplification from a tiny input."""
    h = small_header()
    far = Packet("P", 5000, b"x")
    near = Packet("P", 200, b"y")
    data = stream_bytes(h, SMALL_PACKETS[:2]) + b"\x00" * 3 + pack_packet(far, 4)
    assert summary(resync_items(data)) == [0, 1, (2, 1)]
    data = stream_bytes(h, SMALL_PACKETS[:2]) + b"\x00" * 3 + pack_packet(near, 4)  # within the slack
    assert summary(resync_items(data)) == [0, 1, (2, 198), 200]


def test_resync_work_is_linear_in_the_input(monkeypatch):
    """Thousands of fake packet headers, each claiming a long payload, cost a bounded CRC budget."""
    checked = [0]
    real_crc32 = zlib.crc32

    class CountingZlib:
        @staticmethod
        def crc32(data, value=0):
            checked[0] += len(data)
            return real_crc32(data, value)

    monkeypatch.setattr(container, "zlib", CountingZlib)
    fake = b"\xa5\x50" + struct.pack("<II", 1, 12000)
    data = small_header().pack() + fake * 30000  # 300 kB; verifying every fake would cost 360 MB
    items = resync_items(data)
    assert summary(items) == [(0, 1)]
    assert checked[0] <= container.RESYNC_WORK_BASE + container.RESYNC_WORK_PER_BYTE * len(data) + 2 * 12014


@pytest.mark.parametrize("version", [4, 5])
@pytest.mark.parametrize("seed", range(6))
def test_resync_reader_on_random_damage_terminates_with_good_packets_in_order(seed, version):
    rng = random.Random(seed)
    h = small_header(version)
    size = len(h.pack())
    data = bytearray(stream_bytes(h, SMALL_PACKETS * 1))
    body = data[size:]
    for _ in range(rng.randint(1, 12)):  # flips, insertions and deletions
        k = rng.randrange(len(body))
        op = rng.choice("fid")
        if op == "f":
            body[k] ^= 1 << rng.randrange(8)
        elif op == "i":
            body[k:k] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 40)))
        else:
            del body[k:k + rng.randint(1, 40)]
    body += bytes(rng.randrange(256) for _ in range(rng.randint(0, 3000)))
    items = resync_items(bytes(data[:size] + body))
    indices = []
    for x in items:
        if isinstance(x, PacketLoss):
            assert x.count >= 1
            indices += range(x.frame_index, x.frame_index + x.count)
        else:
            assert x == SMALL_PACKETS[x.frame_index]  # only CRC-checked packets come out
            indices.append(x.frame_index)
    assert indices == list(range(len(indices)))  # every frame accounted for once, in order
    smallest = container.PACKET_OVERHEAD if version == 4 else compact.MIN_PACKET_SIZE
    assert len(indices) <= len(body) // smallest + container.RESYNC_SLACK_FRAMES + 1


# ---- decoder state after a bad packet ---------------------------------------------------------------

def test_a_failed_decode_leaves_the_decoder_as_it_was(coded, loaded):
    header, packets, clean = coded
    dec = Decoder(header, weights=loaded)
    for p in packets:
        if p.frame_index in (0, 2, 4):  # I, P, I: each first tried with a bad payload
            with pytest.raises(CorruptPacketError, match=f"frame {p.frame_index}"):
                dec.decode(undecodable_at(header, packets, p.frame_index, loaded))
            assert dec.frames_decoded == p.frame_index
        assert same(dec.decode(p), clean[p.frame_index])


def test_on_error_stop_raises_after_the_good_frames(coded, loaded):
    header, packets, _ = coded
    bad = packets[:3] + [undecodable_at(header, packets, 3, loaded)] + packets[4:]
    src = io.BytesIO(stream_bytes(header, bad))
    read_header(src)
    dec = Decoder(header, weights=loaded)
    got = []
    with pytest.raises(CorruptPacketError, match="frame 3") as info:
        got.extend(dec.decode_stream(src))
    assert info.value.frame_index == 3
    assert [o.frame_index for o in got] == [0, 1, 2] and all(o.error is None for o in got)


def test_on_error_skip_drops_the_bad_frame_and_is_exact_again_from_the_next_intra_frame(coded, loaded):
    header, packets, clean = coded
    bad = packets[:2] + [undecodable_at(header, packets, 2, loaded)] + packets[3:]
    dec, out = decode_all(header, stream_bytes(header, bad), loaded, "skip")
    assert [o.frame_index for o in out] == list(range(FRAMES))
    assert out[2].frame is None and isinstance(out[2].error, CorruptPacketError)
    assert [o.error is None for o in out if o.frame_index != 3] == [True, True, False, True, True, True, True]
    for k in (0, 1, 4, 5, 6, 7):  # before the loss, and from the next I frame on: bit-exact
        assert same(out[k].frame, clean[k]), k
    assert dec.frames_lost >= 1 and dec.lost_frame_indices[0] == 2
    line = dec.loss_summary()
    assert "\n" not in line and "skipped" in line and "frames 2" in line and "first error" in line


def test_on_error_conceal_repeats_the_last_good_frame(coded, loaded):
    header, packets, clean = coded
    data = bytearray(stream_bytes(header, packets))
    data[packet_start(header, packets, 6) - 1] ^= 0x01  # frame 5: CRC mismatch (its last byte)
    dec, out = decode_all(header, bytes(data), loaded, "conceal")
    assert [o.frame_index for o in out] == list(range(FRAMES))
    assert "CRC mismatch in frame 5" in str(out[5].error)
    assert same(out[5].frame, clean[4])  # the last good picture, again
    assert all(o.frame is not None for o in out)
    assert "concealed" in dec.loss_summary()


def test_a_lost_intra_frame_is_mid_grey_and_its_p_frames_are_lost_too(coded, loaded):
    header, packets, clean = coded
    bad = [undecodable(packets[0])] + packets[1:]
    dec, out = decode_all(header, stream_bytes(header, bad), loaded, "conceal")
    assert [o.frame_index for o in out] == list(range(FRAMES))
    assert [o.error is not None for o in out] == [True] * 4 + [False] * 4
    assert "predicted from a lost frame" in str(out[1].error)
    y, u, v = out[0].frame.planes
    assert abs(int(y.mean()) - 126) <= 2 and np.all(u == 128) and np.all(v == 128)  # BT.709 limited mid-grey
    assert all(same(out[k].frame, out[0].frame) for k in (1, 2, 3))
    assert all(same(out[k].frame, clean[k]) for k in range(4, FRAMES))
    assert dec.frames_lost == 4 and dec.lost_frame_indices == [0, 1, 2, 3]


def test_packets_cut_out_are_concealed_one_frame_each(coded, loaded):
    header, packets, clean = coded
    dec, out = decode_all(header, stream_bytes(header, packets[:1] + packets[3:]), loaded, "conceal")
    assert [o.frame_index for o in out] == list(range(FRAMES))
    # version 5 finds its place again at the next resync point (the intra frame 4): frame 3 goes too
    assert [o.frame_index for o in out if o.error is not None] == dec.lost_frame_indices == [1, 2, 3]
    assert all(same(out[k].frame, clean[0]) for k in (1, 2, 3))
    assert all(same(out[k].frame, clean[k]) for k in range(4, FRAMES))


def test_a_truncated_tail_is_one_lost_frame(coded, loaded):
    header, packets, clean = coded
    data = stream_bytes(header, packets)[:-1]
    dec, out = decode_all(header, data, loaded, "skip")
    assert [o.frame_index for o in out] == list(range(FRAMES))
    assert out[-1].frame is None and isinstance(out[-1].error, TruncatedStreamError)
    assert dec.frames_lost == 1 and "1 of 8 frames" in dec.loss_summary()
    assert all(same(o.frame, clean[o.frame_index]) for o in out[:-1])


def test_unknown_on_error_mode_is_refused(coded, loaded):
    header, _, _ = coded
    with pytest.raises(GVC1DError, match="on_error"):
        next(Decoder(header, weights=loaded).decode_stream(io.BytesIO(), on_error="ignore"))


# ---- the command line ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("hostile")


@pytest.fixture(scope="module")
def damaged_gvc(work, coded) -> Path:
    """The 8-frame stream with frame 1's payload hit by one bit flip (CRC mismatch)."""
    header, packets, _ = coded
    data = bytearray(stream_bytes(header, packets))
    data[packet_start(header, packets, 2) - 1] ^= 0x10
    path = work / "damaged.gvc"
    path.write_bytes(bytes(data))
    return path


def y4m_frames(data: bytes) -> list:
    return list(Y4MReader(io.BytesIO(data)))


def leftovers(directory: Path, name: str) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name == name or p.name.startswith(f".{name}.partial"))


def test_cli_on_error_skip_exits_3_with_one_summary_line(damaged_gvc, work):
    proc = run_cli("decode", "-i", damaged_gvc, "--on-error", "skip", "-o", "skip.y4m", cwd=work)
    assert proc.returncode == 3
    line = assert_cli_error(proc, "1 of 8 frames", "skipped", "frames 1", "CRC mismatch in frame 1")
    assert line.startswith("gvc1d-pipe: error:")
    assert len(y4m_frames((work / "skip.y4m").read_bytes())) == 7  # the output is complete: it is kept


def test_cli_on_error_conceal_outputs_every_frame(damaged_gvc, coded):
    proc = run_cli("decode", "-i", damaged_gvc, "--on-error", "conceal")
    assert proc.returncode == 3
    assert_cli_error(proc, "1 of 8 frames", "concealed")
    frames = y4m_frames(proc.stdout)
    assert len(frames) == FRAMES and same(frames[1], frames[0])


def test_cli_on_error_stop_is_the_default_and_keep_partial_keeps_the_good_frames(damaged_gvc, work):
    proc = run_cli("decode", "-i", damaged_gvc, "-o", "stop.y4m", cwd=work)
    assert proc.returncode == 1
    assert_cli_error(proc, "CRC mismatch in frame 1")
    assert leftovers(work, "stop.y4m") == []
    proc = run_cli("decode", "-i", damaged_gvc, "-o", "stop.y4m", "--keep-partial", cwd=work)
    assert proc.returncode == 1
    assert len(y4m_frames((work / "stop.y4m").read_bytes())) == 1
    assert leftovers(work, "stop.y4m") == ["stop.y4m"]


def test_cli_a_clean_stream_with_on_error_conceal_exits_0(coded, work):
    header, packets, _ = coded
    (work / "clean.gvc").write_bytes(stream_bytes(header, packets))
    proc = run_cli("decode", "-i", "clean.gvc", "--on-error", "conceal", "-o", "clean.y4m", "--quiet", cwd=work)
    assert proc.returncode == 0 and proc.stderr == ""


def test_cli_decode_refuses_a_header_above_the_pixel_budget(loaded, work):
    header = StreamHeader(width=16384, height=16384, fps_num=25, fps_den=1, pix_fmt="yuv420p", color_matrix="bt709",
                          color_range="limited", quality=0, intra_period=-1, config_id=loaded.config.name,
                          weights_sha256_prefix=bytes.fromhex(loaded.sha256)[:16], entropy_model_id=1)
    proc = run_cli("decode", "-o", "huge.y4m", input=header.pack() + b"\xa5I" + bytes(8), cwd=work)
    assert_cli_error(proc, "16384x16384", "--max-pixels")
    assert leftovers(work, "huge.y4m") == []


def test_cli_encode_refuses_frames_above_the_pixel_budget_before_reading_them(work):
    big = b"YUV4MPEG2 W16384 H16384 F25:1\nFRAME\n" + bytes(1000)
    proc = run_cli("encode", "-o", "big.gvc", input=big, cwd=work)
    assert_cli_error(proc, "16384x16384", "above the limit")
    assert leftovers(work, "big.gvc") == []
    small = y4m_bytes(moving_gradient(35, 21, 1))
    assert_cli_error(run_cli("encode", "--max-pixels", "32x16", input=small), "35x21")
    proc = run_cli("encode", "--max-pixels", "735", input=small)  # exactly 35*21
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("value", ["0x5", "lots"])
def test_cli_bad_max_pixels_is_a_usage_error(value):
    proc = run_cli("decode", "--max-pixels", value)
    assert proc.returncode == 2
    assert_cli_error(proc, "pixel budget")


def test_cli_a_failed_run_leaves_an_existing_output_untouched(work):
    target = work / "existing.gvc"
    target.write_bytes(b"precious")
    raw = b"\x00" * 100  # not one whole 35x21 frame
    proc = run_cli("encode", "-s", "35x21", "-o", "existing.gvc", input=raw, cwd=work)
    assert_cli_error(proc, "truncated frame 0")
    assert target.read_bytes() == b"precious"
    assert leftovers(work, "existing.gvc") == ["existing.gvc"]


def test_cli_encode_keep_partial_keeps_a_decodable_prefix(work):
    frames = moving_gradient(35, 21, 3)
    raw = b"".join(p.tobytes() for f in frames for p in f.planes)
    data = raw[: len(raw) - 100]  # the third frame is cut
    proc = run_cli("encode", "-s", "35x21", "-o", "prefix.gvc", "--keep-partial", input=data, cwd=work)
    assert_cli_error(proc, "truncated frame 2")
    src = io.BytesIO((work / "prefix.gvc").read_bytes())
    assert [p.frame_index for p in PacketReader(src, read_header(src))] == [0, 1]  # no error: a whole stream
    assert leftovers(work, "prefix.gvc") == ["prefix.gvc"]


def test_cli_keep_partial_with_no_complete_frame_leaves_nothing(work):
    proc = run_cli("encode", "-s", "35x21", "-o", "nothing.gvc", "--keep-partial", input=b"\x00" * 100, cwd=work)
    assert_cli_error(proc, "truncated frame 0")
    assert leftovers(work, "nothing.gvc") == []


@pytest.mark.parametrize("header, words", [
    (b"YUV4MPEG2 W35 H21 F25:1 It", ("interlaced", "yadif")),  # 4:2:2 and 10-bit: test_cli.py
    (b"YUV4MPEG2 W35 H21 F25:1 Cmono", ("greyscale", "-pix_fmt yuv420p")),
    (b"YUV4MPEG2 W35 F25:1", ("lacks the W (width) or H (height)",)),
    (b"YUV4MPEG2 W35 H21 F25:1", ("no frames",)),  # a header and zero frames
    (b"YUV4MPEG2 W35 H21 F25:1\nFRAME\n" + bytes(100), ("truncated frame 0", "got 100 of 1131")),
], ids=["interlaced", "mono", "no-height", "zero-frames", "short-frame"])
def test_cli_unsupported_or_broken_y4m_is_one_line_and_leaves_no_output(work, header, words):
    data = header if b"FRAME" in header else header + b"\n"
    proc = run_cli("encode", "-o", "y4m.gvc", input=data, cwd=work)
    assert_cli_error(proc, *words)
    assert leftovers(work, "y4m.gvc") == []


@pytest.mark.parametrize("rate", ["1e99999999", "25/0"])
def test_cli_a_hostile_raw_frame_rate_is_refused_at_once(rate):
    proc = run_cli("encode", "-s", "35x21", "-r", rate, input=b"\x00" * 1131, timeout=60)
    assert_cli_error(proc, "bad frame rate")


def test_unknown_y4m_tags_and_frame_parameters_are_ignored():
    frame = moving_gradient(35, 21, 1)[0]
    data = (b"YUV4MPEG2 W35 H21 F25:1 Zfuture XFOO=bar XCOLORRANGE=FULL\nFRAME Ixyz XBAR=1\n"
            + b"".join(p.tobytes() for p in frame.planes))
    reader = Y4MReader(io.BytesIO(data))
    assert (reader.width, reader.height, reader.color.range) == (35, 21, "full")
    assert same(reader.read_frame(), frame) and reader.read_frame() is None


def _wait_for(predicate, proc: subprocess.Popen, what: str, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if proc.poll() is not None:
            raise AssertionError(f"process ended early ({proc.returncode}) waiting for {what}: {proc.stderr.read()!r}")
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def _default_sigint() -> None:
    """Popen preexec: SIGINT back to its default in the child. A shell that runs the test suite in
    the background (``cmd &`` without job control) ignores SIGINT, children inherit that, and
    Python then installs no KeyboardInterrupt handler: the CLI would rightly ignore Ctrl-C."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _partial_size(directory: Path, name: str) -> int:
    found = [p for p in directory.iterdir() if p.name.startswith(f".{name}.partial-")]
    return found[0].stat().st_size if found else -1


@pytest.mark.parametrize("sig, status, keep", [(signal.SIGINT, 130, False), (signal.SIGINT, 130, True),
                                               (signal.SIGTERM, 143, False)],
                         ids=["sigint", "sigint-keep-partial", "sigterm"])
def test_cli_encode_interrupted_mid_stream(work, loaded, sig, status, keep):
    """Two frames in, the encoder waiting for the third: the signal removes the output, or with
    --keep-partial leaves exactly the two-frame stream."""
    frames = moving_gradient(35, 21, 2)
    y4m = y4m_bytes(frames)
    reader = Y4MReader(io.BytesIO(y4m))  # the encoder gets the Y4M's colour and chroma siting as the CLI does
    enc = Encoder(35, 21, weights=loaded, color=reader.color, sample_aspect=reader.aspect)
    expected = enc.header_bytes() + b"".join(enc.encode(f) for f in frames)
    name = f"sig-{sig}-{keep}.gvc"
    proc = subprocess.Popen(CLI + ["encode", "-o", name] + (["--keep-partial"] if keep else []), cwd=work,
                            env=cli_env(), preexec_fn=_default_sigint, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdin.write(y4m)
    proc.stdin.flush()
    _wait_for(lambda: _partial_size(work, name) == len(expected), proc, "two encoded frames")
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    proc.stdin.close()
    assert proc.returncode == status, err
    word = "interrupted" if sig == signal.SIGINT else "terminated"
    assert err.decode() == f"gvc1d-pipe: {word}\n"
    if keep:
        assert (work / name).read_bytes() == expected
        assert leftovers(work, name) == [name]
    else:
        assert leftovers(work, name) == []


def test_cli_decode_interrupted_with_keep_partial_keeps_the_decoded_frames(work, coded):
    header, packets, _ = coded
    name = "sigint.y4m"
    proc = subprocess.Popen(CLI + ["decode", "-o", name, "--keep-partial"], cwd=work, env=cli_env(), preexec_fn=_default_sigint,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdin.write(stream_bytes(header, packets[:3]))
    proc.stdin.flush()
    y4m_header = len(f"YUV4MPEG2 W{W} H{H} F25:1 Ip A1:1 C420jpeg XCOLORRANGE=LIMITED\n")
    want = y4m_header + 3 * (len(b"FRAME\n") + W * H * 3 // 2)
    _wait_for(lambda: _partial_size(work, name) == want, proc, "three decoded frames")
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    proc.stdin.close()
    assert proc.returncode == 130, err
    assert len(y4m_frames((work / name).read_bytes())) == 3


@pytest.fixture(scope="module")
def big_gvc(work, loaded) -> Path:
    """Three 320x192 frames: ~90 kB of Y4M each, more than a pipe buffer holds."""
    enc = Encoder(320, 192, weights=loaded)
    path = work / "big.gvc"
    path.write_bytes(enc.header_bytes() + b"".join(enc.encode(f) for f in moving_gradient(320, 192, 3)))
    return path


def test_cli_a_closed_downstream_pipe_exits_141_silently(big_gvc, work):
    proc = subprocess.Popen(CLI + ["decode", "-i", str(big_gvc)], env=cli_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert len(proc.stdout.read(100)) == 100
    proc.stdout.close()
    err = proc.stderr.read()
    assert proc.wait(timeout=120) == 141  # an exit status, not death by signal (-13)
    assert err == b""


@needs_ffmpeg
def test_cli_a_closed_pipe_in_a_shell_pipeline_is_141_and_silent(big_gvc, work):
    proc = run_shell(f"$GVC decode -i {big_gvc} 2>err2.txt | head -c 100 >/dev/null; echo ${{PIPESTATUS[0]}}", cwd=work)
    assert proc.stdout.decode().strip() == "141"
    assert (work / "err2.txt").read_text() == ""


# ---- weights -----------------------------------------------------------------------------------------

@pytest.fixture
def registry(tmp_path, weights_path, monkeypatch):
    """A registry entry ``gvc1d-reg`` in a private weights directory, with its SHA256SUMS line."""
    import gvc1d_codec.registry as registry_module

    directory = tmp_path / "weights"
    directory.mkdir()
    data = weights_path.read_bytes()
    (directory / "reg.safetensors").write_bytes(data)
    (directory / "SHA256SUMS").write_text(f"{hashlib.sha256(data).hexdigest()}  reg.safetensors\n")
    monkeypatch.setattr(registry_module, "WEIGHTS_DIR", directory)
    monkeypatch.setitem(registry_module.REGISTRY, "gvc1d-reg", "reg.safetensors")
    return directory / "reg.safetensors"


def test_the_shipped_weights_match_their_recorded_sha256():
    from gvc1d_codec.weights import DEFAULT_MODEL, resolve, sha256_file

    path, expected = resolve(DEFAULT_MODEL)
    assert expected is not None and len(expected) == 64
    assert sha256_file(path) == expected


@pytest.mark.parametrize("damage", ["flip", "truncate", "append"])
def test_tampered_registry_weights_are_refused_before_they_are_parsed(registry, monkeypatch, damage):
    import gvc1d_codec.weights as weights_module

    weights_module.load_weights("gvc1d-reg")  # intact: loads
    data = bytearray(registry.read_bytes())
    if damage == "flip":
        data[len(data) // 2] ^= 0x01
    elif damage == "truncate":
        del data[len(data) // 3:]
    else:
        data += b"\x00"
    registry.write_bytes(bytes(data))

    def must_not_parse(_data):
        raise AssertionError("a file failing its SHA-256 was parsed")

    monkeypatch.setattr(weights_module, "st_load", must_not_parse)
    with pytest.raises(WeightsError, match="does not match its recorded SHA-256"):
        weights_module.load_weights("gvc1d-reg")


def test_cli_reports_tampered_weights_in_one_line(registry, capsys):
    from gvc1d_codec.cli import main

    registry.write_bytes(registry.read_bytes()[:-1] + b"\x00")
    assert main(["info", "--qualities", "--weights", "gvc1d-reg"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("gvc1d-pipe: error:") and "SHA-256" in err


# ---- restricted unpickler (metric weights) --------------------------------------------------------

class _Exploit:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _handmade(marker: Path) -> dict[str, bytes]:
    cmd = f"touch {marker}".encode()
    return {
        "GLOBAL+REDUCE (protocol 0)": b"cos\nsystem\n(S'" + cmd + b"'\ntR.",
        "INST (protocol 0)": b"(S'" + cmd + b"'\nios\nsystem\n.",
        "STACK_GLOBAL (protocol 4)": (b"\x80\x04\x8c\x02os\x8c\x06system\x93\x8c" + bytes([len(cmd)]) + cmd
                                      + b"\x85R."),
        "builtins.exec": b"cbuiltins\nexec\n(S'open(\"" + str(marker).encode() + b"\", \"w\").close()'\ntR.",
        "nested in a dict": b"}(X\x01\x00\x00\x00kcos\nsystem\n(S'" + cmd + b"'\ntRu.",
    }


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_restricted_unpickler_never_runs_a_reduce_exploit(tmp_path, protocol):
    from gvc1d_codec.metrics.fetch import restricted_load

    marker = tmp_path / "pwned"
    for payload in (pickle.dumps(_Exploit(marker), protocol=protocol),
                    pickle.dumps({"AlexNet_0": {"Conv_0": {"kernel": _Exploit(marker)}}}, protocol=protocol)):
        with pytest.raises(pickle.UnpicklingError, match="refusing to load global"):
            restricted_load(payload)
    assert not marker.exists()


def test_restricted_unpickler_refuses_handmade_opcode_exploits(tmp_path):
    from gvc1d_codec.metrics.fetch import restricted_load

    marker = tmp_path / "pwned"
    for name, payload in _handmade(marker).items():
        with pytest.raises(pickle.UnpicklingError):
            restricted_load(payload)
        assert not marker.exists(), name
    pickle.loads(_handmade(marker)["GLOBAL+REDUCE (protocol 0)"])  # the payloads are real: plain pickle runs them
    assert marker.exists()


def test_restricted_unpickler_refuses_object_arrays_built_from_allowed_names(tmp_path):
    from gvc1d_codec.metrics.fetch import restricted_load

    with pytest.raises(pickle.UnpicklingError, match="not a numeric numpy array"):
        restricted_load(pickle.dumps({"x": np.array([{"a": 1}, None], dtype=object)}))
    marker = tmp_path / "pwned"
    with pytest.raises(pickle.UnpicklingError, match="refusing"):  # an exploit inside an object array
        restricted_load(pickle.dumps({"x": np.array([_Exploit(marker), 1], dtype=object)}))
    assert not marker.exists()


def test_dists_weights_are_read_without_running_code(tmp_path):
    import torch

    from gvc1d_codec.metrics.fetch import convert_dists

    marker = tmp_path / "pwned"
    buf = io.BytesIO()
    torch.save({"alpha": _Exploit(marker), "beta": torch.zeros(1)}, buf)
    with pytest.raises(Exception, match="(?i)weights only|unpickl"):
        convert_dists(buf.getvalue())
    assert not marker.exists()

