"""Write notebooks/ipynb/<name>.ipynb from every notebook notebooks/<name>.py (no outputs), for Colab.

The .py files are the source; the .ipynb copies exist because Colab opens an .ipynb at its path in the
repository (the book's "Open in Colab" buttons point at them); tests/test_colab.py checks they are current.
Cell ids are the cells' positions, so that rewriting an unchanged notebook changes nothing.
Usage: ``python scripts/write-ipynb.py`` (after editing a notebook).
"""
from pathlib import Path

import jupytext

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"

(NOTEBOOKS / "ipynb").mkdir(exist_ok=True)
for notebook in sorted(NOTEBOOKS.glob("*.py")):
    converted = jupytext.read(notebook)
    for i, cell in enumerate(converted.cells):
        cell.id = str(i)
    jupytext.write(converted, NOTEBOOKS / "ipynb" / f"{notebook.stem}.ipynb", fmt="ipynb")
