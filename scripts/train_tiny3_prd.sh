#!/bin/bash
# P7 perceptual stage: joint perceptual rate-distortion (stage prd: rate + lambda * (MSE +
# LPIPS-VGG / 100) + adaptive adversarial term, encoder, prior and decoder all learning) on top
# of the MSE-trained $MODEL (default tiny3: weights/gvc1d-tiny3.safetensors), into gvc1d-${MODEL}p;
# resumable. scripts/train_tiny4_prd.sh runs it with MODEL=tiny4.
# $1 = frames, $2 = extra args. PROCS=2: data parallel over both cores (--batch is per process).
cd "$(dirname "$0")/.."
export PYTHONPATH=$PWD OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
MODEL=${MODEL:-tiny3}
OUT=weights/gvc1d-${MODEL}p.safetensors
if [ -f "$OUT" ]; then START=(--resume); else START=(--init "weights/gvc1d-$MODEL.safetensors"); fi
PROCS=${PROCS:-1}
if [ "$PROCS" -gt 1 ]; then RUN=(.venv/bin/torchrun --standalone --nproc_per_node "$PROCS" -m gvc1d_codec.train); BATCH=${BATCH:-1}
else RUN=(.venv/bin/python -m gvc1d_codec.train); BATCH=${BATCH:-2}; fi
exec "${RUN[@]}" "${START[@]}" --stage prd --perceptual vgg \
  --out "$OUT" --train-log "weights/gvc1d-${MODEL}p.train-log.jsonl" \
  --frames "$1" --crop 128 --batch "$BATCH" --lr 1e-4 --threads 1 --steps 1000000 --minutes 600 \
  --save-every 25 --log-every 10 $2
