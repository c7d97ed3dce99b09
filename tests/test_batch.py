"""gvc1d-batch on a local Ray cluster of 2 CPUs (started once for the module, CPU only).

The runs go through ``gvc1d_codec.batch.cli.main`` in this process (it reuses the module's
cluster), except where the command line itself is under test (exit statuses, Ctrl-C), which runs
as a user runs it and joins the same cluster with ``--address``.
"""
from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from conftest import cli_env, moving_gradient, needs_ffmpeg, run_cli, y4m_bytes

ray = pytest.importorskip("ray")
pytest.importorskip("tqdm")

from gvc1d_codec.batch import cli as batch_cli  # noqa: E402
from gvc1d_codec.batch.items import Chunk, collect_items, plan_chunks, y4m_frame_offsets  # noqa: E402
from gvc1d_codec.batch.report import load_done  # noqa: E402
from gvc1d_codec.batch.work import TEST_STALL_ENV  # noqa: E402
from gvc1d_codec.errors import GVC1DError  # noqa: E402

BATCH = [sys.executable, "-m", "gvc1d_codec.batch"]
PREFIX = "gvc1d-batch: error:"


@pytest.fixture(scope="module")
def cluster():
    import logging

    ray.init(num_cpus=2, include_dashboard=False, logging_level=logging.ERROR, log_to_driver=False)
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    """a: 11 frames 64x48 (3 chunks of 4 at intra period 4, the last short); b: 5 frames 40x32."""
    d = tmp_path_factory.mktemp("clips")
    (d / "a.y4m").write_bytes(y4m_bytes(moving_gradient(64, 48, 11)))
    (d / "b.y4m").write_bytes(y4m_bytes(moving_gradient(40, 32, 5)))
    return d


def batch(*args) -> int:
    return batch_cli.main([str(a) for a in args])


def records(report: Path) -> list[dict]:
    return [json.loads(line) for line in report.read_text().splitlines()]


def serial_encode(path: Path, intra_period: int, quality: int | None = None) -> bytes:
    """What the frame-level API gives for the whole file in one encoder."""
    from gvc1d_codec import Encoder
    from gvc1d_codec.io import Y4MReader

    with open(path, "rb") as f:
        r = Y4MReader(f)
        enc = Encoder(r.width, r.height, r.fps, color=r.color, quality=quality, intra_period=intra_period)
        return enc.header_bytes() + b"".join(enc.encode(fr) for fr in r)


# ---- the plan (no Ray) ----------------------------------------------------------------------------

def test_chunks_start_at_intra_period_boundaries():
    offs = list(range(0, 1000, 100))  # 10 frames
    assert plan_chunks(offs, 4, 4) == [Chunk(0, 4, 0), Chunk(4, 4, 400), Chunk(8, 2, 800)]
    assert [c.start for c in plan_chunks(offs, 4, 5)] == [0, 8]  # rounded up to whole periods
    assert plan_chunks(offs, -1, 4) == [Chunk(0, 10, 0)]  # only the first frame intra: one chunk
    assert plan_chunks(offs, 4, 0) == [Chunk(0, 10, 0)]
    assert plan_chunks([], 4, 4) == []


def test_frame_index_reads_frame_parameters(tmp_path):
    data = y4m_bytes(moving_gradient(16, 16, 3)).replace(b"FRAME\n", b"FRAME Ixyz\n")
    (tmp_path / "p.y4m").write_bytes(data)
    offsets, reader = y4m_frame_offsets(tmp_path / "p.y4m")
    assert len(offsets) == 3 and all(data[o:o + 6] == b"FRAME " for o in offsets)
    (tmp_path / "cut.y4m").write_bytes(data[:-5])
    with pytest.raises(GVC1DError, match="truncated frame 2"):
        y4m_frame_offsets(tmp_path / "cut.y4m")


def test_items_from_directory_glob_and_manifests(clips, tmp_path):
    assert [i.input.name for i in collect_items(str(clips), "encode", None)] == ["a.y4m", "b.y4m"]
    assert collect_items(str(clips), "encode", None)[0].output == clips / "a.gvc"
    assert [i.input.name for i in collect_items(str(clips / "a*"), "encode", str(tmp_path))] == ["a.y4m"]
    (tmp_path / "m.csv").write_text(f"input,output,quality,intra_period\n{clips / 'a.y4m'},x/a1.gvc,1,8\n"
                                    f"{clips / 'b.y4m'},,,\n")
    a, b = collect_items(str(tmp_path / "m.csv"), "encode", None)
    assert (a.output, a.quality, a.intra_period) == (tmp_path / "x" / "a1.gvc", 1, 8)
    assert (b.output, b.quality, b.intra_period) == (tmp_path / "b.gvc", None, None)
    (tmp_path / "m.jsonl").write_text(json.dumps({"input": str(clips / "a.y4m"), "quality": 0}) + "\n\n")
    (j,) = collect_items(str(tmp_path / "m.jsonl"), "encode", None)
    assert j.quality == 0 and j.intra_period is None
    (tmp_path / "bad.csv").write_text("input,speed\na.y4m,3\n")
    with pytest.raises(GVC1DError, match="unknown column"):
        collect_items(str(tmp_path / "bad.csv"), "encode", None)
    (tmp_path / "dup.csv").write_text(f"input,output\n{clips / 'a.y4m'},o.gvc\n{clips / 'b.y4m'},o.gvc\n")
    with pytest.raises(GVC1DError, match="would both write"):
        collect_items(str(tmp_path / "dup.csv"), "encode", None)


def test_joiner_writes_chunks_in_order_as_they_arrive(tmp_path):
    from gvc1d_codec.batch.work import ChunkJoiner, ChunkResult, join_chunks

    from gvc1d_codec.bitstream import StreamHeader

    head = StreamHeader(16, 16, 25, 1, "yuv420p", "bt709", "limited", 0, 2, "test", bytes(16), 6).pack()
    chunks = [ChunkResult(head, [("I", bytes([k]), 1), ("P", bytes([k, k]), 1)], 2, 16, 16, 0.1) for k in range(3)]
    j = ChunkJoiner(tmp_path / "o.gvc")
    j.add(2, chunks[2])
    assert not j.tmp.exists() and j.next_chunk == 0  # waits for chunk 0
    j.add(0, chunks[0])
    assert j.tmp.exists() and j.next_chunk == 1 and j.frames == 2
    j.add(1, chunks[1])
    assert (j.next_chunk, j.frames) == (3, 6) and not (tmp_path / "o.gvc").exists()
    j.commit()
    assert (tmp_path / "o.gvc").read_bytes() == join_chunks(chunks) and j.bytes == len(join_chunks(chunks))
    j = ChunkJoiner(tmp_path / "p.gvc")
    j.add(0, chunks[0])
    j.abort()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o.gvc"]
    with pytest.raises(GVC1DError, match="intra"):
        ChunkJoiner(tmp_path / "q.gvc").add(0, ChunkResult(head, [("P", b"x", 1)], 1, 16, 16, 0.1))


# ---- runs on the cluster -----------------------------------------------------------------------------

def test_chunked_encode_is_byte_identical_to_serial(cluster, clips, tmp_path, capsys):
    out = tmp_path / "out"
    assert batch("encode", clips, "-o", out, "--intra-period", 4, "--chunk-frames", 4, "--progress") == 0
    err = capsys.readouterr().err
    assert "16/16" in err and "frame/s" in err and "items 2/2" in err  # the bar: frames, rate, items
    assert err.strip().splitlines()[-1].endswith(f"2 items: 2 done, 0 skipped, 0 failed; report {out / 'gvc1d-batch.jsonl'}")
    assert (out / "a.gvc").read_bytes() == serial_encode(clips / "a.y4m", 4)  # 3 chunks, joined
    assert (out / "b.gvc").read_bytes() == serial_encode(clips / "b.y4m", 4)
    pipe = run_cli("encode", "-i", clips / "a.y4m", "-o", "-", "--intra-period", "4")
    assert pipe.returncode == 0 and pipe.stdout == (out / "a.gvc").read_bytes()
    recs = {Path(r["item"]).name: r for r in records(out / "gvc1d-batch.jsonl")}
    a = recs["a.y4m"]
    assert (a["status"], a["frames"], a["bytes"], a["error"]) == ("ok", 11, (out / "a.gvc").stat().st_size, None)
    assert a["bpp"] == pytest.approx(8 * a["bytes"] / (11 * 64 * 48), abs=1e-5) and a["seconds"] > 0
    assert set(a) == {"item", "output", "mode", "status", "frames", "bpp", "seconds", "bytes", "sha256", "attempts", "error",
                      "quality", "intra_period", "preset"}
    assert (a["quality"], a["intra_period"], a["preset"]) == (2, 4, "medium")  # the test model's middle level
    assert not list(out.glob(".*partial*"))

    # decode: the same Y4M as gvc1d-pipe decode
    dec = tmp_path / "dec"
    assert batch("decode", out, "-o", dec) == 0
    ref = run_cli("decode", "-i", out / "a.gvc", "-o", "-")
    assert ref.returncode == 0 and (dec / "a.y4m").read_bytes() == ref.stdout
    assert {r["status"] for r in records(dec / "gvc1d-batch.jsonl")} == {"ok"}


def test_manifest_settings_rerun_skips_and_redoes_changed(cluster, clips, tmp_path):
    from gvc1d_codec.bitstream import read_header

    (tmp_path / "jobs.csv").write_text(f"input,output,quality,intra_period\n{clips / 'a.y4m'},a.gvc,0,8\n"
                                       f"{clips / 'b.y4m'},b.gvc,3,\n")
    assert batch("encode", tmp_path / "jobs.csv", "--intra-period", 2) == 0
    ha = read_header(io.BytesIO((tmp_path / "a.gvc").read_bytes()))
    hb = read_header(io.BytesIO((tmp_path / "b.gvc").read_bytes()))
    assert (ha.quality, ha.intra_period, hb.quality, hb.intra_period) == (0, 8, 48, 2)  # header quality: the code, 16 x level
    assert (tmp_path / "a.gvc").read_bytes() == serial_encode(clips / "a.y4m", 8, quality=0)
    mtime = (tmp_path / "b.gvc").stat().st_mtime_ns

    # a rerun skips both; then a changed output (same size, other bytes) is done again
    assert batch("encode", tmp_path / "jobs.csv", "--intra-period", 2) == 0
    assert [r["status"] for r in records(tmp_path / "gvc1d-batch.jsonl")[2:]] == ["skipped", "skipped"]
    assert (tmp_path / "b.gvc").stat().st_mtime_ns == mtime
    good = (tmp_path / "a.gvc").read_bytes()
    (tmp_path / "a.gvc").write_bytes(good[:-1] + bytes([good[-1] ^ 1]))
    assert batch("encode", tmp_path / "jobs.csv", "--intra-period", 2) == 0
    last = {Path(r["item"]).name: r["status"] for r in records(tmp_path / "gvc1d-batch.jsonl")[4:]}
    assert last == {"a.y4m": "ok", "b.y4m": "skipped"}
    assert (tmp_path / "a.gvc").read_bytes() == good
    assert load_done(tmp_path / "gvc1d-batch.jsonl")[str(tmp_path / "a.gvc")]["status"] == "ok"

    # other settings asked for: b (intra period from the command line) is done again, a (manifest) is not
    assert batch("encode", tmp_path / "jobs.csv", "--intra-period", 3) == 0
    last = {Path(r["item"]).name: (r["status"], r["intra_period"]) for r in records(tmp_path / "gvc1d-batch.jsonl")[6:]}
    assert last == {"a.y4m": ("skipped", 8), "b.y4m": ("ok", 3)}
    assert read_header(io.BytesIO((tmp_path / "b.gvc").read_bytes())).intra_period == 3


def test_only_failures_a_retry_could_change_are_retried():
    from gvc1d_codec.batch.cli import _permanent
    from gvc1d_codec.errors import (CorruptPacketError, DeviceUnavailableError, GVC1DError, SettingsError,
                                    UnsupportedStreamError, WeightsError)

    class TaskError(Exception):  # what ray.get raises: the task's exception as its cause
        def __init__(self, cause):
            super().__init__(str(cause))
            self.cause = cause

    for e in (SettingsError("quality 99 out of range"), DeviceUnavailableError("no CUDA device"),
              WeightsError("sha256 mismatch"), UnsupportedStreamError("other weights")):
        assert _permanent(TaskError(e)) and _permanent(e)
    for e in (OSError("disk full"), MemoryError(), CorruptPacketError("CRC", 3), GVC1DError("?"), RuntimeError("worker")):
        assert not _permanent(TaskError(e))


def test_failed_item_is_recorded_without_retrying_what_cannot_change_while_the_rest_go_on(cluster, clips, tmp_path,
                                                                                          capsys):
    (tmp_path / "cut.y4m").write_bytes(y4m_bytes(moving_gradient(16, 16, 2))[:-7])
    (tmp_path / "empty.y4m").write_bytes(y4m_bytes(moving_gradient(16, 16, 1)).split(b"FRAME")[0])
    (tmp_path / "jobs.jsonl").write_text("\n".join(json.dumps(r) for r in [
        {"input": str(clips / "b.y4m"), "output": "bad-quality.gvc", "quality": 99},  # fails in the worker
        {"input": str(tmp_path / "cut.y4m")},                                          # fails in the plan
        {"input": str(tmp_path / "empty.y4m")},                                        # no frames
        {"input": str(clips / "b.y4m"), "output": "good.gvc"},
    ]) + "\n")
    assert batch("encode", tmp_path / "jobs.jsonl", "--retries", 1) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith(PREFIX) and "3 of 4 items failed" in err[-1]
    recs = {Path(r["output"]).name: r for r in records(tmp_path / "gvc1d-batch.jsonl")}
    bad = recs["bad-quality.gvc"]
    assert (bad["status"], bad["attempts"]) == ("failed", 1) and "quality 99 out of range" in bad["error"]  # no retry
    assert recs["cut.gvc"]["status"] == "failed" and "truncated frame 1" in recs["cut.gvc"]["error"]
    assert recs["empty.gvc"]["status"] == "failed" and "no frames" in recs["empty.gvc"]["error"]
    assert recs["good.gvc"]["status"] == "ok" and (tmp_path / "good.gvc").is_file()
    assert not (tmp_path / "bad-quality.gvc").exists() and not (tmp_path / "cut.gvc").exists()


def _wait_for_pid(d: Path, timeout: float = 90) -> int:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        pids = sorted(d.iterdir(), key=lambda p: p.stat().st_mtime)
        if pids:
            return int(pids[0].name)
        time.sleep(0.1)
    raise AssertionError("no task reached the test hook")


def test_tasks_are_pinned_to_their_threads(cluster):
    from gvc1d_codec.batch.cli import task_options

    def probe():  # nested: shipped by value (workers cannot import this test module)
        import os

        import torch

        import gvc1d_codec

        return os.environ.get("OMP_NUM_THREADS"), torch.get_num_threads(), gvc1d_codec.__file__

    omp, threads, package = ray.get(ray.remote(probe).options(**task_options(2, 0)).remote())
    assert (omp, threads) == ("2", 2)
    assert Path(package).resolve() == Path(batch_cli.__file__).resolve().parents[1] / "__init__.py"  # this checkout


def test_chunks_run_in_parallel_on_different_workers(cluster, clips, tmp_path, monkeypatch):
    pids = tmp_path / "pids"
    pids.mkdir()
    monkeypatch.setenv(TEST_STALL_ENV, f"4:{pids}")  # each chunk holds its worker 4 s
    assert batch("encode", clips / "a.y4m", "-o", tmp_path, "--intra-period", 4, "--chunk-frames", 8) == 0  # 8 + 3
    starts = {p.name: [float(t) for t in p.read_text().split()] for p in pids.iterdir()}
    assert len(starts) == 2 and all(len(t) == 1 for t in starts.values())  # two workers, one chunk each
    (t1,), (t2,) = starts.values()
    assert abs(t1 - t2) < 4  # at the same time
    assert (tmp_path / "a.gvc").read_bytes() == serial_encode(clips / "a.y4m", 4)


def test_killed_worker_loses_nothing(cluster, clips, tmp_path, monkeypatch):
    pids = tmp_path / "pids"
    pids.mkdir()
    monkeypatch.setenv(TEST_STALL_ENV, f"2:{pids}")  # each task stalls 2 s before returning its packets
    out = tmp_path / "out"
    result = {}
    t = threading.Thread(target=lambda: result.setdefault("rc", batch(
        "encode", clips / "a.y4m", "-o", out, "--intra-period", 4, "--chunk-frames", 4, "--retries", 1)))
    t.start()
    victim = _wait_for_pid(pids)
    os.kill(victim, signal.SIGKILL)  # a Ray worker in the middle of a chunk
    t.join(180)
    assert not t.is_alive() and result["rc"] == 0
    assert (out / "a.gvc").read_bytes() == serial_encode(clips / "a.y4m", 4)
    (rec,) = records(out / "gvc1d-batch.jsonl")
    assert rec["status"] == "ok" and rec["frames"] == 11
    assert sum(len(p.read_text().splitlines()) for p in pids.iterdir()) >= 4  # 3 chunks, one of them run twice
    assert not list(out.glob(".*partial*"))


def test_ctrl_c_leaves_no_partial_output(cluster, clips, tmp_path):
    gvc = tmp_path / "in"
    gvc.mkdir()
    (gvc / "a.gvc").write_bytes(serial_encode(clips / "a.y4m", 4))
    pids = tmp_path / "pids"
    pids.mkdir()
    env = cli_env()
    env[TEST_STALL_ENV] = f"60:{pids}"  # the decode stalls with its first frame written to the temporary file
    out = tmp_path / "out"
    # SIGINT back to its default in the child: a test run started in the background (`cmd &`
    # without job control) ignores it, and Python then installs no KeyboardInterrupt handler
    p = subprocess.Popen(BATCH + ["decode", str(gvc), "-o", str(out), "--address", cluster], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        _wait_for_pid(pids)
        assert list(out.glob(".a.y4m.partial-*"))  # the worker is mid-write
        p.send_signal(signal.SIGINT)
        _, err = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 130, err
    assert err.strip().splitlines()[-1] == "gvc1d-batch: interrupted" and "Traceback" not in err
    assert sorted(x.name for x in out.iterdir()) == ["gvc1d-batch.jsonl"]  # no output, no temporary file
    assert (out / "gvc1d-batch.jsonl").read_text() == ""


@needs_ffmpeg
def test_other_formats_through_ffmpeg(cluster, clips, tmp_path):
    src = tmp_path / "c.mkv"
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(clips / "b.y4m"), "-c:v", "ffv1", str(src)], check=True)
    assert batch("encode", src, "--intra-period", 4) == 0
    assert (tmp_path / "c.gvc").read_bytes() == serial_encode(clips / "b.y4m", 4)  # ffv1 is lossless


# ---- the command line ------------------------------------------------------------------------------

def _run(*args, timeout=60):
    return subprocess.run(BATCH + [str(a) for a in args], capture_output=True, text=True, env=cli_env(), timeout=timeout)


def test_command_line_errors_and_help(tmp_path):
    p = _run()
    assert p.returncode == 2 and p.stderr.startswith(PREFIX) and len(p.stderr.splitlines()) == 1
    p = _run("encode", tmp_path / "nothing-here")
    assert p.returncode == 1 and p.stderr.strip() == f"{PREFIX} no such file or directory: {tmp_path / 'nothing-here'}"
    p = _run("encode", tmp_path, "--intra-period", 0)
    assert p.returncode == 1 and p.stderr.startswith(PREFIX) and "Traceback" not in p.stderr
    p = _run("encode", tmp_path)  # an empty directory
    assert p.returncode == 1 and "nothing to encode" in p.stderr
    h = _run("--help")
    assert h.returncode == 0
    for default in ("default 64", "default 32", "default 1)", "default 2)", "--address"):
        assert default in " ".join(h.stdout.split()), default
