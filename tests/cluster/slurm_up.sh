#!/usr/bin/env bash
# A one-node SLURM cluster on this machine, for tests/cluster/ (issue 29): munge, slurmctld and slurmd
# as plain background processes (no systemd), the node `hostname -s` at 127.0.0.1 with its real CPUs
# and memory and two fake GPUs, one partition. Usage:
#
#   tests/cluster/slurm_up.sh [--accounting] [STATE_DIR]     (default STATE_DIR: /tmp/smartbert-slurm)
#   tests/cluster/slurm_down.sh [STATE_DIR]
#
# Installs the Debian packages it lacks (slurmctld slurmd slurm-client munge; with --accounting also
# slurmdbd and mariadb-server). Everything it writes goes under STATE_DIR, except /etc/slurm/slurm.conf
# and /etc/slurm/gres.conf (and slurmdbd.conf), symbolic links into STATE_DIR/etc: the SLURM commands
# run inside a job by snakemake-executor-plugin-slurm drop $SLURM_CONF and read /etc/slurm/slurm.conf.
# An /etc/slurm/slurm.conf that this script did not write is never touched: the script stops instead.
# The pids of the daemons it started are in STATE_DIR/pids/; slurm_down.sh stops exactly those.
#
# Exit status: 0 cluster up (node idle), 77 cannot be had here (not root, no apt, a foreign slurm.conf,
# a port taken; one line on stderr says why: callers skip), anything else a failure.
set -euo pipefail

ACCOUNTING=0
if [ "${1:-}" = "--accounting" ]; then ACCOUNTING=1; shift; fi
STATE=${1:-/tmp/smartbert-slurm}
PARTITION=${SLURM_TEST_PARTITION:-testgpu}
MARK="# written by smartbert tests/cluster/slurm_up.sh"

skip() { echo "slurm_up: SKIP: $*" >&2; exit 77; }
fail() { echo "slurm_up: error: $*" >&2; exit 1; }

# ---- packages -------------------------------------------------------------------------------------
need=()
for pair in slurmctld:slurmctld slurmd:slurmd sbatch:slurm-client munged:munge; do
    command -v "${pair%%:*}" >/dev/null 2>&1 || [ -x "/usr/sbin/${pair%%:*}" ] || need+=("${pair#*:}")
done
if [ "$ACCOUNTING" = 1 ]; then
    [ -x /usr/sbin/slurmdbd ] || need+=(slurmdbd)
    [ -x /usr/sbin/mariadbd ] || need+=(mariadb-server)
fi
if [ ${#need[@]} -gt 0 ]; then
    [ "$(id -u)" = 0 ] || skip "SLURM is not installed (${need[*]}) and installing it needs root"
    command -v apt-get >/dev/null 2>&1 || skip "SLURM is not installed (${need[*]}) and there is no apt-get"
    echo "slurm_up: installing ${need[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-get install -y -qq "${need[@]}" >"$STATE.apt.log" 2>&1; then
        apt-get update -qq >>"$STATE.apt.log" 2>&1 || true
        apt-get install -y -qq "${need[@]}" >>"$STATE.apt.log" 2>&1 || skip "apt-get install ${need[*]} failed (see $STATE.apt.log)"
    fi
fi
[ "$(id -u)" = 0 ] || skip "starting slurmd and writing /etc/slurm/slurm.conf need root"
export PATH="/usr/sbin:/sbin:$PATH"

# ---- refuse what is not ours ----------------------------------------------------------------------
for f in /etc/slurm/slurm.conf /etc/slurm/gres.conf /etc/slurm/slurmdbd.conf; do
    if [ -e "$f" ] && ! grep -qF "$MARK" "$f" 2>/dev/null; then
        skip "$f exists and was not written by this script (a real cluster's?): not touching it"
    fi
done
if [ -d "$STATE/pids" ] && ls "$STATE"/pids/*.pid >/dev/null 2>&1; then
    for p in "$STATE"/pids/*.pid; do
        if kill -0 "$(cat "$p")" 2>/dev/null; then fail "$STATE has a running daemon ($p): run slurm_down.sh $STATE first"; fi
    done
fi
for port in 6817 6818 6819; do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then skip "port $port is taken (another SLURM running?)"; fi
done

HOST=$(hostname -s)
rm -rf "$STATE"
mkdir -p "$STATE"/{etc,pids,log,spool/ctld,spool/d,dev,munge}
chmod 755 "$STATE"

# ---- two fake GPUs: character devices with NVIDIA's major number (a gres without files drains the node)
mknod "$STATE/dev/nvidia0" c 195 0 && mknod "$STATE/dev/nvidia1" c 195 1 || skip "cannot mknod the fake GPU devices"

# ---- munge, on a socket of its own ------------------------------------------------------------------
[ -s /etc/munge/munge.key ] || { command -v mungekey >/dev/null && mungekey --create >/dev/null 2>&1; } \
    || skip "no /etc/munge/munge.key and mungekey could not create one"
chown munge:munge "$STATE/munge"
chmod 711 "$STATE/munge"
mkdir -p /run/munge && chown munge:munge /run/munge  # munged's default places; created by hand without systemd
MUNGE_SOCKET="$STATE/munge/munge.socket"
runuser -u munge -- /usr/sbin/munged --socket="$MUNGE_SOCKET" --pid-file="$STATE/munge/munged.pid" \
    --log-file="$STATE/munge/munged.log" --seed-file="$STATE/munge/munged.seed" \
    || fail "munged did not start (see $STATE/munge/munged.log)"
for _ in $(seq 50); do [ -s "$STATE/munge/munged.pid" ] && break; sleep 0.1; done
cp "$STATE/munge/munged.pid" "$STATE/pids/munged.pid"
munge -S "$MUNGE_SOCKET" -n </dev/null | unmunge -S "$MUNGE_SOCKET" >/dev/null || fail "munge does not work"

# ---- configuration --------------------------------------------------------------------------------
# The node as slurmd sees it (CPUs, memory) so it never drains for "Low RealMemory"; memory kept a little lower
read -r CPUS MEM < <(slurmd -C | awk '/^NodeName/ {for (i = 1; i <= NF; i++) {split($i, kv, "="); v[kv[1]] = kv[2]}; print v["CPUs"], v["RealMemory"]}')
MEM=$((MEM * 95 / 100))
ACCT_LINES="AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none"
if [ "$ACCOUNTING" = 1 ]; then
    ACCT_LINES="AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
AccountingStoragePort=6819
AccountingStoragePass=$MUNGE_SOCKET
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=30"
fi
cat >"$STATE/etc/slurm.conf" <<CONF
$MARK (state: $STATE)
ClusterName=smartbert-test
SlurmctldHost=$HOST(127.0.0.1)
AuthType=auth/munge
AuthInfo=socket=$MUNGE_SOCKET
CredType=cred/munge
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$STATE/spool/ctld
SlurmdSpoolDir=$STATE/spool/d
SlurmctldPidFile=$STATE/pids/slurmctld.pid
SlurmdPidFile=$STATE/pids/slurmd.pid
SlurmctldLogFile=$STATE/log/slurmctld.log
SlurmdLogFile=$STATE/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
ReturnToService=2
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=1000
GresTypes=gpu
# A job past its time limit gets SIGTERM, then SIGKILL after KillWait seconds
KillWait=5
# The tests' witness of what each job step saw: its job and step, start and end, CUDA_VISIBLE_DEVICES
TaskProlog=$STATE/etc/task_prolog.sh
TaskEpilog=$STATE/etc/task_epilog.sh
# squeue keeps a finished job this long: snakemake-executor-plugin-slurm in squeue mode needs >= 3x its
# first status-check delay (the default 300 s is SLURM's own default)
MinJobAge=300
SchedulerParameters=sched_interval=2
$ACCT_LINES
NodeName=$HOST NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=$MEM Gres=gpu:2 State=UNKNOWN
PartitionName=$PARTITION Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
CONF
cat >"$STATE/etc/gres.conf" <<CONF
$MARK
NodeName=$HOST Name=gpu File=$STATE/dev/nvidia[0-1]
CONF
for phase in prolog epilog; do
    cat >"$STATE/etc/task_$phase.sh" <<SH
#!/bin/sh
# $MARK: one line per job step and phase into $STATE/log/tasks.log (nothing on stdout: slurmstepd reads it)
echo "\$SLURM_JOB_ID \${SLURM_STEP_ID:-?} $phase \$(date +%s.%N) \${SLURM_JOB_NAME:-?} cuda=\${CUDA_VISIBLE_DEVICES:-unset}" >>"$STATE/log/tasks.log"
SH
    chmod 755 "$STATE/etc/task_$phase.sh"
done
mkdir -p /etc/slurm
ln -sfn "$STATE/etc/slurm.conf" /etc/slurm/slurm.conf
ln -sfn "$STATE/etc/gres.conf" /etc/slurm/gres.conf
export SLURM_CONF=/etc/slurm/slurm.conf

# ---- accounting: MariaDB and slurmdbd -------------------------------------------------------------
if [ "$ACCOUNTING" = 1 ]; then
    DB="$STATE/mysql"
    mkdir -p "$DB/data"
    chown -R mysql:mysql "$DB"
    mariadb-install-db --user=mysql --datadir="$DB/data" --auth-root-authentication-method=socket >"$STATE/log/mariadb-install.log" 2>&1 \
        || fail "mariadb-install-db failed (see $STATE/log/mariadb-install.log)"
    /usr/sbin/mariadbd --user=mysql --datadir="$DB/data" --socket="$DB/mysqld.sock" --pid-file="$DB/mysqld.pid" \
        --skip-networking=0 --bind-address=127.0.0.1 --port=3307 --log-error="$STATE/log/mariadb.log" >/dev/null 2>&1 &
    for _ in $(seq 100); do [ -S "$DB/mysqld.sock" ] && [ -s "$DB/mysqld.pid" ] && break; sleep 0.2; done
    [ -s "$DB/mysqld.pid" ] || fail "MariaDB did not start (see $STATE/log/mariadb.log)"
    cp "$DB/mysqld.pid" "$STATE/pids/mariadbd.pid"
    mariadb --socket="$DB/mysqld.sock" -u root -e "CREATE DATABASE slurm_acct_db; CREATE USER 'slurm'@'127.0.0.1' IDENTIFIED BY 'slurmtest'; GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';" \
        || fail "could not create the accounting database"
    cat >"$STATE/etc/slurmdbd.conf" <<CONF
$MARK
AuthType=auth/munge
AuthInfo=socket=$MUNGE_SOCKET
DbdHost=localhost
DbdAddr=127.0.0.1
DbdPort=6819
SlurmUser=root
PidFile=$STATE/pids/slurmdbd.pid
LogFile=$STATE/log/slurmdbd.log
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StorageLoc=slurm_acct_db
StorageUser=slurm
StoragePass=slurmtest
CONF
    echo "StoragePort=3307" >>"$STATE/etc/slurmdbd.conf"  # TCP on 127.0.0.1: "localhost" would mean the default socket
    chmod 600 "$STATE/etc/slurmdbd.conf"
    ln -sfn "$STATE/etc/slurmdbd.conf" /etc/slurm/slurmdbd.conf
    /usr/sbin/slurmdbd || fail "slurmdbd did not start (see $STATE/log/slurmdbd.log)"
    for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/6819) 2>/dev/null && break; sleep 0.2; done
    sacctmgr -i add cluster smartbert-test >/dev/null 2>&1 || true
fi

# ---- the daemons ----------------------------------------------------------------------------------
/usr/sbin/slurmctld -i || fail "slurmctld did not start (see $STATE/log/slurmctld.log)"
/usr/sbin/slurmd || fail "slurmd did not start (see $STATE/log/slurmd.log)"
for _ in $(seq 150); do
    state=$(sinfo -h -N -n "$HOST" -o '%T' 2>/dev/null || true)
    case "$state" in idle) break ;; drain*|down*|fail*) scontrol update nodename="$HOST" state=resume >/dev/null 2>&1 || true ;; esac
    sleep 0.2
done
if [ "$state" != idle ]; then
    echo "slurm_up: the node is '$state', not idle:" >&2
    scontrol show node "$HOST" >&2 || true
    tail -20 "$STATE/log/slurmd.log" "$STATE/log/slurmctld.log" >&2 || true
    exit 1
fi
echo "slurm_up: node $HOST idle: $CPUS CPUs, $MEM MB, gpu:2 ($STATE/dev/nvidia[0-1]), partition $PARTITION, accounting $([ "$ACCOUNTING" = 1 ] && echo slurmdbd || echo none); state $STATE" >&2
