#!/usr/bin/env bash
# After new weights land in gvc1d_codec/models/gvc1d-tiny.safetensors: record their SHA-256, regenerate the
# conformance set, re-measure everything the docs quote, and rewrite the measured tables.
#
#     bash scripts/remeasure.sh            # about 90 minutes on 2 cores
#
# Prose that states conclusions (docs/results.md's summary and RD table and plot, the model card's bullets,
# docs/results.md's reading, docs/conformance.md's byte counts) must then be re-read by hand.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python}
step() { echo "== $(date +%H:%M:%S) $*" >&2; }

step "SHA256SUMS"
(cd gvc1d_codec/models && sha256sum gvc1d-tiny.safetensors > SHA256SUMS)
(cd weights && sha256sum gvc1d-tiny-mse.safetensors gvc1d-tiny-v3.safetensors gvc1d-tiny-v2.safetensors gvc1d-tiny-v1.safetensors gvc1d-tiny-v1-mse.safetensors > SHA256SUMS)
step "conformance set"
$PY conformance/generate.py --weights gvc1d_codec/models/gvc1d-tiny.safetensors --force
step "held-out table"
$PY benchmarks/heldout.py --frames 32 --json benchmarks/heldout/gvc1d-tiny.heldout.json
step "speed"
$PY benchmarks/speed.py --json benchmarks/speed-result.json
step "determinism matrix"
$PY conformance/matrix.py --out /tmp/gvc1d-matrix.md
step "tables"
$PY scripts/update_measured_tables.py benchmarks/heldout/gvc1d-tiny.heldout.json benchmarks/speed-result.json /tmp/gvc1d-matrix.md
step "rate-distortion against the anchors (anchors reused): the small clips against all four, cockatoo 720p against x265"
RD=$(mktemp -d)
$PY benchmarks/rd.py --clips carphone,cisco_2people,cisco_men --reuse-anchors benchmarks/rd-result.json --json "$RD/small.json"
$PY benchmarks/rd.py --clips cockatoo --anchors x265 --metrics psnr_yuv,psnr_rgb,ms_ssim,lpips_alex \
    --reuse-anchors benchmarks/rd-result.json --json "$RD/cockatoo.json"
$PY benchmarks/rd_merge.py "$RD/small.json" "$RD/cockatoo.json" --out benchmarks/rd-result.json
$PY benchmarks/rd.py --from-json benchmarks/rd-result.json --plot-dir benchmarks/rd-plots --doc docs/results.md --readme docs/results.md
step "done"
