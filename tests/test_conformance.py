"""Conformance: the reference streams, the checker, and decoding identically under every CPU configuration.

Most tests use a small conformance set generated here from the (random) test model and the real
clip ``cisco_2people``; two run on the shipped set in ``conformance/`` and skip while it does not
exist (it is generated once from the final weights: ``conformance/generate.py``).
"""
from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from conftest import REPO, assert_cli_error, cli_env, moving_gradient, run_cli, y4m_bytes
from gvc1d_codec.bitstream import PacketReader, read_header
from gvc1d_codec.codec import Decoder, Encoder
from gvc1d_codec.conformance import (
    MANIFEST_NAME,
    QUICK_SUBSET,
    ConformanceError,
    check,
    decode_stream,
    load_manifest,
    picture_md5,
    symbols_bytes,
    symbols_sha256,
)
from gvc1d_codec.errors import UnsupportedStreamError
from gvc1d_codec.frame import ColorInfo

# the shipped set and its weights; CI may point these elsewhere
SHIPPED = Path(os.environ.get("GVC1D_CONFORMANCE_DIR", REPO / "conformance"))
SHIPPED_WEIGHTS = os.environ.get("GVC1D_CONFORMANCE_WEIGHTS", "gvc1d-tiny")
SHIPPED_MANIFEST = SHIPPED / MANIFEST_NAME
MATRIX = REPO / "conformance" / "matrix.py"
GENERATE = REPO / "conformance" / "generate.py"
# generating a set is tooling, outside the package: the script's module
_spec = importlib.util.spec_from_file_location("conformance_generate", GENERATE)
_generate_module = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = _generate_module
_spec.loader.exec_module(_generate_module)
STREAM_SPECS, StreamSpec, generate = _generate_module.STREAM_SPECS, _generate_module.StreamSpec, _generate_module.generate
# the small set made from the test model: an intra refresh inside a P chain, and a one-frame stream
SMALL_SPECS = (StreamSpec("cisco_2people", 1, 2, 3), StreamSpec("cisco_2people", 3, -1, 1))
needs_shipped = pytest.mark.skipif(not SHIPPED_MANIFEST.is_file(),
                                   reason="conformance/manifest.json is missing: the shipped conformance set is "
                                          "generated from the final weights (python conformance/generate.py --weights ...)")


@pytest.fixture(scope="module")
def conf_set(tmp_path_factory, real_frames, loaded) -> Path:
    """A conformance set of SMALL_SPECS, generated from the test model."""
    out = tmp_path_factory.mktemp("conf")
    generate(out, loaded, SMALL_SPECS, clip_reader=lambda name, n: (real_frames[:n], Fraction(12), ColorInfo()))
    return out


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


# ---- definitions ------------------------------------------------------------------------------------

def test_hash_serialisations_are_the_documented_ones():
    s = (np.arange(60) % 63 - 31).reshape(1, 4, 15)
    b = symbols_bytes(s)
    assert b == s.astype(np.int8).tobytes(order="C") and len(b) == 60
    assert symbols_sha256(s.astype(np.float64)) == hashlib.sha256(b).hexdigest()
    with pytest.raises(ValueError):
        symbols_bytes(np.zeros((2, 3)))
    f = moving_gradient(33, 17, 1)[0]
    assert picture_md5(f) == hashlib.md5(f.planes[0].tobytes() + f.planes[1].tobytes() + f.planes[2].tobytes()).hexdigest()


def test_stream_matrix_covers_the_issue():
    specs = STREAM_SPECS
    assert len({s.clip for s in specs}) >= 4
    assert {0, 1, 2, 3} <= {s.quality for s in specs}
    assert any(s.quality % 1 for s in specs if s.quality is not None) and any(s.bitrate for s in specs)
    assert any(s.intra_period == -1 for s in specs) and any(s.intra_period > 0 for s in specs)
    assert any(s.frames == 1 for s in specs)
    assert any(s.clip == "carphone" for s in specs)  # 176x144: not a multiple of the 128 px window
    for clip in ("carphone", "foreman"):
        assert max(s.frames for s in specs if s.clip == clip) >= 16
    assert set(QUICK_SUBSET) <= {s.name for s in specs}
    assert len({s.name for s in specs}) == len(specs)
    assert any(s.preset == "slow" for s in specs)  # decoder updates (entropy model 9)


def test_encoder_and_decoder_expose_int8_symbols(loaded):
    frames = moving_gradient(200, 130, 3)  # 2x2 windows, padded
    enc = Encoder(200, 130, weights=loaded, intra_period=2)
    assert enc.last_symbols is None
    stream = [enc.header_bytes()]
    enc_syms = []
    for f in frames:
        stream.append(enc.encode(f))
        s = enc.last_symbols
        assert s.dtype == np.int8 and s.shape == (4, loaded.config.latent_tokens, loaded.config.token_dim)
        assert np.array_equal(s, enc._s.state.prev_symbols.numpy())
        enc_syms.append(s)
    import io

    src = io.BytesIO(b"".join(stream))
    h = read_header(src)
    dec = Decoder(h, weights=loaded)
    for i, p in enumerate(PacketReader(src, h)):
        dec.decode(p)
        assert np.array_equal(dec.last_symbols, enc_syms[i])
        dec.last_symbols[0, 0, 0] = 99  # a copy: the decoder's state is not touched
        assert np.array_equal(dec.last_symbols, enc_syms[i])


# ---- generating and checking --------------------------------------------------------------------------

def test_generated_manifest(conf_set, loaded):
    m = load_manifest(conf_set)
    assert m["weights"]["sha256"] == loaded.sha256
    assert [s["file"] for s in m["streams"]] == [s.file for s in SMALL_SPECS]
    for e, spec in zip(m["streams"], SMALL_SPECS):
        data = (conf_set / e["file"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == e["sha256"] and len(data) == e["bytes"]
        assert e["frames"] == spec.frames == len(e["symbols_sha256"]) == len(e["picture_md5"])
        assert e["settings"] == spec.settings
    assert m["streams"][0]["frame_types"] == "IPI"


def test_generate_refuses_to_overwrite_without_force(conf_set, weights_path, tmp_path):
    target = _copy(conf_set, tmp_path / "set")
    before = (target / MANIFEST_NAME).read_bytes()
    p = subprocess.run([sys.executable, str(GENERATE), "--weights", str(weights_path), "--out", str(target),
                        "--streams", QUICK_SUBSET[0]], capture_output=True, text=True, env=cli_env(), timeout=120)
    assert p.returncode == 1 and "--force" in p.stderr, p.stderr
    assert (target / MANIFEST_NAME).read_bytes() == before
    with pytest.raises(ConformanceError, match="--force"):
        generate(target, weights_path, SMALL_SPECS)


def test_cli_conformance_passes(conf_set, weights_path):
    p = run_cli("conformance", conf_set, "--weights", weights_path, "--threads", "1")
    assert p.returncode == 0, p.stderr
    out = p.stdout.decode()
    assert "stream" in out and "symbols ok" in out and "pixels ok" in out
    for spec in SMALL_SPECS:
        line = next(ln for ln in out.splitlines() if ln.startswith(spec.name))
        assert f"{spec.frames}/{spec.frames}" in line and " ok" in line
    assert "PASS" in out
    p = run_cli("conformance", conf_set, "--weights", weights_path, "--json", "--streams", SMALL_SPECS[1].name)
    r = json.loads(p.stdout)
    assert p.returncode == 0 and r["ok"] and [s["name"] for s in r["streams"]] == [SMALL_SPECS[1].name]


def test_cli_conformance_without_manifest(tmp_path, weights_path):
    assert_cli_error(run_cli("conformance", tmp_path, "--weights", weights_path), "manifest")


def test_symbol_mismatch_fails(conf_set, weights_path, tmp_path):
    """A manifest that disagrees on one frame's symbols: reported with the frame, exit non-zero."""
    target = _copy(conf_set, tmp_path / "set")
    m = json.loads((target / MANIFEST_NAME).read_text())
    m["streams"][0]["symbols_sha256"][2] = "0" * 64
    m["streams"][1]["picture_md5"][0] = "0" * 32  # pixels: reported, not fatal by default
    (target / MANIFEST_NAME).write_text(json.dumps(m))
    r = check(target, weights=weights_path)
    assert not r.ok and r.streams[0].symbol_mismatches == [2] and r.streams[1].symbols_ok and not r.streams[1].pixels_ok
    p = run_cli("conformance", target, "--weights", weights_path)
    assert p.returncode == 1 and "MISMATCH" in p.stdout.decode() and "differ" in p.stdout.decode()
    assert_cli_error(p, "conformance failed", SMALL_SPECS[0].name)
    # only the pixel difference: passes, unless pixels are strict
    m["streams"][0]["symbols_sha256"][2] = load_manifest(conf_set)["streams"][0]["symbols_sha256"][2]
    (target / MANIFEST_NAME).write_text(json.dumps(m))
    assert run_cli("conformance", target, "--weights", weights_path).returncode == 0
    assert_cli_error(run_cli("conformance", target, "--weights", weights_path, "--strict-pixels"), SMALL_SPECS[1].name)


def test_flipped_payload_bit_is_caught_by_crc_with_frame_index(conf_set, weights_path, tmp_path):
    target = _copy(conf_set, tmp_path / "set")
    path = target / SMALL_SPECS[0].file
    data = bytearray(path.read_bytes())
    import io

    src = io.BytesIO(bytes(data))
    h = read_header(src)
    reader = PacketReader(src, h)
    next(reader)
    start = src.tell()
    next(reader)
    offset = start + reader.last_size // 2  # a byte inside frame 1's packet
    data[offset] ^= 0x10
    path.write_bytes(bytes(data))
    r = check(target, weights=weights_path, streams=[SMALL_SPECS[0].name]).streams[0]
    assert r.error_class == "CorruptPacketError" and r.error_frame == 1 and "CRC" in r.error
    assert r.frames_decoded == 1 and not r.file_ok and not r.symbols_ok
    p = run_cli("conformance", target, "--weights", weights_path)
    out = p.stdout.decode()
    assert "ERROR in frame 1" in out and "CRC mismatch in frame 1" in out
    assert_cli_error(p, "conformance failed")


def test_stream_from_other_weights_is_refused_before_decoding(conf_set, loaded, other_weights_path, weights_path,
                                                              real_frames, monkeypatch):
    from gvc1d_codec.entropy.model import EntropyCoder

    def no_decoding(*a, **k):
        raise AssertionError("decoded a payload with the wrong weights")

    monkeypatch.setattr(EntropyCoder, "decode", no_decoding)
    # a whole set for other weights
    with pytest.raises(UnsupportedStreamError, match="weights"):
        check(conf_set, weights=other_weights_path)
    assert_cli_error(run_cli("conformance", conf_set, "--weights", other_weights_path), "weights")
    # one stream made with other weights
    f0 = real_frames[0]
    enc = Encoder(f0.width, f0.height, 12, weights=other_weights_path)
    data = enc.header_bytes() + enc.encode(f0)
    t = decode_stream(data, loaded)
    assert t.error_class == "UnsupportedStreamError" and t.symbols_sha256 == [] and "weights" in t.error
    with pytest.raises(UnsupportedStreamError):
        Decoder(data, weights=weights_path)


def test_encoder_is_deterministic(real_frames, loaded, weights_path, tmp_path):
    """Same input and settings -> byte-identical streams: twice in this process, once in a fresh one."""
    frames = real_frames[:3]

    def encode() -> bytes:  # the Y4M below says C420jpeg: chroma sited at the center, as the CLI then records
        enc = Encoder(frames[0].width, frames[0].height, 12, quality=2, intra_period=2, weights=loaded,
                      color=ColorInfo(chroma_location="center"))
        return enc.header_bytes() + b"".join(enc.encode(f) for f in frames)

    a, b = encode(), encode()
    assert a == b
    p = run_cli("encode", "-q", "2", "--intra-period", "2", "--weights", weights_path, input=y4m_bytes(frames, fps=12))
    assert p.returncode == 0, p.stderr
    assert p.stdout == a


# ---- the determinism matrix ---------------------------------------------------------------------------

def _run_matrix(directory: Path, weights: Path | str, *extra: str, timeout: float = 240) -> dict:
    p = subprocess.run([sys.executable, str(MATRIX), str(directory), "--weights", str(weights), "--json", "-", *extra],
                       capture_output=True, text=True, env=cli_env(), timeout=timeout)
    assert p.stdout.strip(), p.stderr
    doc = json.loads(p.stdout)
    doc["returncode"] = p.returncode
    doc["stderr"] = p.stderr
    return doc


def _assert_matrix(doc: dict, n_streams: int) -> None:
    flags = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    names = [c["config"]["name"] for c in doc["configurations"]]
    assert {"native", "default-t1", "default-t2", "minimal-isa"} <= set(names)
    assert ("avx512-t1" in names) == (" avx512f" in flags)
    assert ("avx2-t1" in names) == (" avx2" in flags)
    for c in doc["configurations"]:
        assert "error" not in c, (c["config"]["name"], c.get("error"))
        s = c["summary"]
        assert s["streams"] == n_streams
        assert s["symbols_agree"] == n_streams, f"{c['config']['name']}: symbols differ from the manifest"
        env = c["report"]["environment"]
        if c["config"]["threads"]:
            assert env["torch_threads"] == c["config"]["threads"]
        want = c["config"]["env"].get("ATEN_CPU_CAPABILITY")
        if want:
            assert env["cpu_capability"].lower() == want.lower()
    assert doc["returncode"] == (0 if doc["ok"] else 1)
    assert doc["ok"], doc["stderr"]


def test_matrix_on_generated_set(conf_set, weights_path):
    """Every configuration, fresh processes, both streams of the small set (test model)."""
    _assert_matrix(_run_matrix(conf_set, weights_path), len(SMALL_SPECS))


@needs_shipped
def test_matrix_on_shipped_set():
    """Every stream of the shipped set under every configuration, fresh processes, shipped weights."""
    n = len(json.loads((SHIPPED / "manifest.json").read_text())["streams"])
    _assert_matrix(_run_matrix(SHIPPED, SHIPPED_WEIGHTS, timeout=600), n)


@needs_shipped
def test_cli_conformance_on_shipped_set():
    p = run_cli("conformance", SHIPPED, "--weights", SHIPPED_WEIGHTS, timeout=900)
    assert p.returncode == 0, p.stdout.decode() + p.stderr
    assert "PASS" in p.stdout.decode()


LEGACY = REPO / "conformance" / "legacy-entropy4"


LEGACY_WEIGHTS = "gvc1d-tiny-v2"  # the default the legacy sets were made with (kept by name when it was replaced)
LEGACY_WEIGHTS_V3 = "gvc1d-tiny-v3"  # the default the later legacy sets (entropy7, clamped, narrow, entropy9) were made with


@pytest.mark.skipif(not (LEGACY / MANIFEST_NAME).is_file(), reason="no legacy conformance streams in this checkout")
def test_streams_of_entropy_model_4_still_decode_exactly():
    """Entropy model 5 added the layer's prediction modes; a stream whose header says 4 (P frames
    with an enhancement layer and no modes) still decodes to its reference symbols and coefficients."""
    assert json.loads((LEGACY / MANIFEST_NAME).read_text())["weights"]["entropy_model_id"] == 4
    p = run_cli("conformance", LEGACY, "--weights", LEGACY_WEIGHTS, timeout=600)
    assert p.returncode == 0, p.stdout.decode() + p.stderr
    assert "PASS: symbols exact in 1/1 streams" in p.stdout.decode()


LEGACY_FORMAT4 = REPO / "conformance" / "legacy-format4"


@pytest.mark.skipif(not (LEGACY_FORMAT4 / MANIFEST_NAME).is_file(), reason="no legacy conformance streams in this checkout")
def test_streams_of_format_version_4_still_decode_exactly():
    """Format version 5 (compact header and packets) and entropy model 6 (byte-terminated payloads)
    replaced the 82-byte header, the 14-byte packets and the 32-bit payload words: streams of
    version 4 with entropy model 5 (the previous conformance set) still decode to their symbols."""
    manifest = json.loads((LEGACY_FORMAT4 / MANIFEST_NAME).read_text())
    assert manifest["weights"]["entropy_model_id"] == 5
    assert all((LEGACY_FORMAT4 / s["file"]).read_bytes()[4] == 4 for s in manifest["streams"])
    p = run_cli("conformance", LEGACY_FORMAT4, "--weights", LEGACY_WEIGHTS, timeout=600)
    assert p.returncode == 0, p.stdout.decode() + p.stderr
    assert "PASS: symbols exact in 2/2 streams" in p.stdout.decode()


LEGACY_ENTROPY7 = REPO / "conformance" / "legacy-entropy7"


@pytest.mark.skipif(not (LEGACY_ENTROPY7 / MANIFEST_NAME).is_file(), reason="no legacy conformance streams in this checkout")
def test_streams_of_entropy_models_6_and_7_still_decode_exactly():
    """Entropy models 8 and 9 code the motion field with merge modes (format 4); streams of 6 and 7
    (format 3's block deltas; the previous conformance set, the current default weights) still
    decode to their symbols and pictures."""
    manifest = json.loads((LEGACY_ENTROPY7 / MANIFEST_NAME).read_text())
    assert manifest["weights"]["entropy_model_id"] == 7
    p = run_cli("conformance", LEGACY_ENTROPY7, "--weights", LEGACY_WEIGHTS_V3, timeout=600)
    assert p.returncode == 0, p.stdout.decode() + p.stderr
    assert "PASS: symbols exact in 2/2 streams" in p.stdout.decode()


LEGACY_CLAMPED = REPO / "conformance" / "legacy-clamped"


@pytest.mark.skipif(not (LEGACY_CLAMPED / MANIFEST_NAME).is_file(), reason="no legacy conformance streams in this checkout")
def test_streams_without_extended_range_still_decode_exactly():
    """Streams whose header sets extended_range keep samples outside the RGB cube; streams without
    the flag (two of the previous conformance set, one with the enhancement layer, whose pictures
    were clamped to [0, 1] RGB) still decode to their symbols and pictures."""
    manifest = json.loads((LEGACY_CLAMPED / MANIFEST_NAME).read_text())
    for s in manifest["streams"]:
        with open(LEGACY_CLAMPED / s["file"], "rb") as f:
            assert read_header(f).extended_range is False
    p = run_cli("conformance", LEGACY_CLAMPED, "--weights", LEGACY_WEIGHTS_V3, timeout=600)
    assert p.returncode == 0, p.stdout.decode() + p.stderr
    assert "PASS: symbols exact in 2/2 streams" in p.stdout.decode()


LEGACY_NARROW = REPO / "conformance" / "legacy-narrow"


@pytest.mark.skipif(not (LEGACY_NARROW / MANIFEST_NAME).is_file(), reason="no legacy conformance streams in this checkout")
def test_streams_without_wide_steps_still_decode_exactly():
    """Streams whose header sets wide_steps quantise the enhancement layer with 2^(8 - 1.5 e);
    streams without the flag (two streams of the previous conformance set with extended range, one
    with the layer) still decode to their symbols and pictures with 2^(6 - e)."""
    manifest = json.loads((LEGACY_NARROW / MANIFEST_NAME).read_text())
    for s in manifest["streams"]:
        with open(LEGACY_NARROW / s["file"], "rb") as f:
            h = read_header(f)
            assert h.wide_steps is False and h.extended_range is True
    p = run_cli("conformance", LEGACY_NARROW, "--weights", LEGACY_WEIGHTS_V3, timeout=600)
    assert p.returncode == 0, p.stdout.decode() + p.stderr
    assert "PASS: symbols exact in 2/2 streams" in p.stdout.decode()


LEGACY_ENTROPY9 = REPO / "conformance" / "legacy-entropy9"


@pytest.mark.skipif(not (LEGACY_ENTROPY9 / MANIFEST_NAME).is_file(), reason="no legacy conformance streams in this checkout")
def test_streams_of_entropy_models_8_and_9_still_decode_exactly():
    """Entropy models 10 and 11 code the enhancement layer's block classes by their neighbours;
    streams of models 8 and 9 (two of the previous conformance set: the layer in I and P frames, and
    a decoder update in each intra frame) still decode to their symbols and pictures with one class
    row per plane kind."""
    manifest = json.loads((LEGACY_ENTROPY9 / MANIFEST_NAME).read_text())
    ids = set()
    for s in manifest["streams"]:
        with open(LEGACY_ENTROPY9 / s["file"], "rb") as f:
            ids.add(read_header(f).entropy_model_id)
    assert ids == {8, 9}
    p = run_cli("conformance", LEGACY_ENTROPY9, "--weights", LEGACY_WEIGHTS_V3, timeout=600)
    assert p.returncode == 0, p.stdout.decode() + p.stderr
    assert "PASS: symbols exact in 2/2 streams" in p.stdout.decode()
