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
# # Table 4: choices made on the development set, and whether they carry over
#
# Three of the paper's systems are *tuned* on the development set:
#
# - **MSL** (S1): for each machine, the single system with the best development-set score;
# - **Disent.Wt** (S4): for each machine, the weights $w_S$, $w_A$ of Eq. (5) that combine the
#   section-space and attribute-space distances, found by a grid search ($w_S + w_A = 1$, step 0.1);
# - **MSL+ANP** (S2): for each machine, a weighted sum $(1-a)\,s_\text{MSL} + a\,s_\text{ANP}$ of
#   the MSL and ANP scores, $a$ found by a grid search (step 0.1). The two systems' scores are
#   first made comparable by standardising each per section with the mean and standard deviation
#   of its own training-clip scores (no test label is used for that).
#
# The paper's main lesson is that such choices, tuned on the development set, did not carry over to
# the evaluation set. The second table checks this on the same runs: each tuned system's gain over
# an untuned reference, on the development set (where it was tuned) and on the evaluation set.

# %% tags=["parameters"]
data_root = ""      # the data set the study ran on (named in captions)
truth_dir = ""
scale = "smoke"
machines = "ToyCar ToyTrain bearing fan gearbox slider valve"
study_dir = ""      # <system>/<machine>/results/<mode>/summary.json live here; empty: run a small study
paper_results = ""  # book/paper_results.csv (the paper's numbers); empty: none

# %% tags=["setup"]
# Stand-alone (Colab): install asdlib when missing; with no study given, run a small one (a few minutes).
import importlib.util, os, subprocess, sys  # noqa: E401

if importlib.util.find_spec("asdlib") is None:  # e.g. ASDLIB_PIP=git+https://<your clone of asdlib>
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", os.environ.get("ASDLIB_PIP", "asdlib")], check=True)
from asdlib.study import ensure_study  # noqa: E402

study_dir, data_root, truth_dir, machines = ensure_study(study_dir, data_root, truth_dir, machines, systems=("disent", "mtl", "sec_softmax"))

# %%
from pathlib import Path

import pandas as pd
from IPython.display import Markdown, display

from asdlib.study import beside, load_study, paper_numbers, setting_caption

results, choices = load_study(study_dir)
paper_table = lambda name: paper_numbers(paper_results, name) if paper_results else pd.DataFrame()  # noqa: E731

paper = paper_table("table4")
table = choices.copy()
for choice, per_machine in paper.T.items():  # the paper's choices, one column each, beside ours
    table[f"{choice} (paper)"] = per_machine.reindex(table.index)
table = table[sorted(table.columns, key=lambda c: c.replace(" (paper)", "~"))]
display(Markdown("**Table 4.** Per-machine choices made on the development set. "
                 + setting_caption(results, data_root, scale, paper)))
display(table)

# %%
from asdlib.study import tuning_gains

gains = tuning_gains(results)
display(Markdown("**Dev gain against eval gain.** Official score (harmonic mean over machines and sections) of "
                 "each tuned system minus that of its untuned reference, from the same runs."))
display(gains.style.format({"dev gain": "{:+.3f}", "eval gain": "{:+.3f}"}))

# %%
import matplotlib.pyplot as plt

ax = gains[["dev gain", "eval gain"]].plot(kind="barh", figsize=(6.5, 2.4), color=["tab:blue", "tab:orange"])
ax.axvline(0, color="black", lw=0.8)
ax.set(xlabel="gain in official score over the reference", ylabel="")
plt.tight_layout()
plt.show()
