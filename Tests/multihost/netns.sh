# Three network namespaces that act as hosts, for the harnesses that need several hosts on one
# machine (Tests/multihost/run-netns.sh, Tests/slurm/). Sourced, as root:
#
#   netns_create PREFIX   makes PREFIX-sw, a switch namespace holding the bridge br0, and the
#                         hosts PREFIX-h1..h3, each with one interface eth0 = 10.99.0.K/24, a veth
#                         whose other end hK sits on br0; sets $switch and the array $hosts.
#                         Returns 1, the error on stderr, at the first step that fails.
#   netns_kill_in NS      SIGKILLs the processes left in namespace NS (only ours live there).
#   netns_delete          netns_kill_in, then deletes, each of them.
#
# The subnet exists only inside these namespaces: no interface joins the machine's own network
# and there is no route out, so no traffic can leave them. They share the file system and the
# process table; the host name is the caller's to set (`unshare --uts`), as each harness names
# its hosts itself.
# shellcheck shell=bash disable=SC2034  # switch and hosts are the caller's

switch="" hosts=()

netns_create() {
    local prefix=$1 k ns
    switch="$prefix-sw"
    hosts=("$prefix-h1" "$prefix-h2" "$prefix-h3")
    # Called in a condition, where set -e does not apply: each step stops it on failure itself.
    ip netns add "$switch" || return 1
    ip -n "$switch" link set lo up || return 1
    ip -n "$switch" link add br0 type bridge || return 1
    ip -n "$switch" link set br0 up || return 1
    for k in 1 2 3; do
        ns="${hosts[k-1]}"
        ip netns add "$ns" || return 1
        ip link add eth0 netns "$ns" type veth peer name "h$k" netns "$switch" || return 1
        ip -n "$ns" addr add "10.99.0.$k/24" dev eth0 || return 1
        ip -n "$ns" link set lo up || return 1
        ip -n "$ns" link set eth0 up || return 1
        ip -n "$switch" link set "h$k" master br0 || return 1
        ip -n "$switch" link set "h$k" up || return 1
    done
}

netns_kill_in() { ip netns pids "$1" 2>/dev/null | xargs -r kill -KILL 2>/dev/null || true; }

netns_delete() {
    local ns
    for ns in "${hosts[@]}" "$switch"; do
        [[ -n "$ns" ]] || continue
        netns_kill_in "$ns"
        ip netns del "$ns" 2>/dev/null || true
    done
}
