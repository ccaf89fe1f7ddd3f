"""The Python API: the package's entry points, light to import, each module's ``__all__`` complete,
``python -m asdlib``, and the package docstring's example as written."""
from __future__ import annotations

import ast
import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

import asdlib

SOURCE_ROOT = Path(asdlib.__file__).resolve().parents[1]  # the checkout under test (PYTHONPATH or install)
# modules whose __all__ lists every public name they define
LISTED = ("asdlib.names", "asdlib.data", "asdlib.metrics", "asdlib.scales", "asdlib.embed")


def _python(code: str, **kwargs) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(SOURCE_ROOT)}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, **kwargs)


def test_importing_asdlib_imports_only_asdlib():
    code = "import sys, asdlib; print(sorted(m for m in sys.modules if m.split('.')[0] in ('asdlib', 'torch', 'numpy', 'pandas')))"
    assert _python(code, check=True).stdout.strip() == "['asdlib']"


def test_every_exported_name_resolves_to_its_module_object():
    assert asdlib.__all__ and len(set(asdlib.__all__)) == len(asdlib.__all__)
    for name in asdlib.__all__:
        module, _, attribute = asdlib._EXPORTS[name].rpartition(".")
        assert getattr(asdlib, name) is getattr(importlib.import_module(module), attribute), name
        assert callable(getattr(asdlib, name)) and getattr(asdlib, name).__doc__, name
    assert set(asdlib.__all__) <= set(dir(asdlib))
    assert asdlib.train_run is importlib.import_module("asdlib.train").train
    with pytest.raises(AttributeError, match="no attribute 'nonexistent'"):
        asdlib.nonexistent


def _public_names(module: str) -> list[str]:
    tree = ast.parse(Path(importlib.import_module(module).__file__).read_text())
    names = []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.append(node.name)
        elif isinstance(node, ast.Assign):
            names += [t.id for t in node.targets if isinstance(t, ast.Name)]
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.append(node.target.id)
    return [n for n in names if not n.startswith("_")]


@pytest.mark.parametrize("module", LISTED)
def test_all_lists_every_public_name_of_the_module(module):
    listed = importlib.import_module(module).__all__
    assert sorted(listed) == sorted(_public_names(module))
    for name in listed:
        getattr(importlib.import_module(module), name)


def test_synth_exports_resolve():
    synth = importlib.import_module("asdlib.synth")
    assert all(callable(getattr(synth, name)) for name in synth.__all__)


def test_python_m_asdlib_is_the_command_line():
    done = subprocess.run([sys.executable, "-m", "asdlib", "--help"], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(SOURCE_ROOT)})
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: asdlib") and "synth" in done.stdout and "score" in done.stdout


@pytest.mark.slow
def test_the_package_docstring_example_runs_as_written(tmp_path):
    """The example of ``asdlib.__doc__`` (shown on the book's API page), in an empty folder."""
    lines = asdlib.__doc__.split("::\n", 1)[1].splitlines()
    block = []
    for line in lines:
        if line and not line.startswith("    "):
            break
        block.append(line[4:])
    done = subprocess.run([sys.executable, "-c", "\n".join(block)], cwd=tmp_path, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(SOURCE_ROOT), "ASDLIB_CACHE": str(tmp_path / "cache")})
    assert done.returncode == 0, done.stderr[-3000:]
    assert "'hmean':" in done.stdout and "auc_target" in done.stdout
    assert done.stdout.count("fan") == 6  # one row per section of the evaluated folder
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache", "data", "run"]
