"""scripts/gpu-check.sh's CPU twin: the GPU check's steps at the smoke scale on the CPU, each written
to the figures file under its heading with its outcome."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
STEPS = ("environment", "cuda tests", "paper shape", "bench")


@pytest.mark.slow
def test_the_cpu_twin_writes_every_step_and_its_figures(tmp_path):
    out = tmp_path / "gpu-check.txt"
    env = {**os.environ, "PYTHON": sys.executable, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    done = subprocess.run(["bash", str(ROOT / "scripts" / "gpu-check.sh"), "--cpu", "--out", str(out)],
                          env=env, capture_output=True, text=True, timeout=900)
    text = out.read_text()
    assert done.returncode == 0, text[-3000:]
    for name in STEPS:
        assert f"\n-- {name}: ok, " in text and f"== {name}: " in text
    assert "== install" not in text  # the twin installs nothing
    assert "4 passed" in text  # tests/test_cuda.py ran on the CPU, none skipped
    for figure in ("training  : pipeline", "limit     : torch.matmul", "bare step of 16", "bare fwd of"):
        assert figure in text
    summary = text[text.index("== summary"):]
    assert all(f"-- {name}: ok" in summary for name in STEPS)
