#!/usr/bin/env bash
# The cluster path, for real: install and start a one-node SLURM (Debian's Slurm 22.05, munge,
# two fake GPUs), run the workflow through the README's profile (profiles/slurm) on a
# tiny config, and check that every job went through sbatch, that only the rules that train
# networks asked for --gpus, that a cancelled training job is resubmitted and resumes from its
# checkpoint, and that claims.csv equals a local run's.
# Safe on a real host: it skips (SKIP, exit 0) where Slurm already runs or is configured, and
# touches only what it creates: the daemons whose PIDs it recorded, the config files it wrote
# (there were none before), its work folder; all removed at the end.
# Needs root and apt-get (about 2 minutes from a cold start); prints SKIP and exits 0 otherwise.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
say() { echo "[slurm-test $(date +%T)] $*"; }
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  echo "SKIP: the SLURM test needs root and apt-get to install and start slurmctld/slurmd/munge"
  exit 0
fi
if pgrep -x slurmctld >/dev/null || pgrep -x slurmd >/dev/null || [ -e /etc/slurm/slurm.conf ] \
   || [ -e /etc/slurm/gres.conf ]; then
  echo "SKIP: this host already runs or configures Slurm (/etc/slurm, slurmctld, slurmd): the test never touches an existing cluster"
  exit 0
fi
t0=$(date +%s)
if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
  say "installing slurmctld slurmd slurm-client munge (apt)"
  apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
    slurmctld slurmd slurm-client munge >/dev/null
fi
python -c "import snakemake_executor_plugin_slurm" 2>/dev/null || \
  { say "installing snakemake-executor-plugin-slurm"; pip install -q snakemake-executor-plugin-slurm; }

work=$(mktemp -d /tmp/nnrepro-slurm.XXXX)
host=$(hostname)
mem=$(awk '/MemTotal/ {print int($2 / 1024 * 0.8)}' /proc/meminfo)
# Debian's default place: srun inside a job step finds it there (SLURM_CONF does not reach it);
# no configuration was there (checked above), and the files written here are removed at the end
conf_dir=/etc/slurm
mkdir -p "$conf_dir" "$work/state" "$work/spool"
SLURM_CONF=$conf_dir/slurm.conf
cat > "$SLURM_CONF" <<CONF
ClusterName=nnrepro-test
SlurmctldHost=$host
SlurmUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
GresTypes=gpu
ReturnToService=2
MpiDefault=none
StateSaveLocation=$work/state
SlurmdSpoolDir=$work/spool
SlurmctldPidFile=$work/slurmctld.pid
SlurmdPidFile=$work/slurmd.pid
SlurmctldLogFile=$work/slurmctld.log
SlurmdLogFile=$work/slurmd.log
NodeName=$host CPUs=$(nproc) RealMemory=$mem Gres=gpu:2 State=UNKNOWN
PartitionName=main Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
cat > "$conf_dir/gres.conf" <<CONF
NodeName=$host Name=gpu File=/dev/null
NodeName=$host Name=gpu File=/dev/zero
CONF

started=()   # PIDs of the daemons this script started: the only processes it stops
stop() {
  for p in "${started[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${started[@]}"; do while kill -0 "$p" 2>/dev/null; do sleep 0.2; done; done
  rm -f "$conf_dir/slurm.conf" "$conf_dir/gres.conf"
  rmdir "$conf_dir" 2>/dev/null || true
  [ -n "${created_key:-}" ] && rm -f /etc/munge/munge.key
  rm -rf "$work"
  return 0
}
trap stop EXIT
mkdir -p /run/munge && chown munge:munge /run/munge
created_key=""
[ -f /etc/munge/munge.key ] || { created_key=1; mungekey -c 2>/dev/null || /usr/sbin/create-munge-key -f; }
chown munge:munge /etc/munge/munge.key
if ! pgrep -x munged >/dev/null; then
  rm -f /run/munge/munged.pid
  runuser -u munge -- /usr/sbin/munged
  for _ in $(seq 50); do [ -s /run/munge/munged.pid ] && break; sleep 0.1; done
  started+=("$(cat /run/munge/munged.pid)")
fi
slurmctld -D -f "$SLURM_CONF" >"$work/ctld.out" 2>&1 & started+=($!)
sleep 2
slurmd -D -f "$SLURM_CONF" >"$work/d.out" 2>&1 & started+=($!)
for _ in $(seq 30); do sinfo -h -o %T 2>/dev/null | grep -qE "idle|mix" && break; sleep 1; done
sinfo
say "SLURM up after $(( $(date +%s) - t0 )) s"

# a tiny config: family B (trains networks: asks a GPU) with a run long enough to cancel, and D
run_dir=$work/run
mkdir -p "$run_dir"
python - "$repo" "$run_dir/config.yaml" <<'PY'
import sys, yaml
sys.path.insert(0, f"{sys.argv[1]}/tests")
from conftest import TINY_B, tiny_config
cfg = tiny_config(B={**TINY_B, "model": {"hidden": [256, 128]}, "batch_size": 16, "epochs": 300,
                     "grid": {"seeds": {"seed": [0, 1]}}},
                  D=yaml.safe_load(open(f"{sys.argv[1]}/config.yaml"))["families"]["D"])
cfg["resources"] = {"train": {"gpu": 1, "mem_mb": 2000}, "figures": {"mem_mb": 2000},
                    "prepare_data": {"mem_mb": 2000}}
yaml.safe_dump(cfg, open(sys.argv[2], "w"), sort_keys=False)
PY
cp -r "$run_dir" "$work/local"

say "running the workflow through the slurm profile"
cd "$run_dir"
( set +e; snakemake --snakefile "$repo/Snakefile" --profile "$repo/profiles/slurm" \
    --slurm-init-seconds-before-status-checks 5 --seconds-between-status-checks 2 \
    --latency-wait 10 --verbose > "$work/snakemake.log" 2>&1; echo $? > "$work/rc" ) &
sm=$!
# cancel a training job once it has checkpointed a couple of epochs
cancelled=""
for _ in $(seq 600); do
  for ck in "$run_dir"/results/runs/B/*.checkpoint.pt; do   # a run with an epoch checkpointed
    [ -e "$ck" ] || continue
    run=$(basename "$ck" .checkpoint.pt)
    log=$(grep -l "family B run $run " "$run_dir"/logs/train/B/*.log 2>/dev/null | head -1 || true)
    [ -n "$log" ] || continue
    rule=rule_train_B_$(basename "$log" .log | tr - _)      # the job's SLURM comment
    job=$(squeue -h -o "%i %k" | awk -v r="$rule" '$2 == r && !j {j = $1} END {print j}')
    if [ -n "$job" ]; then scancel "$job"; cancelled=$job; say "cancelled training job $job ($run)"; break 2; fi
  done
  sleep 0.5
done
wait $sm || true
rc=$(cat "$work/rc")
[ "$rc" = 0 ] || { tail -50 "$work/snakemake.log"; say "FAIL: snakemake exited $rc"; exit 1; }

fail() { say "FAIL: $*"; exit 1; }
submitted=$(grep -c "sbatch call" "$work/snakemake.log" || true)
jobs=$(grep -cE "^rule (train_|prepare_data|figures_|report)" "$work/snakemake.log" || true)
say "sbatch submissions: $submitted (jobs: $jobs, a cancelled one resubmitted)"
[ "$submitted" -ge 6 ] || fail "expected every job through sbatch"
# counted, not `grep -q`: under pipefail, a `grep -q` that exits at its first match can kill the
# grep before it with SIGPIPE and fail a pipeline that matched
calls=$(grep "sbatch call" "$work/snakemake.log" || true)
gpu_b=$(grep "train_B" <<<"$calls" | grep -c -- "--gpus=1" || true)
gpu_cpu=$(grep -E "train_D|figures_|report|prepare_data" <<<"$calls" | grep -c -- "--gpus" || true)
[ "$gpu_b" -ge 1 ] || fail "train_B without --gpus"
[ "$gpu_cpu" = 0 ] || fail "a CPU-only rule asked for a GPU ($gpu_cpu sbatch calls)"
[ -n "$cancelled" ] || fail "no training job was cancelled"
grep -rq "resuming from" "$run_dir/logs/train/B" || fail "the resubmitted job did not resume from its checkpoint"

say "running the same config locally"
cd "$work/local" && snakemake --snakefile "$repo/Snakefile" --cores 2 > "$work/local.log" 2>&1
cmp "$run_dir/results/claims.csv" "$work/local/results/claims.csv" || fail "claims.csv differs from the local run's"
say "PASS: every job through sbatch, --gpus only on training rules, cancelled job $cancelled resumed, claims.csv equals the local run's ($(( $(date +%s) - t0 )) s)"
