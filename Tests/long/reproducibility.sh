#!/usr/bin/env bash
# The full --reproducible matrix (the tests run a corner of it): every recipe in float32 and
# float64, trained by one process and by `mpirun -n P` for P = 1…5 with 1 and 2 OpenBLAS threads
# per rank, must save byte-identical models and metrics; then a run stopped on 3 ranks and
# resumed on 2 must save the uninterrupted model.
#   Tests/long/reproducibility.sh [MLP]        (default: .build/release/mlp)
# Data: scikit-learn's digits (1,797 rows, 64 features, 10 classes) when it is installed, else a
# generated CSV of the same shape. About 3 minutes on 2 cores.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
mlp=$(realpath "${1:-$here/.build/release/mlp}")
out=$(mktemp -d); trap 'rm -rf "$out"' EXIT
export MLP_PROGRESS=0
root=(); [[ $(id -u) == 0 ]] && root=(--allow-run-as-root)

python3 - "$out/digits.csv" <<'PY'
import random, sys
try:
    from sklearn.datasets import load_digits
    X, y = load_digits(return_X_y=True)
    rows = [list(map(float, x)) + [int(t)] for x, t in zip(X, y)]
    print("data: scikit-learn digits", file=sys.stderr)
except ImportError:
    random.seed(0)
    rows = [[random.randint(0, 16) for _ in range(64)] + [random.randrange(10)] for _ in range(1797)]
    print("data: generated (scikit-learn not installed)", file=sys.stderr)
with open(sys.argv[1], "w") as f:
    f.write(",".join(f"p{i}" for i in range(64)) + ",digit\n")
    for r in rows:
        f.write(",".join(str(v) for v in r) + "\n")
PY

# 1,797 rows, batches of 100 (the last of 97), chunks of 12 rows: 9 chunks per batch.
common=(--train "$out/digits.csv" --standardize --hidden 32,16 --batch-size 100 --epochs 4 --seed 11
        --reproducible --chunk-rows 12)
recipes=(
    "--learning-rate 0.1"
    "--learning-rate 0.05 --momentum 0.9 --nesterov --weight-decay 1e-3"
    "--optimizer adam --learning-rate 0.003 --lr-schedule cosine --warmup-steps 10 --clip-grad-norm 1 --validation-split 0.2 --early-stopping 2"
)
numbers() { sed -E 's/,"seconds":[^,}]*//; s/,"samples_per_second":[^,}]*//' "$1"; }
failures=0 runs=0
for r in "${!recipes[@]}"; do
    for precision in float32 float64; do
        # shellcheck disable=SC2206
        args=(train "${common[@]}" ${recipes[$r]} --precision "$precision")
        OPENBLAS_NUM_THREADS=1 "$mlp" "${args[@]}" --save "$out/ref.st" --metrics "$out/ref.jsonl" >/dev/null
        for ranks in 1 2 3 4 5; do
            for threads in 1 2; do
                mpirun "${root[@]}" --oversubscribe --bind-to none -n "$ranks" -x OPENBLAS_NUM_THREADS="$threads" -x MLP_PROGRESS \
                    "$mlp" "${args[@]}" --save "$out/p.st" --metrics "$out/p.jsonl" >/dev/null
                runs=$((runs + 1))
                if cmp -s "$out/ref.st" "$out/p.st" && cmp -s <(numbers "$out/ref.jsonl") <(numbers "$out/p.jsonl"); then
                    verdict=identical
                else
                    verdict=DIFFERENT; failures=$((failures + 1))
                fi
                echo "$verdict  recipe $((r + 1)) $precision  $ranks rank(s) × $threads thread(s)"
            done
        done
    done
done

# Stopped after step 23 on 3 ranks, resumed on 2: the uninterrupted model.
args=(train "${common[@]}" --learning-rate 0.05 --momentum 0.9)
OPENBLAS_NUM_THREADS=1 "$mlp" "${args[@]}" --save "$out/whole.st" >/dev/null
mpirun "${root[@]}" --oversubscribe -n 3 "$mlp" "${args[@]}" --max-steps 23 --checkpoint "$out/ck.st" >/dev/null
mpirun "${root[@]}" --oversubscribe -n 2 "$mlp" train --resume "$out/ck.st" --train "$out/digits.csv" --save "$out/resumed.st" >/dev/null
runs=$((runs + 1))
if cmp -s "$out/whole.st" "$out/resumed.st"; then echo "identical  resume: 3 ranks to step 23, then 2 ranks"
else echo "DIFFERENT  resume: 3 ranks to step 23, then 2 ranks"; failures=$((failures + 1)); fi
echo "reproducibility: $((runs - failures)) of $runs runs identical to one process"
[[ $failures -eq 0 ]]
