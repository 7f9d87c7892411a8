#!/usr/bin/env bash
# A one-node SLURM cluster on this machine, for tests and trying the cluster executor:
#
#   scripts/slurm_local.sh start [DIR]   # prints `export SLURM_CONF=DIR/slurm.conf`
#   scripts/slurm_local.sh stop  [DIR]
#   scripts/slurm_local.sh status [DIR]
#
# Needs Debian's slurmctld, slurmd, slurm-client and munge (apt-get install slurmctld slurmd
# slurm-client munge) and root (slurmd runs jobs as their submitter). Everything lives under DIR
# (default /tmp/equiv-slurm): a fresh munge key, munged's socket, slurm.conf with this machine's
# real host name, CPUs and memory (from `slurmd -C`), the state and spool folders, the logs and
# the pid files; nothing under /etc is touched. Plugins that need no cgroups and no database:
# proctrack/linuxproc, task/none, no accounting storage (so `sacct` does not work: ask squeue /
# scontrol). Ports: SLURM_LOCAL_CTLD_PORT (6817) and SLURM_LOCAL_D_PORT (6818).
#
# SLURM_LOCAL_CPUS declares more CPUs than the machine has (config_overrides), so that a few tiny
# test jobs run at once on a 2-core machine; by default the real count is used.
set -euo pipefail

cmd="${1:-}"
DIR="$(realpath -m "${2:-${SLURM_LOCAL_DIR:-/tmp/equiv-slurm}}")"
CONF="$DIR/slurm.conf"

die() { echo "slurm_local.sh: $*" >&2; exit 1; }

stop_pidfile() {  # stop the daemon whose pid is in $1 (only that process), waiting up to 10 s
  local f="$1" pid
  [ -f "$f" ] || return 0
  pid="$(cat "$f" 2>/dev/null || true)"
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$f"
}

case "$cmd" in
start)
  for exe in munged slurmctld slurmd scontrol sinfo; do
    command -v "$exe" >/dev/null 2>&1 || die "$exe not found; install Debian's slurmctld slurmd slurm-client munge"
  done
  [ "$(id -u)" -eq 0 ] || die "must run as root (slurmd starts jobs as their owner)"
  if [ -f "$DIR/slurmctld.pid" ] && kill -0 "$(cat "$DIR/slurmctld.pid")" 2>/dev/null; then
    echo "export SLURM_CONF=$CONF"; exit 0  # already running
  fi
  mkdir -p "$DIR"/{state,spool,munge,log}
  chmod 0755 "$DIR"
  chmod 0700 "$DIR/munge"
  # munge: a fresh key and a daemon of our own on our own socket
  if [ ! -f "$DIR/munge/munge.key" ]; then
    dd if=/dev/urandom of="$DIR/munge/munge.key" bs=1024 count=1 status=none
    chmod 0400 "$DIR/munge/munge.key"
  fi
  munged --force --socket="$DIR/munge/munge.socket" --key-file="$DIR/munge/munge.key" \
    --pid-file="$DIR/munge/munged.pid" --log-file="$DIR/log/munged.log" --seed-file="$DIR/munge/munged.seed"

  host="$(hostname -s)"
  hw="$(slurmd -C | head -1)"  # NodeName=vm CPUs=2 Boards=1 ... RealMemory=24105
  cpus="$(sed -n 's/.*CPUs=\([0-9]*\).*/\1/p' <<<"$hw")"
  mem="$(sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p' <<<"$hw")"
  overrides=""
  if [ -n "${SLURM_LOCAL_CPUS:-}" ] && [ "${SLURM_LOCAL_CPUS}" != "$cpus" ]; then
    cpus="$SLURM_LOCAL_CPUS"; overrides="SlurmdParameters=config_overrides"
  fi
  mem=$(( mem * 9 / 10 ))  # leave the OS some room
  cat >"$CONF" <<EOF
# written by scripts/slurm_local.sh: a one-node cluster on $host
ClusterName=equivlocal
SlurmctldHost=$host
SlurmctldPort=${SLURM_LOCAL_CTLD_PORT:-6817}
SlurmdPort=${SLURM_LOCAL_D_PORT:-6818}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$DIR/munge/munge.socket
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=2
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU_Memory
DefMemPerCPU=1024
ReturnToService=2
JobRequeue=1
KillWait=5
MinJobAge=600
InactiveLimit=0
Waittime=0
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
$overrides
NodeName=$host CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
  export SLURM_CONF="$CONF"
  slurmctld -c -f "$CONF"   # -c: start clean (no jobs from an earlier cluster in DIR)
  slurmd -f "$CONF"
  for _ in $(seq 60); do  # the node registers within a few seconds
    state="$(sinfo -h -N -o %t 2>/dev/null | head -1 || true)"
    case "$state" in idle|mix|alloc) echo "export SLURM_CONF=$CONF"; exit 0;; esac
    sleep 0.5
  done
  echo "slurm_local.sh: the node did not come up (state: ${state:-none}); logs in $DIR/log" >&2
  tail -5 "$DIR/log/slurmctld.log" "$DIR/log/slurmd.log" >&2 || true
  exit 1
  ;;
stop)
  if [ -f "$CONF" ] && [ -f "$DIR/slurmctld.pid" ]; then  # end this cluster's jobs first (their steps outlive slurmd)
    jobs="$(SLURM_CONF="$CONF" squeue -h -o %i 2>/dev/null || true)"
    if [ -n "$jobs" ]; then
      SLURM_CONF="$CONF" scancel $jobs 2>/dev/null || true
      for _ in $(seq 30); do [ -z "$(SLURM_CONF="$CONF" squeue -h -o %i 2>/dev/null)" ] && break; sleep 0.5; done
    fi
  fi
  stop_pidfile "$DIR/slurmd.pid"
  stop_pidfile "$DIR/slurmctld.pid"
  stop_pidfile "$DIR/munge/munged.pid"
  ;;
status)
  export SLURM_CONF="$CONF"
  sinfo -N -l
  ;;
*)
  echo "usage: $0 start|stop|status [DIR]" >&2; exit 2
  ;;
esac
