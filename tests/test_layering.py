"""Runtime vs tooling: the codec a user runs (config, frame, color, io, model, entropy, bitstream,
weights, step, codec, cli, conformance) imports nothing from training, data download, metrics or
benchmarks, so those can change (and pull their own dependencies) without touching the codec.

Checked twice: by importing the runtime modules (what loads at import time), and by reading every
import statement of every runtime file, inside functions too (AST), against what the runtime may
import. Writing a conformance set is tooling and lives in conformance/generate.py; checking one is
runtime (gvc1d_codec/conformance.py, `gvc1d-pipe conformance`)."""
from __future__ import annotations

import json
import subprocess
import sys

from conftest import REPO

RUNTIME = ["config", "frame", "color", "io", "model.gvc1d", "entropy.model", "entropy.prior", "entropy.definition",
           "bitstream", "weights", "step", "codec", "cli", "conformance",
           "batch", "batch.items", "batch.work", "batch.report", "batch.cli"]
# gvc1d-batch's scheduler (the [batch] extra; tqdm is not checked: torch imports it): only when a batch run starts
OPTIONAL = ("ray",)
TOOLING = ("gvc1d_codec.train", "gvc1d_codec.data", "gvc1d_codec.metrics", "gvc1d_codec.evaluate", "benchmarks")


def test_runtime_modules_import_no_tooling():
    code = ("import importlib, json, sys\n"
            f"for m in {RUNTIME!r}: importlib.import_module('gvc1d_codec.' + m)\n"
            "print(json.dumps(sorted(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True).stdout
    loaded = json.loads(out)
    leaked = [m for m in loaded if m.startswith(TOOLING)]
    assert not leaked, f"the runtime imports tooling: {leaked}"
    optional = sorted({m.split(".")[0] for m in loaded if m.split(".")[0] in OPTIONAL})
    assert not optional, f"the runtime imports an optional dependency at import time: {optional}"


# ---- every import, also inside functions (AST) --------------------------------------------------

import ast  # noqa: E402
from pathlib import Path  # noqa: E402

PACKAGE = REPO / "gvc1d_codec"
TOOLING_DIRS = ("train", "data", "metrics")
TOOLING_FILES = ("evaluate.py",)
# what the runtime may import besides the standard library and its own runtime modules
THIRD_PARTY = {"torch", "numpy", "constriction", "safetensors", "cffi"}
THIRD_PARTY_BY_DIR = {"batch": {"ray", "tqdm"}}  # gvc1d-batch's scheduler and progress bar
# tooling a runtime module may import, inside the one function that needs it, for one stated reason
RUNTIME_USES = {("codec.py", "gvc1d_codec.metrics.lpips"):
                "preset slow fits its decoder update on MSE + LPIPS-Alex (gvc1d_codec/adaptation.py)"}


def runtime_files() -> list[Path]:
    out = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE)
        if rel.parts[0] in TOOLING_DIRS or rel.as_posix() in TOOLING_FILES:
            continue
        out.append(path)
    return out


def module_of(path: Path) -> str:
    rel = path.relative_to(REPO).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def imports_of(source: str, module: str, is_package: bool) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import in ``source``, at any depth."""
    out = []
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            out += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            if node.level and not node.module:  # from . import x: each x is a module or a name of the package
                out += [(node.lineno, f"{name}.{alias.name}") for alias in node.names]
            else:
                out.append((node.lineno, name))
    return out


def forbidden_imports(path: Path, source: str | None = None) -> list[str]:
    """What ``path`` (a runtime module) imports that the runtime may not."""
    source = path.read_text() if source is None else source
    rel = path.relative_to(PACKAGE)
    allowed_third = THIRD_PARTY | THIRD_PARTY_BY_DIR.get(rel.parts[0], set())
    bad = []
    for line, name in imports_of(source, module_of(path), path.name == "__init__.py"):
        top = name.split(".")[0]
        if top == "gvc1d_codec":
            sub = name.split(".")[1] if "." in name else ""
            if (sub in TOOLING_DIRS or f"{sub}.py" in TOOLING_FILES) and (rel.as_posix(), name) not in RUNTIME_USES:
                bad.append(f"{rel}:{line} imports {name} (tooling)")
        elif top == "__future__" or top in sys.stdlib_module_names:
            continue
        elif top not in allowed_third:
            bad.append(f"{rel}:{line} imports {name} (not a runtime dependency)")
    return bad


def test_runtime_imports_nothing_but_the_runtime_anywhere():
    """Every import of every runtime module, including those inside functions."""
    files = runtime_files()
    assert len(files) > 30 and any(p.name == "codec.py" for p in files)
    bad = [b for p in files for b in forbidden_imports(p)]
    assert not bad, "\n".join(bad)


def test_the_ast_check_finds_an_import_planted_inside_a_function():
    codec = PACKAGE / "codec.py"
    planted = codec.read_text() + "\n\ndef _planted():\n    from .metrics import dists\n    import matplotlib\n"
    bad = forbidden_imports(codec, planted)
    assert any("gvc1d_codec.metrics" in b for b in bad) and any("matplotlib" in b for b in bad), bad
    assert not forbidden_imports(codec)
