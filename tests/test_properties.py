"""Hostile .gvc streams end in a documented error or a correct decode, in bounded time and memory.

Property-based (hypothesis) over two short streams made with the small test model: single bit
flips, mutations with the CRCs recomputed (so they reach the entropy decoder and the model),
truncations, splices of two streams, edited payload lengths, and any header field set to any
value (huge frame sizes included). Every example runs under an address-space limit (1 GiB above
what the process had when the module started) and a wall-clock alarm, so an oversized allocation
or a hang fails the test instead of the machine.

Documented errors: ``BitstreamError`` and its subclasses, and ``LimitError`` (a valid stream above
the decoder's pixels-per-frame budget); see docs/bitstream.md "Error classes" and docs/security.md.

Examples are derandomised (the same ones on every run) so CI is reproducible; set
``GVC1D_HYPOTHESIS=explore`` for a longer, random search (and ``GVC1D_HYPOTHESIS_EXAMPLES=N``).
The atheris fuzzers in fuzz/ search the same space for much longer.
"""
from __future__ import annotations

import contextlib
import dataclasses
import io
import os
import random
import resource
import signal
import sys
from dataclasses import dataclass

import pytest
from conftest import REPO, moving_gradient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as hs

sys.path.insert(0, str(REPO / "fuzz"))
import streamtools as gs

from gvc1d_codec.errors import CorruptPacketError, TruncatedStreamError

EXPLORE = os.environ.get("GVC1D_HYPOTHESIS") == "explore"
EXAMPLES = int(os.environ.get("GVC1D_HYPOTHESIS_EXAMPLES") or (500 if EXPLORE else 30))
PROPERTY = settings(
    max_examples=EXAMPLES, derandomize=not EXPLORE, database=None, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
SECONDS_PER_EXAMPLE = 30  # a hang is far beyond this; an honest example takes ~50 ms here
EXTRA_ADDRESS_SPACE = 1 << 30
MAX_PIXELS = 1 << 22  # the decoder's budget in these tests (its default, 8192x4320, is tested below)


# ---- streams and their clean decode ----------------------------------------------------------------

@dataclass
class Stream:
    data: bytes
    frames: list[bytes]  # each decoded frame's planes, concatenated
    packets: list[tuple[int, int]]  # (start, end) of each packet
    intra: list[bool]

    def packet_at(self, offset: int) -> int | None:
        """Index of the packet holding byte ``offset`` (None: in the header)."""
        for k, (a, b) in enumerate(self.packets):
            if a <= offset < b:
                return k
        return None

    def next_intra(self, k: int) -> int:
        """Index of the first intra frame after ``k`` (len(frames) if none)."""
        return next((j for j in range(k + 1, len(self.intra)) if self.intra[j]), len(self.intra))


def _frame_bytes(frame) -> bytes:
    return b"".join(p.tobytes() for p in frame.planes)


@pytest.fixture(scope="module")
def streams(loaded) -> dict[str, Stream]:
    """a: 48x40 (one window), 3 frames, intra only at 0; b: 150x40 (two windows), 4 frames, I P I P.
    Framed as version 4 (still read), whose fixed offsets the edits below name; the compact
    version 5 is damaged at random in test_version_5_damage_never_escapes."""
    from gvc1d_codec import Encoder
    from gvc1d_codec.bitstream import pack_packet

    out = {}
    for name, (w, h, n, q, ip) in {"a": (48, 40, 3, 1, -1), "b": (150, 40, 4, 0, 2)}.items():
        enc = Encoder(w, h, quality=q, intra_period=ip, weights=loaded)
        header = dataclasses.replace(enc.header, format_version=4, extended_range=False, wide_steps=False)
        data = header.pack() + b"".join(pack_packet(enc.encode_packet(f), 4) for f in moving_gradient(w, h, n))
        frames: list[bytes] = []
        assert gs.decode_all(data, weights=loaded, on_frame=lambda i, f, out=frames: out.append(_frame_bytes(f))) == n
        lay = gs.layout(data)
        intra = [gs.is_intra(data, a) for a, _ in lay.packets]
        out[name] = Stream(data, frames, lay.packets, intra)
    return out


@pytest.fixture(scope="module", autouse=True)
def bounded_memory():
    """RLIMIT_AS = this process's address space now + 1 GiB, for every test of the module."""
    with open("/proc/self/status") as f:
        vm = next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmSize:"))
    old = resource.getrlimit(resource.RLIMIT_AS)
    limit = vm + EXTRA_ADDRESS_SPACE
    if old[1] != resource.RLIM_INFINITY:
        limit = min(limit, old[1])
    resource.setrlimit(resource.RLIMIT_AS, (limit, old[1]))
    yield
    resource.setrlimit(resource.RLIMIT_AS, old)


@contextlib.contextmanager
def _alarm(seconds: int):
    def fire(signum, frame):
        raise TimeoutError(f"decoding took more than {seconds} s")

    old = signal.signal(signal.SIGALRM, fire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def outcome(data: bytes, loaded, mode: str = "packets", chunk: int | None = None,
            max_pixels: int | None = MAX_PIXELS) -> tuple[list[bytes | None], Exception | None]:
    """Decode ``data``; return the frames that came out and the documented error it ended in (or
    None). Any other exception, a hang or an allocation past the bound propagates: a failure."""
    frames: list[bytes | None] = []
    with _alarm(SECONDS_PER_EXAMPLE):
        try:
            gs.decode_all(data, weights=loaded, mode=mode, chunk=chunk, max_pixels=max_pixels,
                          on_frame=lambda i, f: frames.append(None if f is None else _frame_bytes(f)))
        except gs.ALLOWED_ERRORS as e:
            return frames, e
    return frames, None


stream_names = hs.sampled_from(["a", "b"])
stop_modes = hs.sampled_from(["packets", "stop"])
chunks = hs.sampled_from([None, None, 1, 7])  # None: seekable BytesIO; else a pipe of short reads


# ---- properties ----------------------------------------------------------------------------------

@PROPERTY
@given(name=stream_names, bit=hs.integers(min_value=0), mode=stop_modes, chunk=chunks)
def test_a_flipped_bit_is_reported_at_its_packet_after_every_earlier_frame(streams, loaded, name, bit, mode, chunk):
    s = streams[name]
    bit %= 8 * len(s.data)
    data = bytearray(s.data)
    data[bit // 8] ^= 1 << (bit % 8)
    frames, err = outcome(bytes(data), loaded, mode, chunk)
    assert err is not None, "a single flipped bit went unnoticed"
    k = s.packet_at(bit // 8)
    if k is None:
        assert frames == []
    else:
        assert frames == s.frames[:k]
        assert isinstance(err, (CorruptPacketError, TruncatedStreamError)) and err.frame_index == k


@PROPERTY
@given(name=stream_names, bit=hs.integers(min_value=0), mode=hs.sampled_from(["skip", "conceal"]), chunk=chunks)
def test_concealment_accounts_for_every_frame_and_recovers_at_the_next_intra_frame(streams, loaded, name, bit,
                                                                                 mode, chunk):
    s = streams[name]
    first = s.packets[0][0]
    bit = 8 * first + bit % (8 * (len(s.data) - first))  # in the packets: the header must parse
    data = bytearray(s.data)
    data[bit // 8] ^= 1 << (bit % 8)
    frames, err = outcome(bytes(data), loaded, mode, chunk)
    assert err is None, f"{mode} mode raised {err!r}"
    k = s.packet_at(bit // 8)
    n = len(s.frames)
    assert len(frames) == n, "every frame index gets exactly one output"
    assert frames[:k] == s.frames[:k]
    if mode == "skip":
        assert frames[k] is None
    elif k > 0:
        assert frames[k] == s.frames[k - 1], "a concealed frame repeats the last good one"
    r = s.next_intra(k)
    assert frames[r:] == s.frames[r:], "decoding recovers exactly at the next intra frame"


@PROPERTY
@given(name=stream_names, edits=hs.lists(hs.tuples(hs.integers(min_value=0), hs.integers(1, 255)), min_size=1,
                                         max_size=8),
       mode=hs.sampled_from(gs.DECODE_MODES), chunk=chunks)
def test_mutations_with_recomputed_crcs_end_in_a_documented_error_or_a_decode(streams, loaded, name, edits,
                                                                               mode, chunk):
    s = streams[name]
    data = bytearray(s.data)
    for off, xor in edits:
        data[off % len(data)] ^= xor
    frames, _err = outcome(gs.fix_crcs(bytes(data)), loaded, mode, chunk)
    offsets = [off % len(data) for off, _ in edits]
    if min(offsets) >= s.packets[0][0]:  # the header is intact: earlier packets are untouched
        k = min(s.packet_at(o) for o in offsets)
        assert frames[:k] == s.frames[:k], "frames before the first damaged packet are decoded exactly"


@pytest.fixture(scope="module")
def compact_streams(streams):
    """The streams above framed as version 5 (what writers write)."""
    from gvc1d_codec.bitstream import Framer, PacketReader, read_header

    out = {}
    for name, s in streams.items():
        src = io.BytesIO(s.data)
        old = read_header(src)
        header = dataclasses.replace(old, format_version=5)
        framer = Framer(header)
        out[name] = header.pack() + b"".join(framer.frame(p) for p in PacketReader(src, old))
    return out


@PROPERTY
@given(name=stream_names, edits=hs.lists(hs.tuples(hs.integers(min_value=0), hs.integers(1, 255)), min_size=1,
                                         max_size=8),
       structured=hs.integers(0, 2**32 - 1), fix=hs.booleans(), mode=hs.sampled_from(gs.DECODE_MODES), chunk=chunks)
def test_version_5_damage_never_escapes(streams, compact_streams, loaded, name, edits, structured, fix, mode, chunk):
    """Byte edits and structure-aware mutations of compact packets (CRCs recomputed or not) end in
    a documented error or a decode, with every frame before the first damaged packet exact."""
    data = bytearray(compact_streams[name])
    clean = gs.layout(bytes(data))
    assert len(clean.packets) == len(streams[name].frames) and clean.tail == len(data)
    for off, xor in edits:
        data[off % len(data)] ^= xor
    mutated = gs.structured_mutate(bytes(data), random.Random(structured)) if structured % 2 else bytes(data)
    frames, _err = outcome(gs.fix_crcs(mutated) if fix else mutated, loaded, mode, chunk)
    first = min(off % len(data) for off, _ in edits)
    if first >= clean.packets[0][0] and not structured % 2:
        k = next(i for i, (a, b) in enumerate(clean.packets) if a <= first < b)
        assert frames[:k] == streams[name].frames[:k]


@PROPERTY
@given(name=stream_names, cut=hs.integers(min_value=0), mode=stop_modes, chunk=chunks)
def test_a_truncated_stream_yields_its_complete_packets_then_reports_the_cut(streams, loaded, name, cut, mode, chunk):
    s = streams[name]
    cut %= len(s.data)
    frames, err = outcome(s.data[:cut], loaded, mode, chunk)
    ends = [b for _, b in s.packets]
    if cut == s.packets[0][0] or cut in ends:  # at a packet boundary: a valid, shorter stream
        assert err is None and frames == s.frames[:ends.index(cut) + 1 if cut in ends else 0]
        return
    assert isinstance(err, TruncatedStreamError), f"{err!r}"
    k = s.packet_at(cut)
    assert err.frame_index == k and frames == s.frames[:k or 0]


@PROPERTY
@given(first=stream_names, second=stream_names, i=hs.integers(0, 4), j=hs.integers(0, 4), m=hs.integers(1, 4),
       renumber=hs.booleans(), mode=hs.sampled_from(gs.DECODE_MODES))
def test_splices_of_two_streams_end_in_a_documented_error_or_a_decode(streams, loaded, first, second, i, j, m,
                                                                      renumber, mode):
    a, b = streams[first], streams[second]
    i, j = min(i, len(a.packets)), min(j, len(b.packets))
    head = a.data[:a.packets[i - 1][1]] if i else a.data[:a.packets[0][0]]
    spliced = head + b"".join(gs.packets_of(b.data)[j:j + m])
    if renumber:
        spliced = gs.fix_crcs(gs.renumber(spliced))
    frames, err = outcome(spliced, loaded, mode)
    if mode in ("packets", "stop"):
        assert frames[:i] == a.frames[:i]
        if not renumber and j != i and j < len(b.packets):
            assert isinstance(err, CorruptPacketError) and err.frame_index == i and len(frames) == i


@PROPERTY
@given(name=stream_names, k=hs.integers(0, 3),
       length=hs.one_of(hs.sampled_from(gs.INTERESTING_U32), hs.integers(0, 2**32 - 1)),
       fix=hs.booleans(), mode=hs.sampled_from(gs.DECODE_MODES), chunk=chunks)
def test_an_edited_payload_length_is_refused_without_a_large_allocation(streams, loaded, name, k, length, fix, mode,
                                                                         chunk):
    s = streams[name]
    k = min(k, len(s.packets) - 1)
    start, end = s.packets[k]
    data = bytearray(s.data)
    data[start + 6:start + 10] = length.to_bytes(4, "little")
    if fix:
        data = bytearray(gs.fix_crcs(bytes(data)))
    frames, err = outcome(bytes(data), loaded, mode, chunk)
    if mode in ("packets", "stop"):
        assert frames[:k] == s.frames[:k]
        if not fix and length != end - start - gs.PACKET_OVERHEAD:
            assert isinstance(err, (CorruptPacketError, TruncatedStreamError)) and err.frame_index == k


HEADER_VALUES = hs.one_of(hs.sampled_from(gs.INTERESTING_U16 + gs.INTERESTING_U32), hs.integers(0, 2**32 - 1))


@PROPERTY
@given(name=stream_names, fields=hs.dictionaries(hs.sampled_from(sorted(gs.HEADER_FIELDS)), HEADER_VALUES,
                                                 min_size=1, max_size=3),
       mode=hs.sampled_from(gs.DECODE_MODES))
def test_any_header_field_value_ends_in_a_documented_error_or_a_decode(streams, loaded, name, fields, mode):
    data = streams[name].data
    for field, value in fields.items():
        data = gs.set_header_field(data, field, value)
    frames, err = outcome(gs.fix_crcs(data), loaded, mode)
    w, h = gs.header_field(data, "width"), gs.header_field(data, "height")
    if not 1 <= w <= 16384 or not 1 <= h <= 16384:
        assert err is not None and frames == [], "a frame size outside 1..16384 is refused"


@PROPERTY
@given(width=hs.integers(1, 16384), height=hs.integers(1, 16384), name=stream_names)
def test_frame_sizes_above_the_default_budget_are_refused_before_decoding(streams, loaded, width, height, name):
    from gvc1d_codec.codec import DEFAULT_MAX_PIXELS
    from gvc1d_codec.errors import LimitError

    if width * height <= DEFAULT_MAX_PIXELS:
        width = height = 16384  # keep the example in the interesting (and cheap) region
    data = gs.set_header_field(gs.set_header_field(streams[name].data, "width", width), "height", height)
    frames, err = outcome(gs.fix_crcs(data), loaded, max_pixels=None)
    assert isinstance(err, LimitError) and frames == []


@PROPERTY
@given(name=stream_names, tail=hs.binary(max_size=512), mode=hs.sampled_from(gs.DECODE_MODES), chunk=chunks)
def test_random_bytes_after_a_valid_header_end_in_a_documented_error_or_a_decode(streams, loaded, name, tail, mode,
                                                                                 chunk):
    s = streams[name]
    outcome(gs.fix_crcs(s.data[:s.packets[0][0]] + tail), loaded, mode, chunk)
