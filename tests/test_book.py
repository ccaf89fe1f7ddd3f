"""`make book` at smoke scale for a subset: the HTML holds the tables and figures, and works offline."""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SIGNED_INTERVAL = re.compile(r"[+-]\d+\.\d ± \d+\.\d")  # a difference in points with its 95 % half-width


def make_book(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["make", "--no-print-directory", "book", "SCALE=smoke", f"BUILD={tmp_path / 'build'}",
                           f"CACHE={tmp_path / 'cache'}", f"MATHJAX_DIR={tmp_path / 'mathjax'}", *args],
                          cwd=REPO, capture_output=True, text=True)


@pytest.fixture(scope="module")
def book(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("book")
    done = make_book(tmp, "MACHINES=fan", "SYSTEMS=disent mtl sec_softmax", "SEEDS=2")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return tmp / "build" / "_build" / "html"


def test_tables_hold_every_system_row_beside_the_paper(book):
    table2 = (book / "table2.html").read_text()
    assert table2.count("<table") >= 1
    for row in ("Disent.Cat (S3)", "Disent.Sec", "Disent.Att", "Disent.Wt (S4)", "MTL", "MSL (S1)"):
        assert f">{row}<" in table2, row
    assert "(59.14)" in table2 and "(74.57)" in table2  # the paper's MTL fan and Disent.Wt hmean, beside ours
    assert re.search(r"\d+\.\d ± \d+\.\d \(59\.14\)", table2)  # ours with its interval, beside the paper's
    assert "2 training seeds" in table2
    assert "smoke" in table2 and "synthetic stand-in" in table2  # the caption names scale and data
    table3 = (book / "table3.html").read_text()
    assert ">fan AUC<" in table3 and ">score<" in table3
    assert ">Top rank<" in table3 and "(57.34)" in table3  # the paper-only row, with its fan AUC
    table4 = (book / "table4.html").read_text()
    assert "(ArcFace)" in table4 and "eval gain" in table4  # the paper chose ArcFace for fan
    assert "follows from Table 2" in table4 and "Disent.Sec" in table4  # the paper's choices checked
    assert "best dev" in table4  # both checkpoint rules side by side
    systems = (book / "systems.html").read_text()
    assert "measured here" in systems and "Disent.Cat (norm.)" in systems  # the departures table
    assert "<table" in systems.split("Departures from the paper")[1]  # rendered as a table
    claims = (book / "claims.html").read_text()
    assert "ArcFace raises AUC (T) over softmax" in claims and "<table" in claims
    rows = re.findall(r"<tr[^>]*>.*?</tr>", claims, re.S)
    for claim in ("disentanglement beats MTL", "MTL lowers the overall score against softmax"):  # both rows built
        assert any(claim in r and SIGNED_INTERVAL.search(r) for r in rows), claim  # its paired difference
    pipeline = (book / "pipeline.html").read_text()
    rows = re.findall(r"<tr[^>]*>.*?</tr>", pipeline, re.S)
    wa = [r for r in rows if "Disent.Cat (S3) + WA gains on" in r]  # dev by construction, eval tested
    assert len(wa) == 2 and all(SIGNED_INTERVAL.search(r) for r in wa)
    assert "by construction (not counted)" in wa[0] and "by construction (not counted)" not in wa[1]


def test_figures_are_embedded(book):
    def images(page):  # the notebooks' figures (the page's own icons, such as Colab's logo, live in _static/)
        return re.findall(r'<img [^>]*src="(_images/[^"]+\.png)"', (book / page).read_text())
    assert len(images("data.html")) == 1        # one spectrogram figure per machine
    assert len(images("embeddings.html")) == 1  # one UMAP figure per machine
    assert len(images("table2.html")) == 2      # paper against here, per machine
    assert len(images("table3.html")) == 2      # paper against here, dev against eval
    assert "Kendall" in (book / "table2.html").read_text()
    for page in ("data.html", "embeddings.html", "table2.html"):
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
