#!/bin/bash
# P7 v2 training: stage rd from scratch (tiny2), resumable. $1 = frames, $2 = extra args
cd "$(dirname "$0")/.."
export PYTHONPATH=$PWD OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
exec .venv/bin/python -m gvc1d_codec.train --config tiny2 --stage rd \
  --out weights/gvc1d-tiny2.safetensors --log weights/gvc1d-tiny2.train-log.jsonl \
  --frames "$1" --crop 256,128 --batch 4 --lr 4e-4 --threads 1 --steps 1000000 --minutes 600 \
  --save-every 25 --log-every 10 $2
