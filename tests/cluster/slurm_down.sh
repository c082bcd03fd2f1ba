#!/usr/bin/env bash
# Stops the cluster slurm_up.sh started: cancels its jobs, then stops exactly the daemons whose pids
# slurm_up.sh recorded in STATE_DIR/pids/ (slurmd, slurmctld, slurmdbd, mariadbd, munged), and removes
# the /etc/slurm links it made. Usage: tests/cluster/slurm_down.sh [STATE_DIR]
set -uo pipefail
STATE=${1:-/tmp/smartbert-slurm}
MARK="# written by smartbert tests/cluster/slurm_up.sh"
export PATH="/usr/sbin:/sbin:$PATH"

alive() { [ -s "$STATE/pids/$1.pid" ] && kill -0 "$(cat "$STATE/pids/$1.pid")" 2>/dev/null; }

# Jobs first, while slurmctld and slurmd can still end them (their job steps are slurmstepd processes)
if alive slurmctld; then
    scancel --full --quiet --user="$(id -un)" 2>/dev/null || true
    for _ in $(seq 50); do [ -z "$(squeue -h -t R,CG,PD -o %i 2>/dev/null)" ] && break; sleep 0.2; done
fi
for daemon in slurmd slurmctld slurmdbd mariadbd munged; do
    pidfile="$STATE/pids/$daemon.pid"
    [ -s "$pidfile" ] || continue
    pid=$(cat "$pidfile")
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid"
        for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null; echo "slurm_down: $daemon ($pid) killed" >&2; fi
    fi
    rm -f "$pidfile"
done
for f in /etc/slurm/slurm.conf /etc/slurm/gres.conf /etc/slurm/slurmdbd.conf; do
    if [ -L "$f" ] && grep -qF "$MARK" "$f" 2>/dev/null; then rm -f "$f"; fi
    if [ -L "$f" ] && [ ! -e "$f" ] && [[ "$(readlink "$f")" == "$STATE"/* ]]; then rm -f "$f"; fi
done
echo "slurm_down: stopped ($STATE)" >&2
