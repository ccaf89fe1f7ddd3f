"""Tag an executed notebook's cells for the book: set-up cells vanish, other code folds away.

Cells tagged ``parameters``, ``injected-parameters`` (papermill) or ``setup`` get ``remove-cell``;
every other code cell gets ``hide-input`` (the reader sees outputs and can unfold the code).
Usage: ``python scripts/hide_code.py NOTEBOOK.ipynb`` (rewritten in place).
"""
import json
import sys

path = sys.argv[1]
with open(path) as handle:
    notebook = json.load(handle)
for cell in notebook["cells"]:
    if cell["cell_type"] != "code":
        continue
    tags = cell.setdefault("metadata", {}).setdefault("tags", [])
    hidden = {"parameters", "injected-parameters", "setup"} & set(tags)
    new = "remove-cell" if hidden else "hide-input"
    if new not in tags:
        tags.append(new)
with open(path, "w") as handle:
    json.dump(notebook, handle, indent=1)
