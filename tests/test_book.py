"""`make book` at smoke scale for a subset: the HTML holds the tables and figures, and works offline."""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def make_book(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["make", "--no-print-directory", "book", "SCALE=smoke", f"BUILD={tmp_path / 'build'}",
                           f"CACHE={tmp_path / 'cache'}", f"MATHJAX_DIR={tmp_path / 'mathjax'}", *args],
                          cwd=REPO, capture_output=True, text=True)


@pytest.fixture(scope="module")
def book(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("book")
    done = make_book(tmp, "MACHINES=fan", "SYSTEMS=disent mtl")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return tmp / "build" / "_build" / "html"


def test_tables_hold_every_system_row(book):
    table2 = (book / "table2.html").read_text()
    assert table2.count("<table") >= 1
    for row in ("Disent.Cat", "Disent.Sec", "Disent.Att", "Disent.Wt", "MTL", "MSL"):
        assert f">{row}<" in table2, row
    assert "smoke" in table2 and "synthetic stand-in" in table2  # the caption names scale and data
    table3 = (book / "table3.html").read_text()
    assert ">fan AUC<" in table3 and ">score<" in table3
    table4 = (book / "table4.html").read_text()
    assert "MSL (paper)" in table4 and "Sec_ArcFace" in table4 and "eval gain" in table4  # the paper chose ArcFace for fan


def test_figures_are_embedded(book):
    def images(page):
        return re.findall(r'<img [^>]*src="([^"]+\.png)"', (book / page).read_text())
    assert len(images("data.html")) == 1        # one spectrogram figure per machine
    assert len(images("embeddings.html")) == 1  # one UMAP figure per machine
    assert len(images("table2.html")) == 1
    for page in ("data.html", "embeddings.html"):
        for src in images(page):
            assert (book / src).is_file()


def test_the_book_needs_no_network(book):
    method = (book / "method.html").read_text()
    assert "_static/mathjax/tex-chtml.js" in method and (book / "_static/mathjax/tex-chtml.js").is_file()
    assert not re.search(r'src="https?://', method)  # no script or image from a CDN
    assert "\\mathcal{L}_S" in method  # the equations are in the page, for MathJax to typeset


def test_setup_cells_are_not_shown(book):
    table2 = (book / "table2.html").read_text()
    assert "paper_results = " not in table2 and "run_small_study" not in table2


def test_a_failing_notebook_fails_the_build(tmp_path):
    empty = tmp_path / "no-data"
    (empty / "dev_data").mkdir(parents=True)
    done = make_book(tmp_path, f"DATA={empty}", "MACHINES=fan", "SYSTEMS=disent")
    assert done.returncode != 0
    assert "failed:" in done.stdout + done.stderr
    assert not list((tmp_path / "build").rglob("data.ipynb"))
