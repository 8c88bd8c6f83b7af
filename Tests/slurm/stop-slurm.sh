#!/usr/bin/env bash
# Stops the Slurm that Tests/slurm/start-slurm.sh DIR started: cancels its jobs, stops its
# daemons by the PIDs it recorded in DIR/pids, deletes its namespaces (--netns). DIR stays.
#
#   Tests/slurm/stop-slurm.sh DIR
set -euo pipefail
[[ $# -eq 1 ]] || { echo "usage: $0 DIR" >&2; exit 2; }
# shellcheck source=start-slurm.sh
source "$(dirname "${BASH_SOURCE[0]}")/start-slurm.sh"
slurm_stop "$(cd "$1" && pwd)"
