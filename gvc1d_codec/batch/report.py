"""The JSON-lines report of a batch run, and what a rerun may skip.

One line per item and attempt outcome, appended and flushed (fsync) as each item finishes, so the
report survives a crash or Ctrl-C of the driver up to the last finished item:

    {"item": "in/a.y4m", "output": "out/a.gvc", "mode": "encode", "status": "ok", "frames": 64,
     "bpp": 0.031, "seconds": 12.5, "bytes": 10422, "sha256": "...", "attempts": 1, "error": null,
     "quality": 2, "intra_period": 32}

``status`` is ``ok``, ``skipped`` (already done by an earlier run) or ``failed``; encode records
also carry the stream's ``quality`` and ``intra_period``. A rerun skips an item whose output exists
with the size and SHA-256 of its last ``ok``/``skipped`` record, from the same input and (encode)
with the quality and intra period asked for now: a file replaced, truncated or edited since, or
asked for with other settings, is done again. A torn last line (the driver killed while
writing it) is ignored.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from .work import file_sha256

FIELDS = ("item", "output", "mode", "status", "frames", "bpp", "seconds", "bytes", "sha256", "attempts", "error",
          "quality", "intra_period", "preset")


def load_done(report: Path) -> dict[str, dict]:
    """The last successful record of every output named in ``report`` (empty if there is none)."""
    done: dict[str, dict] = {}
    try:
        lines = report.read_text(encoding="utf-8", errors="replace").splitlines()
    except FileNotFoundError:
        return done
    for line in lines:
        try:
            r = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(r, dict) and isinstance(r.get("output"), str):
            if r.get("status") in ("ok", "skipped"):
                done[r["output"]] = r
            else:
                done.pop(r["output"], None)
    return done


def still_valid(record: dict | None, item, quality: int | None, intra_period: int | None,
                preset: str = "medium") -> bool:
    """Is ``item.output`` the file that ``record`` describes (same size, same SHA-256), made from the
    same input with the settings asked for now (``quality`` None: any; encode only)?"""
    if not record or not isinstance(record.get("sha256"), str) or record.get("item") != str(item.input):
        return False
    if record.get("mode") == "encode" and ((quality is not None and record.get("quality") != quality)
                                           or record.get("intra_period") != intra_period
                                           or record.get("preset", "medium") != preset):
        return False
    try:
        if item.output.stat().st_size != record.get("bytes"):
            return False
    except OSError:
        return False
    return file_sha256(item.output) == record["sha256"]


class Report:
    """Appends one JSON object per line to the report file, durably."""

    def __init__(self, path: Path):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._f = open(path, "a", encoding="utf-8")

    def write(self, **record) -> dict:
        r = {k: record.get(k) for k in FIELDS}
        self._f.write(json.dumps(r) + "\n")
        self._f.flush()
        os.fsync(self._f.fileno())
        return r

    def close(self) -> None:
        self._f.close()
