#!/usr/bin/env bash
# mlp under a real Slurm: a private slurmctld and slurmd on this machine, and a three-node
# cluster on the network-namespace hosts of Tests/multihost/netns.sh (Tests/slurm/start-slurm.sh).
#
#   Tests/slurm/run-slurm.sh [--mlp PATH]     (as root; default .build/debug/mlp)
#
# Every run trains spirals in float64 with --reproducible; models are compared with cmp, against
# one process's. Checks (exit 1 on any failure):
#   a. srun --mpi=pmix -n 2 and mpirun -n 2 save the same bytes;
#   b. plain srun -n 2 (no PMIx: the cluster has MpiDefault=none) is refused: exactly one line
#      naming `srun --mpi=pmix`, status 64, no model written;
#   c. docs/slurm/train-srun.sbatch (paths and options replaced), requeued mid-run (`scontrol
#      requeue`: SIGTERM, checkpoint), runs again, prints "resuming from … at epoch E, step S"
#      and saves the uninterrupted bytes;
#   d. SIGUSR1 in the two forms the documented job scripts meet it, each followed by the
#      script's own `scontrol requeue` on status 138 and a rerun to the uninterrupted bytes:
#      (i) train-srun.sbatch, to the srun step's tasks, as its `--signal=USR1@90` sends it;
#      (ii) train-mpirun.sbatch, to the batch shell, as its `--signal=B:USR1@90` does, which
#      forwards it to mpirun, which forwards it to the ranks;
#   e. sbatch -N 3 -n 3 across the three namespace hosts (srun --mpi=pmix; MPI over TCP only,
#      the bytes counted on each host's link) saves one process's bytes;
#   f. the first lines of a's two runs, without OPENBLAS_NUM_THREADS: `2 ranks × 1 thread`.
# The test sends d's signals with scancel (-s USR1: the steps; --batch -s USR1: the batch
# shell), not through --time and --signal: Slurm checks time limits only every 30 s or so
# ("may be sent up to 60 seconds earlier"), far too coarse for runs of seconds.
# Without root, Slurm or mpirun it prints "run-slurm: skipped: <reason>" and exits 0: it never
# passes silently. Without network namespaces only e is skipped, with a line.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
mlp="$root/.build/debug/mlp"
while [[ $# -gt 0 ]]; do
    case "$1" in
        --mlp) mlp="$(realpath "${2:?}")"; shift 2 ;;
        *) echo "usage: $0 [--mlp PATH]" >&2; exit 2 ;;
    esac
done

skip() { echo "run-slurm: skipped: $*"; exit 0; }
fail() { echo "run-slurm: FAILED: $*" >&2; exit 1; }
[[ $(id -u) -eq 0 ]] || skip "slurmd and slurmctld need root (running as uid $(id -u))"
for command in slurmctld slurmd srun sbatch scontrol scancel sinfo munge munged mpirun ss; do
    command -v "$command" >/dev/null || skip "$command is not installed (Debian: slurm-wlm munge openmpi-bin iproute2)"
done
[[ -x "$mlp" ]] || fail "no mlp at $mlp (run swift build --product mlp, or give --mlp PATH)"

# Nothing of a Slurm or MPI job this script may itself run in: the jobs here are the test's.
while read -r name; do unset "$name"; done < <(compgen -e | grep -E '^(SLURM_|SBATCH_|SRUN_|SALLOC_|PMIX_|PMI_|OMPI_)' || true)
# f: each rank's thread count is mlp's own choice.
unset OPENBLAS_NUM_THREADS
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1

start=$SECONDS
work="$(mktemp -d /tmp/mlp-slurm.XXXXXX)"
# munged wants its socket's directories searchable by everyone.
chmod 755 "$work"
# shellcheck source=start-slurm.sh
source "$here/start-slurm.sh"
cleanup() {
    slurm_stop "$work/one" 2>/dev/null || true
    slurm_stop "$work/three" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

slurm_start "$work/one" 2>"$work/start.err" || fail "Slurm did not start: $(cat "$work/start.err")"
one_conf="$SLURM_CONF"
three_conf=""
if slurm_start_netns "$work/three" "mlpslurm-$$" 2>"$work/start-three.err"; then
    three_conf="$SLURM_CONF"
else
    echo "run-slurm: the three-node cluster did not start, e is skipped: $(tail -1 "$work/start-three.err")"
fi
export SLURM_CONF="$one_conf"
echo "run-slurm: $(slurmctld -V): one node $(hostname -s) ($(nproc) CPUs)${three_conf:+; three nodes mlp-h1..h3 at 10.99.0.1-3 in network namespaces} ($((SECONDS - start)) s)"

# What every check trains: 282 steps, about 1 s on 2 ranks (debug build, quiet machine). c and d
# signal their job once its checkpoint of step 10 exists: measured, the signal lands by step 40.
options=(--hidden 32,32 --batch-size 64 --learning-rate 0.1 --epochs 3 --seed 7 --precision float64 --reproducible)
train=(train --train synthetic:spirals "${options[@]}")
cmp_single() { cmp -s "$1" "$work/single.safetensors" || fail "$2: the model differs from one process's"; }
first_line() { grep -m1 '^mlp: ' "$1" || true; }
show() { sed 's/^/    /' "$@"; }

# The fields "JobState Restarts ExitCode" of a job; $1 the job, then the command prefix (if any).
job_fields() {
    local job=$1 record
    shift
    record=$("$@" scontrol show job -o "$job" 2>/dev/null) || return 1
    sed -E 's/.*JobState=([A-Z_]+) .*Restarts=([0-9]+) .*ExitCode=([0-9:]+) .*/\1 \2 \3/' <<<"$record"
}
# Waits until a job has ended for good (not requeued) and prints its fields; $1 the job,
# $2 the limit in seconds, then the command prefix.
wait_job() {
    local job=$1 limit=$2 fields=""
    shift 2
    for _ in $(seq $((limit * 10))); do
        fields=$(job_fields "$job" "$@" || true)
        case "${fields%% *}" in
            COMPLETED | FAILED | CANCELLED | TIMEOUT | NODE_FAIL | OUT_OF_MEMORY | BOOT_FAIL | DEADLINE | PREEMPTED)
                echo "$fields"; return 0 ;;
        esac
        sleep 0.1
    done
    echo "not ended after $limit s: ${fields:-no such job}"
}
# Waits until job $1 has written its first checkpoint, $work/$2.checkpoint; fails if the job ends first.
wait_checkpoint() {
    local job=$1 name=$2
    for _ in $(seq 600); do
        [[ -e "$work/$name.checkpoint" ]] && return 0
        case "$(job_fields "$job" || true)" in
            PENDING* | CONFIGURING* | RUNNING* | "") sleep 0.1 ;;
            *) show "$work/$name.log"; fail "$name: the job ended before it wrote $name.checkpoint" ;;
        esac
    done
    show "$work/$name.log"
    fail "$name: no $name.checkpoint after 60 s"
}
# c and d: the job ran twice; in its first run mlp caught SIGNAL after some step S and wrote
# its checkpoint there (the line `interrupted by SIGNAL after step S …`), its second run resumed
# from that checkpoint at step S and saved the uninterrupted model. $1 the name, $2 the signal,
# $3 the job's fields, $4 "requeue" when the job script itself must have requeued the job on 138.
check_rerun() {
    local name=$1 signal=$2 fields=$3 requeued_by_script=${4:-} step
    show "$work/$name.log" | grep -E '^    (mlp: |resuming from)' || true
    [[ "$fields" == "COMPLETED 1 0:0" ]] || fail "$name: the job ended as '$fields', not 'COMPLETED 1 0:0' (completed after one requeue)"
    step=$(sed -nE "s/^mlp: .*interrupted by $signal after step ([0-9]+) .*checkpoint written to .*$name\.checkpoint.*/\1/p" \
        "$work/$name.log" | head -1)
    [[ -n "$step" ]] || fail "$name: no line 'interrupted by $signal after step S …; checkpoint written to $name.checkpoint'"
    [[ -z "$requeued_by_script" ]] || grep -q "^mlp: stopped before the time limit (status 138); requeueing job" "$work/$name.log" \
        || fail "$name: the job script did not requeue the job on status 138"
    grep -Eq "^resuming from .*$name\.checkpoint at epoch [0-9]+, step $step\$" "$work/$name.log" \
        || fail "$name: the second run did not resume from $name.checkpoint at step $step"
    cmp_single "$work/$name.safetensors" "$name"
}

"$mlp" "${train[@]}" --save "$work/single.safetensors" >"$work/single.log"
echo "run-slurm: one process: $(first_line "$work/single.log")"

check_a_f() {
    local launcher line status=0
    srun --mpi=pmix -n 2 "$mlp" "${train[@]}" --save "$work/srun.safetensors" >"$work/srun.log" 2>&1 || status=$?
    [[ $status -eq 0 ]] || { show "$work/srun.log"; fail "a: srun --mpi=pmix -n 2 ended with status $status"; }
    mpirun -n 2 "$mlp" "${train[@]}" --save "$work/mpirun.safetensors" >"$work/mpirun.log" 2>&1 || status=$?
    [[ $status -eq 0 ]] || { show "$work/mpirun.log"; fail "a: mpirun -n 2 ended with status $status"; }
    for launcher in srun mpirun; do echo "    $launcher: $(first_line "$work/$launcher.log")"; done
    cmp -s "$work/srun.safetensors" "$work/mpirun.safetensors" || fail "a: srun --mpi=pmix -n 2 and mpirun -n 2 saved different models"
    cmp_single "$work/srun.safetensors" "a: srun --mpi=pmix -n 2"
    echo "run-slurm: a. srun --mpi=pmix -n 2 = mpirun -n 2 = one process, byte for byte"
    for launcher in srun mpirun; do
        line=$(first_line "$work/$launcher.log")
        [[ "$line" == *", 2 ranks × 1 thread;"* ]] || fail "f: the first line of $launcher -n 2 does not say '2 ranks × 1 thread'"
    done
    echo "run-slurm: f. both say 2 ranks × 1 thread without OPENBLAS_NUM_THREADS"
}

check_b() {
    local status=0 lines
    srun -n 2 "$mlp" "${train[@]}" --save "$work/plain.safetensors" >"$work/plain.log" 2>&1 || status=$?
    show "$work/plain.log" | grep -Ev '^    epoch ' | head -20
    lines=$(grep -c -- 'srun --mpi=pmix' "$work/plain.log" || true)
    [[ $lines -eq 1 ]] || fail "b: plain srun -n 2 printed $lines lines naming srun --mpi=pmix, not 1"
    [[ $status -eq 64 ]] || fail "b: plain srun -n 2 ended with status $status, not 64"
    [[ ! -e "$work/plain.safetensors" ]] || fail "b: plain srun -n 2 wrote its model"
    echo "run-slurm: b. plain srun -n 2 refused: one line, status 64, no model"
}

# c and d run the job scripts of docs/slurm.md, docs/slurm/train-srun.sbatch and
# train-mpirun.sbatch, as a user would after editing them: sbatch's options override their
# #SBATCH lines for this one node (2 tasks, a CPU each, the output file), and their paths and
# training options become the test's. $1 the job's name (its checkpoint, model and metrics are
# $work/$1.*), $2 the script. Fails, naming the script, when it no longer has the text replaced.
documented_job() {
    local name=$1 script=$2 text
    text=$(<"$root/docs/slurm/$script")
    text=${text//"/opt/mlp/bin/mlp"/"$(printf '%q' "$mlp")"}
    text=${text//"--train /shared/data/train.X.npy --train-labels /shared/data/train.y.npy"/"--train synthetic:spirals"}
    text=${text//"--hidden 512,512 --batch-size 256 --learning-rate 0.05 --epochs 50"/"${options[*]}"}
    text=${text//"--checkpoint-every 500"/"--checkpoint-every 10"}
    text=${text//"/shared/runs/"/"$work/"}
    [[ "$text" != */shared/* && "$text" != */opt/mlp/* && "$text" == *"--train synthetic:spirals"* &&
       "$text" == *"${options[*]}"* && "$text" == *"--checkpoint-every 10"* ]] \
        || fail "$name: docs/slurm/$script changed: update the paths and options run-slurm.sh replaces in it"
    echo "$text" >"$work/$name.sbatch"
    sbatch --parsable --job-name="$name" --nodes=1 --ntasks-per-node=2 --cpus-per-task=1 \
        --output="$work/$name.log" "$work/$name.sbatch"
}

# c. srun's script, requeued from outside while it runs (SIGTERM to the job: mlp writes its
# checkpoint and exits 143, which the script leaves alone).
check_c() {
    local job fields
    job=$(documented_job requeue train-srun.sbatch)
    wait_checkpoint "$job" requeue
    scontrol requeue "$job"
    fields=$(wait_job "$job" 90)
    check_rerun requeue SIGTERM "$fields"
    echo "run-slurm: c. scontrol requeue mid-run: the rerun resumed and saved one process's model"
}

# d (i). srun's script, SIGUSR1 to its step's tasks, as its --signal=USR1@90 sends it.
check_d_srun() {
    local job fields
    job=$(documented_job usr1-srun train-srun.sbatch)
    wait_checkpoint "$job" usr1-srun
    scancel --signal=USR1 "$job"
    fields=$(wait_job "$job" 90)
    check_rerun usr1-srun SIGUSR1 "$fields" requeue
    echo "run-slurm: d. SIGUSR1 to srun's tasks: status 138, requeued by the script, resumed to one process's model"
}

# d (ii). mpirun's script, SIGUSR1 to its batch shell alone, as its --signal=B:USR1@90 sends it.
check_d_mpirun() {
    local job fields
    job=$(documented_job usr1-mpirun train-mpirun.sbatch)
    wait_checkpoint "$job" usr1-mpirun
    scancel --batch --signal=USR1 "$job"
    fields=$(wait_job "$job" 90)
    check_rerun usr1-mpirun SIGUSR1 "$fields" requeue
    echo "run-slurm: d. SIGUSR1 to the batch shell, forwarded to mpirun: status 138, requeued by the script, resumed to one process's model"
}

on_three() { SLURM_CONF="$three_conf" ip netns exec "${hosts[0]}" "$@"; }
tx_bytes() { for ns in "${hosts[@]}"; do ip netns exec "$ns" cat /sys/class/net/eth0/statistics/tx_bytes; done; }
check_e() {
    local job fields before after k train_words
    train_words="$(printf '%q ' "$mlp" "${train[@]}")"
    cat >"$work/three.sbatch" <<EOF
#!/bin/bash
#SBATCH --nodes=3
#SBATCH --ntasks=3
#SBATCH --output=$work/three.log
#SBATCH --chdir=$work
# MPI between the hosts over their links only: no shared memory, no loopback.
export OMPI_MCA_btl=tcp,self OMPI_MCA_btl_tcp_if_include=10.99.0.0/24
srun --mpi=pmix $train_words --save three.safetensors
EOF
    mapfile -t before < <(tx_bytes)
    job=$(on_three sbatch --parsable "$work/three.sbatch")
    fields=$(wait_job "$job" 90 on_three)
    mapfile -t after < <(tx_bytes)
    echo "    job $job on $(on_three scontrol show job -o "$job" | grep -o ' NodeList=[^ ]*' | cut -d= -f2)"
    show "$work/three.log" | grep -Ev '^    epoch ' || true
    [[ "$fields" == "COMPLETED 0 0:0" ]] || fail "e: the job ended as '$fields', not 'COMPLETED 0 0:0'"
    echo "    eth0 bytes sent by mlp-h1..h3 during the job: $((after[0] - before[0])) $((after[1] - before[1])) $((after[2] - before[2]))"
    for k in 0 1 2; do
        (( after[k] - before[k] > 100000 )) || fail "e: mlp-h$((k + 1)) sent only $((after[k] - before[k])) bytes: the ranks did not talk over the links"
    done
    cmp_single "$work/three.safetensors" "e: sbatch -N 3 -n 3"
    echo "run-slurm: e. sbatch -N 3 -n 3 across three hosts = one process, byte for byte"
}

# Each check in its own subshell: a failing one ends only itself, and every failure is reported.
failed=()
run_check() {
    local name=$1 status t0=$SECONDS
    shift
    set +e
    (set -e; "$@")
    status=$?
    set -e
    echo "    ($name: $((SECONDS - t0)) s)"
    if [[ $status -ne 0 ]]; then
        failed+=("$name")
        # A job it left would hold the node's CPUs from the next check.
        scancel --quiet --full --user="$(id -un)" 2>/dev/null || true
    fi
}
run_check "a, f" check_a_f
run_check b check_b
run_check c check_c
run_check "d (srun)" check_d_srun
run_check "d (mpirun)" check_d_mpirun
if [[ -n "$three_conf" ]]; then run_check e check_e; fi

[[ ${#failed[@]} -eq 0 ]] || fail "checks ${failed[*]} failed ($((SECONDS - start)) s)"
echo "run-slurm: passed in $((SECONDS - start)) s"
