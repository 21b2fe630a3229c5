#!/usr/bin/env bash
# Domain-randomised training of both built-in segmentation stages on one CUDA GPU (issue 16).
# Usage: scripts/train_seg_gpu.sh PACK_DIR OUT_DIR [COARSE_MIN] [FINE_MIN] [DEVICE]
# PACK_DIR holds cases packed by `scripts/seg_cases_pack.py pack` (phantom seeds 100-129).
# The coarse stage continues from models/seg_builtin.pt (COARSE_MIN 0: skipped, the shipped
# coarse weights are used), the fine stage from models/seg_builtin.refine.pt behind the coarse
# weights; FOCUS=LABEL in the environment centres a quarter of the fine patches on that label
# (3: the TMJ discs). Both stop by their time limit (the learning-rate schedule follows the
# clock, so they end cooled down). Logs and weights go to OUT_DIR.
set -euo pipefail
usage="usage: train_seg_gpu.sh PACK_DIR OUT_DIR [COARSE_MIN] [FINE_MIN] [DEVICE]"
pack=${1:?$usage}
out=${2:?$usage}
coarse_min=${3:-4}
fine_min=${4:-3}
device=${5:-cuda}
ht=(python3 -m headtwin_app.cli.main)
cases=${CASES:-/tmp/seg_cases}
mkdir -p "$out"
t0=$(date +%s)
python3 scripts/seg_cases_pack.py unpack "$pack" "$cases" --workers "$(nproc)" > /dev/null
echo "cases unpacked in $(( $(date +%s) - t0 )) s" | tee "$out/steps.log"
coarse=models/seg_builtin.pt
if [ "$coarse_min" != 0 ]; then
    coarse=$out/seg_builtin.pt
    "${ht[@]}" train-seg --backend builtin --cases "$cases" --out "$coarse" \
        --init-from models/seg_builtin.pt --lr 1e-3 --iterations 1000000 \
        --minutes "$coarse_min" --seed 41 --bf16 --randomise 0.85 --strip 0.1 --batch 8 \
        --device "$device" --json > "$out/coarse.log" 2>&1
    echo "coarse stage done at $(( $(date +%s) - t0 )) s" | tee -a "$out/steps.log"
fi
focus=()
if [ -n "${FOCUS:-}" ]; then focus=(--focus "$FOCUS" --focus-share 0.25); fi
"${ht[@]}" train-seg --backend builtin --refine --model "$coarse" --cases "$cases" \
    --out "$out/seg_builtin.refine.pt" --init-from models/seg_builtin.refine.pt --lr 1e-3 \
    --iterations 1000000 --minutes "$fine_min" --seed 42 --bf16 --randomise 0.85 --strip 0.1 \
    --renders 2 --batch 4 "${focus[@]}" --device "$device" --json > "$out/fine.log" 2>&1
echo "fine stage done at $(( $(date +%s) - t0 )) s" | tee -a "$out/steps.log"
