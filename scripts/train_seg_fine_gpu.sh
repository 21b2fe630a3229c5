#!/usr/bin/env bash
# Continue the built-in model's 1 mm fine stage on one CUDA GPU behind the shipped coarse
# weights, a share of the patches centred on one structure (default 3, the TMJ discs).
# Usage: scripts/train_seg_fine_gpu.sh PACK_DIR OUT_DIR [MINUTES] [FOCUS] [SHARE] [DEVICE]
set -euo pipefail
pack=${1:?usage: train_seg_fine_gpu.sh PACK_DIR OUT_DIR [MINUTES] [FOCUS] [SHARE] [DEVICE]}
out=${2:?usage: train_seg_fine_gpu.sh PACK_DIR OUT_DIR [MINUTES] [FOCUS] [SHARE] [DEVICE]}
minutes=${3:-2.5}
focus=${4:-3}
share=${5:-0.25}
device=${6:-cuda}
cases=${CASES:-/tmp/seg_cases}
mkdir -p "$out"
t0=$(date +%s)
python3 scripts/seg_cases_pack.py unpack "$pack" "$cases" --workers "$(nproc)" > /dev/null
echo "cases unpacked in $(( $(date +%s) - t0 )) s" | tee "$out/steps.log"
python3 -m headtwin_app.cli.main train-seg --backend builtin --refine \
    --model models/seg_builtin.pt --cases "$cases" --out "$out/seg_builtin.refine.pt" \
    --init-from models/seg_builtin.refine.pt --lr 5e-4 --iterations 1000000 \
    --minutes "$minutes" --seed 43 --bf16 --randomise 0.85 --strip 0.1 --renders 2 \
    --focus "$focus" --focus-share "$share" --batch 4 --device "$device" --json \
    > "$out/fine.log" 2>&1
echo "fine stage done at $(( $(date +%s) - t0 )) s" | tee -a "$out/steps.log"
