"""Fuzz target: the whole decoder (header, packet reader, entropy decoder, integer prior, model).

    nice -n 19 python fuzz/fuzz_decoder.py CORPUS_DIR [--max-pixels N] [--max-frames N] [libFuzzer flags]

Each input is a whole stream, decoded like ``gvc1d-pipe decode`` does (``read_header``,
``Decoder``, then ``PacketReader`` + ``Decoder.decode`` per packet, or ``Decoder.decode_stream``
with ``on_error`` stop, skip or conceal; the mode and a seekable or pipe-like input are picked
from the input length; see ``streamtools.decode_all``) with the shipped weights
(``$GVC1D_WEIGHTS`` to use others; the seed corpus must be made with the same weights). The
custom mutator (fuzz/harness.py) rewrites the CRCs after mutating and, in 90% of the inputs, keeps
the header's model identity, so mutations reach the range decoder, the integer prior and the
synthesis transform. Allowed outcomes: success, or a ``BitstreamError`` (and subclasses).

``--max-pixels`` (default 1048576): the decoder's pixels-per-frame budget (its ``max_pixels``;
larger frames end in ``LimitError``). The library default (8192x4320) is far above it: decoding
cost grows with the frame area the header claims, and a fuzzer that spends seconds per input
finds nothing else. ``--max-frames`` (default 64): stop after that many frames.
"""
from __future__ import annotations

import sys

import harness

harness.import_instrumented()

import streamtools as st

from gvc1d_codec.bitstream import StreamHeader
from gvc1d_codec.entropy.definition import ENTROPY_MODEL_ID
from gvc1d_codec.weights import load_weights

sys.argv, _pixels = harness._take_option(sys.argv, "--max-pixels", True)
sys.argv, _frames = harness._take_option(sys.argv, "--max-frames", True)
MAX_PIXELS = int(_pixels) if _pixels else 1 << 20
MAX_FRAMES = int(_frames) if _frames else 64

LOADED = load_weights(None)
IDENTITY = StreamHeader(
    width=176, height=144, fps_num=25, fps_den=1, pix_fmt="yuv420p", color_matrix="bt709",
    color_range="limited", quality=0, intra_period=-1, config_id=LOADED.config.name,
    weights_sha256_prefix=bytes.fromhex(LOADED.sha256)[:16], entropy_model_id=ENTROPY_MODEL_ID).pack()


def TestOneInput(data: bytes) -> None:
    mode = st.DECODE_MODES[len(data) % len(st.DECODE_MODES)]
    chunk = (None, None, 1, 61)[(len(data) // 4) % 4]
    try:
        st.decode_all(data, weights=LOADED, mode=mode, max_frames=MAX_FRAMES, max_pixels=MAX_PIXELS, chunk=chunk)
    except st.ALLOWED_ERRORS:
        pass


if __name__ == "__main__":
    harness.fuzz(TestOneInput, identity=IDENTITY, default_as_mb=6144)
