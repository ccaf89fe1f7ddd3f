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
# # Table 2: the development set
#
# The paper's Table 2 compares every system on the development set (sections 00-02 of each
# machine). Per machine: the harmonic mean of its 9 values (3 sections x AUC (source), AUC
# (target), pAUC). Per metric: the harmonic mean of its 21 values over the 7 machines. The last
# column, `hmean`, is the harmonic mean of all 63 values: the official DCASE 2022 score. AUC
# (source) counts the source-domain normal clips against *all* anomalous clips of the section, as
# the official evaluator does; pAUC is the standardised partial AUC up to a false-positive rate of
# 0.1.
#
# Each cell reads **here (paper)**, in %: the number measured in this build, from the runs'
# `summary.json` files, and the paper's, from `asdlib/paper_results.csv` (a copy of every published
# cell of the paper's tables). Our rows carry the paper's names; rows the paper does not have
# (e.g. *Disent.Cat (norm.)*, *Disent.Wt (0.5/0.5)*) show "-" for the paper.

# %% tags=["parameters"]
data_root = ""      # the data set the study ran on (named in captions)
truth_dir = ""
scale = "smoke"
machines = "ToyCar ToyTrain bearing fan gearbox slider valve"
study_dir = ""      # <system>/<machine>/results/<mode>/summary.json live here; empty: run a small study
paper_results = ""  # the paper's numbers; empty: the copy asdlib ships (asdlib/paper_results.csv)
checkpoint = "last" # the checkpoint rule of the tables: "last" or "best_dev" (the paper's)

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

# %% tags=["full-width"]
import matplotlib.pyplot as plt
from IPython.display import Markdown, display

from asdlib.study.evidence import table2
from asdlib.study.load import load_study
from asdlib.study.paper import beside, paper_numbers, setting_caption

study = load_study(study_dir, checkpoint)
means, halves = table2(study.evidence)
paper = paper_numbers(paper_results, "table2")
display(Markdown("**Table 2.** Development set, harmonic means. "
                 + setting_caption(data_root, scale, checkpoint, study.evidence.seeds, study.evidence.n_resamples)))
display(beside(means, halves, paper))

# %% [markdown]
# Does the ordering of the systems carry over? Each point is one row of the table: the paper's
# official score (x) against ours (y, with its 95 % interval). Kendall's tau compares the two
# orderings of the systems the paper and this build share (1: the same order, 0: unrelated). Levels
# differ by design (a synthetic stand-in at a reduced scale); only the ordering can be compared.

# %%
from asdlib.plots import machine_bars, paper_against_here_figure

paper_against_here_figure(means["hmean"], halves["hmean"], paper["hmean"], "official score, development set")
plt.show()

# %% [markdown]
# The same numbers per machine as a picture (higher is better; the bars are 95 % intervals; the
# dashed line is chance).

# %%
machine_bars(means, halves, [c for c in means.columns if c not in ("AUC (S)", "AUC (T)", "pAUC", "hmean")],
             "harmonic mean (dev)")
plt.show()
