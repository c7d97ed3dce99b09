"""gvc1d-batch: encode or decode many videos on a Ray cluster (local by default).

    gvc1d-batch encode clips/ -o out/ --workers 2            # every .y4m (and, via ffmpeg, .mp4, ...) in clips/
    gvc1d-batch encode 'clips/**/*.y4m' -o out/ -q 1         # a glob (quoted)
    gvc1d-batch encode jobs.csv                              # a manifest: input,output,quality,intra_period
    gvc1d-batch decode out/ -o decoded/                      # every .gvc to .y4m
    gvc1d-batch encode clips/ -o out/ --address auto         # on the cluster of `ray start` (docs/batch.md)

Ray is the scheduler (no home-made one): each task asks Ray for ``--threads`` CPUs and runs with
that many torch/OpenMP threads; results are collected as they finish (``ray.wait``), so the
progress bar (items, frames/s, ETA) moves per chunk and finished items are reported at once.

Nothing is lost: the driver alone writes ``.gvc`` outputs, atomically, from the packets the tasks
return (appended in order as the chunks arrive, so its memory does not grow with the video); a worker that dies is replaced and its task run again by Ray (``max_retries``); a task
that fails is retried up to ``--retries`` times and then its item is recorded as failed while the
others go on; Ctrl-C cancels the tasks and removes every temporary file; a rerun skips the items
whose output still has the size and SHA-256 recorded in the report, made with the same settings
(:mod:`.report`).

Exit status (like gvc1d-pipe): 0 all items done or skipped, 1 an item failed or an error (one line
``gvc1d-batch: error: ...``), 2 bad command line, 130 interrupted, 143 terminated.
"""
from __future__ import annotations

import argparse
import io
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from ..presets import DEFAULT_PRESET, PRESETS

PROG = "gvc1d-batch"
EXIT_ERROR, EXIT_USAGE, EXIT_INTERRUPTED, EXIT_TERMINATED = 1, 2, 130, 143
DEFAULT_CHUNK_FRAMES = 64
DEFAULT_RETRIES = 2
REPORT_NAME = "gvc1d-batch.jsonl"


class UsageError(Exception):
    pass


class _Terminated(BaseException):
    """SIGTERM, raised like KeyboardInterrupt so that the run is cleaned up on the way out."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, exit 2 (as gvc1d-pipe)
        sys.stderr.write(f"{PROG}: error: {message}\n")
        sys.exit(EXIT_USAGE)


def build_parser() -> argparse.ArgumentParser:
    from ..config import DEFAULT_INTRA_PERIOD

    p = _Parser(prog=PROG, description="Encode or decode many videos, long ones in parallel chunks, on a Ray "
                                       "cluster (a local one by default).",
                epilog="Examples:\n"
                       "  gvc1d-batch encode clips/ -o out/ --workers 2\n"
                       "  gvc1d-batch encode jobs.csv            # manifest: input,output,quality,intra_period\n"
                       "  gvc1d-batch decode out/ -o decoded/\n"
                       "  gvc1d-batch encode clips/ -o out/ --address auto   # after `ray start` (docs/batch.md)",
                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("mode", choices=["encode", "decode"], help="encode: Y4M (or any video, via ffmpeg) to .gvc; "
                                                               "decode: .gvc to Y4M")
    p.add_argument("input", help="a directory (its video files), a quoted glob ('**' recurses), a manifest "
                                 "(.csv with a header line, or .jsonl; keys input, output, quality, intra_period; "
                                 "only input is required) or one file")
    p.add_argument("-o", "--output-dir", help="where outputs go (default: beside each input; a glob's: the current "
                                              "directory); a manifest's output column overrides it")
    p.add_argument("--report", help=f"JSON-lines report (default: OUTPUT_DIR/{REPORT_NAME}, else {REPORT_NAME} in the "
                                    "input directory, the manifest's or the current one)")
    p.add_argument("-q", "--quality", type=int, help="quality level (default: the model's middle level; a manifest "
                                                     "row's quality overrides it)")
    p.add_argument("--intra-period", type=int, default=DEFAULT_INTRA_PERIOD, metavar="N",
                   help=f"an intra frame every N frames (default {DEFAULT_INTRA_PERIOD}); -1: only the first "
                        "(then a video cannot be split into chunks)")
    p.add_argument("--preset", default=DEFAULT_PRESET, choices=list(PRESETS),
                   help="encoder preset: how hard the encoder searches (fast: the skip decision before the "
                        "synthesis, fewer motion refinement passes; slow: a decoder update fitted to each intra frame, sent in "
                        "the stream); decoding costs the same whatever the preset (default medium)")
    p.add_argument("--chunk-frames", type=int, default=DEFAULT_CHUNK_FRAMES, metavar="N",
                   help=f"split Y4M inputs into chunks of about N frames, rounded up to whole intra periods, "
                        f"coded in parallel and joined into a stream byte-identical to a serial encode "
                        f"(default {DEFAULT_CHUNK_FRAMES}; 0: one task per video)")
    p.add_argument("--workers", type=int, metavar="N",
                   help="local cluster: tasks at a time (default: the cores this process may use, divided by "
                        "--threads); ignored with --address, where the cluster's CPUs decide")
    p.add_argument("--threads", type=int, default=1, metavar="N",
                   help="CPU threads per task: Ray reserves N CPUs for it and torch/OpenMP use N threads (default 1)")
    p.add_argument("--address", help="join a running Ray cluster: 'auto' (the one `ray start` made on this "
                                     "machine) or HOST:PORT (default: start a local one for this run)")
    p.add_argument("--retries", type=int, default=DEFAULT_RETRIES, metavar="N",
                   help=f"run a failed task again up to N times before the item is recorded as failed "
                        f"(default {DEFAULT_RETRIES}); a dead worker's task is rerun as often")
    p.add_argument("--force", action="store_true", help="redo items that the report says are complete")
    p.add_argument("--weights", help="weights file or registry name (default: $GVC1D_WEIGHTS, else the shipped "
                                     "gvc1d-tiny); a path must exist on every machine of the cluster")
    p.add_argument("--device", default="cpu", help="auto, cpu or cuda (default cpu)")
    p.add_argument("--progress", action="store_true",
                   help="show the progress bar (items, frames/s, ETA) even when stderr is not a terminal")
    return p


def _check_args(a: argparse.Namespace) -> None:
    if a.intra_period == 0 or a.intra_period < -1:
        raise UsageError("--intra-period must be -1 or a positive number of frames")
    for name in ("threads", "workers"):
        if getattr(a, name) is not None and getattr(a, name) < 1:
            raise UsageError(f"--{name} must be >= 1")
    if a.retries < 0 or a.chunk_frames < 0:
        raise UsageError("--retries and --chunk-frames must be >= 0")


def _need(module: str):
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise UsageError(f"{module} is not installed; install the batch extra: pip install 'gvc1d-codec[batch]'") from None


# ---- the run ------------------------------------------------------------------------------------

@dataclass
class _Job:
    """One item in flight: its tasks (one per chunk), their results and attempts."""

    item: object
    settings: object
    chunks: list  # Chunk per task; [None] for a whole-file task (decode, ffmpeg input)
    frames: int | None  # known in advance for a chunked Y4M input
    results: dict = field(default_factory=dict)
    attempts: dict = field(default_factory=dict)
    refs: set = field(default_factory=set)
    joiner: object = None  # encode: the ChunkJoiner writing the output as chunks arrive
    t0: float = field(default_factory=time.monotonic)
    over: bool = False


def _task_error(e: BaseException) -> str:
    """One line for what made a task fail (the codec's own message when it is one of ours)."""
    from ..errors import GVC1DError

    cause = getattr(e, "cause", None)
    if isinstance(cause, GVC1DError):
        return str(cause)
    if cause is not None:
        text = str(cause).strip().splitlines()
        return f"internal error: {type(cause).__name__}" + (f": {text[0]}" if text else "")
    name = type(e).__name__
    if "WorkerCrashed" in name or "NodeDied" in name or "ActorDied" in name:
        return "the worker running it died (after the retries)"
    text = str(e).strip().splitlines()
    return f"{name}: {text[0]}" if text else name


def _permanent(e: BaseException) -> bool:
    """Whether a task failed for a reason a retry cannot change: a bad setting, a device that is not
    there, weights that are missing or do not match, a stream this decoder cannot decode, bad input."""
    from ..errors import (DeviceUnavailableError, InputFormatError, LimitError, SettingsError,
                          UnsupportedStreamError, WeightsError)

    cause = getattr(e, "cause", e)
    return isinstance(cause, (SettingsError, DeviceUnavailableError, WeightsError, UnsupportedStreamError,
                              InputFormatError, LimitError))


def task_options(threads: int, retries: int) -> dict:
    """Ray options of every task: ``threads`` CPUs reserved and as many OpenMP/torch threads (set
    before the worker imports torch, and again by the Encoder's ``threads``), Ray's reruns of a task
    whose worker died, and a PYTHONPATH so that the workers of a local cluster import this very
    package (they would not see an uninstalled checkout; a path missing on a node is ignored there)."""
    env = {"OMP_NUM_THREADS": str(threads), "OMP_WAIT_POLICY": "PASSIVE"}
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)
    return dict(num_cpus=threads, max_retries=retries, retry_exceptions=False, runtime_env={"env_vars": env})


class _Run:
    def __init__(self, a: argparse.Namespace, items: list, report, progress):
        import ray

        from . import work

        self.ray, self.a, self.report, self.progress = ray, a, report, progress
        self.pending: dict = {}  # ObjectRef -> (job, chunk index)
        self.jobs: list[_Job] = []
        self.items_total, self.items_done, self.failed = len(items), 0, 0
        opts = task_options(a.threads, a.retries)
        self.encode_chunk = ray.remote(work.encode_chunk).options(**opts)
        self.encode_via_ffmpeg = ray.remote(work.encode_via_ffmpeg).options(**opts)
        self.decode_file = ray.remote(work.decode_file).options(**opts)

    def submit(self, job: _Job, ci: int) -> None:
        from .work import stale_partials

        item, s, chunk = job.item, job.settings, job.chunks[ci]
        if self.a.mode == "decode":
            item.output.parent.mkdir(parents=True, exist_ok=True)
            for p in stale_partials(item.output):  # a killed writer's leftovers
                p.unlink(missing_ok=True)
            ref = self.decode_file.remote(str(item.input), str(item.output), s)
        elif chunk is None:
            ref = self.encode_via_ffmpeg.remote(str(item.input), s)
        else:
            ref = self.encode_chunk.remote(str(item.input), chunk.offset, chunk.count, s)
        job.attempts[ci] = job.attempts.get(ci, 0) + 1
        job.refs.add(ref)
        self.pending[ref] = (job, ci)

    def start(self, job: _Job) -> None:
        from .work import ChunkJoiner

        if self.a.mode == "encode":
            job.joiner = ChunkJoiner(job.item.output)
        self.jobs.append(job)
        for ci in range(len(job.chunks)):
            self.submit(job, ci)

    def loop(self) -> None:
        ray = self.ray
        while self.pending:
            ready, _ = ray.wait(list(self.pending), num_returns=1, timeout=0.5)  # short: Ctrl-C gets through
            for ref in ready:
                job, ci = self.pending.pop(ref)
                job.refs.discard(ref)
                if job.over:
                    continue
                try:
                    result = ray.get(ref)
                except Exception as e:  # a task's exception, a dead worker after Ray's retries, ...
                    if job.attempts[ci] <= self.a.retries and not _permanent(e):
                        self.submit(job, ci)
                    else:
                        self.finish(job, error=_task_error(e))
                    continue
                if job.joiner is not None:  # encode: written at once, in order (memory stays bounded)
                    try:
                        job.joiner.add(ci, result)
                    except Exception as e:
                        self.finish(job, error=f"cannot write {job.item.output}: {e.strerror}"
                                    if isinstance(e, OSError) else str(e))
                        continue
                    result = replace(result, packets=[])
                job.results[ci] = result
                self.progress.update(getattr(result, "frames", 0))
                if len(job.results) == len(job.chunks):
                    self.finish(job)

    def finish(self, job: _Job, error: str | None = None) -> None:
        from ..bitstream import read_header
        from ..quality import header_quality
        from ..io.atomic import signals_held
        from .work import file_sha256

        job.over = True
        for ref in list(job.refs):  # the item's other chunks are of no use now
            self.ray.cancel(ref, force=True)
        item = job.item
        rec = dict(item=str(item.input), output=str(item.output), mode=self.a.mode,
                   attempts=max(job.attempts.values()))
        if error is None:
            try:
                if self.a.mode == "decode":
                    r = job.results[0]
                    rec.update(frames=r.frames, bpp=round(r.bpp, 6), bytes=r.bytes, sha256=r.sha256)
                else:
                    first, joined = job.results[0], job.joiner
                    if joined.frames == 0:
                        raise UsageError("the input has no frames")
                    with signals_held():
                        joined.commit()
                    header = read_header(io.BytesIO(first.header))
                    rec.update(frames=joined.frames, bpp=round(8 * joined.bytes / (joined.frames * first.width * first.height), 6),
                               bytes=joined.bytes, sha256=file_sha256(item.output),
                               quality=header_quality(header.quality), intra_period=header.intra_period,
                               preset=self.a.preset)
            except Exception as e:  # one failed item must not stop the run
                error = f"cannot write {item.output}: {e.strerror}" if isinstance(e, OSError) else str(e)
        if error is not None and job.joiner is not None:
            job.joiner.abort()
        rec.update(status="failed" if error else "ok", error=error, seconds=round(time.monotonic() - job.t0, 3))
        self.report.write(**rec)
        self.items_done += 1
        self.failed += error is not None
        self.progress.items(self.items_done, self.items_total)

    def cancel_all(self) -> None:
        """Ctrl-C: stop every task, wait for them to go, remove the temporary files they left."""
        from .work import stale_partials

        refs = list(self.pending)
        for ref in refs:
            self.ray.cancel(ref, force=True)
        if refs:
            self.ray.wait(refs, num_returns=len(refs), timeout=10)
        for job in self.jobs:
            if job.over:
                continue
            if job.joiner is not None:
                job.joiner.abort()
            if self.a.mode == "decode":
                for p in stale_partials(job.item.output):
                    p.unlink(missing_ok=True)
        self.pending.clear()


class _Progress:
    """A tqdm bar over frames (rate and ETA) with the items done; silent when stderr is not a
    terminal, unless --progress."""

    def __init__(self, enabled: bool, frames: int):
        tqdm = _need("tqdm").tqdm
        self.bar = tqdm(total=frames, unit="frame", file=sys.stderr, dynamic_ncols=True, smoothing=0.1,
                        disable=not (enabled or sys.stderr.isatty()))

    def update(self, frames: int) -> None:
        if self.bar.total is not None and self.bar.n + frames > self.bar.total:
            self.bar.total = self.bar.n + frames  # an input whose frames were not known in advance
        self.bar.update(frames)

    def items(self, done: int, total: int) -> None:
        self.bar.set_postfix_str(f"items {done}/{total}")

    def close(self) -> None:
        self.bar.close()


def _report_path(a: argparse.Namespace) -> Path:
    if a.report:
        return Path(a.report).resolve()
    if a.output_dir:
        return Path(a.output_dir).resolve() / REPORT_NAME
    src = Path(a.input)
    if src.is_dir():
        return src.resolve() / REPORT_NAME
    if src.is_file():
        return src.resolve().parent / REPORT_NAME
    return Path.cwd() / REPORT_NAME


def run(a: argparse.Namespace) -> int:
    from ..runtime import available_cores
    from . import report as rep
    from .items import collect_items, plan_chunks, y4m_frame_offsets
    from .work import TEST_STALL_ENV, Settings

    _check_args(a)
    ray = _need("ray")
    items = collect_items(a.input, a.mode, a.output_dir)
    report_path = _report_path(a)
    done = {} if a.force else rep.load_done(report_path)
    report = rep.Report(report_path)
    weights = a.weights or os.environ.get("GVC1D_WEIGHTS") or None
    todo = []
    failed_early = 0
    try:
        for item in items:
            s = Settings(weights, item.quality if item.quality is not None else a.quality,
                         item.intra_period if item.intra_period is not None else a.intra_period,
                         a.threads, a.device, os.environ.get(TEST_STALL_ENV) or None, a.preset)
            if rep.still_valid(done.get(str(item.output)), item, s.quality, s.intra_period, a.preset):
                report.write(**{**done[str(item.output)], "status": "skipped", "seconds": 0.0, "attempts": 0})
                continue
            if a.mode == "decode" or item.via_ffmpeg:
                todo.append(_Job(item, s, [None], None))
                continue
            try:
                offsets, _ = y4m_frame_offsets(item.input)
                if not offsets:
                    raise UsageError("no frames to encode")
            except Exception as e:  # unreadable, malformed or empty input: this item fails, the others go on
                msg = getattr(e, "strerror", None) or str(e)
                report.write(item=str(item.input), output=str(item.output), mode=a.mode, status="failed",
                             error=f"{item.input.name}: {msg}", attempts=0, seconds=0.0)
                failed_early += 1
                continue
            todo.append(_Job(item, s, plan_chunks(offsets, s.intra_period, a.chunk_frames), len(offsets)))
        skipped = len(items) - len(todo) - failed_early
        own = not ray.is_initialized()
        if own and todo:
            import logging

            local = a.address is None
            workers = a.workers or max(1, available_cores() // a.threads)
            try:
                ray.init(address=a.address, num_cpus=workers * a.threads if local else None,
                         include_dashboard=False if local else None, logging_level=logging.ERROR, log_to_driver=False)
            except (ConnectionError, RuntimeError, ValueError) as e:
                text = str(e).strip().splitlines()
                where = f"the Ray cluster at {a.address}" if a.address else "a local Ray cluster"
                raise UsageError(f"cannot start or join {where}" + (f": {text[0]}" if text else "")) from None
        progress = _Progress(a.progress, sum(j.frames or 0 for j in todo))
        r = _Run(a, items, report, progress)
        r.items_done, r.failed = skipped + failed_early, failed_early
        progress.items(r.items_done, r.items_total)
        try:
            for job in todo:
                r.start(job)
            r.loop()
        except BaseException:
            from ..io.atomic import signals_held

            with signals_held():
                progress.close()
                r.cancel_all()
            raise
        finally:
            progress.close()
            if own and ray.is_initialized():
                ray.shutdown()
    finally:
        report.close()
    ok = len(items) - r.failed
    sys.stderr.write(f"{PROG}: {len(items)} items: {ok - skipped} done, {skipped} skipped, {r.failed} failed; "
                     f"report {report_path}\n")
    if r.failed:
        raise UsageError(f"{r.failed} of {len(items)} items failed (their errors are in {report_path})")
    return 0


def _terminate(signum, frame):
    raise _Terminated()


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from ..errors import GVC1DError

    own_term = threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGTERM) == signal.SIG_DFL
    if own_term:
        signal.signal(signal.SIGTERM, _terminate)
    try:
        return run(args)
    except KeyboardInterrupt:
        sys.stderr.write(f"{PROG}: interrupted\n")
        return EXIT_INTERRUPTED
    except _Terminated:
        sys.stderr.write(f"{PROG}: terminated\n")
        return EXIT_TERMINATED
    except (GVC1DError, UsageError) as e:
        sys.stderr.write(f"{PROG}: error: {e}\n")
        return EXIT_ERROR
    except Exception as e:  # never a traceback for a user; GVC1D_DEBUG=1 shows it
        if os.environ.get("GVC1D_DEBUG"):
            raise
        text = str(e).strip().splitlines()
        sys.stderr.write(f"{PROG}: error: internal error: {type(e).__name__}" + (f": {text[0]}" if text else "") + "\n")
        return EXIT_ERROR
    finally:
        if own_term:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)


if __name__ == "__main__":
    sys.exit(main())
