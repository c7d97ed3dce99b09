"""Conformance: reference streams, their manifest, and the check every decoder must pass.

A conformance set is a directory holding ``.gvc`` streams and ``manifest.json`` (format
``gvc1d-conformance-v1``, see ``docs/conformance.md``). The manifest records, per stream, the
stream's SHA-256, its source and settings, its frame count and, per frame,

* the SHA-256 of the decoded **symbols** (:func:`symbols_sha256`): the bytes of the int8 array
  ``s[window, token, channel]`` of shape ``[windows, latent_tokens, token_dim]`` in C order
  (windows in raster order), i.e. ``windows * 32 * 16`` bytes for ``tiny``;
* the MD5 of the decoded **picture** (:func:`picture_md5`): the 8-bit planes of the decoder's output
  in the stream's ``pix_fmt`` (``yuv420p``: Y, then U, then V), each row-major without padding,
  concatenated, as HEVC's picture-hash SEI does.

Conformance requires the symbols to match exactly. The pixels come from a float network and may
differ across machines by a small amount (docs/determinism.md); a pixel-hash mismatch is reported
but fails only with ``strict_pixels`` (the tolerance is checked by ``conformance/matrix.py``, which
has a reference decode to measure the difference against).

:func:`check` is the one checking function; ``gvc1d-pipe conformance``, the tests and
``conformance/matrix.py`` all call it. Writing a set is tooling, outside the runtime:
``conformance/generate.py``.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import platform
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from .errors import BitstreamError, GVC1DError, UnsupportedStreamError
from .frame import VideoFrame
from .runtime import configure_threads

MANIFEST_FORMAT = "gvc1d-conformance-v1"
MANIFEST_NAME = "manifest.json"
DEFAULT_DIR = Path(__file__).resolve().parent.parent / "conformance"
MAX_SET_BYTES = 2 << 20  # the shipped streams stay below 2 MB in total

# Pixel tolerance of a conforming decoder against the reference decode (docs/conformance.md),
# per frame, over all 8-bit samples of Y, U and V. Checked by conformance/matrix.py.
PIXEL_MAX_ABS_DIFF = 2
PIXEL_MIN_PSNR_DB = 50.0

SYMBOLS_HASH_DEF = ("SHA-256 of the frame's decoded symbols s[window, token, channel] as int8 bytes in C order, "
                    "shape [windows, latent_tokens, token_dim], windows in raster order; for a frame with an "
                    "enhancement layer followed by its coefficient planes Y, Cb, Cr [blocks y, blocks x, 64] "
                    "(zig-zag) and, in a P frame of entropy model 5, its prediction modes [motion blocks y, x], "
                    "as little-endian int32 in C order; for an intra frame that sends a decoder update (entropy "
                    "model 7), then its integers in stream order as little-endian int32")
PICTURE_HASH_DEF = ("MD5 of the decoded frame's 8-bit planes in the stream's pix_fmt (yuv420p: Y, U, V; rgb24: the "
                    "packed RGB plane), each row-major without padding, concatenated")


class ConformanceError(GVC1DError):
    """A conformance set cannot be used (missing or malformed manifest, wrong weights, exists)."""


# ---- the hashes -------------------------------------------------------------------------------------

def symbols_bytes(symbols: np.ndarray) -> bytes:
    """The serialisation hashed for conformance: int8, C order, shape [windows, tokens, channels]."""
    a = np.asarray(symbols)
    if a.ndim != 3:
        raise ValueError(f"symbols must be [windows, tokens, channels], got shape {a.shape}")
    if a.dtype != np.int8:
        if np.abs(a).max(initial=0) > 127 or not np.array_equal(a, np.round(a)):
            raise ValueError("symbols must be integers in [-127, 127]")
        a = a.astype(np.int8)
    return np.ascontiguousarray(a).tobytes()


def symbols_sha256(symbols: np.ndarray, coefficients: list[np.ndarray] | None = None,
                   update: np.ndarray | None = None) -> str:
    """SHA-256 of the tokens' int8 bytes, then, for a frame with an enhancement layer, of its
    coefficient planes (Y, Cb, Cr) and any prediction modes as little-endian int32, C order, then of
    the decoder update an intra frame sent (int32, stream order)."""
    h = hashlib.sha256(symbols_bytes(symbols))
    for plane in [*(coefficients or ()), *(() if update is None else (update,))]:
        h.update(np.ascontiguousarray(plane, dtype="<i4").tobytes())
    return h.hexdigest()


def picture_bytes(frame: VideoFrame) -> bytes:
    return b"".join(np.ascontiguousarray(p, dtype=np.uint8).tobytes() for p in frame.planes)


def picture_md5(frame: VideoFrame) -> str:
    return hashlib.md5(picture_bytes(frame)).hexdigest()


def file_sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


QUICK_SUBSET = ("foreman_q1_ipinf_f1", "carphone_q2_ip2_f4")


# ---- decoding one stream ---------------------------------------------------------------------------

@dataclass
class DecodeTrace:
    """What decoding one stream produced, frame by frame, and how it ended."""

    header: object | None = None
    frame_types: list[str] = field(default_factory=list)
    symbols_sha256: list[str] = field(default_factory=list)
    picture_md5: list[str] = field(default_factory=list)
    error: str | None = None
    error_class: str | None = None
    error_frame: int | None = None


def decode_stream(data: bytes, weights, threads: int | None = None,
                  on_picture: Callable[[int, VideoFrame], None] | None = None,
                  on_symbols: Callable[[int, np.ndarray], None] | None = None) -> DecodeTrace:
    """Decode a whole stream, hashing every frame's symbols and picture. A bitstream error ends the
    stream and is recorded (class, message, frame index), not raised; the frames before it stay.
    ``weights``: a :class:`~gvc1d_codec.weights.LoadedWeights` (or a path / registry name)."""
    from .bitstream import PacketReader, read_header
    from .codec import Decoder  # deferred: torch, only for decoding (the manifest tools are torch-free)

    t = DecodeTrace()
    src = io.BytesIO(data)
    try:
        header = read_header(src)
        t.header = header
        dec = Decoder(header, weights=weights, threads=threads)
        for packet in PacketReader(src, header):
            frame = dec.decode(packet)
            sym = dec.last_symbols
            t.frame_types.append(packet.frame_type)
            t.symbols_sha256.append(symbols_sha256(sym, dec.last_coefficients, dec.last_update))
            t.picture_md5.append(picture_md5(frame))
            if on_symbols is not None:
                on_symbols(packet.frame_index, sym)
            if on_picture is not None:
                on_picture(packet.frame_index, frame)
    except BitstreamError as e:
        t.error, t.error_class = str(e), type(e).__name__
        t.error_frame = getattr(e, "frame_index", None)
    return t


# ---- the manifest ---------------------------------------------------------------------------------

def load_manifest(directory: str | os.PathLike | None = None) -> dict:
    d = Path(directory) if directory is not None else DEFAULT_DIR
    path = d / MANIFEST_NAME
    if not path.is_file():
        raise ConformanceError(f"no conformance manifest {path} (generate one with conformance/generate.py)")
    try:
        m = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise ConformanceError(f"cannot read {path}: {e}") from None
    if not isinstance(m, dict) or m.get("format") != MANIFEST_FORMAT:
        raise ConformanceError(f"{path} is not a {MANIFEST_FORMAT} manifest")
    try:
        for s in m["streams"]:
            if len(s["symbols_sha256"]) != s["frames"] or len(s["picture_md5"]) != s["frames"]:
                raise ValueError(f"stream {s['file']}: hash lists do not match its frame count")
        m["weights"]["sha256"]
    except (KeyError, TypeError, ValueError) as e:
        raise ConformanceError(f"{path} is malformed ({e})") from None
    return m


# ---- checking -------------------------------------------------------------------------------------

@dataclass
class StreamResult:
    name: str
    frames_expected: int
    frames_decoded: int = 0
    file_ok: bool = False
    symbol_mismatches: list[int] = field(default_factory=list)
    pixel_mismatches: list[int] = field(default_factory=list)
    type_mismatches: list[int] = field(default_factory=list)
    error: str | None = None
    error_class: str | None = None
    error_frame: int | None = None
    seconds: float = 0.0
    symbols_sha256: list[str] = field(default_factory=list)
    picture_md5: list[str] = field(default_factory=list)

    @property
    def symbols_ok(self) -> bool:
        return (self.file_ok and self.error is None and self.frames_decoded == self.frames_expected
                and not self.symbol_mismatches and not self.type_mismatches)

    @property
    def pixels_ok(self) -> bool:
        return self.symbols_ok and not self.pixel_mismatches

    def symbols_cell(self) -> str:
        if self.symbols_ok:
            return "ok"
        if self.error is not None:
            where = "" if self.error_frame is None else f" in frame {self.error_frame}"
            return f"ERROR{where}"
        if self.symbol_mismatches:
            return f"MISMATCH ({len(self.symbol_mismatches)} frames, first {self.symbol_mismatches[0]})"
        if self.type_mismatches:
            return f"FRAME TYPES differ (first {self.type_mismatches[0]})"
        if not self.file_ok:
            return "FILE differs from manifest"
        return "FRAME COUNT differs"

    def pixels_cell(self) -> str:
        if self.pixel_mismatches:
            return f"differ ({len(self.pixel_mismatches)}/{self.frames_decoded} frames)"
        return "ok" if self.frames_decoded else "-"


@dataclass
class ConformanceReport:
    directory: str
    weights_sha256: str
    strict_pixels: bool
    streams: list[StreamResult]
    environment: dict

    @property
    def symbols_ok(self) -> bool:
        return all(s.symbols_ok for s in self.streams)

    @property
    def pixels_ok(self) -> bool:
        return all(s.pixels_ok for s in self.streams)

    @property
    def ok(self) -> bool:
        return self.symbols_ok and (self.pixels_ok or not self.strict_pixels)

    def table(self) -> str:
        rows = [("stream", "frames", "symbols ok", "pixels ok")]
        for s in self.streams:
            rows.append((s.name, f"{s.frames_decoded}/{s.frames_expected}", s.symbols_cell(), s.pixels_cell()))
        widths = [max(len(r[i]) for r in rows) for i in range(4)]
        lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
        lines.insert(1, "  ".join("-" * w for w in widths))
        for s in self.streams:
            if s.error is not None:
                lines.append(f"{s.name}: {s.error_class}: {s.error}")
            if not s.file_ok and s.error_class != "FileNotFoundError":
                lines.append(f"{s.name}: the stream file's SHA-256 differs from the manifest")
        n = len(self.streams)
        sym = sum(s.symbols_ok for s in self.streams)
        pix = sum(s.pixels_ok for s in self.streams)
        verdict = "PASS" if self.ok else "FAIL"
        note = "" if self.strict_pixels or self.pixels_ok else " (pixel hashes are informative: docs/conformance.md)"
        lines.append(f"{verdict}: symbols exact in {sym}/{n} streams, pixels exact in {pix}/{n}{note}")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        d = {"directory": self.directory, "weights_sha256": self.weights_sha256, "strict_pixels": self.strict_pixels,
             "ok": self.ok, "symbols_ok": self.symbols_ok, "pixels_ok": self.pixels_ok,
             "environment": self.environment, "streams": []}
        for s in self.streams:
            e = asdict(s)
            e.update(symbols_ok=s.symbols_ok, pixels_ok=s.pixels_ok)
            d["streams"].append(e)
        return d


def environment() -> dict:
    """What may influence a decode on this machine (recorded with every report)."""
    import torch  # deferred, as the decoder

    try:
        cap = torch.backends.cpu.get_cpu_capability()
    except Exception:  # pragma: no cover - older torch
        cap = "unknown"
    env = {k: os.environ[k] for k in ("ATEN_CPU_CAPABILITY", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
                                       "MKL_ENABLE_INSTRUCTIONS", "ONEDNN_MAX_CPU_ISA") if k in os.environ}
    par = {}
    try:
        for line in torch.__config__.parallel_info().splitlines():
            for key in ("omp_get_max_threads", "mkl_get_max_threads"):
                if key + "()" in line:
                    par[key.split("_")[0] + "_threads"] = int(line.rsplit(":", 1)[1])
    except Exception:  # informative only
        pass
    return {"python": platform.python_version(), "torch": torch.__version__, "numpy": np.__version__,
            "constriction": _version("constriction"), "machine": platform.machine(), "cpu_capability": cap,
            "torch_threads": torch.get_num_threads(), **par, "env": env}


def _version(dist: str) -> str:
    try:
        from importlib.metadata import version

        return version(dist)
    except Exception:
        return "unknown"


def check(directory: str | os.PathLike | None = None, weights=None, threads: int | None = None,
          streams: Iterable[str] | None = None, strict_pixels: bool = False,
          planes_dir: str | os.PathLike | None = None,
          progress: Callable[[str], None] | None = None) -> ConformanceReport:
    """Decode every stream of a conformance set (or the named ``streams``) and compare with its
    manifest. Refuses (:class:`UnsupportedStreamError`) before decoding anything when the weights
    are not the ones the set was generated with. ``planes_dir``: also write each stream's decoded
    pictures there, as ``<stream>.yuv`` (frames concatenated, :func:`picture_bytes` each)."""
    from .weights import load_weights  # deferred: torch

    d = Path(directory) if directory is not None else DEFAULT_DIR
    manifest = load_manifest(d)
    configure_threads(threads)
    loaded = weights if hasattr(weights, "model") else load_weights(weights)
    need = manifest["weights"]["sha256"]
    if loaded.sha256 != need:
        raise UnsupportedStreamError(
            f"the conformance set {d} was generated with weights sha256 {need[:16]}..., "
            f"loaded {loaded.path.name} sha256 {loaded.sha256[:16]}... (give --weights)")
    entries = manifest["streams"]
    if streams is not None:
        wanted = [s.removesuffix(".gvc") for s in streams]
        known = {Path(e["file"]).stem: e for e in entries}
        unknown = [w for w in wanted if w not in known]
        if unknown:
            raise ConformanceError(f"no stream {', '.join(unknown)} in {d / MANIFEST_NAME}")
        entries = [known[w] for w in wanted]
    if planes_dir is not None:
        Path(planes_dir).mkdir(parents=True, exist_ok=True)
    results = []
    for e in entries:
        name = Path(e["file"]).stem
        r = StreamResult(name, int(e["frames"]))
        t0 = time.monotonic()
        path = d / e["file"]
        try:
            data = path.read_bytes()
        except OSError as err:
            r.error, r.error_class = f"cannot read {path}: {err.strerror}", "FileNotFoundError"
            results.append(r)
            continue
        r.file_ok = hashlib.sha256(data).hexdigest() == e["sha256"]
        sink = open(Path(planes_dir) / f"{name}.yuv", "wb") if planes_dir is not None else None
        try:
            trace = decode_stream(data, loaded, on_picture=None if sink is None else (lambda i, f: sink.write(picture_bytes(f))))
        finally:
            if sink is not None:
                sink.close()
        r.frames_decoded = len(trace.symbols_sha256)
        r.symbols_sha256, r.picture_md5 = trace.symbols_sha256, trace.picture_md5
        r.error, r.error_class, r.error_frame = trace.error, trace.error_class, trace.error_frame
        types = e.get("frame_types")
        for i in range(min(r.frames_decoded, r.frames_expected)):
            if trace.symbols_sha256[i] != e["symbols_sha256"][i]:
                r.symbol_mismatches.append(i)
            if trace.picture_md5[i] != e["picture_md5"][i]:
                r.pixel_mismatches.append(i)
            if types is not None and trace.frame_types[i] != types[i]:
                r.type_mismatches.append(i)
        r.seconds = time.monotonic() - t0
        results.append(r)
        if progress is not None:
            progress(f"{name}: {r.frames_decoded} frames, symbols {r.symbols_cell()}, pixels {r.pixels_cell()}, {r.seconds:.1f} s")
    return ConformanceReport(str(d), loaded.sha256, strict_pixels, results, environment())


if __name__ == "__main__":  # pragma: no cover
    sys.exit("use `gvc1d-pipe conformance`, conformance/generate.py or conformance/matrix.py")
