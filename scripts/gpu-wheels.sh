#!/usr/bin/env bash
# scripts/gpu-wheels.sh [DIR]: the folder of wheels that scripts/gpu-check.sh installs on a GPU machine
# with no package index (default DIR: build/wheels, which git ignores).
#
# The target image (Python 3.12, x86-64, its own torch 2.11, numpy, scipy, scikit-learn, pandas, numba,
# tqdm, pytest...) lacks soundfile and librosa and these of their needs; the check imports no
# umap-learn, papermill or jupytext (the book's), so they are not fetched. Versions: those of the
# project environment. asdlib's own wheel is built from this checkout, without its dependencies.
# Run with the project's Python (PYTHON=.venv/bin/python): it needs pip, setuptools and a package index.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-build/wheels}
python=${PYTHON:-python3}
packages=(soundfile==0.14.0 cffi==2.1.1 pycparser==3.12
          librosa==0.11.0 audioread==3.1.0 soxr==1.1.0 pooch==1.9.0 platformdirs==4.14.5 decorator==5.3.1)
rm -rf "$dir" && mkdir -p "$dir"
"$python" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
  --platform manylinux2014_x86_64 --platform manylinux1_x86_64 -d "$dir" "${packages[@]}"
src=$(mktemp -d)  # setuptools writes build/ and *.egg-info where it builds: not in this checkout
trap 'rm -rf "$src"' EXIT
cp -r pyproject.toml README.md asdlib "$src"
"$python" -m pip wheel -q --no-deps --no-build-isolation -w "$(realpath "$dir")" "$src"
ls -1 "$dir"
du -sh "$dir"
