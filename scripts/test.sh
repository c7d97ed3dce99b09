#!/usr/bin/env bash
# Set up and run the test suite (what CI runs).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
. .venv/bin/activate
python -m gvc1d_codec.data fetch --split all >&2
python -m pytest -q -ra --durations=15 "$@"
