#!/bin/bash
# P7 v4 perceptual stage: scripts/train_tiny3_prd.sh on top of the MSE-trained tiny4
# (weights/gvc1d-tiny4.safetensors = gvc1d-tiny-mse), into gvc1d-tiny4p (= the shipped gvc1d-tiny
# at step 4,838); resumable. $1 = frames, $2 = extra args; PROCS=2 for both cores.
MODEL=tiny4 exec bash "$(dirname "$0")/train_tiny3_prd.sh" "$@"
