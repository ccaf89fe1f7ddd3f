#!/usr/bin/env bash
# `make test-cluster`: the study grid through a real SLURM, on a one-node cluster started here.
#
# Starts munged, slurmctld and slurmd (Debian's packages; installed with apt if missing) with a
# slurm.conf naming this host, then runs a smoke-scale study of two systems on one machine through
# `make book LAUNCH="srun ..."`, cancels one run's job mid-training (scancel), starts the grid again,
# and checks that the book is built and that the cancelled run resumed from its checkpoint (its
# first checkpoint file is the one written before the cancel) instead of starting over. Then runs one
# more run through scripts/slurm-batch.sh (a batch job that requeues itself), sends its batch shell
# the signal SLURM sends before a time limit (USR1), and checks that the job requeued itself, resumed
# from its checkpoints and succeeded, with make waiting for it throughout. Stops the daemons it
# started. Needs root (the daemons) and apt (if the packages are missing); skips with a message
# otherwise. Prints the time of the first (interrupted) grid, of the resumed one and of the requeued run.
set -euo pipefail
cd "$(dirname "$0")/.."

skip() { echo "test-cluster: SKIPPED: $*"; exit 0; }
[ "$(id -u)" = 0 ] || skip "needs root to start munged, slurmctld and slurmd"
if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v srun >/dev/null \
   || ! command -v munged >/dev/null; then
  command -v apt-get >/dev/null || skip "SLURM is not installed and there is no apt-get to install it"
  echo "test-cluster: installing Debian's slurmctld, slurmd, slurm-client and munge"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q slurmctld slurmd slurm-client munge >/dev/null \
    || skip "apt-get could not install SLURM"
fi

work=$(mktemp -d /tmp/asdlib-cluster.XXXXXX)
host=$(hostname -s)
export SLURM_CONF="$work/slurm.conf"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  pkill -f "slurmd -D -f $SLURM_CONF" 2>/dev/null || true
  pkill -f "slurmctld -D -f $SLURM_CONF" 2>/dev/null || true
  pkill -f "munged.*$work" 2>/dev/null || true
}
trap cleanup EXIT

# munge: a key of our own, its socket and state in the work folder
mkdir -p "$work/munge"
dd if=/dev/urandom of="$work/munge/munge.key" bs=1024 count=1 status=none
chmod 400 "$work/munge/munge.key"
munged --force --key-file "$work/munge/munge.key" --socket "$work/munge/socket" \
  --pid-file "$work/munge/munged.pid" --log-file "$work/munge/munged.log" --seed-file "$work/munge/seed"
pids+=("$(cat "$work/munge/munged.pid")")

cpus=$(nproc)
memory=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 - 1024 ))
cat > "$SLURM_CONF" <<EOF
ClusterName=asdlib-test
SlurmctldHost=$host
AuthType=auth/munge
AuthInfo=socket=$work/munge/socket
CredType=cred/munge
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$work/state
SlurmdSpoolDir=$work/spool
SlurmctldPidFile=$work/slurmctld.pid
SlurmdPidFile=$work/slurmd.pid
SlurmctldLogFile=$work/slurmctld.log
SlurmdLogFile=$work/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
MpiDefault=none
ReturnToService=2
SchedulerType=sched/backfill
NodeName=$host CPUs=$cpus RealMemory=$memory State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
mkdir -p "$work/state" "$work/spool"
slurmctld -D -f "$SLURM_CONF" > "$work/slurmctld.out" 2>&1 & pids+=($!)
slurmd -D -f "$SLURM_CONF" > "$work/slurmd.out" 2>&1 & pids+=($!)
for _ in $(seq 60); do
  sinfo -h -o %T 2>/dev/null | grep -q idle && break
  sleep 1
done
sinfo -h -o %T | grep -q idle || { tail -20 "$work/slurmctld.log" "$work/slurmd.log"; echo "test-cluster: FAILED: the node did not come up"; exit 1; }
echo "test-cluster: one-node cluster up ($host, $cpus CPUs)"

build="$work/build"
grid() {
  make --no-print-directory -j 2 -k book SCALE=smoke MACHINES=fan SYSTEMS="disent mtl" SEEDS=1 PIPELINE_SYSTEMS= \
    OVERRIDES="train.epochs=8 train.checkpoint_every=1" BUILD="$build" CACHE="$work/cache" \
    MATHJAX_DIR="${MATHJAX_DIR:-build/mathjax}" LAUNCH="srun --cpus-per-task=1 --job-name=asdlib-run"
}

start=$(date +%s)
grid > "$work/first.log" 2>&1 & make_pid=$!
run=""
# wait for the first checkpoint of the disent run, then cancel its job
for _ in $(seq 600); do
  run=$(ls -d "$build"/study-1seeds-*/disent/fan/seed0 2>/dev/null || true)
  [ -n "$run" ] && [ -f "$run/checkpoints/epoch_0001.pt" ] && break
  sleep 1
done
[ -f "$run/checkpoints/epoch_0001.pt" ] || { tail -30 "$work/first.log"; echo "test-cluster: FAILED: no checkpoint appeared"; exit 1; }
# the job of the disent run: the SLURM_JOB_ID in the environment of its papermill process
job=""
for pid in $(pgrep -f "papermill.*-p system disent" || true); do
  job=$(tr '\0' '\n' < "/proc/$pid/environ" 2>/dev/null | sed -n 's/^SLURM_JOB_ID=//p' | head -1)
  [ -n "$job" ] && break
done
[ -n "$job" ] || { squeue; echo "test-cluster: FAILED: no SLURM job runs the disent run"; exit 1; }
first_sum=$(stat -c %y "$run/checkpoints/epoch_0001.pt")
echo "test-cluster: cancelling job $job (disent/fan) after its first checkpoint"
scancel "$job"
wait "$make_pid" || true
first=$(( $(date +%s) - start ))
done_before=$(ls "$run/checkpoints")
grep -q "failed:" "$work/first.log" || { echo "test-cluster: FAILED: the cancelled run did not fail the grid"; exit 1; }
[ ! -f "$build"/study-1seeds-*/disent/fan.ipynb ] || { echo "test-cluster: FAILED: the cancelled run was kept as done"; exit 1; }
ls "$build"/study-1seeds-*/mtl/fan.ipynb >/dev/null || { echo "test-cluster: FAILED: the other run was not kept"; exit 1; }

start=$(date +%s)
grid > "$work/second.log" 2>&1 || { tail -40 "$work/second.log"; echo "test-cluster: FAILED: the resumed grid failed"; exit 1; }
second=$(( $(date +%s) - start ))
[ -f "$build/_build/html/table2.html" ] || { echo "test-cluster: FAILED: no book"; exit 1; }
[ "$(stat -c %y "$run/checkpoints/epoch_0001.pt")" = "$first_sum" ] \
  || { echo "test-cluster: FAILED: the cancelled run started over (its first checkpoint was rewritten)"; exit 1; }
[ -f "$run/checkpoints/epoch_0008.pt" ] || { echo "test-cluster: FAILED: the resumed run did not finish"; exit 1; }
echo "test-cluster: the cancelled run resumed from its checkpoints ($(echo $done_before | wc -w) kept:" \
     "$(echo $done_before | tr '\n' ' ')) and finished"

# a run as a self-requeueing batch job: the time-limit signal mid-training requeues it, and it resumes
overrides="train.epochs=6 train.checkpoint_every=1"
study="$build/study-1seeds-$(echo "$overrides" | md5sum | cut -c1-8)"  # the Makefile's VARIANT
start=$(date +%s)
ASDLIB_SLURM_LOGS="$work/logs" make --no-print-directory study SCALE=smoke MACHINES=fan SYSTEMS=mtl SEEDS=1 \
  OVERRIDES="$overrides" BUILD="$build" CACHE="$work/cache" \
  LAUNCH="scripts/slurm-batch.sh --cpus-per-task=1 --job-name=asdlib-batch" > "$work/third.log" 2>&1 & make_pid=$!
run=""
for _ in $(seq 600); do
  run="$study/mtl/fan/seed0"
  [ -f "$run/checkpoints/epoch_0001.pt" ] && break
  sleep 1
done
[ -f "$run/checkpoints/epoch_0001.pt" ] || { tail -30 "$work/third.log"; echo "test-cluster: FAILED: the batch job wrote no checkpoint"; exit 1; }
job=$(squeue -h -n asdlib-batch -o %i | head -1)
[ -n "$job" ] || { squeue; echo "test-cluster: FAILED: no asdlib-batch job"; exit 1; }
first_sum=$(stat -c %y "$run/checkpoints/epoch_0001.pt")
echo "test-cluster: sending job $job the time-limit signal (USR1) after its first checkpoint"
scancel --batch --signal=USR1 "$job"
wait "$make_pid" || { tail -40 "$work/third.log"; echo "test-cluster: FAILED: the requeued run failed"; exit 1; }
third=$(( $(date +%s) - start ))
grep -q "requeueing job $job" "$work/logs/asdlib-batch-$job.log" \
  || { cat "$work/logs/asdlib-batch-$job.log"; echo "test-cluster: FAILED: the job did not requeue itself"; exit 1; }
grep -q "start 2" "$work/logs/asdlib-batch-$job.log" || { echo "test-cluster: FAILED: the job did not start again"; exit 1; }
[ "$(stat -c %y "$run/checkpoints/epoch_0001.pt")" = "$first_sum" ] && [ -f "$run/checkpoints/epoch_0006.pt" ] \
  || { echo "test-cluster: FAILED: the requeued run started over or did not finish"; exit 1; }
[ -f "$study/mtl/fan.ipynb" ] || { echo "test-cluster: FAILED: make did not keep the requeued run"; exit 1; }
echo "test-cluster: the batch job requeued itself at the signal and resumed from its checkpoints (log: $work/logs)"

echo "test-cluster: PASSED: grid until the cancel and its end ${first} s, resumed grid and book ${second} s," \
     "requeued batch run ${third} s"
rm -rf "$work"
