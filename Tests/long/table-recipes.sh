#!/usr/bin/env bash
# Numeric CSV recipes (no categorical columns, no missing values) for changes to the CSV table
# path that must not move a bit: trains them with one `mlp` binary into OUT (model files,
# checkpoints, metrics without timings, predictions); run it with the binaries before and after,
# then compare:
#   Tests/long/table-recipes.sh OLD_MLP /tmp/before && Tests/long/table-recipes.sh NEW_MLP /tmp/after
#   Tests/long/recipes.sh --compare /tmp/before /tmp/after
# Classification and regression, --standardize, 1 process and mpirun -n 2, float32 and float64,
# with and without --reproducible, a validation split, --test, weights, gzip. About a minute on 2 cores.
set -euo pipefail

mlp=$(realpath "$1"); out=$2
# The data in one place for both runs: checkpoints record its path.
data=${TMPDIR:-/tmp}/mlp-table-recipes-data
mkdir -p "$out" "$data"; rm -f "$out"/*
export OPENBLAS_NUM_THREADS=1 MLP_PROGRESS=0
if [[ -z "${OPENBLAS_CORETYPE:-}" ]]; then
    if grep -qw avx512bw /proc/cpuinfo; then export OPENBLAS_CORETYPE=SkylakeX; else export OPENBLAS_CORETYPE=Haswell; fi
fi
root=(); [[ $(id -u) == 0 ]] && root=(--allow-run-as-root)
run() { local n=$1; shift; mpirun "${root[@]}" --oversubscribe -n "$n" -x OPENBLAS_NUM_THREADS -x OPENBLAS_CORETYPE -x MLP_PROGRESS "$mlp" "$@"; }
strip() { sed -E 's/,"seconds":[^,}]*//; s/,"samples_per_second":[^,}]*//; s/,"parameters_fingerprint":[^,}]*//' "$1" > "$1.tmp" && mv "$1.tmp" "$1"; }

# Deterministic data: a 3-class table (7 features on different scales, a weight column, string
# labels), its test rows (also in another column order), and a two-target regression table.
python3 - "$data" <<'PY'
import sys, math, gzip
out = sys.argv[1]
state = 987654321
def uniform():
    global state
    state = (6364136223846793005 * state + 1442695040888963407) % 2**64
    return (state >> 11) / 2**53
def classes(n):
    rows = []
    for i in range(n):
        x = [uniform() * 4 - 2, uniform() * 200, uniform(), uniform() * 1e-3, uniform() * 10 - 5, round(uniform() * 9), uniform() * 3]
        score = x[0] + 0.01 * x[1] - 2 * x[2] + 0.3 * x[4]
        label = ["ant", "bee", "cow"][0 if score < 0 else 1 if score < 1.5 else 2]
        rows.append(x + [round(0.5 + uniform() * 2, 3), label])
    return rows
header = ["x1", "x2", "x3", "x4", "x5", "x6", "x7", "w", "label"]
def write(path, header, rows, order=None):
    order = order or list(range(len(header)))
    text = ",".join(header[j] for j in order) + "\n" + "".join(",".join(f"{r[j]:.7g}" if isinstance(r[j], float) else str(r[j]) for j in order) + "\n" for r in rows)
    open(path, "w").write(text)
    return text
text = write(f"{out}/classes.csv", header, classes(600))
open(f"{out}/classes.csv.gz", "wb").write(gzip.compress(text.encode(), mtime=0))
test = classes(200)
write(f"{out}/classes-test.csv", header, test)
write(f"{out}/classes-shuffled.csv", header, test, order=[8, 3, 0, 1, 2, 7, 4, 5, 6])
rows = []
for i in range(500):
    x = [uniform() * 10, uniform() * 1000 - 500, uniform(), uniform() * 3 - 1, uniform() * 50]
    rows.append(x + [2 * x[0] - 0.01 * x[1] + 5 * math.sin(3 * x[2]) + x[3] ** 2, x[4] / 10 + x[0] * x[3]])
write(f"{out}/regression.csv", ["a", "b", "c", "d", "e", "y1", "y2"], rows)
PY

common=(--hidden 16,8 --epochs 4 --batch-size 32 --seed 3)
# Classification.
"$mlp" train --train "$data/classes.csv" --target label --sample-weight w "${common[@]}" --standardize \
    --save "$out/c1-f32-std.safetensors" --metrics "$out/c1.jsonl"
run 2 train --train "$data/classes.csv" --target label "${common[@]}" --standardize --precision float64 --validation-split 0.2 \
    --optimizer adam --save "$out/c2-n2-f64-std-val.safetensors" --metrics "$out/c2.jsonl"
"$mlp" train --train "$data/classes.csv" --target label "${common[@]}" --reproducible \
    --save "$out/c3-f32-repro.safetensors" --checkpoint "$out/c3.checkpoint"
run 2 train --train "$data/classes.csv.gz" --target label "${common[@]}" --reproducible --standardize --class-weight balanced \
    --test "$data/classes-test.csv" --save "$out/c4-n2-f32-repro-std.safetensors" --metrics "$out/c4.jsonl"
run 2 train --train "$data/classes.csv" --target label --sample-weight w "${common[@]}" --precision float64 --reproducible \
    --test "$data/classes-test.csv" --save "$out/c5-n2-f64-repro.safetensors"
# Regression.
"$mlp" train --train "$data/regression.csv" --target y1,y2 --loss squared-error "${common[@]}" --standardize --precision float64 \
    --save "$out/r1-f64-std.safetensors" --metrics "$out/r1.jsonl"
run 2 train --train "$data/regression.csv" --target y2,y1 --loss squared-error "${common[@]}" --precision float32 --reproducible \
    --standardize --save "$out/r2-n2-f32-repro-std.safetensors" --checkpoint "$out/r2.checkpoint"
run 2 train --train "$data/regression.csv" --target y1 --loss squared-error "${common[@]}" --activation tanh \
    --save "$out/r3-n2-f32.safetensors"
# What reads them: predictions and evaluations.
"$mlp" predict --model "$out/c1-f32-std.safetensors" --input "$data/classes-shuffled.csv" --output "$out/c1.predictions.csv"
"$mlp" predict --model "$out/r1-f64-std.safetensors" --input "$data/regression.csv" --output "$out/r1.predictions.csv"
"$mlp" evaluate --model "$out/c2-n2-f64-std-val.safetensors" --data "$data/classes-test.csv" --json > "$out/c2.evaluation.json"
run 2 evaluate --model "$out/r2-n2-f32-repro-std.safetensors" --data "$data/regression.csv" --json > "$out/r2.evaluation.json"
for file in "$out"/*.jsonl; do strip "$file"; done
ls "$out" | wc -l
