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
# # What carries over: the paper's claims, one by one
#
# The paper draws conclusions from differences between the rows of its tables. This page tests
# each, on this build's runs, as a *paired* difference: the two systems are compared on the same
# training seeds and the same test clips, and the 95 % interval of the difference covers the
# variation over seeds and over test clips (resampled within each section, domain and label; see
# *Method*). The verdict reads:
#
# - **holds**: the whole interval lies on the side the paper claims;
# - **contradicted**: the whole interval lies on the other side;
# - **not resolved at this scale**: the interval holds zero; these runs cannot tell.
#
# The column *paper* gives the two numbers of the paper's own table and their difference; where
# the paper's own table does not show the claimed direction, *paper says* tells so. Claims about
# "the best" system compare with the best row of this build, picked by its point estimate (the
# interval does not include that pick's own uncertainty). The claim that attribute learning helps
# every machine except fan and bearing is the poster's; the paper's Table 2 does not say which
# comparison it means. We test it per machine as the best system that learns attributes (MTL,
# Disent.Cat, .Sec, .Att, .Split) against the best section-only system (Sec_Softmax, Sec_ArcFace),
# on the development set.

# %% tags=["parameters"]
data_root = ""      # the data set the study ran on (named in captions)
truth_dir = ""
scale = "smoke"
machines = "ToyCar ToyTrain bearing fan gearbox slider valve"
study_dir = ""      # <system>/<machine>/seed<k>/results/<rule>/<mode>/summary.json live here; empty: a small study
paper_results = ""  # the paper's numbers; empty: book/paper_results.csv of the asdlib repository
checkpoint = "last" # the checkpoint rule: "last" or "best_dev" (the paper's)

# %% tags=["setup"]
# Stand-alone (Colab): install asdlib when missing; with no study given, run a small one (a few minutes).
import importlib.util, os, subprocess, sys  # noqa: E401

if importlib.util.find_spec("asdlib") is None:  # install from this notebook's checkout, or clone $ASDLIB_GIT
    import pathlib
    here = next((p for p in (pathlib.Path.cwd(), *pathlib.Path.cwd().parents) if (p / "asdlib/__init__.py").is_file()), None)
    if here is None and os.environ.get("ASDLIB_GIT"):
        here = pathlib.Path("asdlib-src")
        subprocess.run(["git", "clone", "-q", os.environ["ASDLIB_GIT"], str(here)], check=True)
    if here is None:
        raise RuntimeError("asdlib is not installed: run this notebook inside a clone of the asdlib repository, or "
                           "set ASDLIB_GIT to the git URL of one (no package on PyPI is ours).")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", str(here)], check=True)
    importlib.invalidate_caches()
from asdlib.study.runs import ensure_study  # noqa: E402

study_dir, data_root, truth_dir, machines = ensure_study(study_dir, data_root, truth_dir, machines, systems=("disent", "mtl", "sec_softmax", "sec_arcface"))

# %% tags=["full-width"]
import matplotlib.pyplot as plt
import numpy as np
from IPython.display import Markdown, display

from asdlib.study.claims import claims_table
from asdlib.study.departures import as_markdown
from asdlib.study.load import load_study
from asdlib.study.paper import paper_numbers, setting_caption

study = load_study(study_dir, checkpoint)
table = claims_table(study.evidence, paper_numbers(paper_results, "table2"), paper_numbers(paper_results, "table3"))
display(Markdown("**The paper's claims.** Differences in points of the official score (or of AUC (T)), %. "
                 + setting_caption(data_root, scale, checkpoint, study.evidence.seeds,
                                   study.evidence.n_resamples).split(" Cells read")[0]))
display(Markdown(as_markdown(table.drop(columns=["difference mean", "difference half", "paper difference"]))))
counts = table["verdict"].value_counts()
display(Markdown("Verdicts: " + ", ".join(f"**{n}** {v}" for v, n in counts.items()) + "."))

# %% [markdown]
# The same differences as a picture: ours with their 95 % intervals (blue), the paper's (orange
# diamond, no interval given). A claim holds here when its blue bar lies wholly on the side of zero
# that the orange diamond is on.

# %%
fig, ax = plt.subplots(figsize=(8, 0.9 + 0.32 * len(table)))
y = np.arange(len(table))[::-1]
ax.errorbar(table["difference mean"], y, xerr=table["difference half"], fmt="o", color="tab:blue", capsize=2,
            label="here (95 % interval)")
ax.scatter(table["paper difference"], y, marker="D", color="tab:orange", zorder=3, label="paper")
ax.axvline(0, color="black", lw=0.8)
ax.set_yticks(y, [c if len(c) < 60 else c[:57] + "..." for c in table["claim"]], fontsize=7)
ax.set(xlabel="difference (points, %)")
ax.legend(fontsize=7, loc="lower right")
plt.tight_layout()
plt.show()
