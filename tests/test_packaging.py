"""The set-up promises: one dependency list (extras included), torch a range for users and a pin for the
project, a wheel that ships what the notebooks read, a license and a citation, a README that opens with
the two commands."""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
BOOK_AND_TEST_TOOLS = {"jupyter-book", "papermill", "jupytext", "ipykernel", "pytest"}


def _environment_pip_list() -> list[str]:
    pip = next(d for d in yaml.safe_load((REPO / "environment.yml").read_text())["dependencies"]
               if isinstance(d, dict))
    return pip["pip"]


def _pins() -> dict[str, str]:
    """constraints.txt as canonical name -> version."""
    pins = {}
    for line in (REPO / "constraints.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            name, version = line.split("==")
            pins[canonicalize_name(name)] = version
    return pins


def _torch(requirements: list[str]) -> Requirement:
    return next(Requirement(r) for r in requirements if Requirement(r).name == "torch")


def test_environment_yml_lists_pyproject_packages_and_extras_with_torch_pinned():
    """environment.yml: the dependencies, then each extra's, torch at the constraints' pin, then the
    checkout installed with every extra."""
    extras = PYPROJECT["optional-dependencies"]
    pin = f"torch=={_pins()['torch']}"
    wanted = [pin if Requirement(d).name == "torch" else d for d in PYPROJECT["dependencies"]]
    wanted += [d for extra in extras.values() for d in extra]
    assert _environment_pip_list() == wanted + [f"-e .[{','.join(extras)}]"]


def test_torch_is_a_range_for_users_and_pinned_for_the_project():
    torch = _torch(PYPROJECT["dependencies"])
    assert torch.specifier and all(spec.operator not in ("==", "===") for spec in torch.specifier)
    pinned = _pins()["torch"]
    assert re.fullmatch(r"\d+\.\d+\.\d+", pinned)  # no CPU local tag: the same line serves CUDA machines
    assert torch.specifier.contains(pinned)


def test_book_and_test_tools_are_extras_and_every_package_is_pinned_in_range():
    base = {canonicalize_name(Requirement(d).name) for d in PYPROJECT["dependencies"]}
    assert not base & BOOK_AND_TEST_TOOLS
    extras = PYPROJECT["optional-dependencies"]
    assert {canonicalize_name(Requirement(d).name) for d in extras["book"] + extras["test"]} == BOOK_AND_TEST_TOOLS
    pins = _pins()
    for line in PYPROJECT["dependencies"] + extras["book"] + extras["test"]:
        requirement = Requirement(line)
        assert requirement.specifier.contains(pins[canonicalize_name(requirement.name)]), line


def test_make_env_installs_the_checkout_with_every_extra_under_the_constraints():
    extras = ",".join(PYPROJECT["optional-dependencies"])
    assert f'pip install -q -c constraints.txt -e ".[{extras}]"' in (REPO / "Makefile").read_text()


def test_the_version_has_one_source():
    assert "version" not in PYPROJECT and PYPROJECT["dynamic"] == ["version"]
    setuptools = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert setuptools["dynamic"]["version"] == {"attr": "asdlib.__version__"}


def test_citation_cites_the_paper_and_the_software_under_the_package_license():
    citation = yaml.safe_load((REPO / "CITATION.cff").read_text())
    assert citation["cff-version"] == "1.2.0" and citation["type"] == "software"
    assert "version" not in citation and "repository-code" not in citation  # each has one place
    assert citation["license"] == PYPROJECT["license"] == "MIT"
    assert citation["authors"] == [{"name": author["name"]} for author in PYPROJECT["authors"]]
    paper = citation["preferred-citation"]
    assert paper["type"] == "conference-paper" and paper["year"] == 2022
    assert f"'{paper['title']}'" in PYPROJECT["description"] and paper["title"] in citation["title"]
    # the authors as the book cites them: "S. Venkatesh, G. Wichern, A. S. Subramanian, J. Le Roux"
    cited = ", ".join(" ".join(f"{g[0]}." for g in a["given-names"].split()) + " " + a["family-names"]
                      for a in paper["authors"])
    assert cited in (REPO / "book" / "intro.md").read_text()
    assert (REPO / "LICENSE").read_text().startswith("MIT License\n\nCopyright (c) 2026 the asdlib authors\n")


@pytest.mark.slow
def test_the_wheel_ships_the_paper_numbers_license_and_metadata(tmp_path):
    """Built from a copy of the checkout (nothing written into it), unpacked outside it: the paper's
    numbers read from the package itself, as a notebook outside the checkout reads them."""
    source = tmp_path / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(REPO / name, source / name)
    shutil.copytree(REPO / "asdlib", source / "asdlib", ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                    "-w", str(tmp_path / "dist"), str(source)], check=True, capture_output=True)
    wheel, = (tmp_path / "dist").glob("asdlib-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        info = next(n for n in names if n.endswith(".dist-info/METADATA"))
        metadata = Parser().parsestr(archive.read(info).decode())
        archive.extractall(tmp_path / "site")
    assert "asdlib/paper_results.csv" in names and "asdlib/__main__.py" in names
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    assert metadata["License-Expression"] == "MIT"
    requires = metadata.get_all("Requires-Dist")
    assert str(_torch(PYPROJECT["dependencies"])) in requires
    plain = {canonicalize_name(Requirement(r).name) for r in requires if Requirement(r).marker is None}
    assert not plain & BOOK_AND_TEST_TOOLS
    assert set(metadata.get_all("Provides-Extra")) == set(PYPROJECT["optional-dependencies"])
    assert metadata.get_all("Project-URL") == [f"{k}, {v}" for k, v in PYPROJECT["urls"].items()]
    code = ("import asdlib; from asdlib.study.paper import paper_numbers;"
            "print(asdlib.__file__, asdlib.__version__, paper_numbers('', 'table2').loc['Sec_ArcFace', 'AUC (S)'])")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env={"PYTHONPATH": str(tmp_path / "site")},
                         capture_output=True, text=True, check=True).stdout.split()
    assert out[0].startswith(str(tmp_path / "site")) and out[2] == "86.5"
    assert out[1] == metadata["Version"]


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
