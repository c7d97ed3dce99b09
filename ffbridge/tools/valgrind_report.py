"""Read valgrind memcheck XML files and count only the errors that belong to our own C code.

    python valgrind_report.py run1.xml [run2.xml ...]      # exit 1 if any error is ours

A process that embeds CPython and torch reports thousands of leak records and some uninitialised
value warnings from their internals (interned objects that live until exit, allocator tricks,
JIT code). Those are not ours and are counted but not judged. An error is ours when

* Invalid read/write/free, uninitialised value, overlap, ...: the innermost frame outside libc,
  ld.so and valgrind's preload is in one of OUR_FILES, or the heap block the bad address lies in
  or next to was allocated by our code (so an over-read by numpy of a buffer we passed counts);
* Leak_DefinitelyLost / Leak_IndirectlyLost: the innermost frame after the allocator is ours.

OUR_FILES: the tool, the C API and the cffi glue compiled into libgvc1d.
"""
from __future__ import annotations

import sys
import xml.etree.ElementTree as ET
from collections import Counter

OUR_FILES = {"gvc1d-ffpipe.c", "gvc1d-bench.c", "api_test.c", "gvc1d.c", "_gvc1d_cffi.c"}
SYSTEM_OBJECTS = ("vgpreload_", "/libc.so", "ld-linux", "/libstdc++.so")
ALLOCATORS = {"malloc", "calloc", "realloc", "free", "strdup", "strndup", "memalign", "posix_memalign",
              "aligned_alloc", "operator new(unsigned long)", "operator new[](unsigned long)", "reallocarray"}
LEAK_KINDS = {"Leak_DefinitelyLost", "Leak_IndirectlyLost"}


def frames(stack):
    return [] if stack is None else [(f.findtext("fn") or "?", f.findtext("file") or "", f.findtext("line") or "",
                                      f.findtext("obj") or "") for f in stack.findall("frame")]


def first_own_frame(stack, skip_allocators: bool):
    """The innermost frame that is not libc/ld.so/valgrind (nor, for leaks, an allocator)."""
    for fn, file, line, obj in stack:
        if skip_allocators and (fn in ALLOCATORS or "vgpreload_" in obj):
            continue
        if not skip_allocators and any(s in obj for s in SYSTEM_OBJECTS):
            continue
        return fn, file, line, obj
    return None


def is_ours(frame) -> bool:
    return frame is not None and frame[1] in OUR_FILES


def classify(error) -> tuple[bool, str]:
    kind = error.findtext("kind")
    stacks = error.findall("stack")
    main = frames(stacks[0] if stacks else None)
    if kind.startswith("Leak_"):
        where = first_own_frame(main, skip_allocators=True)
        return kind in LEAK_KINDS and is_ours(where), f"allocated in {where}"
    where = first_own_frame(main, skip_allocators=False)
    if is_ours(where):
        return True, f"at {where}"
    if len(stacks) > 1:  # "Address ... is N bytes inside/after a block ... alloc'd" + its allocation stack
        block = first_own_frame(frames(stacks[1]), skip_allocators=True)
        if is_ours(block):
            return True, f"at {where}, in a block allocated at {block}"
    return False, f"at {where}"


def main(paths: list[str]) -> int:
    total, ours = Counter(), []
    for path in paths:
        root = ET.parse(path).getroot()
        for error in root.iter("error"):
            kind = error.findtext("kind")
            total[kind] += 1
            mine, where = classify(error)
            if mine:
                what = error.findtext("xwhat/text") or error.findtext("what") or kind
                ours.append(f"{path}: {kind}: {what} {where}")
    print("valgrind: errors by kind (all code): " + (", ".join(f"{k} {v}" for k, v in sorted(total.items())) or "none"))
    print(f"valgrind: errors in our C code: {len(ours)}")
    for line in ours:
        print("  " + line)
    return 1 if ours else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
