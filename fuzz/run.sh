#!/usr/bin/env bash
# Run one fuzz target for a wall-clock budget, restarting after each finding until it is spent.
#
#   nice -n 19 bash fuzz/run.sh parser|decoder SECONDS [WORKDIR] [extra libFuzzer flags]
#
# WORKDIR (default /tmp/gvc-fuzz) gets TARGET/ (the corpus, seeded from conformance/*.gvc) and
# findings-TARGET/ (crash-*, timeout-*, oom-* inputs). Progress lines (cov:, ft:, exec/s) go to
# stderr; a summary line per libFuzzer run is appended to WORKDIR/TARGET.summary.
set -uo pipefail
cd "$(dirname "$0")/.."
target=${1:?parser or decoder}; budget=${2:?seconds}; work=${3:-/tmp/gvc-fuzz}; shift $(( $# < 3 ? $# : 3 ))
case $target in
  parser)  limits=(-timeout=10 -rss_limit_mb=2048) ;;
  decoder) limits=(-timeout=30 -rss_limit_mb=4096) ;;
  *) echo "run.sh: unknown target $target (parser or decoder)" >&2; exit 2 ;;
esac
corpus=$work/$target; findings=$work/findings-$target
mkdir -p "$corpus" "$findings"
[ -n "$(ls -A "$corpus")" ] || cp conformance/*.gvc "$corpus"/
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
end=$(( $(date +%s) + budget ))
while left=$(( end - $(date +%s) )); [ "$left" -gt 5 ]; do
  python "fuzz/fuzz_$target.py" "$corpus" -max_total_time="$left" -print_final_stats=1 \
    -artifact_prefix="$findings/" "${limits[@]}" "$@"
  rc=$?
  echo "run.sh: $target libFuzzer exit $rc at $(date -Is), $(( end - $(date +%s) ))s left" | tee -a "$work/$target.summary" >&2
done
