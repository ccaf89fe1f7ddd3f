#!/usr/bin/env bash
# scripts/gpu-check.sh [--cpu] [--wheels DIR] [--out FILE]: the GPU path in one command (issue 19, item 4).
#
# On a GPU machine whose image has its own torch and no package index, within GPU_CHECK_SECONDS (480):
#   install      asdlib and what the image lacks (soundfile, librosa, ...) from DIR's wheels (or $WHEELS;
#                scripts/gpu-wheels.sh makes them): pip install --no-index --no-deps into build/gpu-site,
#                put on PYTHONPATH; the image itself is left as it is
#   environment  python, torch, the GPU, where asdlib is imported from
#   cuda tests   tests/test_cuda.py on CUDA
#   paper shape  tests/test_paper_shape.py (the paper-shape smoke) on CUDA
#   bench        python -m asdlib.bench --device cuda --scale paper --variants: its report first, then
#                the variants' table, so a compilation cut short by the deadline leaves the report
# Every step's output goes to FILE (default build/gpu-check.txt) under "== <step>: <command>", closed by
# "-- <step>: ok | failed (rc N) | timed out | not run, <seconds> s"; a summary of those lines ends it.
# Each step runs under its cap or the time left, whichever is less; one that fails does not stop the next.
#
# --cpu: the CPU twin (tests/test_gpu_check.py runs it): the same steps on the CPU at the smoke scale,
# with the Python and packages at hand (PYTHON, default python3), installing nothing; the paper-shape
# step only collects its tests there (they take minutes on a CPU; make test runs them).
# Exit status: 0 when every step passed.
set -uo pipefail
cd "$(dirname "$0")/.."

device=cuda wheels=${WHEELS:-} out=build/gpu-check.txt
while (( $# )); do
  case $1 in
    --cpu) device=cpu ;;
    --wheels) wheels=$2; shift ;;
    --out) out=$2; shift ;;
    *) echo "usage: $0 [--cpu] [--wheels DIR] [--out FILE]" >&2; exit 2 ;;
  esac
  shift
done
python=${PYTHON:-python3}
if [[ $device == cuda && ! -d $wheels ]]; then
  echo "$0: give the folder of wheels (--wheels DIR or WHEELS=DIR; scripts/gpu-wheels.sh makes it)" >&2
  exit 2
fi
mkdir -p "$(dirname "$out")" && : > "$out"
deadline=$(( $(date +%s) + ${GPU_CHECK_SECONDS:-480} ))
failed=0

step() {  # step NAME CAP_SECONDS COMMAND...: run COMMAND, its output to the terminal and to $out
  local name=$1 cap=$2 left=$(( deadline - $(date +%s) )) start rc status
  shift 2
  (( left < cap )) && cap=$left
  echo "== $name: ${*%%$'\n'*}" | tee -a "$out"  # the command up to its first line break
  start=$(date +%s)
  if (( cap <= 0 )); then
    rc=1 status="not run"
  else
    timeout --kill-after=10 "$cap" "$@" 2>&1 | tee -a "$out"
    rc=${PIPESTATUS[0]}
    case $rc in 0) status=ok ;; 124|137) status="timed out" ;; *) status="failed (rc $rc)" ;; esac
  fi
  (( rc == 0 )) || failed=1
  echo "-- $name: $status, $(( $(date +%s) - start )) s" | tee -a "$out"
}

if [[ $device == cuda ]]; then
  scale=paper bench_args=(--variants) paper_args=()
  step install 90 "$python" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target build/gpu-site "$wheels"/*.whl
  export PYTHONPATH=$PWD/build/gpu-site${PYTHONPATH:+:$PYTHONPATH}
else
  scale=smoke bench_args=(--steps 5) paper_args=(--collect-only)
fi
export ASDLIB_TEST_DEVICE=$device PYTHONUNBUFFERED=1
step environment 60 "$python" -c "
import os, sys, torch, asdlib, soundfile
print('python', sys.version.split()[0], '| torch', torch.__version__, '| CUDA', torch.version.cuda,
      '| cores', os.cpu_count(), '| torch threads', torch.get_num_threads())
print('asdlib from', os.path.dirname(asdlib.__file__), '| soundfile', soundfile.__version__)
if '$device' == 'cuda':
    assert torch.cuda.is_available(), 'torch sees no CUDA device'
    p = torch.cuda.get_device_properties(0)
    print('GPU', p.name, f'| {p.total_memory / 2**30:.0f} GiB | {p.multi_processor_count} SMs',
          '| bf16', torch.cuda.is_bf16_supported())
"
step "cuda tests" 120 "$python" -m pytest -q -p no:cacheprovider tests/test_cuda.py
step "paper shape" 150 "$python" -m pytest -q -p no:cacheprovider "${paper_args[@]}" tests/test_paper_shape.py
step bench 600 "$python" -m asdlib.bench --device "$device" --scale "$scale" "${bench_args[@]}"

summary=$(grep '^-- ' "$out")
printf '== summary\n%s\n' "$summary" | tee -a "$out"
exit $failed
