#!/usr/bin/env bash
# Memcheck of gvc1d-ffpipe (encode, then decode, of a tiny 2-frame clip) under valgrind.
#
#   ffbridge/valgrind.sh WEIGHTS [OUTDIR]        (after make -C ffbridge; WEIGHTS: a weights file)
#
# Runs valgrind --error-exitcode=1 --leak-check=full on each command with PYTHONMALLOC=malloc (so
# CPython's allocator does not hide blocks), writes the XML reports to OUTDIR, then judges them
# with tools/valgrind_report.py: only errors in our C code (gvc1d-ffpipe.c, src/gvc1d.c, the cffi
# glue) or on heap blocks it allocated count; CPython's and torch's own reports are tallied only.
# Also checks that both commands produced their output. Exit status 0 = clean. Takes minutes:
# torch's import under memcheck dominates.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
BUILD="${BUILD:-$HERE/build}"
WEIGHTS="${1:?usage: valgrind.sh WEIGHTS [OUTDIR]}"
OUT="${2:-$(mktemp -d /tmp/gvc1d-valgrind.XXXXXX)}"
PYTHON="${PYTHON:-python3}"
mkdir -p "$OUT"
command -v valgrind >/dev/null || { echo "valgrind.sh: valgrind is not installed" >&2; exit 2; }
[ -x "$BUILD/gvc1d-ffpipe" ] || { echo "valgrind.sh: build first: make -C $HERE" >&2; exit 2; }

# a 24x16 4:2:0 clip of 2 frames
"$PYTHON" - "$OUT/in.y4m" <<'PY'
import sys
w, h = 24, 16
with open(sys.argv[1], "wb") as f:
    f.write(b"YUV4MPEG2 W24 H16 F25:1 Ip A1:1 C420jpeg\n")
    for t in range(2):
        f.write(b"FRAME\n")
        f.write(bytes((16 + (x * 3 + y * 2 + t * 6) % 220) for y in range(h) for x in range(w)))
        f.write(bytes(128 + (x * 2 - t * 3) % 60 - 30 for y in range(h // 2) for x in range(w // 2)))
        f.write(bytes(128 + (y * 2 + t * 2) % 60 - 30 for y in range(h // 2) for x in range(w // 2)))
PY

VG=(valgrind --tool=memcheck --error-exitcode=1 --leak-check=full --show-leak-kinds=definite,indirect
    --errors-for-leak-kinds=definite,indirect --smc-check=all-non-file --num-callers=24
    --suppressions="$HERE/valgrind.supp" ${VALGRIND_EXTRA:-})
export PYTHONMALLOC=malloc GVC1D_WEIGHTS="$WEIGHTS"
set +e
start=$SECONDS
# The decode reads a stream encoded without valgrind first, so that both memchecks run at once
# (torch's import under memcheck takes minutes each); the encode under valgrind must then write
# the same bytes.
"$BUILD/gvc1d-ffpipe" encode < "$OUT/in.y4m" > "$OUT/ref.gvc" 2> "$OUT/ref.err" \
    || { echo "valgrind.sh: gvc1d-ffpipe encode failed without valgrind" >&2; cat "$OUT/ref.err" >&2; exit 1; }
"${VG[@]}" --xml=yes --xml-file="$OUT/encode.xml" "$BUILD/gvc1d-ffpipe" encode < "$OUT/in.y4m" > "$OUT/out.gvc" 2> "$OUT/encode.err" &
enc_pid=$!
"${VG[@]}" --xml=yes --xml-file="$OUT/decode.xml" "$BUILD/gvc1d-ffpipe" decode < "$OUT/ref.gvc" > "$OUT/out.y4m" 2> "$OUT/decode.err" &
dec_pid=$!
wait $enc_pid; enc_status=$?
wait $dec_pid; dec_status=$?
set -e
echo "valgrind: encode exit $enc_status, decode exit $dec_status (1 = memcheck saw errors anywhere, CPython's included) in $((SECONDS - start)) s; reports in $OUT"
if ! cmp -s "$OUT/out.gvc" "$OUT/ref.gvc"; then
    echo "valgrind.sh: the stream encoded under valgrind differs from the one encoded without it" >&2
    exit 1
fi
frames=$(grep -ao "FRAME" "$OUT/out.y4m" | wc -l)
if [ ! -s "$OUT/out.gvc" ] || [ "$frames" != 2 ]; then
    echo "valgrind.sh: the commands failed under valgrind (stream $(stat -c %s "$OUT/out.gvc") bytes, $frames frames decoded)" >&2
    cat "$OUT/encode.err" "$OUT/decode.err" >&2
    exit 1
fi
"$PYTHON" "$HERE/tools/valgrind_report.py" "$OUT/encode.xml" "$OUT/decode.xml"
