#!/usr/bin/env bash
# Trains a fixed set of recipes with one `mlp` binary and writes their model files, checkpoints
# and metrics (timings removed) to OUT. Run it with the binaries before and after a change that
# must not move behaviour, then `cmp` the two folders:
#   Tests/long/recipes.sh OLD_MLP /tmp/before && Tests/long/recipes.sh NEW_MLP /tmp/after
#   Tests/long/recipes.sh --compare /tmp/before /tmp/after
# Rank counts, OpenBLAS threads (1) and core type are pinned so the bits depend on the code alone.
# Needs MNIST at ../shared/data/mnist (or MNIST=DIR) and mpirun. About 4 minutes on 2 cores.
set -euo pipefail

if [[ "${1:-}" == "--compare" ]]; then
    before=$2 after=$3 status=0
    for file in "$before"/*; do
        name=$(basename "$file")
        if cmp -s "$file" "$after/$name"; then echo "identical  $name"; else echo "DIFFERENT  $name"; status=1; fi
    done
    exit $status
fi

mlp=$(realpath "$1"); out=$2
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
mnist=mnist:${MNIST:-$here/../shared/data/mnist}
mkdir -p "$out"; rm -f "$out"/*
export OPENBLAS_NUM_THREADS=1 MLP_PROGRESS=0
if [[ -z "${OPENBLAS_CORETYPE:-}" ]]; then
    if grep -qw avx512bw /proc/cpuinfo; then export OPENBLAS_CORETYPE=SkylakeX; else export OPENBLAS_CORETYPE=Haswell; fi
fi
root=(); [[ $(id -u) == 0 ]] && root=(--allow-run-as-root)
run() { local n=$1; shift; mpirun "${root[@]}" --oversubscribe -n "$n" -x OPENBLAS_NUM_THREADS -x OPENBLAS_CORETYPE -x MLP_PROGRESS "$mlp" "$@"; }
# The metrics without the fields that are wall-clock times.
strip() { sed -E 's/,"seconds":[^,}]*//; s/,"samples_per_second":[^,}]*//; s/,"parameters_fingerprint":[^,}]*//' "$1" > "$1.tmp" && mv "$1.tmp" "$1"; }

# A regression CSV made here (deterministic): 400 rows, 6 features on different scales, 2 targets.
python3 - "$out/regression.csv" <<'PY'
import sys, math
rows = ["a,b,c,d,e,f,y1,y2"]
state = 12345
def uniform():
    global state
    state = (6364136223846793005 * state + 1442695040888963407) % 2**64
    return (state >> 11) / 2**53
for i in range(400):
    x = [uniform() * 10, uniform() * 1000 - 500, uniform(), uniform() * 3 - 1, uniform() * 50, uniform() * 0.01]
    y1 = 2 * x[0] - 0.01 * x[1] + 5 * math.sin(3 * x[2]) + x[3] ** 2 + 0.1 * uniform()
    y2 = x[4] / 10 - 100 * x[5] + x[0] * x[3]
    rows.append(",".join(f"{v:.6g}" for v in x + [y1, y2]))
open(sys.argv[1], "w").write("\n".join(rows) + "\n")
PY

# 1. MNIST, 2 ranks, one epoch of plain SGD.
run 2 train --train "$mnist" --test "$mnist" --hidden 256 --epochs 1 --batch-size 128 --learning-rate 0.1 \
    --save "$out/sgd.safetensors" --metrics "$out/sgd.jsonl"
# 2. Adam, cosine schedule with warm-up, gradient clipping, validation split, 3 ranks.
run 3 train --train "$mnist" --hidden 128,64 --max-steps 300 --epochs 2 --batch-size 100 --optimizer adam \
    --lr-schedule cosine --warmup-steps 30 --clip-grad-norm 1 --validation-split 0.1 \
    --save "$out/adam.safetensors" --metrics "$out/adam.jsonl"
# 3. Standardized CSV regression, two targets, float64, SGD with Nesterov momentum and weight decay, 2 ranks.
run 2 train --train "$out/regression.csv" --target y1,y2 --loss squared-error --standardize --precision float64 \
    --hidden 32,16 --activation tanh --epochs 20 --batch-size 50 --learning-rate 0.01 --momentum 0.9 --nesterov \
    --weight-decay 1e-4 --save "$out/regression.safetensors" --metrics "$out/regression.jsonl"
# 4. AdamW with step decay and early stopping on the CSV, overlap allreduce, 3 ranks, float32.
run 3 train --train "$out/regression.csv" --target y1 --loss squared-error --standardize --hidden 16 \
    --epochs 15 --batch-size 32 --optimizer adamw --lr-schedule step --step-size 5 --gamma 0.5 \
    --validation-split 0.2 --early-stopping 3 --allreduce overlap --save "$out/adamw.safetensors" --metrics "$out/adamw.jsonl"
# 5. Stopped at a checkpoint on 3 ranks, resumed on 2 (Adam, so the optimizer state travels too).
run 3 train --train "$mnist" --hidden 64 --epochs 2 --batch-size 256 --optimizer adam --max-steps 150 \
    --checkpoint "$out/stopped.checkpoint" --checkpoint-every 50 --metrics "$out/resumed.jsonl"
cp "$out/stopped.checkpoint" "$out/stopped-copy.checkpoint"
run 2 train --resume "$out/stopped-copy.checkpoint" --epochs 2 --save "$out/resumed.safetensors" --metrics "$out/resumed.jsonl"
rm "$out/stopped-copy.checkpoint"
# 6. The single-process fallback, spirals, SGD with momentum.
OPENBLAS_NUM_THREADS=1 "$mlp" train --train synthetic:spirals --epochs 5 --momentum 0.5 --save "$out/fallback.safetensors"
# 7. --reproducible, Adam (sharded by default) on 3 ranks and replicated on 2, with clipping and a plateau schedule.
run 3 train --train "$mnist" --hidden 48,32 --max-steps 120 --epochs 2 --batch-size 100 --optimizer adam --reproducible \
    --clip-grad-norm 1 --lr-schedule plateau --plateau-patience 1 --validation-split 0.1 \
    --save "$out/reproducible-sharded.safetensors" --metrics "$out/reproducible-sharded.jsonl"
run 2 train --train "$mnist" --hidden 48,32 --max-steps 120 --epochs 2 --batch-size 100 --optimizer adam --reproducible \
    --chunk-rows 10 --sharded-update off --checkpoint "$out/reproducible.checkpoint" \
    --save "$out/reproducible-replicated.safetensors" --metrics "$out/reproducible-replicated.jsonl"
# 8. Sample and class weights with dropout, AdamW and clipping, sharded on and off (3 ranks), float64.
python3 - "$out/weighted.csv" <<'PY'
import sys
rows = ["a,b,c,w,label"]
state = 777
def uniform():
    global state
    state = (6364136223846793005 * state + 1442695040888963407) % 2**64
    return (state >> 11) / 2**53
for i in range(300):
    x = [uniform() * 4 - 2, uniform() * 4 - 2, uniform()]
    label = (0 if x[0] + x[1] < -0.5 else 1 if x[0] * x[1] < 0.3 else 2)
    rows.append(",".join(f"{v:.6g}" for v in x) + f",{0.25 + 2 * uniform():.4g},{label}")
open(sys.argv[1], "w").write("\n".join(rows) + "\n")
PY
for sharded in on off; do
    run 3 train --train "$out/weighted.csv" --sample-weight w --class-weight balanced --dropout 0.2 --hidden 64,48 \
        --optimizer adamw --clip-grad-norm 0.5 --epochs 3 --batch-size 33 --precision float64 --sharded-update $sharded \
        --save "$out/weighted-sharded-$sharded.safetensors" --metrics "$out/weighted-sharded-$sharded.jsonl"
done
# 9. Class weights by label, SGD with momentum, the plateau schedule, per-layer dropout, overlap allreduce, 2 ranks.
run 2 train --train "$out/weighted.csv" --sample-weight w --class-weight 0:2,2:0.5 --dropout 0.3,0.1 --hidden 32,16 \
    --momentum 0.9 --lr-schedule plateau --plateau-patience 1 --plateau-factor 0.5 --epochs 6 --batch-size 20 \
    --allreduce overlap --save "$out/weighted-overlap.safetensors" --metrics "$out/weighted-overlap.jsonl"
for metrics in "$out"/*.jsonl; do strip "$metrics"; done
rm -f "$out/regression.csv" "$out/weighted.csv"
ls -l "$out"
