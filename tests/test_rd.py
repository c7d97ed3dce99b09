"""benchmarks/rd.py: the rate-distortion benchmark runs end to end (``--quick``), reports a BD-rate
or a reason for every anchor and metric, re-renders from its JSON, and drives the anchors in low
delay. Anchors whose encoder is missing here are skipped by the script, with the reason."""
from __future__ import annotations

import importlib.util
import json
import math
import shutil
import subprocess
import sys
from fractions import Fraction

import numpy as np
import pytest

from gvc1d_codec.frame import VideoFrame
from gvc1d_codec.io import Y4MWriter
from gvc1d_codec.metrics import metrics_cache_dir

from conftest import REPO, cli_env

RD = REPO / "benchmarks" / "rd.py"
needs_ffmpeg = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg not on PATH")
pytestmark = [needs_ffmpeg]


def _rd_module():
    if "gvc1d_bench_rd" not in sys.modules:
        spec = importlib.util.spec_from_file_location("gvc1d_bench_rd", RD)
        mod = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = mod  # dataclasses look their module up there
        spec.loader.exec_module(mod)
    return sys.modules["gvc1d_bench_rd"]


def _metrics_arg() -> str:
    """The cheap metrics always; LPIPS and DISTS only when their weights are already cached (the
    test must not download 64 MB)."""
    cache = metrics_cache_dir()
    perceptual = all((cache / f).is_file() for f in ("lpips_alex.safetensors", "lpips_vgg.safetensors", "dists.safetensors"))
    return "psnr_yuv,psnr_rgb,ms_ssim" + (",lpips_alex,dists" if perceptual else "")


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    out = tmp_path_factory.mktemp("rd")
    cmd = [sys.executable, str(RD), "--quick", "--weights", "gvc1d-tiny", "--clips", "carphone", "--metrics", _metrics_arg(),
           "--json", str(out / "rd.json"), "--markdown", str(out / "rd.md"), "--plot-dir", str(out / "plots")]
    env = dict(cli_env(), OMP_NUM_THREADS="1")
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=REPO, env=env)
    assert p.returncode == 0, p.stderr[-3000:]
    return out, p, json.loads((out / "rd.json").read_text())


@pytest.mark.slow
def test_quick_run_codes_gvc1d_and_every_available_anchor_at_two_points(quick):
    _, _, res = quick
    assert [c["clip"] for c in res["clips"]] == ["carphone"] and res["clips"][0]["frames"] == 4
    assert res["conditions"]["quick"] is True
    names = set(res["codecs"])
    assert "gvc1d" in names
    assert names - {"gvc1d"} | {s["codec"] for s in res["skipped"]} == {"x264", "x265", "svtav1", "vvc"}
    assert all(s["reason"] for s in res["skipped"])
    for codec in names:
        pts = [p for p in res["points"] if p["codec"] == codec]
        assert len(pts) == 2, codec
        for p in pts:
            assert p["bpp"] == pytest.approx(8 * p["bytes"] / (176 * 144 * 4))
            for m in res["conditions"]["metrics"]:
                assert math.isfinite(p[m]), (codec, m)
            assert 10 < p["psnr_yuv"] < 60 and 0 < p["ms_ssim"] <= 1
    gvc = sorted((p for p in res["points"] if p["codec"] == "gvc1d"), key=lambda p: p["value"])
    assert gvc[0]["value"] == 0 and gvc[1]["bpp"] > gvc[0]["bpp"]  # lowest and highest quality
    for codec in names - {"gvc1d"}:  # a larger CRF/QP costs fewer bits
        lo, hi = sorted((p for p in res["points"] if p["codec"] == codec), key=lambda p: p["value"])
        assert lo["bpp"] > hi["bpp"], codec


@pytest.mark.slow
def test_quick_run_reports_a_bd_rate_or_a_reason_for_every_anchor_and_metric(quick):
    out, p, res = quick
    anchors = set(res["codecs"]) - {"gvc1d"}
    got = {(e["anchor"], e["metric"]) for e in res["bd_rate"]}
    assert got == {(a, m) for a in anchors for m in res["conditions"]["metrics"]}
    for e in res["bd_rate"]:
        assert (e["percent"] is not None and math.isfinite(e["percent"])) or e["reason"]
    assert (out / "rd.md").read_text() == p.stdout
    assert "| clip | codec | setting | bpp |" in p.stdout and "BD-rate of gvc1d" in p.stdout
    assert "Quick mode" in p.stdout


@pytest.mark.slow
def test_report_regenerates_from_the_json_into_a_marked_doc_section(quick, tmp_path):
    out, p, _ = quick
    doc = tmp_path / "results.md"
    doc.write_text("# Results\n\nbefore\n<!-- rd-table -->\nold table\n<!-- /rd-table -->\nafter\n")
    r = subprocess.run([sys.executable, str(RD), "--from-json", str(out / "rd.json"), "--doc", str(doc)],
                       capture_output=True, text=True, cwd=REPO)
    assert r.returncode == 0, r.stderr
    assert r.stdout == p.stdout
    text = doc.read_text()
    assert "old table" not in text and text.startswith("# Results\n\nbefore\n<!-- rd-table -->\n")
    assert text.endswith("\n<!-- /rd-table -->\nafter\n") and p.stdout.strip() in text


def test_readme_summary_comes_from_the_results(quick, tmp_path):
    """--readme writes the short table: gvc1d's extreme levels and x265's two lowest rates, from the JSON."""
    out, _, _ = quick
    result = json.loads((out / "rd.json").read_text())
    readme = tmp_path / "README.md"
    readme.write_text("top\n<!-- rd-summary -->\nold\n<!-- /rd-summary -->\nend\n")
    r = subprocess.run([sys.executable, str(RD), "--from-json", str(out / "rd.json"), "--readme", str(readme)],
                       capture_output=True, text=True, cwd=REPO)
    assert r.returncode == 0, r.stderr
    text = readme.read_text()
    assert "old" not in text and text.startswith("top\n<!-- rd-summary -->\n| clip |") and text.endswith("<!-- /rd-summary -->\nend\n")
    for clip in result["clips"]:
        g = sorted((q for q in result["points"] if q["clip"] == clip["clip"] and q["codec"] == "gvc1d"), key=lambda q: q["bpp"])
        row = next(line for line in text.splitlines() if line.startswith(f"| {clip['clip']} "))
        assert f"| {g[0]['bpp']:.3f} / " in row and f"| {g[-1]['bpp']:.3f} / " in row
    assert "| BD-rate of gvc1d against |" in text


@pytest.mark.slow
def test_plots_are_one_small_png_per_clip(quick):
    pytest.importorskip("matplotlib")
    out, _, _ = quick
    pngs = sorted((out / "plots").glob("*.png"))
    assert [f.name for f in pngs] == ["rd-carphone.png"]
    assert pngs[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and pngs[0].stat().st_size < 300_000


def test_bd_rate_cells_say_why_they_are_missing():
    rd = _rd_module()
    codecs = {"x264": {"param": "crf"}, "gvc1d": {"param": "quality"}}
    e = {"anchor": "x264", "test": "gvc1d", "metric": "psnr_yuv", "percent": None, "reason": "x",
         "anchor_range": [27.7, 39.8], "test_range": [23.7, 24.6]}
    assert rd._fmt_bd(e, codecs) == "n/a: no overlap (x264 27.70-39.80, gvc1d 23.70-24.60)"
    e = {"anchor": "x264", "test": "gvc1d", "metric": "lpips_alex", "percent": -12.345, "overlap": [0.2, 0.3],
         "dropped_test": [3], "dropped_anchor": []}
    assert rd._fmt_bd(e, codecs) == "-12.3% (over 0.200-0.300; gvc1d quality 3 dominated, dropped)"


@pytest.mark.skipif(shutil.which("ffprobe") is None, reason="ffprobe not on PATH")
@pytest.mark.parametrize("name", ["x264", "x265", "svtav1"])
def test_anchor_settings_are_low_delay_one_intra_frame_then_p_frames(name, tmp_path):
    rd = _rd_module()
    anchor = rd.ANCHOR_BY_NAME[name]
    exe, why = rd.resolve_anchor(anchor, {"system": shutil.which("ffmpeg")})
    if exe is None:
        pytest.skip(why)
    rng = np.random.default_rng(0)
    src = tmp_path / "src.y4m"
    base = rng.integers(0, 256, (72, 96), dtype=np.uint8)
    with open(src, "wb") as f:
        w = Y4MWriter(f, 96, 72, Fraction(25))
        for i in range(6):  # a moving texture
            y = np.roll(base, 2 * i, axis=1)
            w.write_frame(VideoFrame("yuv420p", (y, y[::2, ::2].copy(), y[1::2, 1::2].copy())))
    r = rd.code_anchor(anchor, exe, anchor.quick_ladder[0], src, 96, 72, 6, tmp_path, "t", threads=1,
                       preset=anchor.preset, keep=True)
    types = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "frame=pict_type", "-of", "csv=p=0",
                            str(r["path"])], capture_output=True, text=True, check=True).stdout.split()
    assert types == ["I"] + ["P"] * 5


@pytest.fixture(scope="module")
def reused(tmp_path_factory):
    """A small --quick run (x264 only), then a --reuse-anchors run that reads and rewrites the same
    JSON, with an extra gvc1d curve."""
    out = tmp_path_factory.mktemp("rd-reuse")
    js = out / "rd.json"
    common = [sys.executable, str(RD), "--quick", "--weights", "gvc1d-tiny", "--clips", "carphone", "--anchors", "x264",
              "--metrics", "psnr_yuv,ms_ssim"]
    env = dict(cli_env(), OMP_NUM_THREADS="1")
    p = subprocess.run(common + ["--json", str(js)], capture_output=True, text=True, timeout=120, cwd=REPO, env=env)
    assert p.returncode == 0, p.stderr[-3000:]
    first = json.loads(js.read_text())
    r = subprocess.run(common + ["--reuse-anchors", str(js), "--extra-weights", "mse=gvc1d-tiny-mse", "--json", str(js),
                                 "--markdown", str(out / "rd.md")],
                       capture_output=True, text=True, timeout=120, cwd=REPO, env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    return out, first, json.loads(js.read_text()), r


def test_reuse_anchors_codes_only_gvc1d_and_keeps_the_anchor_points(reused):
    out, first, res, r = reused
    assert res["codecs"]["x264"] == first["codecs"]["x264"]
    assert [p for p in res["points"] if p["codec"] == "x264"] == [p for p in first["points"] if p["codec"] == "x264"]
    assert res["anchors_reused_from"]["command"] == first["command"]
    assert "rd: carphone x264 crf" not in r.stderr and "rd: reused carphone x264 crf" in r.stderr  # none coded
    assert {p["codec"] for p in res["points"]} == {"gvc1d", "gvc1d:mse", "x264"}
    assert res["codecs"]["gvc1d:mse"]["label"] == "gvc1d (mse)"
    assert len([p for p in res["points"] if p["codec"] == "gvc1d:mse"]) == 2
    # BD-rates against the anchors are the main weights' only; plus main against the extra curve
    assert {(e["anchor"], e["test"]) for e in res["bd_rate"]} == {("x264", "gvc1d")}
    assert {(e["anchor"], e["test"], e["metric"]) for e in res["bd_rate_gvc1d"]} == \
        {("gvc1d:mse", "gvc1d", m) for m in ("psnr_yuv", "ms_ssim")}
    md = (out / "rd.md").read_text()
    assert md == r.stdout and "| carphone | gvc1d (mse) | quality 0 |" in md
    assert "against the other gvc1d weights" in md and "anchor points (rates, metrics, times) are reused" in md


def test_reuse_anchors_refuses_other_clips_or_frame_counts(reused, tmp_path):
    out, first, _, _ = reused
    bad = dict(first, clips=[dict(first["clips"][0], frames=3)])
    (tmp_path / "frames.json").write_text(json.dumps(bad))
    base = [sys.executable, str(RD), "--quick", "--weights", "gvc1d-tiny", "--anchors", "x264", "--metrics", "psnr_yuv,ms_ssim"]
    for extra, what in ((["--clips", "carphone,cisco_men", "--reuse-anchors", str(out / "rd.json")], "clips differ"),
                        (["--clips", "carphone", "--reuse-anchors", str(tmp_path / "frames.json")], "frame counts differ")):
        p = subprocess.run(base + extra, capture_output=True, text=True, timeout=60, cwd=REPO, env=cli_env())
        assert p.returncode == 2 and what in p.stderr, p.stderr
        assert len(p.stderr.strip().splitlines()) == 1 and p.stdout == ""
