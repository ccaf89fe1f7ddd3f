"""The set-up promises: one dependency list, light imports, a README that opens with the two commands."""
from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _environment_pip_list() -> list[str]:
    lines = (REPO / "environment.yml").read_text().splitlines()
    start = next(i for i, l in enumerate(lines) if l.strip() == "- pip:")
    deps = []
    for line in lines[start + 1:]:
        m = re.match(r"^\s+- (.+)$", line)
        if not m:
            break
        deps.append(m.group(1).strip())
    return [d for d in deps if not d.startswith("-e")]


def test_environment_yml_and_pyproject_list_the_same_packages():
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert _environment_pip_list() == pyproject["project"]["dependencies"]
    assert "torch==2.13.0" in pyproject["project"]["dependencies"]


def test_constraints_pin_torch_without_a_cpu_local_tag():
    pins = (REPO / "constraints.txt").read_text().splitlines()
    assert "torch==2.13.0" in pins


def test_readme_opens_with_the_two_commands():
    text = (REPO / "README.md").read_text()
    first_block = re.search(r"```(?:bash|sh)?\n(.*?)```", text, re.S).group(1).split()
    assert first_block[:4] == ["make", "test", "make", "book"]
    assert ".ci/run" not in first_block


def test_ci_runs_make_test():
    assert "make test" in (REPO / ".ci" / "run").read_text()


def test_light_modules_do_not_import_torch():
    code = ("import sys, asdlib.names, asdlib.data, asdlib.metrics, asdlib.scales, asdlib.evaluate, asdlib.cli;"
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
