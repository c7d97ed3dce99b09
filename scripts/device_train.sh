#!/usr/bin/env bash
# One training command on the device tool's GPU machine (P7 item 6), prepared by
# scripts/prepare_device.sh. Continues weights/gvc1d-tiny2.safetensors (or starts tiny2 from
# scratch when it is absent) for MINUTES (default 8) on CUDA with larger batches, and writes the
# weights and the log to $OUT; copy them back into weights/ and resume on the CPU with
# `bash scripts/train_tiny2.sh 2 --resume`.
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/gvc1d-device-out}
mkdir -p "$OUT"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .device/whl/*.whl
export PYTHONPATH=/tmp/site:$PWD
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())"
start=(--config tiny2)
if [ -f weights/gvc1d-tiny2.safetensors ]; then
    cp weights/gvc1d-tiny2.safetensors "$OUT/gvc1d-tiny2.safetensors"
    start=(--resume)
fi
python3 -m gvc1d_codec.train "${start[@]}" --stage rd --device cuda --data .device/train-clips.npz \
    --out "$OUT/gvc1d-tiny2.safetensors" --log "$OUT/gvc1d-tiny2.train-log.jsonl" \
    --frames "${FRAMES:-3}" --crop 256 --batch "${BATCH:-32}" --lr 4e-4 --steps 1000000 \
    --minutes "${MINUTES:-8}" --save-every 200 --log-every 20 2>&1 | tail -n 40
rm -f "$OUT"/*.opt.safetensors  # 2x the weights: too big to bring back with the rest
ls -la "$OUT"
