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
# # Table 3: the evaluation set
#
# The paper's Table 3 reports the evaluation set (sections 03-05), whose test clips have
# anonymised names: their labels and domains come from the evaluator's ground-truth files. Per
# machine: AUC, the harmonic mean of its 6 AUC (source) and AUC (target) values, and pAUC, the
# harmonic mean of its 3 values. `score` is the official score, the harmonic mean of all AUC and
# pAUC values of all machines.
#
# Each cell reads **here (paper)**, in %.

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
import pandas as pd
from IPython.display import Markdown, display

from asdlib.plots import paper_against_here_figure
from asdlib.study.evidence import table2, table3
from asdlib.study.load import load_study
from asdlib.study.paper import beside, paper_numbers, setting_caption

study = load_study(study_dir, checkpoint)
means, halves = table3(study.evidence)
paper = paper_numbers(paper_results, "table3")
display(Markdown("**Table 3.** Evaluation set (sections 03-05). "
                 + setting_caption(data_root, scale, checkpoint, study.evidence.seeds, study.evidence.n_resamples)
                 + " *Top rank* is the challenge's first-ranked system, which the paper cites; it has no row here."))
display(beside(means, halves, paper))

# %% [markdown]
# Paper against here, one point per system, as for Table 2: the official score on the evaluation set.

# %%
paper_against_here_figure(means["score"], halves["score"], paper["score"], "official score, evaluation set")
plt.show()

# %% [markdown]
# Does the development set predict the evaluation set? Each point is one system: its official
# score on the development set against the evaluation set, with 95 % intervals. Systems far from
# the diagonal ranked differently on the two sets, which is what makes choosing systems on the
# development set risky (the paper's main lesson, taken up in Table 4).

# %%
from asdlib.plots import dev_against_eval

dev_means, dev_halves = table2(study.evidence)
dev_against_eval(dev_means["hmean"], dev_halves["hmean"], means["score"], halves["score"])
plt.show()
