"""Fuzz target: the .gvc container parser (stream header + packet reader). Fast: no model.

    nice -n 19 python fuzz/fuzz_parser.py CORPUS_DIR [libFuzzer flags]     (see fuzz/README.md)

Each input is a whole stream. It is parsed three ways: ``StreamHeader.unpack`` on the bytes,
``read_header`` + ``PacketReader`` on a stream that returns short reads (like a pipe; the chunk
size is picked from the input length) or on a seekable ``BytesIO``, and, where the reader has it,
``PacketReader(resync=True)``. Allowed outcomes: success, or a ``BitstreamError`` (and subclasses).
Checked on success: the packets re-serialise to exactly the input bytes, indices run 0, 1, 2, ...
from an I frame; with resync, every yielded packet occurs in the input and packets and losses
account for consecutive frame indices. Anything else is a finding.
"""
from __future__ import annotations

import inspect
import io

import harness

harness.import_instrumented()

import streamtools as st

from gvc1d_codec.bitstream import PacketReader, StreamHeader, pack_packet, read_header

RESYNC = "resync" in inspect.signature(PacketReader).parameters
CHUNKS = (None, 1, 2, 3, 7, 13, 64, 4096)  # None: a seekable BytesIO


def TestOneInput(data: bytes) -> None:
    try:
        StreamHeader.unpack(data)
    except st.ALLOWED_ERRORS:
        pass

    chunk = CHUNKS[len(data) % len(CHUNKS)]
    stream = io.BytesIO(data) if chunk is None else st.ShortReads(data, chunk)
    try:
        header = read_header(stream)
    except st.ALLOWED_ERRORS:
        return
    start = stream.tell() if chunk is None else stream.pos
    packets, clean = [], True
    try:
        for p in PacketReader(stream, header):
            packets.append(p)
    except st.ALLOWED_ERRORS:
        clean = False
    assert [p.frame_index for p in packets] == list(range(len(packets))), "indices not consecutive"
    assert not packets or packets[0].frame_type == "I", "first packet is not intra"
    if clean:
        assert b"".join(pack_packet(p) for p in packets) == data[start:], "packets do not re-serialise to the input"
        if st.header_field(data, "header_length") == 75:
            assert header.pack() == data[:start], "header does not re-serialise to the input"

    if RESYNC:
        stream = io.BytesIO(data[start:])
        expected = 0
        for item in PacketReader(stream, header, resync=True):
            assert item.frame_index == expected, f"resync: frame {item.frame_index}, expected {expected}"
            if hasattr(item, "payload"):
                assert pack_packet(item) in data, "resync yielded a packet that is not in the input"
                expected += 1
            else:
                assert item.count >= 1 and isinstance(item.error, st.ALLOWED_ERRORS)
                expected += item.count


if __name__ == "__main__":
    harness.fuzz(TestOneInput, default_as_mb=3072)
