#!/usr/bin/env bash
# Set up and run the test suite (what CI runs).
#   bash scripts/test.sh [PYTEST ARGS]      e.g. bash scripts/test.sh -k cli
# Clips that cannot be prepared (no ../shared, set GVC1D_SHARED; no PyPI) do not stop the run: the
# tests that need them are skipped, each with its reason in the summary at the end. One line per
# test shows progress; the 30 slowest tests are listed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
. .venv/bin/activate
python -m gvc1d_codec.data fetch --split all --keep-going >&2 \
  || echo "test: fetching clips failed; the tests that need them will be skipped" >&2
python -m pytest -v -ra --durations=30 "$@"
