#!/usr/bin/env bash
# One training command on the device tool's GPU machine, prepared by scripts/prepare_device.sh.
# Continues the checkpoint training/checkpoints/$RUN.safetensors (RUN=PRESET-STAGE, default
# gvc1d-tiny-prd: what the shipped gvc1d-tiny continues) for MINUTES (default 8) on CUDA with larger
# batches, and writes the weights, optimiser state and log to $OUT; copy them back into
# training/checkpoints/ (and the log into training/logs/) and resume on the CPU with
# `bash scripts/train.sh PRESET STAGE`.
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/gvc1d-device-out}
RUN=${RUN:-gvc1d-tiny-prd}
STAGE=${RUN##*-}
mkdir -p "$OUT"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .device/whl/*.whl
export PYTHONPATH=/tmp/site:$PWD
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())"
if [ ! -f "training/checkpoints/$RUN.safetensors" ]; then
    echo "device_train.sh: no checkpoint training/checkpoints/$RUN.safetensors" >&2
    exit 2
fi
for f in training/checkpoints/"$RUN".*safetensors; do cp "$f" "$OUT/"; done
extra=()
[ "$STAGE" = prd ] && extra=(--perceptual vgg)
python3 -m gvc1d_codec.train --resume --stage "$STAGE" "${extra[@]}" --device cuda --data .device/train-clips.npz \
    --out "$OUT/$RUN.safetensors" --train-log "$OUT/$RUN.train-log.jsonl" \
    --frames "${FRAMES:-3}" --crop "${CROP:-256}" --batch "${BATCH:-32}" --lr "${LR:-1e-4}" --steps 1000000 \
    --minutes "${MINUTES:-8}" --save-every 200 --log-every 20 2>&1 | tail -n 40
ls -la "$OUT"
