#!/usr/bin/env bash
# A real single-node SLURM for tests and CI: install it if missing, configure this machine as one node,
# start munged, slurmctld and slurmd, wait until the node is idle; or stop everything again.
#
#   sudo scripts/slurm.sh start     # exit 0 once `sinfo` shows the node idle
#   sudo scripts/slurm.sh stop
#   scripts/slurm.sh status
#
# Needs root (daemons, /etc/slurm). proctrack/linuxproc and task/none: no cgroups or systemd needed,
# so it runs in containers and CI sandboxes. The node gets this machine's CPUs and memory (from slurmd -C).
set -euo pipefail

CONF_DIR=/etc/slurm
STATE_DIR=/var/spool/slurmctld
SPOOL_DIR=/var/spool/slurmd
LOG_DIR=/var/log/slurm
TIMEOUT_S=${SLURM_START_TIMEOUT:-60}

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
  mkdir -p "$CONF_DIR" "$STATE_DIR" "$SPOOL_DIR" "$LOG_DIR"
  cat >"$CONF_DIR/slurm.conf" <<EOF
# written by hepadv scripts/slurm.sh: a single-node cluster for tests
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
  runuser -u munge -- /usr/sbin/munged
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
  pgrep -x slurmctld >/dev/null || slurmctld -i
  pgrep -x slurmd >/dev/null || slurmd
  wait_idle
}

stop() {
  need_root
  pkill -x slurmd 2>/dev/null || true
  pkill -x slurmctld 2>/dev/null || true
  pkill -x munged 2>/dev/null || true
  echo "slurm.sh: stopped"
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
  stop) stop ;;
  status) status ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
