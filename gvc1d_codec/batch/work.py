"""What a worker does with one task: plain functions on the frame-level API (no Ray in here).

Encode tasks return their packets (compressed, small) to the driver, which alone writes ``.gvc``
outputs: a worker killed mid-task then leaves nothing behind, and Ray's retry simply codes the
chunk again. Decode tasks write their (large, raw) Y4M themselves under the temporary name of
:func:`gvc1d_codec.io.atomic.atomic_path`; a worker killed before the rename can leave that
temporary file, which the driver removes (:func:`stale_partials`) before a retry and at the end.

Loaded weights are cached per worker process, so a worker pays for loading them once, not once
per chunk (an Encoder shares a :class:`LoadedWeights` read-only; a worker runs one task at a time).
"""
from __future__ import annotations

import glob
import hashlib
import io
import os
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..bitstream import Framer, Packet, PacketReader, read_header
from ..errors import GVC1DError, InputFormatError
from ..io import Y4MReader, Y4MWriter
from ..io.atomic import atomic_path, partial_name

# test hook (tests/test_batch.py): "SECONDS:DIR" makes every task write its PID into DIR and sleep
# SECONDS at a point where it holds work in progress, so a test can kill or interrupt it there
# (one line per task in DIR/PID)
TEST_STALL_ENV = "GVC1D_BATCH_TEST_STALL"

_weights_cache: dict = {}


@dataclass(frozen=True)
class Settings:
    """What every task of an item needs besides its frame range (sent to the worker)."""

    weights: str | None
    quality: int | None
    intra_period: int
    threads: int
    device: str = "cpu"
    stall: str | None = None  # TEST_STALL_ENV, passed on by the driver
    preset: str = "medium"  # the encoder preset (gvc1d_codec/presets.py)


@dataclass
class ChunkResult:
    header: bytes
    packets: list[tuple[str, bytes, int]]  # (frame type, payload, quality bytes) in frame order
    frames: int
    width: int
    height: int
    seconds: float
    pid: int = field(default_factory=os.getpid)


@dataclass
class DecodeResult:
    frames: int
    bytes: int
    sha256: str
    bpp: float
    seconds: float


def _weights(s: Settings):
    from ..codec import resolve_device  # torch: imported in the worker that runs the task, not the driver
    from ..weights import load_weights

    key = (s.weights, s.device)
    if key not in _weights_cache:
        _weights_cache[key] = load_weights(s.weights, device=resolve_device(s.device))
    return _weights_cache[key]


def _stall(s: Settings) -> None:
    if not s.stall:
        return
    seconds, _, where = s.stall.partition(":")
    with open(Path(where, str(os.getpid())), "a") as f:  # one line per task reaching this point: when
        f.write(f"{time.time()}\n")
    time.sleep(float(seconds))


def _encoder(s: Settings, reader):
    from ..codec import Encoder  # torch: the worker's import, not the driver's

    return Encoder(reader.width, reader.height, reader.fps, color=reader.color, quality=s.quality,
                   intra_period=s.intra_period, weights=_weights(s), device=s.device, threads=s.threads,
                   sample_aspect=reader.aspect, preset=s.preset)


def _encode_frames(s: Settings, reader, count: int | None) -> ChunkResult:
    t0 = time.monotonic()
    enc = _encoder(s, reader)
    packets = []
    while count is None or len(packets) < count:
        frame = reader.read_frame()
        if frame is None:
            if count is not None:
                raise InputFormatError(f"input ends after {len(packets)} of the {count} frames of this chunk")
            break
        p = enc.encode_packet(frame)
        packets.append((p.frame_type, p.payload, p.quality_length))
    _stall(s)
    return ChunkResult(enc.header_bytes(), packets, len(packets), reader.width, reader.height, time.monotonic() - t0)


def encode_chunk(path: str, offset: int, count: int, s: Settings) -> ChunkResult:
    """Encode ``count`` frames of the Y4M file ``path`` from the frame at byte ``offset``, with a
    fresh encoder: the frame there is intra, as in a serial encode when the chunk starts at a
    multiple of the intra period. Packets carry indices from 0; the driver renumbers them."""

    with open(path, "rb") as f:
        reader = Y4MReader(f)  # parses the stream header; the reader never reads ahead, so seek is safe
        f.seek(offset)
        return _encode_frames(s, reader, count)


def encode_via_ffmpeg(path: str, s: Settings) -> ChunkResult:
    """Encode a non-Y4M video whole, converted by ``ffmpeg -f yuv4mpegpipe -pix_fmt yuv420p``."""

    if shutil.which("ffmpeg") is None:
        raise GVC1DError(f"{Path(path).name}: not Y4M, and ffmpeg (needed to read it) is not on PATH")
    proc = subprocess.Popen(["ffmpeg", "-nostdin", "-v", "error", "-i", path, "-f", "yuv4mpegpipe",
                             "-pix_fmt", "yuv420p", "-strict", "-1", "-"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        try:
            result = _encode_frames(s, Y4MReader(proc.stdout), None)
        except InputFormatError:
            proc.kill()
            err = proc.stderr.read().decode("utf-8", "replace").strip().splitlines()
            raise GVC1DError(f"ffmpeg cannot read {Path(path).name}" + (f": {err[-1]}" if err else "")) from None
        if proc.wait() != 0:
            err = proc.stderr.read().decode("utf-8", "replace").strip().splitlines()
            raise GVC1DError(f"ffmpeg failed on {Path(path).name}" + (f": {err[-1]}" if err else ""))
        return result
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def decode_file(path: str, output: str, s: Settings) -> DecodeResult:
    """Decode a whole ``.gvc`` to Y4M at ``output`` (appears only when complete)."""
    from ..codec import Decoder  # torch: the worker's import, not the driver's

    t0 = time.monotonic()
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        header = read_header(f)
        dec = Decoder(header, weights=_weights(s), device=s.device, pix_fmt="yuv420p", threads=s.threads)
        frames = 0
        with atomic_path(output) as tmp, open(tmp, "wb") as out:
            writer = Y4MWriter(out, header.width, header.height, header.frame_rate, dec.color, header.sample_aspect)
            for packet in PacketReader(f, header):
                writer.write_frame(dec.decode(packet))
                frames += 1
                if frames == 1:
                    _stall(s)
            writer.flush()
    return DecodeResult(frames, os.path.getsize(output), file_sha256(output),
                        8 * size / max(frames * header.width * header.height, 1), time.monotonic() - t0)


def file_sha256(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def stale_partials(output: Path) -> list[Path]:
    """Temporary files of ``output`` left by writers that were killed (any process id)."""
    return sorted(output.parent.glob(f".{glob.escape(output.name)}.partial-*"))


def pack_chunk(r: ChunkResult, first_index: int, header: bytes) -> bytes:
    """A chunk's packets re-packed with their index in the whole stream (the only bytes that differ
    from a serial encode: index and CRC). A chunk that does not start with an intra frame (a wrong
    plan) or was coded with other settings (``header``) is refused rather than joined into an
    undecodable file."""

    if r.header != header:
        raise GVC1DError("chunks of one item were coded with different settings")
    if r.packets and r.packets[0][0] != "I":
        raise GVC1DError(f"the chunk at frame {first_index} does not start with an intra frame")
    framer = Framer(read_header(io.BytesIO(header)))  # a chunk starts at an intra frame, which states its quality
    return b"".join(framer.frame(Packet(t, first_index + k, payload, q)) for k, (t, payload, q) in enumerate(r.packets))


def join_chunks(results: list[ChunkResult]) -> bytes:
    """One ``.gvc`` in memory from the chunks of an item, in frame order (the driver writes them
    to the file as they come instead: :class:`ChunkJoiner`)."""
    out, index = [results[0].header], 0
    for r in results:
        out.append(pack_chunk(r, index, results[0].header))
        index += r.frames
    return b"".join(out)


class ChunkJoiner:
    """Writes an item's ``.gvc`` while its chunks arrive: each chunk is appended, renumbered, as soon
    as all chunks before it are written, so the driver holds only chunks that finished early, not
    the whole compressed video. The file is written under :func:`~gvc1d_codec.io.atomic.partial_name`
    and renamed by :meth:`commit`; :meth:`abort` removes it (the same contract as ``atomic_path``)."""

    def __init__(self, output: Path):

        self.output, self.tmp = output, partial_name(output)
        self._f = None
        self._header: bytes | None = None
        self._waiting: dict[int, ChunkResult] = {}
        self.next_chunk = self.frames = self.bytes = 0

    def add(self, chunk: int, r: ChunkResult) -> None:
        self._waiting[chunk] = r
        while self.next_chunk in self._waiting:
            r = self._waiting.pop(self.next_chunk)
            if self._f is None:
                self.output.parent.mkdir(parents=True, exist_ok=True)
                self._f = open(self.tmp, "wb")
                self._header = r.header
                self._f.write(r.header)
                self.bytes += len(r.header)
            data = pack_chunk(r, self.frames, self._header)
            self._f.write(data)
            self.bytes += len(data)
            self.frames += r.frames
            self.next_chunk += 1

    def commit(self) -> None:
        self._f.close()
        os.replace(self.tmp, self.output)

    def abort(self) -> None:
        if self._f is not None:
            self._f.close()
            self.tmp.unlink(missing_ok=True)
