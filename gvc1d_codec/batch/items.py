"""What a batch run does: its items (from a directory, a glob or a manifest) and their chunks.

An item is one input file and one output file. Encode items take Y4M (chunked, see below) or, via
ffmpeg, any other video file (coded whole by one worker: ffmpeg cannot be asked cheaply for an
exact frame range). Decode items take ``.gvc`` and write Y4M.

A Y4M input is indexed by the driver (:func:`y4m_frame_offsets`: the byte offset of every frame,
found by reading only the ``FRAME`` lines and seeking over the pixels), so each worker seeks
straight to its own frame range and reads only those frames: memory stays bounded for any length,
and no pixels travel through Ray.
"""
from __future__ import annotations

import csv
import glob
import json
import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import GVC1DError, InputFormatError
from ..io import Y4MReader

ENCODE_SUFFIXES = (".y4m",)
# other video files are encoded through ``ffmpeg -f yuv4mpegpipe`` (optional: needs ffmpeg on PATH)
FFMPEG_SUFFIXES = (".mp4", ".mkv", ".mov", ".avi", ".webm", ".ts", ".m4v", ".mpg", ".mpeg")
DECODE_SUFFIXES = (".gvc",)
MANIFEST_SUFFIXES = (".csv", ".jsonl", ".json")
MANIFEST_FIELDS = ("input", "output", "quality", "intra_period")


@dataclass(frozen=True)
class Item:
    """One input file and where its output goes; ``None`` settings take the command line's."""

    input: Path
    output: Path
    quality: int | None = None
    intra_period: int | None = None

    @property
    def via_ffmpeg(self) -> bool:
        return self.input.suffix.lower() not in ENCODE_SUFFIXES + DECODE_SUFFIXES


@dataclass(frozen=True)
class Chunk:
    """Frames ``start .. start+count-1`` of a Y4M input, the first at byte ``offset``."""

    start: int
    count: int
    offset: int


def _is_glob(text: str) -> bool:
    return any(c in text for c in "*?[")


def _output_for(src: Path, out_dir: Path, mode: str) -> Path:
    return out_dir / (src.stem + (".gvc" if mode == "encode" else ".y4m"))


def _wanted(path: Path, mode: str) -> bool:
    suffix = path.suffix.lower()
    return suffix in (DECODE_SUFFIXES if mode == "decode" else ENCODE_SUFFIXES + FFMPEG_SUFFIXES)


def _int_field(value, what: str, where: str) -> int | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise GVC1DError(f"{where}: {what} must be an integer, got {value!r}") from None


def read_manifest(path: Path, mode: str, out_dir: Path | None) -> list[Item]:
    """Items of a CSV (header ``input,output,quality,intra_period``; only ``input`` is required) or
    JSON-lines manifest (one object per line with the same keys). Relative paths are relative to
    the manifest's directory; a missing output goes to ``out_dir`` (default: beside the manifest)."""
    base = path.parent
    rows: list[tuple[str, dict]] = []
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise GVC1DError(f"cannot read manifest {path}: {getattr(e, 'strerror', None) or e}") from None
    if path.suffix.lower() == ".csv":
        reader = csv.DictReader(text.splitlines())
        if reader.fieldnames is None or "input" not in reader.fieldnames:
            raise GVC1DError(f"manifest {path}: the CSV needs a header line with an 'input' column")
        unknown = set(reader.fieldnames) - set(MANIFEST_FIELDS)
        if unknown:
            raise GVC1DError(f"manifest {path}: unknown column(s) {', '.join(sorted(unknown))} (known: {', '.join(MANIFEST_FIELDS)})")
        rows = [(f"{path.name} line {n + 2}", r) for n, r in enumerate(reader)]
    else:
        for n, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                r = json.loads(line)
            except json.JSONDecodeError as e:
                raise GVC1DError(f"manifest {path} line {n}: not JSON ({e.msg})") from None
            if not isinstance(r, dict):
                raise GVC1DError(f"manifest {path} line {n}: need a JSON object with an 'input' key")
            rows.append((f"{path.name} line {n}", r))
    items = []
    for where, r in rows:
        if not r.get("input"):
            raise GVC1DError(f"{where}: no input")
        src = (base / str(r["input"])).resolve() if not os.path.isabs(str(r["input"])) else Path(str(r["input"]))
        if r.get("output"):
            out = Path(str(r["output"]))
            out = out if out.is_absolute() else (base / out).resolve()
        else:
            out = _output_for(src, out_dir or base, mode)
        items.append(Item(src, out, _int_field(r.get("quality"), "quality", where),
                          _int_field(r.get("intra_period"), "intra_period", where)))
    return items


def collect_items(source: str, mode: str, out_dir: str | None) -> list[Item]:
    """The items named by ``source``: a directory (its video files, not recursive), a glob
    (quote it; ``**`` recurses), a manifest (.csv, .jsonl) or a single video file."""
    out = Path(out_dir).resolve() if out_dir else None
    p = Path(source)
    if _is_glob(source) and not p.exists():
        files = sorted(Path(f).resolve() for f in glob.glob(source, recursive=True) if Path(f).is_file())
        if not files:
            raise GVC1DError(f"no file matches {source!r}")
        items = [Item(f, _output_for(f, out or Path.cwd(), mode)) for f in files if _wanted(f, mode)]
    elif p.is_dir():
        files = sorted(f.resolve() for f in p.iterdir() if f.is_file() and _wanted(f, mode))
        items = [Item(f, _output_for(f, out or f.parent, mode)) for f in files]
    elif p.suffix.lower() in MANIFEST_SUFFIXES and p.is_file():
        items = read_manifest(p.resolve(), mode, out)
    elif p.is_file():
        f = p.resolve()
        items = [Item(f, _output_for(f, out or f.parent, mode))]
    else:
        raise GVC1DError(f"no such file or directory: {source}")
    if not items:
        kinds = ", ".join(DECODE_SUFFIXES if mode == "decode" else ENCODE_SUFFIXES + FFMPEG_SUFFIXES)
        raise GVC1DError(f"nothing to {mode} in {source} (looked for {kinds})")
    seen: dict[Path, Path] = {}
    for it in items:
        if it.output in seen:
            raise GVC1DError(f"{seen[it.output]} and {it.input} would both write {it.output}")
        if it.output == it.input:
            raise GVC1DError(f"{it.input} would be overwritten by its own output")
        seen[it.output] = it.input
    return items


def y4m_frame_offsets(path: Path) -> tuple[list[int], Y4MReader]:
    """The byte offset of every frame's ``FRAME`` line, and the reader that parsed the header.

    Reads the stream header and the ``FRAME`` lines only (frame headers may carry parameters, so
    offsets are found, not computed); a file cut inside a frame is an error here, before any work."""
    with open(path, "rb") as f:
        reader = Y4MReader(f)
        frame_bytes = reader.width * reader.height + 2 * ((reader.width + 1) // 2) * ((reader.height + 1) // 2)
        size = os.fstat(f.fileno()).st_size
        offsets = []
        while True:
            pos = f.tell()
            line = f.readline(1025)
            if not line:
                break
            if not line.startswith(b"FRAME") or not line.endswith(b"\n"):
                raise InputFormatError(f"{path.name}: frame {len(offsets)}: expected a FRAME marker")
            if f.tell() + frame_bytes > size:
                raise InputFormatError(f"{path.name}: truncated frame {len(offsets)}")
            offsets.append(pos)
            f.seek(frame_bytes, os.SEEK_CUR)
    return offsets, reader


def plan_chunks(offsets: list[int], intra_period: int, chunk_frames: int) -> list[Chunk]:
    """Split the frames at intra-period boundaries into chunks of about ``chunk_frames`` (rounded
    up to whole intra periods); one chunk when every frame after the first is predicted (-1)."""
    n = len(offsets)
    if n == 0:
        return []
    if intra_period <= 0 or chunk_frames <= 0:
        return [Chunk(0, n, offsets[0])]
    step = max(1, -(-chunk_frames // intra_period)) * intra_period
    return [Chunk(s, min(step, n - s), offsets[s]) for s in range(0, n, step)]
