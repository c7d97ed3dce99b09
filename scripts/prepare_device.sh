#!/usr/bin/env bash
# Prepare a training run on the device tool's GPU machine (no network there; 64 MiB travel):
# packs the training clips into .device/train-clips.npz and fetches the wheels that machine lacks
# (constriction, for Python 3.12) into .device/whl. .device/ is ignored by git (.git/info/exclude).
# Then, from the device tool:   run  command="bash scripts/device_train.sh"  carry=[".device"]
set -euo pipefail
cd "$(dirname "$0")/.."
grep -qx '/.device/' .git/info/exclude 2>/dev/null || echo '/.device/' >> .git/info/exclude
PY=${PYTHON:-.venv/bin/python}
"$PY" scripts/pack_training_data.py --out .device/train-clips.npz --mib "${MIB:-40}"
mkdir -p .device/whl
"$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    -d .device/whl "constriction==$("$PY" -c 'import importlib.metadata as m; print(m.version("constriction"))')"
du -sh .device
