#!/usr/bin/env bash
# Multi-host training over real TCP on one machine: three network namespaces act as hosts.
#
#   Tests/multihost/run-netns.sh [--mlp PATH] [--measure DIR]
#
# Each "host" mlpnet-<pid>-hK (K = 1, 2, 3) has one interface eth0 = 10.99.0.K/24, a veth whose
# other end sits in a switch namespace (a Linux bridge; for the slow link, a user-space switch);
# netns.sh makes them.
# The subnet exists only inside these namespaces: no interface joins the machine's own network,
# there is no route out, so no traffic can leave them. mpirun runs in h1 and starts orted in h2
# and h3 through netns-rsh (the plm_rsh_agent, standing in for ssh), and MPI is forced onto TCP
# over eth0 (btl tcp,self; btl_tcp_if_include and oob_tcp_if_include 10.99.0.0/24), so every
# byte between ranks crosses a veth link. The namespaces share the file system: it stands for
# the shared file system (or copies at identical paths) a cluster needs.
#
# Checks (exit 1 on any failure):
#   1. training across the three hosts gives the single-process model (float64, ≤ 1e-12
#      relative) and the same-host mpirun -n 3 model, and the interface counters show the
#      bytes crossed the links; the same for .npy data;
#   2. ./launch --hostfile FILE with the flags of docs/several-hosts.md in MLP_MPIRUN_FLAGS trains across them;
#      ./launch --restarts 1 finishes on h1 and h2 when h3 is lost: (a) h3's rank is killed at a
#      fixed step (mlp-faults) and h3 stops answering the agent; (b) h3's link goes down mid-run
#      (the watchdog's 75, then mpirun waits for h3 until launch ends it); one restart line each,
#      status 0, the metrics without a repeated step, and the model equal to the single-process
#      one (byte for byte with `mlp train --reproducible` when mlp has it, else ≤ 1e-12);
#   3. over a slow link (1 ms one-way delay, 1 Gbit/s: tc netem, or where the kernel lacks
#      netem, slowlink.py, a user-space switch doing the same) the model is still the same;
#      the step times of fast and slow links are printed; so are, on both links, the step times
#      of Adam with the update replicated and sharded (--sharded-update off / on, 20 steps),
#      whose models must agree (≤ 1e-12).
# --measure DIR also writes allreduce and MNIST step timings over the fast and the slow link to
# DIR (for Benchmarks/SCALING.md; use a release build: --mlp .build/release/mlp).
# Without root, network namespaces or mpirun it prints "run-netns: skipped: <reason>" and
# exits 0: it never passes silently.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
mlp="$root/.build/debug/mlp" measure=""
while [[ $# -gt 0 ]]; do
    case "$1" in
        --mlp) mlp="$(realpath "${2:?}")"; shift 2 ;;
        --measure) measure="$(realpath -m "${2:?}")"; shift 2 ;;
        *) echo "usage: $0 [--mlp PATH] [--measure DIR]" >&2; exit 2 ;;
    esac
done

skip() { echo "run-netns: skipped: $*"; exit 0; }
fail() { echo "run-netns: FAILED: $*" >&2; exit 1; }
[[ $(id -u) -eq 0 ]] || skip "network namespaces need root (running as uid $(id -u))"
command -v ip >/dev/null || skip "ip (iproute2) is not installed"
command -v mpirun >/dev/null || skip "mpirun is not installed"
command -v python3 >/dev/null || skip "python3 is not installed (it compares the model files)"
command -v unshare >/dev/null || skip "unshare (util-linux) is not installed"
[[ -x "$mlp" ]] || fail "no mlp at $mlp (run swift build, or give --mlp PATH)"

# shellcheck source=netns.sh
source "$here/netns.sh"
work="$(mktemp -d /tmp/mlp-netns.XXXXXX)"
hub_pid=""
cleanup() {
    [[ -n "$hub_pid" ]] && kill "$hub_pid" 2>/dev/null && wait "$hub_pid" 2>/dev/null
    netns_delete
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

prefix="mlpnet-$$"
netns_create "$prefix" 2>"$work/netns.err" || skip "cannot create a network namespace: $(cat "$work/netns.err")"
echo "run-netns: hosts ${hosts[*]} = 10.99.0.1-3 on a bridge in $switch; routes in h1:"
ip -n "${hosts[0]}" route | sed 's/^/    /'

# The rsh agent: "netns-rsh HOST COMMAND…" runs COMMAND in HOST's namespace, as ssh would on HOST.
# Like ssh, it fails for a host that cannot be reached: its link is down, or it is lost (the
# file hK-lost exists: its processes were killed, as on a host that died).
cat >"$work/netns-rsh" <<EOF
#!/bin/sh
while [ \$# -gt 0 ]; do case "\$1" in -*) shift ;; *) break ;; esac; done
host="\$1"; shift
case "\$host" in
    10.99.0.1) k=1 ;; 10.99.0.2) k=2 ;; 10.99.0.3) k=3 ;;
    *) echo "netns-rsh: unknown host \$host" >&2; exit 255 ;;
esac
if [ -e "$work/h\$k-lost" ] || ! ip -n "$switch" link show "h\$k" | grep -q "state UP"; then
    echo "ssh: connect to host \$host port 22: No route to host" >&2; exit 255
fi
# Its own network and host name (a UTS namespace), as a separate machine has.
exec ip netns exec "$prefix-h\$k" unshare --uts sh -c "hostname mlp-h\$k && \$*"
EOF
chmod +x "$work/netns-rsh"
printf '#!/bin/sh\nhostname mlp-h1 && exec "$@"\n' >"$work/as-h1"
chmod +x "$work/as-h1"
printf '10.99.0.1 slots=1\n10.99.0.2 slots=1\n10.99.0.3 slots=1\n' >"$work/hosts"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OPENBLAS_NUM_THREADS=1
# PMIx's shared-memory store (gds ds21) trips over concurrent jobs on one machine; the hash store does not.
export PMIX_MCA_gds=hash
# What a real cluster needs (pick the network) plus the agent that replaces ssh here.
network_flags="--mca btl tcp,self --mca btl_tcp_if_include 10.99.0.0/24 --mca oob_tcp_if_include 10.99.0.0/24"
cluster_flags="--mca plm_rsh_agent $work/netns-rsh $network_flags"

# mpirun across the three hosts, started in h1.
across() {
    local ranks=$1 extra=()
    shift
    # The "hosts" share this machine's cores: with more ranks than cores, a rank waiting for a
    # message must yield its core (mpirun does so by itself when it knows it oversubscribes one
    # host), or it spins for a whole scheduler time slice (~4 ms) before the sender runs.
    (( ranks > $(nproc) )) && extra+=(--mca mpi_yield_when_idle 1)
    [[ -n "${OPENBLAS_CORETYPE:-}" ]] && extra+=(-x OPENBLAS_CORETYPE)
    # shellcheck disable=SC2086
    ip netns exec "${hosts[0]}" unshare --uts "$work/as-h1" mpirun --allow-run-as-root --hostfile "${hostfile:-$work/hosts}" -n "$ranks" $cluster_flags \
        "${extra[@]}" --bind-to none -x OPENBLAS_NUM_THREADS=1 "$@"
}
tx_bytes() { for ns in "${hosts[@]}"; do ip netns exec "$ns" cat /sys/class/net/eth0/statistics/tx_bytes; done | paste -sd' '; }
compare() { python3 "$here/compare_models.py" "$@"; }

echo "run-netns: mpirun in h1 starts one rank per host:"
across 3 sh -c 'echo "    rank $OMPI_COMM_WORLD_RANK on $(hostname), $(ip -br -4 addr show eth0 | tr -s " ")"' | sort

# 1. The same model across hosts as on one.
train=(train --train synthetic:spirals --hidden 32,32 --batch-size 64 --learning-rate 0.1 --epochs 2 --seed 7
       --precision float64 --checksum-every 20)
"$mlp" "${train[@]}" --save "$work/single.safetensors" >"$work/single.log"
# --allreduce single: one host's 3 ranks would otherwise share a window (auto), whose sums in rank
# order are not MPI's allreduce's; one rank per host always takes the allreduce.
mpirun --allow-run-as-root -n 3 --oversubscribe --bind-to none -x OPENBLAS_NUM_THREADS=1 "$mlp" "${train[@]}" \
    --allreduce single --save "$work/onehost.safetensors" >"$work/onehost.log"
before=$(tx_bytes)
across 3 "$mlp" "${train[@]}" --save "$work/across.safetensors" | tee "$work/across.log" | sed 's/^/    /'
after=$(tx_bytes)
echo "run-netns: eth0 tx bytes per host before: $before; after: $after"
read -r -a b <<<"$before"; read -r -a a <<<"$after"
for k in 0 1 2; do (( a[k] - b[k] > 100000 )) || fail "host $((k+1)) sent only $((a[k] - b[k])) bytes: the ranks did not talk over the links"; done
printf 'run-netns: across 3 hosts vs one process:      '; compare "$work/across.safetensors" "$work/single.safetensors" 1e-12 \
    || fail "the model trained across hosts differs from the single-process one"
printf 'run-netns: across 3 hosts vs mpirun -n 3 here:  '; compare "$work/across.safetensors" "$work/onehost.safetensors" 1e-12 \
    || fail "the model trained across hosts differs from the same-host mpirun one"
cmp -s "$work/across.safetensors" "$work/onehost.safetensors" && echo "run-netns: (byte-identical to mpirun -n 3 on one host)"

# The same with memory-mapped .npy data (every host maps the file; each touches its rows).
awk 'BEGIN { srand(3); print "a,b,c,d,label"; for (i = 0; i < 3000; i++) { x = rand(); y = rand(); z = rand(); w = rand();
     printf "%.17g,%.17g,%.17g,%.17g,%d\n", x, y, z, w, (x * y > z * w) + (x > 0.8) } }' >"$work/table.csv"
"$mlp" convert --input "$work/table.csv" --output "$work/table" --dtype float64 >/dev/null
npy=(train --train "$work/table.X.npy" --train-labels "$work/table.y.npy" --hidden 16 --batch-size 50 --epochs 1
     --learning-rate 0.1 --precision float64 --standardize)
"$mlp" "${npy[@]}" --save "$work/npy-single.safetensors" >/dev/null
mpirun --allow-run-as-root -n 3 --oversubscribe --bind-to none "$mlp" "${npy[@]}" --allreduce single \
    --save "$work/npy-onehost.safetensors" >/dev/null
across 3 "$mlp" "${npy[@]}" --save "$work/npy-across.safetensors" | tail -1 | sed 's/^/    /'
printf 'run-netns: .npy across 3 hosts vs one process: '; compare "$work/npy-across.safetensors" "$work/npy-single.safetensors" 1e-12 \
    || fail "the .npy model trained across hosts differs from the single-process one"
cmp -s "$work/npy-across.safetensors" "$work/npy-onehost.safetensors" || fail ".npy: across hosts differs from mpirun -n 3 on one host"
echo "run-netns: (byte-identical to mpirun -n 3 on one host)"

# 2. ./launch --hostfile, as docs/several-hosts.md tells a cluster user (MLP_BINARY: this build, no release build).
echo "run-netns: ip netns exec h1 ./launch --hostfile hosts train … (MLP_MPIRUN_FLAGS=\"$network_flags\" + the rsh agent)"
ip netns exec "${hosts[0]}" unshare --uts "$work/as-h1" env MLP_BINARY="$mlp" MLP_MPIRUN_FLAGS="$cluster_flags" \
    "$root/launch" --hostfile "$work/hosts" "${train[@]}" --save "$work/launch.safetensors" 2>&1 | tail -2 | sed 's/^/    /'
printf 'run-netns: launch --hostfile vs one process:   '; compare "$work/launch.safetensors" "$work/single.safetensors" 1e-12 \
    || fail "./launch --hostfile gave another model"

# ./launch --restarts 1 when h3 is lost; $1 names the case, the rest are launch's environment.
# Prints launch's output; fails unless it ends with status 0, one restart line that drops h3,
# 2 ranks after it, metrics without a repeated step, and the single-process model.
restart_case() {
    local name=$1 status=0
    shift
    ip netns exec "${hosts[0]}" unshare --uts "$work/as-h1" env "$@" "$root/launch" --restarts 1 --hostfile "$work/hosts" \
        "${restart_train[@]}" --checkpoint "$work/$name.checkpoint" --checkpoint-every 10 --metrics "$work/$name.jsonl" \
        --save "$work/$name.safetensors" >"$work/$name.log" 2>&1 || status=$?
    grep -E '^(launch|mlp):' "$work/$name.log" | sed 's/^/    /'
    [[ $status -eq 0 ]] || fail "$name: launch --restarts 1 ended with status $status"
    local lines
    lines=$(grep -c '^launch: restart ' "$work/$name.log" || true)
    [[ $lines -eq 1 ]] || fail "$name: $lines restart lines, not 1"
    grep '^launch: restart ' "$work/$name.log" | grep -q 'host 10.99.0.3 dropped (no answer: .*; 2 ranks now; resuming from step ' \
        || fail "$name: the restart line does not drop h3 and resume on 2 ranks"
    grep -q '^mlp: .*, 2 ranks × ' "$work/$name.log" || fail "$name: the restarted job did not run on 2 ranks"
    [[ -z "$(grep -o '"step":[0-9]*' "$work/$name.jsonl" | sort | uniq -d)" ]] || fail "$name: a step's metrics line appears twice"
    [[ $(grep -c . "$work/$name.jsonl") -eq 2 ]] || fail "$name: the metrics file does not hold the 2 epochs"
    if [[ -n "$reproducible" ]]; then
        cmp -s "$work/$name.safetensors" "$work/restart-single.safetensors" || fail "$name: the model differs from the single-process one"
        echo "run-netns: $name: byte-identical to one process (--reproducible)"
    else
        printf 'run-netns: %s: vs one process:         ' "$name"
        compare "$work/$name.safetensors" "$work/restart-single.safetensors" 1e-12 || fail "$name: the model differs from the single-process one"
    fi
}
faults="$(dirname "$mlp")/mlp-faults"
if [[ -x "$faults" ]]; then
    # Byte for byte across rank counts needs `mlp train --reproducible`; without it, rounding.
    reproducible=""
    # Read the whole help first: `grep -q` quitting early would end mlp with SIGPIPE, and under
    # pipefail the test would fail although the option is there.
    [[ "$("$mlp" train --help 2>&1)" == *--reproducible* ]] && reproducible="--reproducible"
    restart_train=(train --train synthetic:spirals --hidden 32,32 --batch-size 64 --learning-rate 0.1 --epochs 2 --seed 7
                   --precision float64 $reproducible)
    "$mlp" "${restart_train[@]}" --save "$work/restart-single.safetensors" >/dev/null
    start=$SECONDS
    echo "run-netns: ./launch --restarts 1, h3's rank killed at step 25 (mlp-faults), then h3 no longer answers the agent:"
    restart_case killed MLP_BINARY="$faults" \
        MLP_MPIRUN_FLAGS="$cluster_flags -x MLP_TEST_KILL_AT_STEP=25 -x MLP_TEST_KILL_ONCE_FILE=$work/h3-lost"
    grep -q 'status 137 (a rank was killed)' "$work/killed.log" || fail "killed: the restart line does not give status 137"
    rm -f "$work/h3-lost"
    netns_kill_in "${hosts[2]}"  # the lost host's orted and rank
    echo "run-netns: ./launch --restarts 1, h3's link down once the first checkpoint exists (--collective-timeout 3, MLP_LAUNCH_ABORT_GRACE=5):"
    ( for _ in $(seq 600); do [[ -e "$work/vanished.checkpoint" ]] && break; sleep 0.05; done
      ip -n "$switch" link set h3 down ) &
    restart_train+=(--collective-timeout 3)
    restart_case vanished MLP_BINARY="$mlp" MLP_MPIRUN_FLAGS="$cluster_flags" MLP_LAUNCH_ABORT_GRACE=5
    grep -Eq 'status (75|205)' "$work/vanished.log" || fail "vanished: the restart line does not give status 75 or 205"
    netns_kill_in "${hosts[2]}"  # the lost host's orted and rank
    ip -n "$switch" link set h3 up
    # Both ends report UP a moment later; until then the agent refuses h3.
    for _ in $(seq 100); do
        ip -n "$switch" link show h3 | grep -q "state UP" && ip -n "${hosts[2]}" link show eth0 | grep -q "state UP" && break
        sleep 0.1
    done
    "$work/netns-rsh" 10.99.0.3 true || fail "h3 does not answer again after its link came back up"
    # The agent answering is not enough: h3's daemon must also reach mpirun back over TCP, which
    # failed for a few seconds after the link flap ("ORTE was unable to reliably start one or more
    # daemons"). Wait until a job across the 3 hosts starts.
    for attempt in $(seq 10); do
        across 3 true >/dev/null 2>&1 && break
        (( attempt < 10 )) || fail "no job starts across the 3 hosts 20 s after h3's link came back up"
        sleep 2
    done
    echo "run-netns: the two restart cases took $(( SECONDS - start )) s"
else
    echo "run-netns: no mlp-faults beside $mlp: the launch --restarts cases are skipped"
fi

# --measure: allreduce times and MNIST step times across the hosts, for Benchmarks/SCALING.md.
measure_link() {
    local name=$1 mnist="${MNIST_DIR:-$root/../shared/data/mnist}"
    mkdir -p "$measure"
    for ranks in 2 3; do
        across "$ranks" "$mlp" bench-allreduce --bytes 8,64,512,4096,32768,262144,1048576,2682920,8388608 \
            >"$measure/allreduce-$name-P$ranks.txt"
    done
    [[ -d "$mnist" ]] || { echo "run-netns: no MNIST at $mnist: no step times"; return; }
    for ranks in 1 2 3; do
        for repeat in 1 2 3; do
            across "$ranks" "$mlp" train --train "mnist:$mnist" --hidden 512,512 --batch-size 64 --max-steps 400 \
                --checksum-every 0 2>&1 | grep '^epoch'
        done >"$measure/mnist-$name-P$ranks.txt"
    done
    echo "run-netns: measurements over the $name link in $measure"
}
[[ -n "$measure" ]] && measure_link veth

# 3. A slow link: 1 ms one-way delay and 1 Gbit/s on every host's link.
steptime() {   # mean step time in ms from an epoch line: n_b / samples per second
    awk -v nb="$1" '/^epoch/ { for (i = 1; i < NF; i++) if ($(i+1) == "samples/s") s = $i } END { printf "%.2f", 1000 * nb / s }' "$2"
}
slow_train=(train --train synthetic:spirals --hidden 256,256 --batch-size 96 --learning-rate 0.05 --epochs 1 --seed 7
            --precision float64)
# Adam with the update on every rank and sharded: printed side by side, never asserted: a
# timing. 20 steps, one run each (--measure: the whole epoch, alternated, the best of 2).
sharding() {
    local name=$1 repeats=1 steps=(--max-steps 20)
    [[ -n "$measure" ]] && repeats=2 steps=()
    for repeat in $(seq "$repeats"); do
        for mode in off on; do
            across 3 "$mlp" "${slow_train[@]}" "${steps[@]}" --optimizer adam --learning-rate 0.001 --sharded-update "$mode" \
                --save "$work/adam-$mode.safetensors" >"$work/adam-$name-$mode-$repeat.log"
        done
    done
    compare "$work/adam-on.safetensors" "$work/adam-off.safetensors" 1e-12 >/dev/null \
        || fail "$name link: the sharded update's model differs from the replicated one's"
    best() { for r in $(seq "$repeats"); do steptime 96 "$work/adam-$name-$1-$r.log"; echo; done | sort -n | head -1; }
    echo "    Adam, $name link: update replicated $(best off) ms, sharded $(best on) ms per step (best of $repeats; models agree ≤ 1e-12)"
}
# The node-shared exchange on 3 hosts × 2 ranks: each host's 2 ranks share a window, each local
# rank allreduces its slice with the same local rank on the other hosts. Its model must be
# --allreduce single's and one process's (float64, ≤ 1e-12) and must not fall back; the step
# times are printed, never asserted (6 ranks share this machine's cores). 20 steps: a debug
# build's update loops make a shared step there several times slower than in a release build.
printf '10.99.0.1 slots=2\n10.99.0.2 slots=2\n10.99.0.3 slots=2\n' >"$work/hosts-2"
node_shared() {
    local name=$1 mode times=()
    for mode in single shared; do
        hostfile="$work/hosts-2" across 6 "$mlp" "${slow_train[@]}" --optimizer adam --learning-rate 0.001 --allreduce "$mode" \
            --max-steps 20 --save "$work/node-$mode.safetensors" >"$work/node-$name-$mode.log"
        times+=("$(steptime 96 "$work/node-$name-$mode.log")")
    done
    ! grep -q "note: --allreduce shared" "$work/node-$name-shared.log" || fail "$name link: 3 hosts × 2 ranks fell back from --allreduce shared"
    compare "$work/node-shared.safetensors" "$work/node-single.safetensors" 1e-12 >/dev/null \
        || fail "$name link: the node-shared exchange's model differs from --allreduce single's"
    echo "    Adam, 3 hosts × 2 ranks, $name link: --allreduce single ${times[0]} ms, shared ${times[1]} ms per step (models agree ≤ 1e-12)"
}
if [[ "$("$mlp" train --help 2>&1)" == *"shared (the ranks of a node"* ]]; then
    "$mlp" "${train[@]}" --reproducible --save "$work/reproducible-single.safetensors" >/dev/null
    hostfile="$work/hosts-2" across 6 "$mlp" "${train[@]}" --reproducible --allreduce shared \
        --save "$work/reproducible-node.safetensors" >"$work/reproducible-node.log"
    ! grep -q "note: --allreduce shared" "$work/reproducible-node.log" || fail "--reproducible: 3 hosts × 2 ranks fell back from shared"
    cmp -s "$work/reproducible-node.safetensors" "$work/reproducible-single.safetensors" \
        || fail "--reproducible --allreduce shared on 3 hosts × 2 ranks differs from one process"
    echo "run-netns: --reproducible --allreduce shared on 3 hosts × 2 ranks: byte-identical to one process"
    node_shared fast
    "$mlp" "${slow_train[@]}" --optimizer adam --learning-rate 0.001 --max-steps 20 --save "$work/node-one.safetensors" >/dev/null
    compare "$work/node-shared.safetensors" "$work/node-one.safetensors" 1e-12 >/dev/null \
        || fail "the node-shared exchange's model on 3 hosts × 2 ranks differs from one process's (float64, > 1e-12)"
    echo "run-netns: Adam, float64, --allreduce shared on 3 hosts × 2 ranks: within 1e-12 of one process"
fi
across 3 "$mlp" "${slow_train[@]}" --save "$work/fast.safetensors" >"$work/fast.log"
sharding fast
if ip netns exec "${hosts[0]}" tc qdisc add dev eth0 root netem delay 1ms rate 1gbit 2>"$work/netem.err"; then
    for ns in "${hosts[@]:1}"; do ip netns exec "$ns" tc qdisc add dev eth0 root netem delay 1ms rate 1gbit; done
    link="tc netem delay 1ms rate 1gbit on each host's eth0"
else
    # No sch_netem in this kernel: the switch namespace forwards frames in user space instead,
    # delaying each by 1 ms after serializing it at 1 Gbit/s on the output port.
    echo "run-netns: tc netem is not available ($(tr -d '\n' <"$work/netem.err")): using slowlink.py"
    # Checksums must be real, not left to (absent) hardware: the frames are re-sent by a program;
    # and jumbo frames (9000 bytes, common on cluster networks), so that a switch in Python keeps
    # up with 1 Gbit/s in both directions.
    for k in 1 2 3; do
        ip -n "$switch" link set "h$k" nomaster
        ip -n "$switch" link set "h$k" mtu 9000
        ip -n "${hosts[k-1]}" link set eth0 mtu 9000
        ip netns exec "${hosts[k-1]}" python3 "$here/slowlink.py" --no-offload eth0
    done
    ip netns exec "$switch" python3 "$here/slowlink.py" --delay 0.001 --rate 1e9 --ready "$work/hub.ready" h1 h2 h3 \
        2>"$work/hub.log" &
    hub_pid=$!
    for _ in $(seq 50); do [[ -e "$work/hub.ready" ]] && break; sleep 0.1; done
    [[ -e "$work/hub.ready" ]] || fail "slowlink.py did not start: $(cat "$work/hub.log")"
    link="slowlink.py (user space) 1 ms + 1 Gbit/s per output port, MTU 9000"
fi
rtt=$(ip netns exec "${hosts[0]}" python3 "$here/slowlink.py" --rtt 10.99.0.2)
echo "run-netns: slow link: $link; TCP connect round trip h1→h2 $rtt"
across 3 "$mlp" "${slow_train[@]}" --save "$work/slow.safetensors" >"$work/slow.log"
sharding slow
[[ "$("$mlp" train --help 2>&1)" == *"shared (the ranks of a node"* ]] && node_shared slow
sed 's/^/    /' "$work/slow.log" | tail -2
printf 'run-netns: slow link vs fast link model:       '; compare "$work/slow.safetensors" "$work/fast.safetensors" 1e-12 \
    || fail "the model trained over the slow link differs"
echo "run-netns: step time, 3 hosts, 2-256-256-3 float64 (θ = 67,331 values, 539 KB), n_b 96 ($mlp):"
echo "    fast link (veth + bridge): $(steptime 96 "$work/fast.log") ms;  slow link: $(steptime 96 "$work/slow.log") ms"

if [[ -n "$measure" ]]; then measure_link slow; fi
echo "run-netns: passed"
