#!/bin/bash
# P7 v4 training: tiny4 (tiny3 with design-2 convolutions: model/conv.py), resumable.
# The first run starts from weights/gvc1d-tiny4-intra.safetensors when it exists (the transform
# pretrained as an intra autoencoder without rate: scripts/intra_ceiling.py --config tiny4 --save),
# else from scratch; later runs continue (--resume). Mixed quantisation (--rate-noise), as tiny3.
# $1 = frames, $2 = extra args. PROCS=2: data parallel over both cores (--batch is per process).
cd "$(dirname "$0")/.."
export PYTHONPATH=$PWD OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
OUT=weights/gvc1d-tiny4.safetensors
PRE=weights/gvc1d-tiny4-intra.safetensors
if [ -f "$OUT" ]; then START=(--resume); elif [ -f "$PRE" ]; then START=(--init "$PRE"); else START=(--config tiny4); fi
PROCS=${PROCS:-1}
if [ "$PROCS" -gt 1 ]; then RUN=(.venv/bin/torchrun --standalone --nproc_per_node "$PROCS" -m gvc1d_codec.train); BATCH=${BATCH:-2}
else RUN=(.venv/bin/python -m gvc1d_codec.train); BATCH=${BATCH:-4}; fi
exec "${RUN[@]}" "${START[@]}" --stage rd \
  --out "$OUT" --train-log weights/gvc1d-tiny4.train-log.jsonl \
  --frames "$1" --crop 256,128 --batch "$BATCH" --lr 4e-4 --threads 1 --steps 1000000 --minutes 600 \
  --rate-noise --save-every 25 --log-every 10 $2
