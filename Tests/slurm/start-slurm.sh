#!/usr/bin/env bash
# A private Slurm for the tests: slurmctld and slurmd as root, their slurm.conf, state, spool and
# logs in one directory, and a munged of its own there when none answers on the default socket.
#
#   Tests/slurm/start-slurm.sh [--netns] [DIR]   starts it; prints `export SLURM_CONF=DIR/slurm.conf`
#   Tests/slurm/stop-slurm.sh DIR                stops what it started (the PIDs in DIR/pids)
#
# One node by default: this machine, named by its short host name, at 127.0.0.1, on the first
# free pair of ports from 6817. With --netns, three nodes mlp-h1..h3: one slurmd in each of the
# network namespaces of Tests/multihost/netns.sh (10.99.0.1-3, slurmctld in h1), so a job's
# steps and PMIx cross TCP between them. slurmctld is then reachable only from inside the
# namespaces: `ip netns exec "$(cat DIR/netns)-h1" sbatch …`.
#
# Sourced (as Tests/slurm/run-slurm.sh does) it defines slurm_start DIR, slurm_start_netns DIR
# PREFIX and slurm_stop DIR and starts nothing; each start sets SLURM_CONF.

slurm_here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

slurm_log() { echo "start-slurm: $*" >&2; }
# The last errors a daemon logged (a fresh start logs harmless ones first), and its log.
slurm_error() { echo "$(grep 'error:' "$1" 2>/dev/null | tail -3 | sed 's/^\[[^]]*\] //' | paste -sd';') (log: $1)"; }

# slurm.conf for the nodes given as "NAME ADDR" lines on stdin; $1 DIR, $2 the controller's
# "NAME ADDR", $3 the controller's port (slurmd's is the next), $4 the munge socket or "".
slurm_write_conf() {
    local dir=$1 controller=$2 port=$3 socket=$4 name addr cpus
    cpus=$(nproc)
    read -r name addr <<<"$controller"
    {
        cat <<EOF
# Written by Tests/slurm/start-slurm.sh for a test cluster on one machine.
ClusterName=mlptest
SlurmctldHost=$name($addr)
SlurmctldPort=$port
SlurmdPort=$((port + 1))
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$dir/state
SlurmctldPidFile=$dir/slurmctld.pid
SlurmctldLogFile=$dir/slurmctld.log
# Per node (%n): the nodes of --netns share this file system.
SlurmdSpoolDir=$dir/spool/%n
SlurmdPidFile=$dir/slurmd-%n.pid
SlurmdLogFile=$dir/slurmd-%n.log
# PMIx puts each step's client directory under TmpFS: per node too, or the three slurmds'
# steps of one job would make and remove the same directory.
TmpFS=$dir/tmp/%n
# cred_expire: a requeued job may start again only cred_expire + 1 s after it ended (121 s by
# default); 5 is the least Slurm 22.05 accepts. It is also how long a step's launch credential
# stays valid, which the launches here need a small part of.
AuthType=auth/munge
CredType=cred/munge
AuthInfo=${socket:+socket=$socket,}cred_expire=5
# No cgroups (containers, CI): processes tracked through their parents, no binding.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
# CPUs (nproc) are what is allocated: the node lines give no topology.
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
# Plain srun gives tasks no PMI, as on many clusters: the tests' plain srun means something.
MpiDefault=none
JobRequeue=1
# Between SIGTERM and SIGKILL (requeue, scancel, time limit): mlp finishes its step and
# writes its checkpoint in far less.
KillWait=5
# The main scheduler each second: a requeued job starts when its begin time comes, not at
# the next pass of the default 60 s.
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=1,bf_interval=1
ReturnToService=2
InactiveLimit=0
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
# Debian's /etc/slurm/plugstack.conf (SPANK plugins) stays out.
PlugStackConfig=$dir/plugstack.conf
EOF
        while read -r name addr; do
            echo "NodeName=$name NodeAddr=$addr CPUs=$cpus State=UNKNOWN"
            mkdir -p "$dir/spool/$name" "$dir/tmp/$name"
        done
        echo "PartitionName=test Nodes=ALL Default=YES MaxTime=INFINITE State=UP"
    } >"$dir/slurm.conf"
    : >"$dir/plugstack.conf"
}

# Records a daemon started here: its PID, read from PIDFILE once it has written it, and NAME
# (its /proc comm, so slurm_stop never signals a PID reused by something else).
slurm_record() {
    local name=$1 pidfile=$2 dir=$3 pid=""
    for _ in $(seq 100); do
        [[ -s "$pidfile" ]] && pid=$(<"$pidfile") && [[ -e /proc/$pid ]] && break
        pid=""
        sleep 0.1
    done
    [[ -n "$pid" ]] || { slurm_log "$name did not start (no PID in $pidfile)"; return 1; }
    echo "$pid $name" >>"$dir/pids"
}

# The munge socket Slurm uses: "" for a munged answering on the default socket, else the
# socket of a munged started here with its own key.
slurm_munge() {
    local dir=$1
    if munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
        slurm_log "using the running munged (default socket)"
        munge_socket=""
        return 0
    fi
    # munged wants its socket's directories searchable by everyone and its key private.
    mkdir -p "$dir/munge"
    chmod 755 "$dir" "$dir/munge"
    dd if=/dev/urandom of="$dir/munge/munge.key" bs=1024 count=1 status=none
    chmod 400 "$dir/munge/munge.key"
    munge_socket="$dir/munge/munge.socket"
    munged --socket="$munge_socket" --key-file="$dir/munge/munge.key" --pid-file="$dir/munge/munged.pid" \
        --log-file="$dir/munge/munged.log" --seed-file="$dir/munge/munged.seed" \
        || { slurm_log "munged did not start: $(tail -1 "$dir/munge/munged.log" 2>/dev/null)"; return 1; }
    slurm_record munged "$dir/munge/munged.pid" "$dir"
}

# Waits until every node of the cluster is idle; $1 DIR, the rest a command prefix to run
# Slurm's commands with (the namespace for --netns).
slurm_wait_idle() {
    local dir=$1 states
    shift
    for _ in $(seq 300); do
        states=$("$@" sinfo -h -N -o '%T' 2>/dev/null | sort -u | paste -sd,)
        [[ "$states" == idle ]] && return 0
        sleep 0.1
    done
    slurm_log "the nodes are not idle after 30 s (${states:-no answer}); logs in $dir"
    return 1
}

# One node: this machine.
slurm_start() {
    local dir=$1 node port=6817
    mkdir -p "$dir/state"
    dir=$(cd "$dir" && pwd)
    : >"$dir/pids"
    node=$(hostname -s)
    # slurmctld and slurmd bind these on every interface: take a pair nothing listens on.
    while [[ -n "$(ss -Hltn "( sport = :$port or sport = :$((port + 1)) )")" ]]; do port=$((port + 2)); done
    slurm_munge "$dir" || return 1
    echo "$node 127.0.0.1" | slurm_write_conf "$dir" "$node 127.0.0.1" "$port" "$munge_socket"
    export SLURM_CONF="$dir/slurm.conf"
    slurmctld -c -f "$SLURM_CONF" || { slurm_log "slurmctld did not start: $(slurm_error "$dir/slurmctld.log")"; return 1; }
    slurm_record slurmctld "$dir/slurmctld.pid" "$dir" || return 1
    slurmd -N "$node" -f "$SLURM_CONF" || { slurm_log "slurmd did not start: $(slurm_error "$dir/slurmd-$node.log")"; return 1; }
    slurm_record slurmd "$dir/slurmd-$node.pid" "$dir" || return 1
    slurm_wait_idle "$dir"
}

# Three nodes mlp-h1..h3, one per network namespace PREFIX-h1..h3 made here (netns.sh).
slurm_start_netns() {
    local dir=$1 prefix=$2 k
    mkdir -p "$dir/state"
    dir=$(cd "$dir" && pwd)
    : >"$dir/pids"
    # shellcheck source=../multihost/netns.sh
    source "$slurm_here/../multihost/netns.sh"
    # Recorded first: slurm_stop deletes what a failed netns_create left.
    echo "$prefix" >"$dir/netns"
    netns_create "$prefix" || return 1
    slurm_munge "$dir" || return 1
    for k in 1 2 3; do echo "mlp-h$k 10.99.0.$k"; done | slurm_write_conf "$dir" "mlp-h1 10.99.0.1" 6817 "$munge_socket"
    export SLURM_CONF="$dir/slurm.conf"
    # Each daemon under its node's host name (a UTS namespace), as on its own machine;
    # slurmctld refuses to run on a host that is not SlurmctldHost. nsenter joins the network
    # namespace only: `ip netns exec` would also mount a /sys without the cgroup file system,
    # which slurmd 22.05 needs to start even with no cgroup plugins configured.
    nsenter --net="/run/netns/$prefix-h1" unshare --uts sh -c 'hostname mlp-h1 && exec slurmctld -c -f "$1"' sh "$SLURM_CONF" \
        || { slurm_log "slurmctld did not start: $(slurm_error "$dir/slurmctld.log")"; return 1; }
    slurm_record slurmctld "$dir/slurmctld.pid" "$dir" || return 1
    for k in 1 2 3; do
        nsenter --net="/run/netns/$prefix-h$k" unshare --uts sh -c 'hostname "$1" && exec slurmd -N "$1" -f "$2"' sh "mlp-h$k" "$SLURM_CONF" \
            || { slurm_log "slurmd mlp-h$k did not start: $(slurm_error "$dir/slurmd-mlp-h$k.log")"; return 1; }
        slurm_record slurmd "$dir/slurmd-mlp-h$k.pid" "$dir" || return 1
    done
    slurm_wait_idle "$dir" ip netns exec "$prefix-h1"
}

# Whether PID is still the daemon NAME started here: its comm, and not a zombie (a daemon
# reparented to a process that does not reap).
slurm_alive() {
    local stat
    [[ "$(cat "/proc/$1/comm" 2>/dev/null)" == "$2" ]] || return 1
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    stat=${stat##*) }
    [[ "${stat%% *}" != Z ]]
}

# Ends the cluster's jobs, then stops the daemons listed in DIR/pids (SIGTERM, after 10 s
# SIGKILL) and deletes the namespaces of --netns.
slurm_stop() {
    local dir=$1 pid name in=() alive entry
    [[ -f "$dir/pids" ]] || return 0
    export SLURM_CONF="$dir/slurm.conf"
    [[ -f "$dir/netns" ]] && in=(ip netns exec "$(<"$dir/netns")-h1")
    # Every job here is one of ours; a job's processes outlive slurmd.
    if "${in[@]}" scancel --quiet --full --user="$(id -un)" 2>/dev/null; then
        for _ in $(seq 100); do
            [[ -z "$("${in[@]}" squeue -h -o %i 2>/dev/null)" ]] && break
            sleep 0.1
        done
    fi
    alive=()
    while read -r pid name; do
        slurm_alive "$pid" "$name" && kill -TERM "$pid" 2>/dev/null && alive+=("$pid:$name")
    done <"$dir/pids"
    for _ in $(seq 100); do
        local still=() entry
        for entry in "${alive[@]}"; do slurm_alive "${entry%%:*}" "${entry#*:}" && still+=("$entry"); done
        alive=("${still[@]}")
        [[ ${#alive[@]} -eq 0 ]] && break
        sleep 0.1
    done
    for entry in "${alive[@]}"; do kill -KILL "${entry%%:*}" 2>/dev/null || true; done
    : >"$dir/pids"
    if [[ -f "$dir/netns" ]]; then
        # shellcheck source=../multihost/netns.sh
        source "$slurm_here/../multihost/netns.sh"
        local prefix
        prefix=$(<"$dir/netns")
        # shellcheck disable=SC2034  # netns_delete's
        switch="$prefix-sw" hosts=("$prefix-h1" "$prefix-h2" "$prefix-h3")
        netns_delete
        rm -f "$dir/netns"
    fi
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
    set -euo pipefail
    netns=""
    [[ "${1:-}" == --netns ]] && { netns=1; shift; }
    [[ $# -le 1 && "${1:-}" != -* ]] || { echo "usage: $0 [--netns] [DIR]" >&2; exit 2; }
    [[ $(id -u) -eq 0 ]] || { echo "start-slurm: slurmd runs jobs as any user: it needs root" >&2; exit 1; }
    dir="${1:-$(mktemp -d /tmp/mlp-slurm.XXXXXX)}"
    if [[ -n "$netns" ]]; then
        slurm_start_netns "$dir" "mlpslurm-$$" || { slurm_stop "$dir"; exit 1; }
        echo "# Slurm's commands reach slurmctld from inside the namespaces: ip netns exec mlpslurm-$$-h1 sbatch …"
    else
        slurm_start "$dir" || { slurm_stop "$dir"; exit 1; }
    fi
    echo "export SLURM_CONF=$SLURM_CONF"
    echo "# stop with: $slurm_here/stop-slurm.sh $(dirname "$SLURM_CONF")"
fi
