# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # The embedding spaces
#
# What did the disentangled model learn? For each machine, UMAP maps the 128-dimensional *section
# space* $z_S$ and *attribute space* $z_A$ of the `disent` model (Sec. 2.1, Eq. 1) to the plane, one
# point per clip (its chunk embeddings pooled). The entangled 256-dimensional space of the `mtl`
# model is shown for contrast.
#
# How to read the panels: in each row the same points are coloured three ways: by **section**, by
# **domain** (source or target), and by the value of the section's **domain-shift attribute** (e.g.
# the fan's noise type). Small dots are training clips, circles normal test clips and black-edged
# crosses anomalous test clips. A section space that generalises groups clips by section whatever
# their domain; the attribute space should instead spread clips by attribute value. Anomalies are
# detected when they land away from the training clips of their section (Eq. 4). The views show
# the runs of training seed 0.

# %% tags=["parameters"]
data_root = ""      # the data set the study ran on (named in captions)
truth_dir = ""
scale = "smoke"
machines = "ToyCar ToyTrain bearing fan gearbox slider valve"
study_dir = ""      # <system>/<machine>/results/<mode>/summary.json live here; empty: run a small study
paper_results = ""  # the paper's numbers; empty: the copy asdlib ships (asdlib/paper_results.csv)
checkpoint = "last" # the checkpoint rule: the embeddings shown are those of the checkpoint it chose

# %% tags=["setup"]
# Stand-alone (Colab): install asdlib when missing; with no study given, run a small one (a few minutes).
import importlib.util, os, subprocess, sys  # noqa: E401

ASDLIB_GIT = os.environ.get("ASDLIB_GIT", "https://github.com/OWNER/asdlib")  # pyproject.toml's Repository
if importlib.util.find_spec("asdlib") is None:  # install this notebook's checkout, or a clone of ASDLIB_GIT here
    import pathlib
    here = next((p for p in (pathlib.Path.cwd(), *pathlib.Path.cwd().parents) if (p / "asdlib/__init__.py").is_file()),
                pathlib.Path("asdlib-src").resolve())
    if not here.exists():  # a rerun reuses the clone
        subprocess.run(["git", "clone", "-q", ASDLIB_GIT, str(here)], check=True)
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", str(here)], check=True)  # a path, not a name
    importlib.invalidate_caches()
from asdlib.study.runs import ensure_study  # noqa: E402

study_dir, data_root, truth_dir, machines = ensure_study(study_dir, data_root, truth_dir, machines, systems=("disent", "mtl"))

# %%
import json
import warnings
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

warnings.filterwarnings("ignore", message=".*IProgress not found.*")
warnings.filterwarnings("ignore", message=".*n_jobs value.*overridden.*")
import umap  # noqa: E402
from IPython.display import Markdown, display

from asdlib.data import domain_shift_key
from asdlib.study.runs import run_embeddings, seed_folder


def load_run(system, machine, mode):
    found = run_embeddings(seed_folder(Path(study_dir) / system / machine, 0), checkpoint, mode)
    if found is None:
        return None, None
    embeddings, clips = found
    clips["shift value"] = [a.get(domain_shift_key(machine, s), "?") for s, a in zip(clips.section, clips.attributes)]
    return embeddings, clips


def project(points):
    return umap.UMAP(n_neighbors=15, min_dist=0.1, metric="cosine", random_state=0).fit_transform(points)


COLOURINGS = ("section", "domain", "shift value")


def scatter(ax, xy, clips, colour_by, legend):
    values = clips[colour_by].fillna("?").astype(str)
    palette = dict(zip(sorted(values.unique()), plt.cm.tab10.colors * 3))
    for value, colour in palette.items():
        pick = (values == value).to_numpy()
        train = pick & (clips["split"] == "train").to_numpy()
        normal = pick & (clips["label"] == "normal").to_numpy()
        anomaly = pick & (clips["label"] == "anomaly").to_numpy()
        ax.scatter(*xy[train].T, s=5, color=colour, alpha=0.5, label=value)
        ax.scatter(*xy[normal].T, s=16, color=colour, edgecolors="none", alpha=0.8)
        ax.scatter(*xy[anomaly].T, s=30, color=colour, marker="X", edgecolors="black", linewidths=0.5)
    ax.set_xticks([])
    ax.set_yticks([])
    if legend:
        ax.legend(fontsize=8, markerscale=2.5, loc="upper left", bbox_to_anchor=(0, -0.02), frameon=False,
                  ncol=min(len(palette), 4), columnspacing=0.8, handletextpad=0.2)


def figure(machine):
    disent, clips = load_run("disent", machine, "cat")
    mtl, mtl_clips = load_run("mtl", machine, "mtl")
    rows = []
    if disent is not None:
        rows += [("disent: section space", disent["section"], clips),
                 ("disent: attribute space", disent["attribute"], clips)]
    if mtl is not None:
        rows += [("mtl: entangled space", mtl["mtl"], mtl_clips)]
    if not rows:
        return
    fig, axes = plt.subplots(len(rows), 3, figsize=(10, 3.4 * len(rows) + 0.8), squeeze=False)
    for r, ((name, points, table), axrow) in enumerate(zip(rows, axes)):
        xy = project(points)
        for c, (ax, colour_by) in enumerate(zip(axrow, COLOURINGS)):
            scatter(ax, xy, table, colour_by, legend=(r == len(rows) - 1))
            if r == 0:
                ax.set_title(f"coloured by {colour_by}", fontsize=10)
        axrow[0].set_ylabel(name, fontsize=10)
    shift = domain_shift_key(machine, "00")
    fig.suptitle(f"{machine}: shift value = the value of each section's domain-shift attribute "
                 f"(section 00: {shift})", x=0.01, ha="left", fontsize=11, fontweight="bold")
    fig.tight_layout()
    plt.show()


for machine in machines.split():
    figure(machine)
