"""The notebooks run on their own (Colab): their set-up cell installs asdlib from the repository, never by name."""
from __future__ import annotations

from pathlib import Path

import jupytext
import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.py"))


def setup_cell(notebook: Path) -> str:
    cells = [c for c in jupytext.read(notebook).cells if "setup" in c.metadata.get("tags", [])]
    assert len(cells) == 1, f"{notebook.name}: one cell tagged 'setup'"
    return cells[0].source


def run_install(source: str, cwd: Path, monkeypatch, env: dict) -> list[list[str]]:
    """Run the install part of a set-up cell as if asdlib were missing; returns the commands it ran."""
    import importlib.util
    import subprocess

    install = source[source.index("if importlib.util.find_spec"):]
    install = install[:install.index("\n\n")] if "\n\n" in install else install
    calls = []
    monkeypatch.chdir(cwd)
    for key in ("ASDLIB_GIT",):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    monkeypatch.setattr(subprocess, "run", lambda cmd, **kw: calls.append(list(cmd)))
    exec(compile("import importlib.util, os, subprocess, sys\n" + install, "setup", "exec"), {})
    return calls


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_setup_installs_from_the_repository_or_refuses(notebook, tmp_path, monkeypatch):
    source = setup_cell(notebook)
    assert "ASDLIB_PIP" not in source
    nowhere = tmp_path / "nowhere"
    nowhere.mkdir()
    with pytest.raises(RuntimeError, match="run this notebook inside a clone of the asdlib repository"):
        run_install(source, nowhere, monkeypatch, {})
    checkout = tmp_path / "clone"
    (checkout / "asdlib").mkdir(parents=True)
    (checkout / "asdlib" / "__init__.py").write_text("")
    (checkout / "notebooks").mkdir()
    calls = run_install(source, checkout / "notebooks", monkeypatch, {})
    assert calls[-1][-4:] == ["pip", "install", "-q", str(checkout)]
    calls = run_install(source, nowhere, monkeypatch, {"ASDLIB_GIT": "https://example.org/asdlib.git"})
    assert calls[0][:2] == ["git", "clone"] and calls[-1][-1] == "asdlib-src"
    assert not any(c[-1] == "asdlib" for c in calls)  # never a package name on an index
