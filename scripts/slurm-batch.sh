#!/usr/bin/env bash
# A launcher for the study grid (make's LAUNCH) that hands each run to SLURM as a batch job which
# requeues itself before its time limit:
#
#   make -j 64 -k book SCALE=paper DATA=... LAUNCH="scripts/slurm-batch.sh --gres=gpu:1 --cpus-per-task=8 --time=24:00:00"
#
# Usage: scripts/slurm-batch.sh [SBATCH_OPTION ...] COMMAND [ARG ...]
# (the leading arguments that start with "-" go to sbatch, the rest is the command: give each sbatch
# option as one argument, --time=24:00:00, not --time 24:00:00).
#
# The job runs COMMAND in this folder with this environment (sbatch's default --export=ALL) and is
# submitted with --requeue and --signal=B:USR1@$ASDLIB_REQUEUE_BEFORE (seconds, default 600): when
# the time limit comes near, or the job is preempted, SLURM requeues it, and the command starts
# again, which resumes each seed of the run from its last checkpoint (asdlib train resumes). At most
# $ASDLIB_MAX_REQUEUES (default 20) self-requeues, so a run that cannot make progress stops.
# This script waits for the job (sbatch --wait, which waits through requeues) and exits with its
# exit status, so make keeps only the runs that succeeded. The job's log is kept as
# $ASDLIB_SLURM_LOGS/<job name>-<job id>.log (default slurm-logs/) and printed to stderr at the end
# (make shows it when the run failed).
set -uo pipefail

options=()
while [ $# -gt 0 ] && [[ "$1" == -* ]]; do options+=("$1"); shift; done
[ $# -gt 0 ] || { echo "slurm-batch.sh: no command to run (usage: slurm-batch.sh [SBATCH_OPTION ...] COMMAND ...)" >&2; exit 2; }
command -v sbatch >/dev/null || { echo "slurm-batch.sh: sbatch not found: run this on a SLURM login node" >&2; exit 2; }

logs=$(realpath -m "${ASDLIB_SLURM_LOGS:-slurm-logs}")
mkdir -p "$logs"
script=$(mktemp "$logs/job-XXXXXX.sh")
trap 'rm -f "$script"' EXIT
{
  echo '#!/bin/bash'
  printf 'cd %q || exit 1\n' "$PWD"
  echo 'echo "asdlib: job $SLURM_JOB_ID on $(hostname), start $((${SLURM_RESTART_COUNT:-0} + 1)), $(date -Is)"'
  echo 'requeue() {'
  echo '  if [ "${SLURM_RESTART_COUNT:-0}" -lt "${ASDLIB_MAX_REQUEUES:-20}" ]; then'
  echo '    echo "asdlib: time limit near: requeueing job $SLURM_JOB_ID (it resumes from its last checkpoint)"'
  echo '    scontrol requeue "$SLURM_JOB_ID"'
  echo '  else'
  echo '    echo "asdlib: requeued ${SLURM_RESTART_COUNT} times already (ASDLIB_MAX_REQUEUES): not again"'
  echo '  fi'
  echo '}'
  echo 'trap requeue USR1'
  printf '%q ' "$@"
  echo '&'
  echo 'child=$!'
  echo '# wait returns early when the signal comes; wait again until the command has ended'
  echo 'while true; do wait "$child"; status=$?; kill -0 "$child" 2>/dev/null || break; done'
  echo 'exit "$status"'
} > "$script"

name=asdlib
for option in "${options[@]}"; do
  case "$option" in --job-name=*) name=${option#--job-name=} ;; esac
done
submitted=$(sbatch --wait --parsable --requeue --open-mode=append --job-name="$name" \
  --signal="B:USR1@${ASDLIB_REQUEUE_BEFORE:-600}" --output="$logs/%x-%j.log" "${options[@]}" "$script")
status=$?
job=${submitted%%;*}
if [ -n "$job" ] && [ -f "$logs/$name-$job.log" ]; then
  echo "slurm-batch.sh: job $job ended with status $status; its log: $logs/$name-$job.log" >&2
  cat "$logs/$name-$job.log" >&2
else
  echo "slurm-batch.sh: sbatch ended with status $status (no job log found in $logs)" >&2
fi
exit "$status"
