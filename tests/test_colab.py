"""Colab: one repository URL (pyproject.toml's), each notebook as an .ipynb, and the book's buttons opening them."""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import jupytext
import nbformat
import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
URL = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["urls"]["Repository"]
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.py"))


def test_the_notebooks_and_the_book_carry_pyprojects_repository_url():
    """Set it with python scripts/set-repository-url.py URL."""
    assert yaml.safe_load((REPO / "book/_config.yml").read_text())["repository"]["url"] == URL
    for notebook in NOTEBOOKS:
        setup = next(c.source for c in jupytext.read(notebook).cells if "setup" in c.metadata.get("tags", []))
        assert re.findall(r"https?://[^\"\s]+", setup) == [URL], notebook.name


def test_the_ipynb_folder_holds_one_copy_per_notebook():
    assert sorted(p.stem for p in (REPO / "notebooks/ipynb").glob("*.ipynb")) == [p.stem for p in NOTEBOOKS]


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_each_ipynb_copy_is_its_notebook_without_outputs(notebook):
    """Rewrite the copies with python scripts/write-ipynb.py."""
    def cells(converted):
        return [(c.cell_type, c.source, c.metadata) for c in converted.cells]
    copy = nbformat.read(REPO / "notebooks/ipynb" / f"{notebook.stem}.ipynb", as_version=4)
    assert cells(copy) == cells(jupytext.read(notebook)), "stale: run python scripts/write-ipynb.py"
    assert not any(c.get("outputs") for c in copy.cells)
    assert copy.metadata.kernelspec.name == "python3"


def test_every_chapter_has_a_colab_button_to_its_notebook_in_the_repository(tmp_path):
    """jupyter-book builds the book's own _config.yml and _toc.yml, each chapter its committed .ipynb copy and the
    other pages stubs: every chapter's Colab button opens, on this repository, a notebook that git tracks."""
    book = tmp_path / "book"
    book.mkdir()
    for name in ("_config.yml", "_toc.yml"):
        shutil.copy(REPO / "book" / name, book)
    toc = yaml.safe_load((book / "_toc.yml").read_text())
    pages = [toc["root"], *(chapter["file"] for part in toc["parts"] for chapter in part["chapters"])]
    chapters = [page for page in pages if (REPO / "notebooks" / f"{page}.py").is_file()]
    assert chapters and all(page in chapters or (REPO / "book" / f"{page}.md").is_file() for page in pages)
    for page in pages:
        if page in chapters:
            shutil.copy(REPO / "notebooks/ipynb" / f"{page}.ipynb", book)
        else:
            (book / f"{page}.md").write_text(f"# {page}\n")
    built = subprocess.run([Path(sys.executable).with_name("jupyter-book"), "build", "--quiet", book],
                           capture_output=True, text=True)
    assert built.returncode == 0, built.stdout[-2000:] + built.stderr[-2000:]
    branch = yaml.safe_load((REPO / "book/_config.yml").read_text())["repository"]["branch"]
    tracked = set(subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout.split())
    for page in chapters:
        html = (book / "_build/html" / f"{page}.html").read_text()
        links = re.findall(r'href="https://colab\.research\.google\.com/github/([^"]+)"', html)
        assert len(links) == 1, page
        repository, path = links[0].split(f"/blob/{branch}/")
        assert f"https://github.com/{repository}" == URL and path in tracked, links[0]
