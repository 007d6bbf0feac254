#!/usr/bin/env bash
# The cluster launchers for real: a local Ray head (`ray start --head`) and, where
# `apt-get install slurm-wlm` works (root, Debian/Ubuntu), a one-node SLURM
# (munged + slurmctld + slurmd, configured here). A tiny sweep runs through each and
# every metrics.json is compared with the local launcher's (wall times aside). Every
# daemon this script started is stopped on exit, whatever happens.
#
#   bash bench/cluster_smoke.sh            # Ray, then SLURM
#   SKIP_SLURM=1 bash bench/cluster_smoke.sh    # (or SKIP_RAY=1)
#
# Ray needs `pip install -e '.[ray]'`; without it (or without root for SLURM) that part
# is skipped with a line saying why. Exit 0 only if every part that ran matched.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-.venv/bin}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/instrumental-cluster-smoke.XXXXXX")
SWEEP=(-m seed=0,1 total_timesteps=1024 eval_episodes=20 curve_points=2 algo.n_steps=64)
RAY_STARTED=0
DAEMONS=()

cleanup() {
  if [ -n "${SLURM_CONF:-}" ]; then  # jobs first: a killed slurmd would leave their steps
    squeue -h -o %i 2>/dev/null | xargs -r scancel 2>/dev/null || true
    sleep 2
  fi
  if [ "$RAY_STARTED" = 1 ]; then "$BIN/ray" stop --force >/dev/null 2>&1 || true; fi
  for pid in "${DAEMONS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${DAEMONS[@]}"; do wait "$pid" 2>/dev/null || true; done
  echo "cluster smoke: stopped every daemon it started; outputs in $WORK"
}
trap cleanup EXIT

same_metrics() {  # same_metrics DIR: DIR's metrics.json equal the local ones, wall times aside
  "$BIN/python" - "$WORK/local" "$1" <<'EOF'
import json, sys
from pathlib import Path

def runs(folder):
    found = {}
    for path in Path(folder).rglob("metrics.json"):
        m = json.loads(path.read_text())
        m.pop("wall_seconds", None)
        found[m["seed"]] = m
    return found

local, other = runs(sys.argv[1]), runs(sys.argv[2])
if not local or sorted(local) != sorted(other):
    sys.exit(f"seeds differ: local {sorted(local)}, {sys.argv[2]} {sorted(other)}")
for seed in local:
    if local[seed] != other[seed]:
        sys.exit(f"seed {seed}: metrics.json differs from the local launcher's")
print(f"  {len(local)} run(s) identical to the local launcher's")
EOF
}

echo "cluster smoke: local launcher"
"$BIN/instrumental-train" "${SWEEP[@]}" hydra/launcher=local hydra.sweep.dir="$WORK/local" >"$WORK/local.log" 2>&1

status=0
if [ -n "${SKIP_RAY:-}" ]; then
  echo "cluster smoke: Ray skipped (SKIP_RAY set)"
elif "$BIN/python" -c "import ray, hydra_plugins.hydra_ray_launcher" 2>/dev/null; then
  echo "cluster smoke: Ray head (ray start --head) and hydra/launcher=ray_cluster"
  "$BIN/ray" start --head --num-cpus="$(nproc)" --include-dashboard=false \
    --disable-usage-stats >"$WORK/ray-start.log" 2>&1
  RAY_STARTED=1
  "$BIN/instrumental-train" "${SWEEP[@]}" hydra/launcher=ray_cluster \
    hydra.sweep.dir="$WORK/ray" >"$WORK/ray.log" 2>&1 || { echo "  the sweep failed: $WORK/ray.log"; status=1; }
  same_metrics "$WORK/ray" || status=1
  "$BIN/ray" stop --force >/dev/null 2>&1 && RAY_STARTED=0
else
  echo "cluster smoke: Ray skipped: pip install -e '.[ray]' first"
fi

slurm_ready() {
  command -v slurmctld >/dev/null && command -v munged >/dev/null && return 0
  [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null || return 1
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge; } \
    >"$WORK/apt.log" 2>&1
}

if [ -n "${SKIP_SLURM:-}" ]; then
  echo "cluster smoke: SLURM skipped (SKIP_SLURM set)"
elif ! slurm_ready; then
  echo "cluster smoke: SLURM skipped: slurm-wlm is not installed and cannot be (needs root and apt-get)"
else
  echo "cluster smoke: one-node SLURM (munged, slurmctld, slurmd) and hydra/launcher=submitit_slurm"
  S="$WORK/slurm"
  mkdir -p "$S/spool" "$S/state" "$S/munge"
  host=$(hostname -s)
  dd if=/dev/urandom of="$S/munge/munge.key" bs=1024 count=1 status=none
  chmod 700 "$S/munge" && chmod 400 "$S/munge/munge.key"
  munged --foreground --force --key-file="$S/munge/munge.key" --socket="$S/munge/socket" \
    --pid-file="$S/munge/munged.pid" --log-file="$S/munge/munged.log" --seed-file="$S/munge/seed" \
    2>"$S/munge/stderr.log" &
  DAEMONS+=($!)
  cat >"$S/slurm.conf" <<EOF
ClusterName=smoke
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$S/munge/socket
CredType=cred/munge
StateSaveLocation=$S/state
SlurmdSpoolDir=$S/spool
SlurmctldPidFile=$S/slurmctld.pid
SlurmdPidFile=$S/slurmd.pid
SlurmctldPort=16817
SlurmdPort=16818
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU_Memory
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
ReturnToService=2
NodeName=$host CPUs=$(nproc) RealMemory=1000 State=UNKNOWN
PartitionName=smoke Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
  export SLURM_CONF="$S/slurm.conf"
  sleep 1
  slurmctld -D -f "$SLURM_CONF" >"$S/slurmctld.log" 2>&1 &
  DAEMONS+=($!)
  slurmd -D -f "$SLURM_CONF" >"$S/slurmd.log" 2>&1 &
  DAEMONS+=($!)
  for _ in $(seq 60); do sinfo -h -o %T 2>/dev/null | grep -q idle && break; sleep 1; done
  "$BIN/instrumental-train" "${SWEEP[@]}" hydra/launcher=submitit_slurm \
    hydra.launcher.partition=smoke hydra.launcher.cpus_per_task=1 hydra.launcher.mem_gb=0 \
    hydra.launcher.timeout_min=20 hydra.sweep.dir="$WORK/slurm-sweep" >"$WORK/slurm.log" 2>&1 \
    || { echo "  the sweep failed: $WORK/slurm.log"; status=1; }
  same_metrics "$WORK/slurm-sweep" || status=1
fi

[ "$status" = 0 ] && echo "cluster smoke: passed" || echo "cluster smoke: FAILED"
exit "$status"
