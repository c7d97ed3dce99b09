#!/bin/bash
# P7 v3 training: tiny3 (tiny2 with 64 channels per token and residual blocks), resumable. The
# first run grows the tiny2 checkpoint (weights/gvc1d-tiny2.safetensors); later runs continue.
# Mixed quantisation (--rate-noise): it beat rounding for the rate at every held-out point.
# $1 = frames, $2 = extra args. PROCS=2: data parallel over both cores (torchrun, gloo; --batch is
# per process, so the default BATCH=2 keeps 4 sequences per step).
cd "$(dirname "$0")/.."
export PYTHONPATH=$PWD OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
OUT=weights/gvc1d-tiny3.safetensors
if [ -f "$OUT" ]; then START=(--resume); else START=(--init weights/gvc1d-tiny2.safetensors --grow-to tiny3); fi
PROCS=${PROCS:-1}
if [ "$PROCS" -gt 1 ]; then RUN=(.venv/bin/torchrun --standalone --nproc_per_node "$PROCS" -m gvc1d_codec.train); BATCH=${BATCH:-2}
else RUN=(.venv/bin/python -m gvc1d_codec.train); BATCH=${BATCH:-4}; fi
exec "${RUN[@]}" "${START[@]}" --stage rd \
  --out "$OUT" --train-log weights/gvc1d-tiny3.train-log.jsonl \
  --frames "$1" --crop 256,128 --batch "$BATCH" --lr 4e-4 --threads 1 --steps 1000000 --minutes 600 \
  --rate-noise --save-every 25 --log-every 10 $2
