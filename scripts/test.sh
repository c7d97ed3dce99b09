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
# gvc1d inside FFmpeg (ffbridge/ffmpeg/build.sh: about 5 minutes on 2 busy cores), built once when
# absent. A failed build does not stop the run: tests/test_ffmpeg_plugin.py is then skipped, with the
# reason. GVC1D_NO_FFMPEG_BUILD=1 skips the build.
if [ ! -x ffbridge/ffmpeg/bin/ffmpeg ] && [ -z "${GVC1D_NO_FFMPEG_BUILD:-}" ]; then
  echo "test: building FFmpeg with libgvc1d (ffbridge/ffmpeg/build.sh, once; a few minutes)" >&2
  sh ffbridge/ffmpeg/build.sh >/dev/null \
    || echo "test: the FFmpeg build failed (see the lines above and ffbridge/ffmpeg/build/*.log); tests/test_ffmpeg_plugin.py will be skipped" >&2
fi
python -m pytest -v -ra --durations=30 "$@"
