#!/usr/bin/env bash
# Runs a command with the CPU threads of the job it runs in: inside a SLURM allocation, as many
# threads as the allocation gives each task (SLURM_CPUS_PER_TASK), not what the login node that
# started `make` computed; elsewhere the caller's OMP_NUM_THREADS stays.
if [ -n "${SLURM_CPUS_PER_TASK:-}" ]; then
  export OMP_NUM_THREADS="$SLURM_CPUS_PER_TASK" MKL_NUM_THREADS="$SLURM_CPUS_PER_TASK"
fi
exec "$@"
