"""The Python half of libgvc1d: the ``_gvc1dpy_*`` hooks of ``src/hooks.h``.

``build_ffi.py`` embeds this file's text in the library; cffi's embedding init code runs it when
the library first needs Python and calls :func:`install`, which attaches the hooks with
``@ffi.def_extern()``. The C side (``src/gvc1d.c``) has already checked pointers and strides.

Only the public API of ``gvc1d_codec`` is used: ``Encoder`` / ``Decoder`` (frame level),
``VideoFrame`` / ``ColorInfo``, the error classes, the container's ``StreamHeader``, ``Packet``,
``PacketReader`` and ``default_max_payload``, ``ratecontrol.PassStats`` (two-pass stats), and
``bitstream.compact`` (the units of format version 5: ``unit``, ``from_unit``, ``Elision``,
``carries_index``), so streams are exactly those of the Python API. One exception: a raw packet
is read by a fresh ``PacketReader`` per call, whose quality bytes carried over from the previous
packet (version 5) are set through its ``_elision``.

Weights are loaded once per process and shared (read-only) by every encoder and decoder of it that
names the same file (resolved path, size, modification time) on the same device: ``LoadedWeights``
passed to ``Encoder`` / ``Decoder``, each of which keeps its own coding state.

Every hook catches every exception: the status goes back as the return value (1 = success, a
negative ``gvc1d_status`` = failure) and a one-line message into the caller's ``err`` buffer.
Nothing is printed (``GVC1D_DEBUG=1`` prints the traceback of internal errors to stderr).
Module level imports only the standard library: ``gvc1d_codec`` (and torch) are imported by the
first open, so an import failure is reported as an error of that open.
"""
from __future__ import annotations

import copy
import io
import itertools
import os
import sys
import threading
import traceback
from fractions import Fraction
from types import SimpleNamespace

DONE = 1
ERR_INVALID_ARG = -1
ERR_UNSUPPORTED = -2
ERR_CORRUPT = -3
ERR_TRUNCATED = -4
ERR_WEIGHTS = -5
ERR_INTERNAL = -6
ERR_NOMEM = -7

PIX_FMTS = {0: "yuv420p", 1: "rgb24"}
PIX_FMT_CODES = {name: code for code, name in PIX_FMTS.items()}
MATRICES = {0: "bt709", 1: "bt601"}
MATRIX_CODES = {name: code for code, name in MATRICES.items()}
RANGES = {0: "limited", 1: "full"}
RANGE_CODES = {name: code for code, name in RANGES.items()}
CHROMAS = {0: "unspecified", 1: "left", 2: "center", 3: "topleft", 4: "top", 5: "bottomleft", 6: "bottom"}
CHROMA_CODES = {name: code for code, name in CHROMAS.items()}


class BridgeError(Exception):
    """A failure the bridge itself detects, with its status."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


_api: SimpleNamespace | None = None
_objects: dict[int, object] = {}
_ids = itertools.count(1)
_lock = threading.Lock()
# weights loaded in this process: key (path, expected sha256, size, mtime, device) -> LoadedWeights
_weights: dict[tuple, object] = {}
_weights_lock = threading.Lock()
WEIGHTS_KEPT = 4  # the most recently used files kept loaded


def _import_api() -> SimpleNamespace:
    """gvc1d_codec's public API, imported on first use."""
    global _api
    if _api is None:
        try:
            import numpy as np
            from numpy.lib.stride_tricks import as_strided

            from gvc1d_codec import errors
            from gvc1d_codec.bitstream import Packet, PacketReader, StreamHeader, compact, default_max_payload
            from gvc1d_codec.codec import Decoder, Encoder, resolve_device
            from gvc1d_codec.frame import ColorInfo, VideoFrame
            from gvc1d_codec.ratecontrol import PassStats
            from gvc1d_codec.registry import resolve as resolve_weights
            from gvc1d_codec.weights import load_weights
        except Exception as e:  # noqa: BLE001 - reported to the caller
            first = str(e).splitlines()[0] if str(e) else ""
            raise BridgeError(ERR_INTERNAL,
                              f"cannot import gvc1d_codec in the embedded Python ({type(e).__name__}: {first}); "
                              f"install it in {sys.executable} or add it to PYTHONPATH") from None
        _api = SimpleNamespace(np=np, as_strided=as_strided, errors=errors, Encoder=Encoder, Decoder=Decoder,
                               ColorInfo=ColorInfo, VideoFrame=VideoFrame, StreamHeader=StreamHeader,
                               Packet=Packet, PacketReader=PacketReader, compact=compact,
                               default_max_payload=default_max_payload, resolve_device=resolve_device,
                               resolve_weights=resolve_weights, load_weights=load_weights, PassStats=PassStats)
    return _api


def shared_weights(api: SimpleNamespace, spec: str | None, device: str):
    """The weights ``spec`` names (None: ``$GVC1D_WEIGHTS`` or the shipped model) on ``device``,
    loaded once per process: later opens of the same file (same size and modification time) on the
    same device share the read-only ``LoadedWeights``. A file that cannot be stat'ed is handed on as
    its name, so that the Encoder / Decoder reports it as usual."""
    path, expected = api.resolve_weights(spec)
    try:
        st = os.stat(path)
    except OSError:
        return spec
    dev = api.resolve_device(device)
    key = (os.path.realpath(path), expected, st.st_size, st.st_mtime_ns, str(dev))
    with _weights_lock:
        loaded = _weights.pop(key, None)
        if loaded is None:
            loaded = api.load_weights(spec, device=dev)  # under the lock: two threads load once
        _weights[key] = loaded  # most recently used last
        while len(_weights) > WEIGHTS_KEPT:
            del _weights[next(iter(_weights))]
    return loaded


def describe(exc: BaseException) -> tuple[int, str]:
    """(status, one-line message) for any exception."""
    msg = str(exc).splitlines()[0] if str(exc) else ""
    if isinstance(exc, BridgeError):
        return exc.status, msg
    errors = _api.errors if _api is not None else None
    if errors is not None and isinstance(exc, errors.GVC1DError):
        if isinstance(exc, errors.TruncatedStreamError):
            return ERR_TRUNCATED, msg
        if isinstance(exc, errors.UnsupportedStreamError):
            return ERR_UNSUPPORTED, msg
        if isinstance(exc, errors.BitstreamError):
            return ERR_CORRUPT, msg
        if isinstance(exc, errors.WeightsError):
            return ERR_WEIGHTS, msg
        return ERR_INVALID_ARG, msg  # InputFormatError and the settings checks of Encoder/Decoder
    if isinstance(exc, MemoryError) or (isinstance(exc, RuntimeError) and "allocate memory" in msg):
        return ERR_NOMEM, "out of memory"
    if os.environ.get("GVC1D_DEBUG"):
        traceback.print_exception(exc)
    return ERR_INTERNAL, f"internal error: {type(exc).__name__}: {msg}"


class _Encoder:
    def __init__(self, enc, header: bytes, ffi, units: bool, elision, first_pass: bool = False):
        self.enc = enc
        self.units = units  # return container units instead of raw packets
        self.elision = elision  # units: the quality bytes carried from unit to unit
        self.first_pass = first_pass  # pass 1: gvc1d_encoder_stats hands out the stats as they grow
        self.stats_frames = 0  # frames whose stats lines were handed out
        self.stats_head = None  # the length of the first stats text (the head lines, if it had no frame)
        self.stats_cdata = None  # the last stats text (NUL-terminated), owned until the next call
        self.width, self.height, self.pix_fmt = enc.header.width, enc.header.height, enc.header.pix_fmt
        self.header = header
        self.header_cdata = ffi.from_buffer(header)
        self.packet = self.packet_cdata = None  # the last packet, owned until the next call
        self.broken: tuple[int, str] | None = None


class _Decoder:
    def __init__(self, dec, api):
        self.dec = dec
        # version 5: the quality bytes carried over from the last packet (raw) or unit, committed
        # only when a frame decoded, so that a rejected packet or unit leaves the decoder unchanged
        self.raw_elision = api.compact.Elision()
        self.unit_elision = api.compact.Elision()
        self.need_intra = False  # after a restart: the next packet or unit must be an intra frame
        self.planes = self.plane_cdata = None  # the last picture, owned until the next call
        self.broken: tuple[int, str] | None = None


class _Bytes(io.BytesIO):
    """A packet's bytes, read as from a pipe: a cut packet is reported as gvc1d-pipe reports it
    on stdin (the part that is short), not from a file's size."""

    def seekable(self) -> bool:
        return False


def _register(obj) -> int:
    with _lock:
        ident = next(_ids)
        _objects[ident] = obj
    return ident


def _lookup(ident: int, kind: type):
    obj = _objects.get(ident)
    if not isinstance(obj, kind):
        raise BridgeError(ERR_INVALID_ARG, "not an open handle")
    return obj


def _check_broken(obj, what: str) -> None:
    if obj.broken is not None:
        status, msg = obj.broken
        raise BridgeError(status, f"the {what} failed earlier and cannot continue ({msg}); close it")


def _enum(value: int, table: dict[int, str], what: str, names: str) -> str:
    if value not in table:
        raise BridgeError(ERR_INVALID_ARG, f"{what} {value} is not one of {names}")
    return table[value]


def install(ffi, lib, extra_paths: list[str]) -> None:
    """Attach the hooks. ``extra_paths``: directories appended to sys.path (the source tree)."""
    for path in extra_paths:
        if path and path not in sys.path:
            sys.path.append(path)
    if lib._gvc1d_started_python():
        # our own interpreter: nothing may reach the host's stderr
        import warnings

        warnings.simplefilter("ignore")
        sys.unraisablehook = lambda _unraisable: None

    def write_err(err, errsize: int, message: str) -> None:
        if err == ffi.NULL or errsize <= 0:
            return
        data = message.encode("utf-8", "replace")[: errsize - 1]
        data = data.decode("utf-8", "ignore").encode("utf-8") + b"\0"  # never cut a character
        ffi.memmove(err, data, len(data))

    def swallow(exc_type, exc_value, tb) -> None:  # cffi's last resort: stay silent
        return None

    def hook(fn):
        """Attach ``fn`` as the hook of its name; exceptions become (status, message)."""

        def wrapper(*args):
            try:
                return fn(*args)
            except BaseException as e:  # noqa: BLE001 - nothing may escape into C
                status, message = describe(e)
                write_err(args[-2], args[-1], message)
                return status

        ffi.def_extern(name=fn.__name__, error=ERR_INTERNAL, onerror=swallow)(wrapper)
        return fn

    def cstr(p) -> str | None:
        return None if p == ffi.NULL else os.fsdecode(ffi.string(p))

    # ---- encoder ----------------------------------------------------------------------------------

    @hook
    def _gvc1dpy_encoder_open(p, id_out, header_out, header_size_out, err, errsize):
        api = _import_api()
        from gvc1d_codec.limits import MAX_DIMENSION

        width, height = int(p.width), int(p.height)
        for name, value in (("width", width), ("height", height)):
            if not 1 <= value <= MAX_DIMENSION:
                raise BridgeError(ERR_INVALID_ARG, f"{name} {value} is out of range (need 1..{MAX_DIMENSION})")
        if p.fps_num == 0 or p.fps_den == 0:
            raise BridgeError(ERR_INVALID_ARG, f"frame rate {p.fps_num}/{p.fps_den} is invalid (need fps_num > 0 and fps_den > 0)")
        pix_fmt = _enum(p.pix_fmt, PIX_FMTS, "pixel format", "GVC1D_PIX_FMT_YUV420P (0) or GVC1D_PIX_FMT_RGB24 (1)")
        matrix = _enum(p.color_matrix, MATRICES, "colour matrix", "GVC1D_COLOR_MATRIX_BT709 (0) or _BT601 (1)")
        rng = _enum(p.color_range, RANGES, "colour range", "GVC1D_COLOR_RANGE_LIMITED (0) or _FULL (1)")
        chroma = _enum(p.chroma_location, CHROMAS, "chroma location", "GVC1D_CHROMA_LOCATION_UNSPECIFIED (0) .. _BOTTOM (6)")
        sar = (int(p.sar_num), int(p.sar_den))
        if (sar[0] == 0) != (sar[1] == 0):
            raise BridgeError(ERR_INVALID_ARG, f"sample aspect ratio {sar[0]}:{sar[1]} is invalid (need 0:0 = unknown, "
                                               "or both positive)")
        quality = int(p.quality)
        if quality < -1:
            raise BridgeError(ERR_INVALID_ARG, f"quality {quality} out of range (-1 = the model's default, else 0..Q+3: above Q-2 the enhancement layer)")
        value, bitrate = float(p.quality_value), int(p.bitrate)
        units = int(p.units)
        if units not in (0, 1):
            raise BridgeError(ERR_INVALID_ARG, f"units {units} is not 0 (raw packets) or 1 (container units)")
        if bitrate < 0:
            raise BridgeError(ERR_INVALID_ARG, f"bitrate {bitrate} is negative (0 = off, else bits per second)")
        if bitrate and (quality != -1 or value >= 0):
            raise BridgeError(ERR_INVALID_ARG, "give a bitrate or a quality, not both")
        if value >= 0:
            if quality != -1:
                raise BridgeError(ERR_INVALID_ARG, "give quality or quality_value, not both")
            quality = value
        first_pass = read_pass(api, p, bitrate)
        enc = api.Encoder(width, height, Fraction(int(p.fps_num), int(p.fps_den)), pix_fmt=pix_fmt,
                          color=api.ColorInfo(matrix, rng, chroma), sample_aspect=sar,
                          quality=None if quality == -1 or bitrate else quality, bitrate=float(bitrate) if bitrate else None,
                          intra_period=int(p.intra_period), weights=shared_weights(api, cstr(p.weights), cstr(p.device) or "cpu"),
                          device=cstr(p.device) or "cpu", preset=cstr(p.preset) or "medium",
                          first_pass=first_pass)
        obj = _Encoder(enc, enc.header_bytes(), ffi, bool(units), api.compact.Elision(),
                       first_pass=int(getattr(p, "pass")) == 1)
        id_out[0] = _register(obj)
        header_out[0] = ffi.cast("const uint8_t *", obj.header_cdata)
        header_size_out[0] = len(obj.header)
        return DONE

    def read_pass(api, p, bitrate: int):
        """params.pass and .stats_in checked: the first pass's PassStats for a second pass, else None."""
        npass = int(getattr(p, "pass"))  # "pass" is a Python keyword
        if npass not in (0, 1, 2):
            raise BridgeError(ERR_INVALID_ARG, f"pass {npass} is not 0 (one pass), 1 (first pass) or 2 (second pass)")
        if npass and bitrate <= 0:
            raise BridgeError(ERR_INVALID_ARG, f"pass {npass} (two-pass rate control) needs a target: set bitrate > 0")
        if npass != 2:
            if p.stats_in != ffi.NULL:
                raise BridgeError(ERR_INVALID_ARG, f"stats_in is set but pass is {npass}: the first pass's stats are "
                                                   "for a second pass (pass 2)")
            return None
        if p.stats_in == ffi.NULL:
            raise BridgeError(ERR_INVALID_ARG, "pass 2 needs the first pass's stats: set stats_in to its text")
        try:
            return api.PassStats.loads(ffi.string(p.stats_in).decode("utf-8", "replace"))
        except ValueError as e:
            raise BridgeError(ERR_INVALID_ARG, str(e)) from None

    def frame_from_planes(api, obj: _Encoder, planes, strides):
        """Copy the caller's planes (any stride, also negative) into a VideoFrame."""
        w, h = obj.width, obj.height
        if obj.pix_fmt == "rgb24":
            shapes = [(h, 3 * w)]
        else:
            cw, ch = (w + 1) // 2, (h + 1) // 2
            shapes = [(h, w), (ch, cw), (ch, cw)]
        arrays = []
        for i, (rows, row_bytes) in enumerate(shapes):
            stride, ptr = int(strides[i]), planes[i]
            back = (rows - 1) * -stride if stride < 0 else 0  # bytes from the lowest address to row 0
            span = abs(stride) * (rows - 1) + row_bytes
            flat = api.np.frombuffer(ffi.buffer(ptr - back, span), dtype=api.np.uint8)
            if stride == row_bytes:
                arrays.append(flat.reshape(rows, row_bytes).copy())
            else:
                arrays.append(api.as_strided(flat[back:], shape=(rows, row_bytes), strides=(stride, 1)).copy())
        if obj.pix_fmt == "rgb24":
            arrays[0] = arrays[0].reshape(h, w, 3)
        return api.VideoFrame(obj.pix_fmt, tuple(arrays))

    @hook
    def _gvc1dpy_encoder_encode(ident, planes, strides, packet_out, size_out, err, errsize):
        api = _import_api()
        obj = _lookup(ident, _Encoder)
        _check_broken(obj, "encoder")
        frame = frame_from_planes(api, obj, planes, strides)
        obj.packet = obj.packet_cdata = None
        try:
            if obj.units:
                p = obj.enc.encode_packet(frame)
                data = api.compact.unit(p.frame_type, p.payload, p.quality_length, obj.elision,
                                        must_state=api.compact.carries_index(p.frame_type, p.frame_index))
            else:
                data = obj.enc.encode(frame)
        except api.errors.InputFormatError:
            raise  # checked before the encoder's state changes
        except BaseException as e:
            obj.broken = describe(e)
            raise
        obj.packet, obj.packet_cdata = data, ffi.from_buffer(data)
        packet_out[0] = ffi.cast("const uint8_t *", obj.packet_cdata)
        size_out[0] = len(data)
        return DONE

    @hook
    def _gvc1dpy_encoder_stats(ident, text_out, err, errsize):
        """Pass 1: the stats text of the frames since the last call (the first call's starts with
        the head lines), so that every call's text, concatenated, is ``PassStats.dumps()``."""
        _import_api()
        obj = _lookup(ident, _Encoder)
        if not obj.first_pass:
            raise BridgeError(ERR_INVALID_ARG, "gvc1d_encoder_stats: the encoder is not a first pass (params.pass = 1)")
        _check_broken(obj, "encoder")
        stats = obj.enc.pass_stats()
        frames = len(stats.frames)
        if obj.stats_head is None:  # the first call: the head lines and the frames so far
            text = stats.dumps()
            obj.stats_head = len(text) if frames == 0 else 0
        elif frames == obj.stats_frames:
            text = ""
        elif obj.stats_frames > 0:
            text = stats.dumps(obj.stats_frames)
        else:  # the head went out alone: the text from frame 0 without it
            text = stats.dumps()[obj.stats_head:]
        obj.stats_frames = frames
        obj.stats_cdata = ffi.new("char[]", text.encode("utf-8"))
        text_out[0] = ffi.cast("const char *", obj.stats_cdata)
        return DONE

    # ---- decoder ----------------------------------------------------------------------------------

    @hook
    def _gvc1dpy_decoder_open(header, size, weights, device, out_pix_fmt, id_out, info, err, errsize):
        api = _import_api()
        data = ffi.buffer(header, size)[:] if size else b""
        parsed, used = api.StreamHeader.unpack(data)
        if used != len(data):
            raise BridgeError(ERR_INVALID_ARG, f"the header buffer holds {len(data)} bytes but the stream header is "
                                               f"{used}: pass exactly the header")
        out = None if out_pix_fmt == -1 else _enum(
            out_pix_fmt, PIX_FMTS, "output pixel format", "GVC1D_PIX_FMT_NONE (-1), _YUV420P (0) or _RGB24 (1)")
        dec = api.Decoder(parsed, weights=shared_weights(api, cstr(weights), cstr(device) or "cpu"),
                          device=cstr(device) or "cpu", pix_fmt=out)
        h = dec.header
        info.width, info.height, info.fps_num, info.fps_den = h.width, h.height, h.fps_num, h.fps_den
        info.pix_fmt, info.out_pix_fmt = PIX_FMT_CODES[h.pix_fmt], PIX_FMT_CODES[dec.pix_fmt]
        info.color_matrix, info.color_range = MATRIX_CODES[h.color_matrix], RANGE_CODES[h.color_range]
        info.quality, info.intra_period = h.quality, h.intra_period
        info.max_payload = api.default_max_payload(h)
        info.sar_num, info.sar_den = h.sample_aspect
        info.chroma_location = CHROMA_CODES[h.chroma_location]
        info.format_version = h.format_version
        id_out[0] = _register(_Decoder(dec, api))
        return DONE

    def read_packet(api, obj: _Decoder, data: bytes, n: int):
        """The raw packet of frame ``n`` in ``data`` (exactly one), and the elision state after it."""
        stream = _Bytes(data)
        reader = api.PacketReader(stream, obj.dec.header)
        reader.next_frame_index = n  # the packet must be the decoder's next frame
        # version 5: the quality bytes the previous packet left (a copy: committed after decoding)
        reader._elision = elision = copy.copy(obj.raw_elision)
        pkt = next(reader, None)  # checks head/sync, type, index, length limit and CRC, or raises
        if pkt is None:
            raise api.errors.TruncatedStreamError(f"empty packet for frame {n}", n)
        if stream.tell() != len(data):
            raise api.errors.CorruptPacketError(
                f"{len(data) - stream.tell()} byte(s) after the end of the packet of frame {n} "
                "(pass exactly one packet per call)", n)
        return pkt, elision

    def check_restart(api, obj: _Decoder, intra: bool, n: int) -> None:
        if obj.need_intra and not intra:
            raise api.errors.CorruptPacketError(
                f"frame {n} is not an intra frame: after a restart the decoder needs one", n)

    def read_unit(api, obj: _Decoder, data: bytes, n: int):
        """The packet of frame ``n`` from its unit, and the elision state after it."""
        elision = copy.copy(obj.unit_elision)
        frame_type, payload, quality_length = api.compact.from_unit(data, n, elision)
        if n == 0 and frame_type != "I":
            raise api.errors.CorruptPacketError("frame 0 is not an I frame", n)
        limit = api.default_max_payload(obj.dec.header)
        if len(payload) > limit:
            raise api.errors.CorruptPacketError(
                f"payload length {len(payload)} in frame {n} exceeds the limit of {limit} bytes", n)
        return api.Packet(frame_type, n, payload, quality_length), elision

    @hook
    def _gvc1dpy_decoder_decode(ident, data_ptr, size, unit, out, err, errsize):
        api = _import_api()
        obj = _lookup(ident, _Decoder)
        _check_broken(obj, "decoder")
        obj.planes = obj.plane_cdata = None
        dec = obj.dec
        n = dec.frames_decoded
        data = ffi.buffer(data_ptr, size)[:] if size else b""
        unit = bool(unit) and dec.header.format_version >= 5  # version 4: containers carry whole packets
        if data:  # the head's frame type (version 5: bit 0; version 4: the type byte after the sync)
            check_restart(api, obj, bool(data[0] & 1) if dec.header.format_version >= 5 else data[1:2] == b"I", n)
        pkt, elision = (read_unit if unit else read_packet)(api, obj, data, n)
        check_restart(api, obj, pkt.frame_type == "I", n)
        try:
            frame = dec.decode(pkt)
        except BaseException as e:
            obj.broken = describe(e)
            raise
        if unit:
            obj.unit_elision = elision
        else:
            obj.raw_elision = elision
        planes = tuple(api.np.ascontiguousarray(p) for p in frame.planes)
        obj.planes, obj.plane_cdata = planes, [ffi.from_buffer(p) for p in planes]
        for i, (plane, cdata) in enumerate(zip(planes, obj.plane_cdata)):
            out.planes[i] = ffi.cast("const uint8_t *", cdata)
            out.strides[i] = plane.strides[0]
        out.width, out.height = frame.width, frame.height
        out.pix_fmt = PIX_FMT_CODES[frame.pix_fmt]
        out.frame_index = pkt.frame_index
        out.frame_type = ord(pkt.frame_type)
        obj.need_intra = False
        return DONE

    @hook
    def _gvc1dpy_decoder_restart(ident, frame_index, err, errsize):
        """Random access: the next packet or unit is the intra frame ``frame_index``. An intra frame
        resets all state, so this also recovers a decoder whose reconstruction loop broke."""
        api = _import_api()
        obj = _lookup(ident, _Decoder)
        obj.dec.restart(int(frame_index))
        obj.raw_elision = api.compact.Elision()  # the intra frame states its quality
        obj.unit_elision = api.compact.Elision()
        obj.need_intra = True
        obj.broken = None
        obj.planes = obj.plane_cdata = None
        return DONE

    # ---- both -------------------------------------------------------------------------------------

    def _gvc1dpy_release(ident):
        with _lock:
            _objects.pop(ident, None)
        return DONE

    ffi.def_extern(name="_gvc1dpy_release", error=ERR_INTERNAL, onerror=swallow)(_gvc1dpy_release)


HOOKS = ("_gvc1dpy_encoder_open", "_gvc1dpy_encoder_encode", "_gvc1dpy_encoder_stats",
         "_gvc1dpy_decoder_open", "_gvc1dpy_decoder_decode", "_gvc1dpy_decoder_restart", "_gvc1dpy_release")
