#!/usr/bin/env bash
# Peak memory of reading a gzipped CSV, against the same CSV as text (not run in CI; writes its
# data to a temporary folder and removes it):
#   Tests/long/gzip-memory.sh [MLP] [MEGABYTES]
# MLP defaults to .build/release/mlp (build it first: swift build -c release), MEGABYTES (the
# inflated CSV's size) to 200. Generates a CSV of 20 float features and a class label, gzips
# it, then runs `mlp convert` (streams to .npy) and `mlp train --max-steps 1` (reads the data
# into memory) on the .csv.gz and on the .csv under /usr/bin/time -v, and prints the peak
# resident set of each. About a minute for 200 MB on 2 cores.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
mlp=$(realpath "${1:-$here/.build/release/mlp}")
megabytes=${2:-200}
work=$(mktemp -d /tmp/mlp-gzip-memory.XXXXXX)
trap 'rm -rf "$work"' EXIT

rows=$(( megabytes * 1000000 / 192 ))   # about 192 bytes a row
awk -v rows="$rows" 'BEGIN {
    srand(1)
    header = ""; for (j = 0; j < 20; j++) header = header "x" j ","; print header "label"
    for (i = 0; i < rows; i++) {
        line = ""; for (j = 0; j < 20; j++) line = line sprintf("%.6f,", 2 * rand() - 1)
        print line (i % 10)
    }
}' > "$work/data.csv"
gzip -k -6 "$work/data.csv"
inflated=$(stat -c %s "$work/data.csv"); compressed=$(stat -c %s "$work/data.csv.gz")
echo "data: $rows rows x 20 features + label; data.csv $(( inflated / 1048576 )) MiB ($inflated bytes), data.csv.gz $(( compressed / 1048576 )) MiB"

# Peak resident set (MiB) and wall time of one command, which must succeed.
measure() {
    local label=$1; shift
    /usr/bin/time -v -o "$work/time" "$@" > "$work/out" 2>&1 || { cat "$work/out" "$work/time" >&2; exit 1; }
    local kib seconds
    kib=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$work/time")
    seconds=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$work/time")
    printf '%-34s peak RSS %5d MiB  wall %s\n' "$label" $(( kib / 1024 )) "$seconds"
}
export OPENBLAS_NUM_THREADS=1 MLP_PROGRESS=0
for input in data.csv.gz data.csv; do
    measure "convert --input $input" "$mlp" convert --input "$work/$input" --output "$work/out-$input"
done
cmp "$work/out-data.csv.gz.X.npy" "$work/out-data.csv.X.npy" && cmp "$work/out-data.csv.gz.y.npy" "$work/out-data.csv.y.npy" \
    && echo "convert: the same .npy files from both"
for input in data.csv.gz data.csv; do
    measure "train --max-steps 1 --train $input" "$mlp" train --train "$work/$input" --hidden 8 --max-steps 1 --epochs 1
done
