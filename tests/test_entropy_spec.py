"""docs/bitstream.md, "Entropy model definition 3 (and 4)" (quality code, skip flags, motion, the
enhancement layer), implemented independently from the text.

This decoder uses only the weights file (safetensors + its JSON metadata), numpy int64 arithmetic
and constriction's range decoder; it imports nothing from gvc1d_codec's entropy model. It must
decode the reference encoder's streams to exactly the symbols the reference decoder gets.
"""
from __future__ import annotations

import io
import json
import math
import struct
from fractions import Fraction
from pathlib import Path

import constriction
import numpy as np
from safetensors.numpy import load_file

from gvc1d_codec.bitstream import PacketReader, read_header
from gvc1d_codec.codec import Decoder, Encoder, intra_boost

FRAC_ONE, SHIFT = 16, 16


class SpecEntropyDecoder:
    def __init__(self, weights: str | Path, stream_id: int = 5):
        self.stream_id = self.model_id = stream_id  # the header's entropy model id: 5 has the layer's prediction
        # modes, 6 byte-terminated payloads
        raw = Path(weights).read_bytes()
        n = int.from_bytes(raw[:8], "little")
        meta = json.loads(raw[8 : 8 + n])["__metadata__"]
        assert meta["format"] == "gvc1d-weights-v1" and meta["entropy_model_id"] in tuple(str(i) for i in range(1, 12))
        self.cfg = json.loads(meta["config"])
        t = load_file(str(weights))
        self.layers = {}
        for name in ("mem_embed", "mem_gather", "mem_update", "mem_read", "ctx", "ar_embed", "ar_mix", "hidden", "out"):
            w, b, m = (t[f"entropy.int.{name}.{k}"] for k in "wbm")
            assert w.dtype == np.int8 and b.dtype == np.int64 and m.dtype == np.int64 and (m >= 1).all()
            self.layers[name] = (w.astype(np.int64), b, m)
        self.freq = t["entropy.freq_table"]
        assert self.freq.dtype == np.int32 and (self.freq >= 1).all()
        c = self.cfg
        self.L, self.C, self.M, self.D = c["latent_tokens"], c["token_dim"], c["memory_tokens"], c["memory_dim"]
        self.H, self.Q, self.G, self.S, self.SMAX = c["prior_hidden"], c["qualities"], c["ar_groups"], c["scale_levels"], c["symbol_max"]
        self.P = self.L // self.G
        grp = np.arange(self.L) // self.P
        assert not self.layers["ar_mix"][0][grp[None, :] >= grp[:, None]].any(), "ar_mix is not strictly causal"
        self.lo_hi = {n: (0, 255) for n in self.layers}
        self.lo_hi["out"] = (-16 * self.SMAX, 16 * (self.S - 1))
        self.model = constriction.stream.model.Categorical(perfect=False)
        self.prev = self.mem = self.pskip = self.pmv = None
        self.skipped: list[int] = []  # skipped windows per frame, for the test
        self.codes: list[int] = []  # quality code per frame, for the test
        self.motions: list[int] = []  # sum of |vector components| per P frame, for the test
        self.merge_modes: set[int] = set()  # the format-4 modes decoded, for the test

        def g(peak, num, den):  # the spec's integer sequences, |r - 126| = 0..126
            out = [peak]
            for _ in range(126):
                out.append(max(1, out[-1] * num // den))
            return out

        g0, g1 = g(32768, 1, 32), g(16384, 1, 4)
        self.mv_freq = [np.array([gk[abs(r - 126)] for r in range(253)], np.float64) for gk in (g0, g1)]
        # motion format 4 (entropy models 8, 9): the merge modes' rows and the explicit deltas' row
        self.merge_freq = [np.array([3712, 96, 96, 192], np.float64), np.array([1536, 512, 512, 1536], np.float64)]
        ge = [16384]
        for _ in range(126):
            ge.append(max(1, ge[-1] * 3 // 4))
        self.explicit_freq = np.array([ge[abs(r - 126)] for r in range(253)], np.float64)

    def layer(self, name: str, a: np.ndarray, token_axis: bool = False, rows: slice = slice(None)) -> np.ndarray:
        w, b, m = self.layers[name]
        lo, hi = self.lo_hi[name]
        if token_axis:
            a = np.swapaxes(a, -1, -2)
        acc = a @ w[rows].T + b[rows]
        y = np.clip((acc * m[rows] + (1 << 15)) >> SHIFT, lo, hi)  # >> on int64 = floor division
        return np.swapaxes(y, -1, -2) if token_axis else y

    SKIP_FREQ = [(3072, 1024), (2048, 2048), (1024, 3072), (1536, 2560), (768, 3328), (256, 3840)]  # the spec's table

    def decode(self, payload: bytes, rows: int, cols: int, intra: bool) -> np.ndarray:
        L, C, M, D, H, Q = self.L, self.C, self.M, self.D, self.H, self.Q
        N = rows * cols
        code = payload[0]  # the quality code: 16 x (level + fraction)
        assert code <= 16 * (Q + 3)
        self.codes.append(code)
        enhanced = code > 16 * (Q - 1)
        if enhanced:  # the tokens' quality code follows; the range coder starts at the third byte
            code = payload[1]
            assert code <= 16 * (Q - 1)
        data = payload[2 if enhanced else 1:]
        # entropy model 6: byte-terminated, big-endian, zero bytes up to whole words (earlier: words, little-endian)
        words = np.frombuffer(data + bytes(-len(data) % 4), dtype=">u4") if self.model_id >= 6 else np.frombuffer(data, dtype="<u4")
        dec = constriction.stream.queue.RangeDecoder(words.astype(np.uint32))
        self.dec = dec
        if intra:
            self.prev = self.mem = self.pskip = self.pmv = None
            self.residual_tables = None  # the enhancement layer's tables restart at each intra frame
        self.update = None
        if intra and self.model_id in (7, 9, 11):  # entropy models 7, 9, 11: the spread k (uniform over 0..8), then the update
            k = int(dec.decode(self.model, np.ones((1, 9), np.float64))[0])
            if k:
                w = self.cfg.get("conv_width", 0)
                assert w > 0
                n = 2 * (4 * w + 4 * w + 3 * w + 3 * w // 2 + w + 3 * w + 3 * w // 2 + w + 4)
                half = [1 << 16]
                for _ in range(63):
                    half.append(max(1, half[-1] * ((1 << k) - 1) >> k))
                row = np.array(half[:0:-1] + half, np.float64)
                self.update = dec.decode(self.model, np.tile(row, (n, 1))).astype(np.int64) - 63
        s = np.zeros((N, L, C), np.int64)
        skip = np.zeros((rows, cols), np.int64)
        B = self.cfg.get("motion_block", 0)
        if not intra and B:  # step 0: window vectors, then block deltas (format 3), then the skip flags
            m = self.cfg["window"] // B
            bh, bw = rows * m, cols * m
            pmv = self.pmv if self.pmv is not None else np.zeros((bh, bw, 2), np.int64)
            P = np.zeros((rows, cols, 2), np.int64)  # lower median of the previous vectors of each window
            for i in range(rows):
                for j in range(cols):
                    for c in range(2):
                        P[i, j, c] = sorted(pmv[i * m:(i + 1) * m, j * m:(j + 1) * m, c].reshape(-1))[(m * m - 1) // 2]
            V = np.zeros((rows, cols, 2), np.int64)
            for i in range(rows):
                for j in range(cols):
                    for c in range(2):
                        k = int(P[i, j].any())
                        V[i, j, c] = dec.decode(self.model, self.mv_freq[k][None])[0] - 126 + P[i, j, c]
                        assert abs(V[i, j, c]) <= 63
            mv = np.zeros((bh, bw, 2), np.int64)
            if self.model_id >= 8:  # format 4: every block's merge mode, then the explicit blocks' deltas
                modes = np.zeros((bh, bw), np.int64)
                for i in range(bh):
                    for j in range(bw):
                        k = int((pmv[i, j] != P[i // m, j // m]).any())
                        modes[i, j] = dec.decode(self.model, self.merge_freq[k][None])[0]
                self.merge_modes.update(modes.ravel().tolist())
                explicit = {}
                for i in range(bh):
                    for j in range(bw):
                        if modes[i, j] == 3:
                            explicit[i, j] = [dec.decode(self.model, self.explicit_freq[None])[0] - 126 for _ in range(2)]
                for i in range(bh):
                    for j in range(bw):
                        own = V[i // m, j // m]
                        mode = modes[i, j]
                        if mode == 0:
                            mv[i, j] = own
                        elif mode == 1:
                            mv[i, j] = mv[i, j - 1] if j else own
                        elif mode == 2:
                            mv[i, j] = mv[i - 1, j] if i else own
                        else:
                            mv[i, j] = own + np.array(explicit[i, j])
                        assert np.abs(mv[i, j]).max() <= 63
            else:
                for i in range(bh):
                    for j in range(bw):
                        k = int((pmv[i, j] != P[i // m, j // m]).any())
                        for c in range(2):
                            mv[i, j, c] = dec.decode(self.model, self.mv_freq[k][None])[0] - 126 + V[i // m, j // m, c]
                            assert abs(mv[i, j, c]) <= 63
            self.pmv = mv
            self.motions.append(int(np.abs(mv).sum()))
        if not intra:  # skip flags, raster order
            pskip = self.pskip if self.pskip is not None else np.zeros((rows, cols), np.int64)
            for i in range(rows):
                for j in range(cols):
                    k = (skip[i, j - 1] if j else 0) + (skip[i - 1, j] if i else 0) + 3 * pskip[i, j]
                    skip[i, j] = dec.decode(self.model, np.array([self.SKIP_FREQ[k]], np.float64))[0]
        skip = skip.reshape(-1).astype(bool)
        if skip.any():
            assert self.prev is not None
            s[skip] = self.prev[skip]
        coded = ~skip
        n = int(coded.sum())
        prev = self.prev[coded] if self.prev is not None else np.zeros((n, L, C), np.int64)
        mem = self.mem[coded] if self.mem is not None else np.zeros((n, M, D), np.int64)
        read = self.layer("mem_read", mem, token_axis=True)
        pos = np.broadcast_to(np.eye(L, dtype=np.int64) * FRAC_ONE, (n, L, L))
        cond = np.zeros((n, L, 2 * Q), np.int64)
        lo, k = code // 16, code % 16
        cond[:, :, 2 * lo + int(intra)] += FRAC_ONE * (16 - k) // 16
        cond[:, :, 2 * min(lo + 1, Q - 1) + int(intra)] += FRAC_ONE * k // 16
        ctx = self.layer("ctx", np.concatenate([prev * FRAC_ONE, read, pos, cond], axis=-1))
        E = np.zeros((n, L, H), np.int64)
        sc = np.zeros((n, L, C), np.int64)
        for g in range(self.G if n else 0):
            K = slice(g * self.P, (g + 1) * self.P)
            mix = self.layer("ar_mix", E, token_axis=True, rows=K)
            o = self.layer("out", self.layer("hidden", np.concatenate([ctx[:, K], mix], axis=-1)))
            mu = np.clip(o[..., :C], -16 * self.SMAX, 16 * self.SMAX)
            t = np.clip(o[..., C:], 0, 16 * (self.S - 1))
            mu4 = (mu + 2) >> 2
            idx = (t + 8) >> 4
            base = mu4 >> 2
            quarter = mu4 - 4 * base
            freq_rows = self.freq[idx.reshape(-1), quarter.reshape(-1)].astype(np.float64)
            r = dec.decode(self.model, freq_rows).astype(np.int64).reshape(n, self.P, C)
            sc[:, K] = r - 64 + base
            assert np.abs(sc[:, K]).max() <= self.SMAX
            E[:, K] = self.layer("ar_embed", sc[:, K] * FRAC_ONE)
        s[coded] = sc
        # step 6: the update runs over every window, skipped ones included
        mem_all = self.mem if self.mem is not None else np.zeros((N, M, D), np.int64)
        u = self.layer("mem_embed", s * FRAC_ONE)
        pool = self.layer("mem_gather", u, token_axis=True)
        self.mem = self.layer("mem_update", np.concatenate([mem_all, pool], axis=-1))
        self.prev = s
        self.pskip = None if intra else skip.reshape(rows, cols).astype(np.int64)
        self.skipped.append(int(skip.sum()))
        self.coefficients = self.decode_enhancement(dec, rows, cols, not intra) if enhanced else None
        if intra:  # an intra frame's tables are not kept: the next P frame starts from the initial ones
            self.residual_tables = None
        return s

    # the enhancement layer's fixed initial tables, from the text
    @staticmethod
    def _scaled(g: list[int]) -> list[int]:
        return [max(1, f * 256 // sum(g)) for f in g]

    def _coef_init_row(self, c: int, b: int) -> list[int]:
        t = min(63, max(0, 4 * c - 26 + (12, 10, 8, 6, 4, 2, -2, -6)[b]))
        r = math.isqrt(math.isqrt(2 ** (64 - t)))  # the largest r with r^4 * 2^t <= 2^64
        a = 2**16 - r
        g = [2**15]
        for _ in range(16):
            g.append(max(1, g[-1] * a // 2**16))
        return self._scaled([g[abs(sym - 16)] for sym in range(33)])

    def decode_enhancement(self, dec, rows: int, cols: int, predicted: bool) -> list[np.ndarray]:
        window = self.cfg["window"]
        coef = [self._coef_init_row(c, b) for kind in range(2) for c in range(1, 12) for b in range(8)]
        neighbours = self.stream_id >= 10  # entropy model 10: a class's row from its neighbours' classes
        cls = [self._scaled([2 ** (12 - k) for k in range(12)])] * (7 + 49 if neighbours else 2)
        mode = [[w] * 25 + [t] for w, t in ((8, 64), (10, 32), (10, 16))]
        for row in mode:
            row[12] += 16
        tables = {"flag": [[192, 64], [128, 128], [64, 192]], "class": [list(r) for r in cls], "coef": coef, "mode": mode}
        if getattr(self, "residual_tables", None) is not None:  # carried over from the last enhanced frame
            tables = {k: [list(r) for r in v] for k, v in self.residual_tables.items()}
        band_start = (0, 1, 3, 6, 10, 15, 28, 43)
        band = [max(j for j, s in enumerate(band_start) if s <= i) for i in range(64)]
        pers = (window // 8, window // 16, window // 16)
        planes = [np.zeros((rows * p, cols * p, 64), np.int64) for p in pers]
        flags = np.zeros((rows, cols), np.int64)
        B = self.cfg.get("motion_block", 0)
        m = window // B if B and predicted and self.stream_id >= 5 else 0  # motion blocks per window side
        modes = np.full((rows * m, cols * m), -1, np.int64) if m else None

        def one(row):
            return int(dec.decode(self.model, np.array([row], np.float64))[0])

        def bucket(n):  # 0, 1-2, 3-4, 5-7, 8-11, 12-15, 16+
            return sum(n >= t for t in (1, 3, 5, 8, 12, 16))

        cmap = [np.zeros((rows * p, cols * p), np.int64) for p in pers]  # classes decoded so far

        for r in range(rows):
            for c in range(cols):
                used = []  # (table, row index, symbol) coded in this window
                for by in range(r * m, (r + 1) * m):  # step 0: the modes of the window's motion blocks
                    for bx in range(c * m, (c + 1) * m):
                        k = int(bx > 0 and modes[by, bx - 1] != 25) + int(by > 0 and modes[by - 1, bx] != 25)
                        modes[by, bx] = one(tables["mode"][k])
                        used.append(("mode", k, int(modes[by, bx])))
                k = (flags[r, c - 1] if c else 0) + (flags[r - 1, c] if r else 0)
                f = one(tables["flag"][k])
                used.append(("flag", k, f))
                flags[r, c] = f
                if f:
                    classes = []
                    for i, p in enumerate(pers):
                        kind = min(i, 1)
                        cl = []
                        for blk in range(p * p):
                            y, x = r * p + blk // p, c * p + blk % p
                            row = kind
                            if neighbours:
                                left = cmap[i][y, x - 1] if x > 0 else 0
                                top = cmap[i][y - 1, x] if y > 0 else 0
                                row = bucket(left + top)
                                if i > 0:
                                    luma = max(cmap[0][2 * y + a, 2 * x + b] for a in (0, 1) for b in (0, 1))
                                    row = 7 + 7 * row + bucket(2 * luma)
                            v = one(tables["class"][row])
                            cmap[i][y, x] = v
                            used.append(("class", row, v))
                            cl.append(v)
                        classes.append(cl)
                    syms = []  # (plane, block, zig-zag index, symbol)
                    for i, (p, cl) in enumerate(zip(pers, classes)):
                        kind = min(i, 1)
                        for blk, x in enumerate(cl):
                            if x == 0:
                                continue
                            for zi in range(64):
                                row = (kind * 11 + x - 1) * 8 + band[zi]
                                a = one(tables["coef"][row])
                                used.append(("coef", row, a))
                                syms.append((i, blk, zi, a))
                    escapes = [j for j, e in enumerate(syms) if e[3] in (0, 32)]
                    ks = [one([2 ** max(0, 16 - k) for k in range(24)]) for _ in escapes]
                    mags = {}
                    for j, k in zip(escapes, ks):
                        u = 1
                        for _ in range(k):
                            u = 2 * u + one([1, 1])
                        mags[j] = u - 1 + 16
                    for j, (i, blk, zi, a) in enumerate(syms):
                        v = a - 16 if j not in mags else (mags[j] if a == 32 else -mags[j])
                        p = pers[i]
                        planes[i][r * p + blk // p, c * p + blk % p, zi] = v
                for name, row, sym in used:  # after the window: + 16, then halve rows above 2**16
                    tables[name][row][sym] += 16
                for name in ("flag", "class", "coef", "mode"):
                    for row in tables[name]:
                        if sum(row) > 2**16:
                            row[:] = [(n + 1) // 2 for n in row]
        self.residual_tables = tables
        return planes if modes is None else planes + [modes]


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    value, k = 0, 0
    while True:
        value |= (data[pos + k] & 0x7F) << (7 * k)
        k += 1
        if not data[pos + k - 1] & 0x80:
            return value, pos + k


def _packets(data: bytes) -> tuple[int, int, int, list[tuple[bool, bytes]]]:
    """(width, height, entropy model id, [(intra, payload)]) of a stream, from the documented
    layouts of version 4 (fixed fields, 14-byte packets) and version 5 (varints, compact packets)."""
    if data[4] == 4:
        w, h = struct.unpack_from("<HH", data, 7)
        model, pos, out = struct.unpack_from("<H", data, 27)[0], 82, []
        while pos < len(data):
            ftype, _index, length = data[pos + 1], *struct.unpack_from("<II", data, pos + 2)
            out.append((ftype == 0x49, data[pos + 10 : pos + 10 + length]))
            pos += 14 + length
        return w, h, model, out
    assert data[4] == 5
    end = 7 + struct.unpack_from("<H", data, 5)[0]
    w, pos = _varint(data, 7)
    h, pos = _varint(data, pos)
    for _ in range(4):  # fps_num, fps_den, sar_num, sar_den
        _, pos = _varint(data, pos)
    _, pos = _varint(data, pos + 2)  # flags, quality; intra_period
    model, _ = _varint(data, pos)
    pos, out, quality = end, [], b""
    while pos < len(data):
        head = data[pos]
        pos += 1
        if head & 8:  # X: the frame index
            _, pos = _varint(data, pos)
        length = head >> 4
        if length == 15:
            length, pos = _varint(data, pos)
        q, body = head >> 1 & 3, data[pos : pos + length]
        if q:
            quality = body[:q]
        out.append((bool(head & 1), body if q else quality + body))
        pos += length + (4 if head & 8 or length >= 4096 else 2 if length >= 32 else 1)
    return w, h, model, out


def spec_decode_stream(data: bytes, weights: str | Path) -> list[np.ndarray]:
    """Header and packets parsed by hand from the documented layout."""
    w, h, model, packets = _packets(data)
    dec = SpecEntropyDecoder(weights, model)
    window = dec.cfg["window"]
    rows, cols = -(-h // window), -(-w // window)
    out, coefficients, updates = [], [], []
    for intra, payload in packets:
        out.append(dec.decode(payload, rows, cols, intra))
        coefficients.append(dec.coefficients)
        updates.append(dec.update)
    spec_decode_stream.updates = updates
    spec_decode_stream.coefficients = coefficients
    spec_decode_stream.skipped = dec.skipped
    spec_decode_stream.codes = dec.codes
    spec_decode_stream.motions = dec.motions
    spec_decode_stream.merge_modes = dec.merge_modes
    return out


def reference_decode(data: bytes, loaded) -> tuple:
    """The reference decoder on a whole stream: (header, then per frame its symbols, its enhancement
    layer and the decoder update it sent)."""
    src = io.BytesIO(data)
    hdr = read_header(src)
    ref = Decoder(hdr, weights=loaded)
    syms, coefs, updates = [], [], []
    for p in PacketReader(src, hdr):
        ref.decode(p)
        syms.append(ref.last_symbols)
        coefs.append(ref.last_coefficients)
        updates.append(ref.last_update)
    return hdr, syms, coefs, updates


def test_spec_decoder_matches_reference(real_frames, loaded, weights_path):
    frames = real_frames[:4]
    f0 = frames[0]
    skipped, codes = 0, set()
    # whole levels, a quality between levels (the two-hot condition), and rate control (a quality per frame)
    for rate, ip in (({"quality": 0}, -1), ({"quality": 3}, 2), ({"quality": 1.3}, 2), ({"target_bpp": 0.3}, 3)):
        enc = Encoder(f0.width, f0.height, Fraction(12), intra_period=ip, weights=loaded, **rate)
        data = enc.header_bytes() + b"".join(enc.encode(f) for f in frames)
        _, ref_syms, _, _ = reference_decode(data, loaded)
        spec = spec_decode_stream(data, weights_path)
        assert len(spec) == len(ref_syms) == len(frames)
        for a, b in zip(spec, ref_syms):
            assert np.array_equal(a, b.astype(np.int64))
        skipped += sum(spec_decode_stream.skipped)
        codes.update(spec_decode_stream.codes)
    assert skipped > 0, "the streams exercised no skipped window"
    assert {0, 48, 21} <= codes, codes


def test_spec_decoder_matches_reference_with_block_motion(real_frames, motion_weights_path):
    """The same, for a model with block motion: motion vectors, then skip flags, then tokens."""
    from gvc1d_codec.weights import load_weights

    loaded = load_weights(motion_weights_path)
    # the clip moved by a few pixels per frame, so the encoder finds non-zero vectors
    f0 = real_frames[0]
    frames = []
    for t in range(4):
        planes = tuple(np.roll(p, shift=(t * 2 // (1 if i == 0 else 2), t * 3 // (1 if i == 0 else 2)), axis=(0, 1))
                       for i, p in enumerate(f0.planes))
        frames.append(type(f0)(f0.pix_fmt, planes))
    # quality 5: the enhancement layer keeps the untrained test model's pictures close to the clip,
    # so the motion search finds the pan (and the layer's modes are decoded from the text too)
    enc = Encoder(f0.width, f0.height, Fraction(12), quality=5, intra_period=-1, weights=loaded)
    data = enc.header_bytes() + b"".join(enc.encode(f) for f in frames)
    _, ref_syms, _, _ = reference_decode(data, loaded)
    spec = spec_decode_stream(data, motion_weights_path)
    assert len(spec) == len(ref_syms) == 4
    for a, b in zip(spec, ref_syms):
        assert np.array_equal(a, b.astype(np.int64))
    assert len(spec_decode_stream.motions) == 3 and sum(spec_decode_stream.motions) > 0
    print("merge modes decoded:", spec_decode_stream.merge_modes)


def test_spec_decoder_matches_reference_with_the_enhancement_layer(real_frames, motion_weights_path):
    """Entropy model 4: qualities above the highest level carry the tokens' quality code and the
    enhancement layer's coefficients; both decoders get the same tokens and coefficients."""
    from gvc1d_codec.weights import load_weights

    loaded = load_weights(motion_weights_path)
    frames = real_frames[:3]
    f0 = frames[0]
    for quality in (3.5, 6.0):
        # coding points of the payloads' scale (the layer with e = 0.5 and 3), whatever quality.coding_point maps
        enc = Encoder(f0.width, f0.height, Fraction(12), point=quality, intra_period=-1, weights=loaded)
        data = enc.header_bytes() + b"".join(enc.encode(f) for f in frames)
        hdr, ref_syms, ref_coefs, _ = reference_decode(data, loaded)
        spec = spec_decode_stream(data, motion_weights_path)
        assert hdr.entropy_model_id == 10 and data[4] == 5  # entropy model 10 in a version-5 stream
        assert all(len(c) == 4 for c in spec_decode_stream.coefficients[1:]), "P frames have prediction modes"
        modes = np.concatenate([c[3].ravel() for c in spec_decode_stream.coefficients[1:]])
        assert len(set(modes.tolist())) > 1, "the streams exercised one mode only"
        # the intra frame higher (codec.intra_boost: wide layer steps, and intra period -1: its only intra frame)
        assert hdr.wide_steps
        assert spec_decode_stream.codes == [int(16 * intra_boost(quality, 4, True, single=True))] + [int(16 * quality)] * 2
        for a, b in zip(spec, ref_syms):
            assert np.array_equal(a, b.astype(np.int64))
        for a, b in zip(spec_decode_stream.coefficients, ref_coefs):
            assert a is not None and b is not None
            for pa, pb in zip(a, b):
                assert np.array_equal(pa, pb)
        assert any(np.abs(p).max() > 15 for c in ref_coefs for p in c), "no escape was exercised"


def test_spec_decoder_matches_reference_with_decoder_updates(real_frames, motion_weights_path, monkeypatch):
    """Entropy model 7 (preset slow): each intra frame starts with a decoder update or its absence;
    the text's decoder gets the reference decoder's tokens and the update it applies."""
    from gvc1d_codec import adaptation
    from gvc1d_codec.weights import load_weights

    loaded = load_weights(motion_weights_path)
    sent = iter([True, False])  # an update in the first intra frame, none in the second
    monkeypatch.setattr(adaptation, "worth_sending", lambda *a: next(sent))
    frames = real_frames[:4]
    f0 = frames[0]
    enc = Encoder(f0.width, f0.height, Fraction(12), quality=1, intra_period=2, weights=loaded, preset="slow")
    data = enc.header_bytes() + b"".join(enc.encode(f) for f in frames)
    hdr, ref_syms, _, ref_updates = reference_decode(data, loaded)
    assert hdr.entropy_model_id == 11
    spec = spec_decode_stream(data, motion_weights_path)
    for a, b in zip(spec, ref_syms):
        assert np.array_equal(a, b.astype(np.int64))
    got = spec_decode_stream.updates
    assert got[0] is not None and got[0].any() and np.array_equal(got[0], ref_updates[0])
    assert got[1] is None and got[2] is None and ref_updates[1] is None and ref_updates[2] is None  # P frames send none; the second intra none
