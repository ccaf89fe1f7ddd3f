"""The notebooks run on their own (Colab): their set-up cell installs asdlib from a clone of the repository."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import jupytext
import pytest

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.py"))


def setup_cell(notebook: Path) -> str:
    cells = [c for c in jupytext.read(notebook).cells if "setup" in c.metadata.get("tags", [])]
    assert len(cells) == 1, f"{notebook.name}: one cell tagged 'setup'"
    return cells[0].source


def test_every_notebook_installs_asdlib_the_same_way():
    """The install block is the same everywhere, so running one notebook's tests them all."""
    def install(source: str) -> str:
        start = source.index("ASDLIB_GIT = ")
        return source[start:source.index("importlib.invalidate_caches()", start)]
    blocks = {notebook.stem: install(setup_cell(notebook)) for notebook in NOTEBOOKS}
    assert len(set(blocks.values())) == 1, blocks


@pytest.mark.slow
def test_a_notebook_runs_from_an_empty_folder_given_only_a_clone_url(tmp_path):
    """The data chapter's parameters, set-up and first code cells, as Colab opens them (notebooks/ipynb/data.ipynb),
    run in an empty folder outside the checkout, by a fresh virtual environment without asdlib, with ASDLIB_GIT
    this checkout's file:// URL: the cell clones it (its commits: uncommitted changes are not in a clone) and
    installs the clone. Nothing is downloaded: pip has no index and no build isolation, and pip, setuptools and
    asdlib's dependencies are the running interpreter's site-packages (sysconfig's purelib under sys.prefix),
    which the fresh environment sees through a .pth file, asdlib's own install left out.
    Then asdlib is uninstalled and the cells rerun: the set-up cell reuses the clone."""
    packages = tmp_path / "project-packages"
    packages.mkdir()
    for entry in Path(sysconfig.get_paths()["purelib"]).iterdir():
        if not entry.name.startswith(("asdlib", "__editable__")):
            (packages / entry.name).symlink_to(entry)
    python = tmp_path / "venv" / "bin" / "python"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", python.parents[1]], check=True)
    site = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    (Path(site) / "project-packages.pth").write_text(f"{packages}\n")

    cells = [c for c in json.loads((REPO / "notebooks/ipynb/data.ipynb").read_text())["cells"] if c["cell_type"] == "code"]
    assert [c["metadata"].get("tags") for c in cells[:2]] == [["parameters"], ["setup"]]
    parameters, setup, first = ("".join(c["source"]) for c in cells[:3])
    script = tmp_path / "cells.py"
    script.write_text("\n".join([parameters, 'machines = "fan"', setup, first,
                                 "import asdlib\nprint('asdlib at', asdlib.__file__)"]))
    colab = tmp_path / "colab"
    colab.mkdir()
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"} | {
        "HOME": str(tmp_path / "home"), "ASDLIB_GIT": REPO.as_uri(), "PIP_NO_INDEX": "1",
        "PIP_NO_BUILD_ISOLATION": "0", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    for run in ("first", "rerun"):
        done = subprocess.run([python, script], cwd=colab, env=env, capture_output=True, text=True)
        assert done.returncode == 0, f"{run}:\n{done.stdout[-2000:]}{done.stderr[-3000:]}"
        assert f"asdlib at {site}/asdlib/__init__.py" in done.stdout, done.stdout
        assert (colab / "asdlib-src" / "pyproject.toml").is_file() and (colab / "asdlib-smoke-data").is_dir()
        subprocess.run([python, "-m", "pip", "uninstall", "-q", "-y", "asdlib"], env=env, check=True)
