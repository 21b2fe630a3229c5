#!/usr/bin/env bash
# Train cardiac phase-synthesis models (both schemes) on one CUDA GPU: the GPU experiment of
# models/cardiac_phase.md (the shipped models were trained on the CPU; see that card).
# Usage: scripts/train_cardiac_phase_gpu.sh OUT_DIR [MINUTES] [BATCH...]
# Generates the 48 training subjects (seeds 1000-1047) and the 2 validation subjects
# (1100, 1101) with `headtwin cardiac-phantom`, then runs one `train-cardiac --what phase`
# per scheme and batch size, all at once on the same GPU. Logs and weights go to OUT_DIR.
set -euo pipefail
out=${1:?usage: train_cardiac_phase_gpu.sh OUT_DIR [MINUTES] [BATCH...]}
minutes=${2:-6}
shift $(( $# >= 2 ? 2 : 1 ))
batches=("${@:-32}")
ht=(python3 -m headtwin_app.cli.main)
cases=${CASES:-/tmp/cardiac_cases}
mkdir -p "$out" "$cases/train" "$cases/val"
t0=$(date +%s)
{ seq 1000 1047 | sed 's/^/train /'; printf 'val 1100\nval 1101\n'; } |
    xargs -P "$(nproc)" -L 1 sh -c \
        "${ht[*]}"' cardiac-phantom --seed "$1" --out '"$cases"'/"$0"/s"$1" > /dev/null'
echo "cases generated in $(( $(date +%s) - t0 )) s" | tee "$out/cases.log"
pids=()
for b in "${batches[@]}"; do
    for scheme in fgbg vanilla; do
        "${ht[@]}" train-cardiac --what phase --scheme "$scheme" --cases "$cases/train" \
            --val-cases "$cases/val" --myo-weight 10 --augment \
            --frame-offsets -6 -3 -1 0 1 3 6 --batch "$b" --device cuda --threads 2 \
            --minutes "$minutes" --out "$out/phase_${scheme}_b$b.pt" --json \
            > "$out/phase_${scheme}_b$b.log" 2>&1 &
        pids+=($!)
    done
done
status=0
for p in "${pids[@]}"; do wait "$p" || status=1; done
echo "all done in $(( $(date +%s) - t0 )) s, status $status" | tee -a "$out/cases.log"
exit $status
