#!/usr/bin/env bash
# Domain-randomised training of both built-in segmentation stages on one CUDA GPU (issue 16).
# Usage: scripts/train_seg_gpu.sh PACK_DIR OUT_DIR [COARSE_MIN] [FINE_MIN] [DEVICE]
# PACK_DIR holds cases packed by `scripts/seg_cases_pack.py pack` (phantom seeds 100-129).
# The coarse stage continues from models/seg_builtin.pt, the fine stage from
# models/seg_builtin.refine.pt behind the new coarse weights; both stop by their time limit
# (the learning-rate schedule follows the clock, so they end cooled down). Logs and weights go
# to OUT_DIR.
set -euo pipefail
pack=${1:?usage: train_seg_gpu.sh PACK_DIR OUT_DIR [COARSE_MIN] [FINE_MIN] [DEVICE]}
out=${2:?usage: train_seg_gpu.sh PACK_DIR OUT_DIR [COARSE_MIN] [FINE_MIN] [DEVICE]}
coarse_min=${3:-4}
fine_min=${4:-3}
device=${5:-cuda}
ht=(python3 -m headtwin_app.cli.main)
cases=${CASES:-/tmp/seg_cases}
mkdir -p "$out"
t0=$(date +%s)
python3 scripts/seg_cases_pack.py unpack "$pack" "$cases" --workers "$(nproc)" > /dev/null
echo "cases unpacked in $(( $(date +%s) - t0 )) s" | tee "$out/steps.log"
"${ht[@]}" train-seg --backend builtin --cases "$cases" --out "$out/seg_builtin.pt" \
    --init-from models/seg_builtin.pt --lr 1e-3 --iterations 1000000 --minutes "$coarse_min" \
    --seed 41 --bf16 --randomise 0.85 --strip 0.1 --batch 8 --device "$device" --json \
    > "$out/coarse.log" 2>&1
echo "coarse stage done at $(( $(date +%s) - t0 )) s" | tee -a "$out/steps.log"
"${ht[@]}" train-seg --backend builtin --refine --model "$out/seg_builtin.pt" --cases "$cases" \
    --out "$out/seg_builtin.refine.pt" --init-from models/seg_builtin.refine.pt --lr 1e-3 \
    --iterations 1000000 --minutes "$fine_min" --seed 42 --bf16 --randomise 0.85 --strip 0.1 \
    --renders 2 --batch 4 --device "$device" --json > "$out/fine.log" 2>&1
echo "fine stage done at $(( $(date +%s) - t0 )) s" | tee -a "$out/steps.log"
