#!/usr/bin/env bash
# Install everything gvc1d needs on a fresh Debian/Ubuntu-like machine with Python >= 3.11:
# ffmpeg (apt, when missing), a virtual environment in .venv with torch (CPU wheel 2.13.0),
# the package itself (editable), the test tools and the batch extra (ray, tqdm). Idempotent: a second run changes nothing.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v ffmpeg >/dev/null 2>&1; then
  echo "setup: installing ffmpeg (apt)" >&2
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq ffmpeg >&2
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv" >&2
  "$PY" -m venv .venv
fi
. .venv/bin/activate
if ! python -c "import torch, constriction, safetensors, pytest, hypothesis, ray, tqdm, gvc1d_codec" >/dev/null 2>&1; then
  echo "setup: installing Python packages" >&2
  python -m pip install -q --upgrade pip >&2
  # The CPU build of torch; a bare 'torch' would pull a multi-GB CUDA build.
  python -m pip install -q "torch==2.13.0" >&2 || python -m pip install -q torch --index-url https://download.pytorch.org/whl/cpu >&2
  python -m pip install -q -e ".[test,bridge,batch]" >&2
fi
