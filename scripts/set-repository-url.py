"""Set the repository's URL: ``python scripts/set-repository-url.py https://github.com/ORG/REPO``.

pyproject.toml's ``[project.urls]`` Repository is the URL's one source; the notebooks' set-up cells (the
default they clone in Colab), their .ipynb copies and book/_config.yml (the Colab buttons) carry copies,
because a notebook opened in Colab cannot read pyproject.toml. This replaces the old URL with the new in
every file git tracks; tests/test_colab.py checks that the copies equal pyproject.toml's.
"""
import subprocess
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

new = sys.argv[1].rstrip("/")
old = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["urls"]["Repository"]
found = subprocess.run(["git", "grep", "-l", "-F", old], cwd=REPO, capture_output=True, text=True).stdout.split()
for name in found:
    path = REPO / name
    path.write_text(path.read_text().replace(old, new))
print(f"{old} -> {new} in", *found)
