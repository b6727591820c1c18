#!/usr/bin/env bash
# A real single-node SLURM for tests and CI: install it if missing, configure this machine as one node,
# start munged, slurmctld and slurmd, wait until the node is idle; or stop again what it started.
# The test suite never runs this: `make slurm-up` / `make slurm-down` and .ci/run do.
#
#   sudo scripts/slurm.sh start       # exit 0 once `sinfo` shows the node idle
#   sudo scripts/slurm.sh stop        # stop the daemons `start` started (by pid), nothing else
#   sudo scripts/slurm.sh stop --all  # also daemons of this cluster started otherwise (by their pid files)
#   scripts/slurm.sh status
#
# What `start` touches: apt-get install slurm-wlm munge (only when missing), /etc/slurm/slurm.conf (refuses to
# overwrite one it did not write), a munge key when there is none, /var/spool/slurm*, /var/log/slurm, and
# $STATE (the daemons it started). Packages stay installed after `stop`.
# Needs root (daemons, /etc/slurm). proctrack/linuxproc and task/none: no cgroups or systemd needed,
# so it runs in containers and CI sandboxes. The node gets this machine's CPUs and memory (from slurmd -C).
set -euo pipefail

CONF_DIR=/etc/slurm
STATE_DIR=/var/spool/slurmctld
SPOOL_DIR=/var/spool/slurmd
LOG_DIR=/var/log/slurm
TIMEOUT_S=${SLURM_START_TIMEOUT:-60}
STATE=${SLURM_SH_STATE:-/run/hepadv-slurm.started}
MARK="# written by hepadv scripts/slurm.sh: a single-node cluster for tests"
declare -A PIDFILE=([slurmd]=/run/slurmd.pid [slurmctld]=/run/slurmctld.pid [munged]=/run/munge/munged.pid)

die() { echo "slurm.sh: $*" >&2; exit 1; }

need_root() {
  [ "$(id -u)" -eq 0 ] || die "must run as root to start daemons and write $CONF_DIR (try sudo)"
}

install_if_missing() {
  if command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v munged >/dev/null; then
    return
  fi
  command -v apt-get >/dev/null || die "slurmctld/slurmd/munged not found and apt-get is unavailable"
  echo "slurm.sh: installing slurm-wlm and munge with apt-get"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq slurm-wlm munge >/dev/null
}

write_config() {
  local node line
  node=$(hostname -s)
  # slurmd -C prints "NodeName=... CPUs=... RealMemory=..."; keep a little memory for the system
  line=$(slurmd -C | head -n 1)
  local mem
  mem=$(sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p' <<<"$line")
  mem=$((mem * 9 / 10))
  line=$(sed "s/RealMemory=[0-9]*/RealMemory=$mem/" <<<"$line")
  if [ -s "$CONF_DIR/slurm.conf" ] && [ "$(head -n 1 "$CONF_DIR/slurm.conf")" != "$MARK" ]; then
    die "$CONF_DIR/slurm.conf exists and was not written by this script; not overwriting a site configuration"
  fi
  mkdir -p "$CONF_DIR" "$STATE_DIR" "$SPOOL_DIR" "$LOG_DIR"
  cat >"$CONF_DIR/slurm.conf" <<EOF
$MARK
ClusterName=hepadv
SlurmctldHost=$node
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
ReturnToService=2
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
JobAcctGatherType=jobacct_gather/none
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
StateSaveLocation=$STATE_DIR
SlurmdSpoolDir=$SPOOL_DIR
SlurmctldLogFile=$LOG_DIR/slurmctld.log
SlurmdLogFile=$LOG_DIR/slurmd.log
SlurmUser=root
InactiveLimit=0
KillWait=5
MinJobAge=60
$line State=UNKNOWN
PartitionName=debug Nodes=$node Default=YES MaxTime=INFINITE State=UP
EOF
}

start_munge() {
  if pgrep -x munged >/dev/null; then return; fi
  [ -s /etc/munge/munge.key ] || mungekey --create --force >/dev/null 2>&1 || \
    dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key 2>/dev/null
  chown -R munge:munge /etc/munge 2>/dev/null || true
  chmod 0400 /etc/munge/munge.key
  mkdir -p /run/munge /var/lib/munge /var/log/munge
  chown munge:munge /run/munge /var/lib/munge /var/log/munge
  rm -f "${PIDFILE[munged]}"
  runuser -u munge -- /usr/sbin/munged
  record munged
}

# Remember a daemon this script started (its pid from the daemon's pid file), for `stop`.
record() {
  local waited=0
  while [ ! -s "${PIDFILE[$1]}" ] && [ "$waited" -lt 50 ]; do sleep 0.1; waited=$((waited + 1)); done
  [ -s "${PIDFILE[$1]}" ] || die "$1 started but wrote no pid file ${PIDFILE[$1]}"
  echo "$1 $(cat "${PIDFILE[$1]}")" >>"$STATE"
}

# Stop one daemon by pid, if that pid is still that daemon; wait until it is gone.
stop_pid() {
  local name=$1 pid=$2 waited=0
  [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$name" ] || return 0
  kill "$pid" 2>/dev/null || true
  while [ -e "/proc/$pid" ] && [ "$waited" -lt 100 ]; do sleep 0.1; waited=$((waited + 1)); done
  echo "slurm.sh: stopped $name (pid $pid)"
}

wait_idle() {
  local waited=0 state
  while [ "$waited" -lt "$TIMEOUT_S" ]; do
    state=$(sinfo -h -N -o '%t' 2>/dev/null | head -n 1 || true)
    case "$state" in
      idle|mix|alloc) echo "slurm.sh: node $(hostname -s) is $state"; return 0 ;;
      down*|drain*) scontrol update nodename="$(hostname -s)" state=resume >/dev/null 2>&1 || true ;;
    esac
    sleep 1
    waited=$((waited + 1))
  done
  die "the node did not become idle within ${TIMEOUT_S}s (state: ${state:-none}); see $LOG_DIR"
}

start() {
  need_root
  install_if_missing
  if sinfo -h -N -o '%t' 2>/dev/null | grep -qE '^(idle|mix|alloc)'; then
    echo "slurm.sh: already running"
    return 0
  fi
  write_config
  start_munge
  # a stale pid file from an earlier run must not be recorded as the new daemon's pid
  pgrep -x slurmctld >/dev/null || { rm -f "${PIDFILE[slurmctld]}"; slurmctld -i && record slurmctld; }
  pgrep -x slurmd >/dev/null || { rm -f "${PIDFILE[slurmd]}"; slurmd && record slurmd; }
  wait_idle
}

stop() {
  need_root
  local name pid any=0
  if [ -s "$STATE" ]; then
    for name in slurmd slurmctld munged; do  # workers first, the authentication daemon last
      pid=$(awk -v n="$name" '$1 == n {print $2}' "$STATE" | tail -n 1)
      [ -n "$pid" ] && { stop_pid "$name" "$pid"; any=1; }
    done
    rm -f "$STATE"
  fi
  if [ "${1:-}" = "--all" ]; then
    for name in slurmd slurmctld munged; do
      [ -s "${PIDFILE[$name]}" ] && { stop_pid "$name" "$(cat "${PIDFILE[$name]}")"; any=1; }
    done
  fi
  [ "$any" -eq 1 ] || echo "slurm.sh: nothing to stop: no daemon started by 'slurm.sh start' is recorded in $STATE" \
    "(stop --all stops this cluster's daemons however they were started)"
}

status() {
  if command -v sinfo >/dev/null && sinfo -h -N -o '%N %t %c %m' 2>/dev/null; then
    return 0
  fi
  echo "slurm.sh: not running"
  return 3
}

case "${1:-}" in
  start) start ;;
  stop) stop "${2:-}" ;;
  status) status ;;
  *) echo "usage: $0 start|stop [--all]|status" >&2; exit 2 ;;
esac
