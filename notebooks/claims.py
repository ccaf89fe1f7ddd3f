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
# # What carries over: the paper's claims, tested as one family
#
# The paper draws conclusions from differences between the rows of its tables. This page tests
# each, on this build's runs, as a *paired* difference: the two systems are compared on the same
# training seeds and the same test clips, and the interval of the difference covers the variation
# over seeds and over test clips (see *Method*; its coverage is measured on the *Reproducing* page).
#
# The comparisons were fixed before any build (`asdlib.study.claims.CLAIMS`): no row is picked from
# this build's numbers. The poster's "attribute learning helps every machine except fan and
# bearing" is tested per machine as the paper's attribute-learning system, Disent.Cat, against the
# section-only Sec_Softmax; for fan and bearing the claim is *no gain*, which holds only when the
# interval excludes a gain larger than a margin of 2 points. "Disent.Cat is the best on eval" is
# tested against each of the paper's other Table 3 systems that are not baselines.
#
# Some comparisons **cannot fail**: one row was chosen on the very development clips it is compared
# on, from a pool or grid that holds the other row (MSL chooses among systems that include
# Disent.Cat; MSL+ANP's weight 0 is MSL; Disent.Wt's grid ends in Disent.Sec and Disent.Att). They
# are shown, marked *by construction*, and left out of the tests and the tally. The paper's own
# development-set gains of its tuned systems are, in part, of this kind; their test is on the
# evaluation set, where the choice meets clips it did not see.
#
# The other claims are one family: Holm's step-down procedure keeps the chance of any false verdict
# at 5 % over the whole page. Each claim's *family-adjusted* interval is its interval at the level
# Holm tests it at (1 - 0.05/m for the first of the m tested claims, less strict for later ones;
# m is given under the table); the unadjusted 95 % interval stays beside it. The verdict reads:
#
# - **holds**: Holm rejects the claim's null hypothesis and the difference lies on the claimed side;
# - **contradicted**: the difference is resolved, on the other side;
# - **not resolved**: these runs cannot tell.
#
# The column *paper* gives the two numbers of the paper's own table and their difference; where the
# paper's own table does not show the claimed direction, *paper says* tells so.

# %% tags=["parameters"]
data_root = ""      # the data set the study ran on (named in captions)
truth_dir = ""
scale = "smoke"
machines = "ToyCar ToyTrain bearing fan gearbox slider valve"
study_dir = ""      # <system>/<machine>/seed<k>/results/<rule>/<mode>/summary.json live here; empty: a small study
paper_results = ""  # the paper's numbers; empty: the copy asdlib ships (asdlib/paper_results.csv)
checkpoint = "last" # the checkpoint rule: "last" or "best_dev" (the paper's)

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

study_dir, data_root, truth_dir, machines = ensure_study(study_dir, data_root, truth_dir, machines, systems=("disent", "mtl", "sec_softmax", "sec_arcface"))

# %% tags=["full-width"]
import matplotlib.pyplot as plt
import numpy as np
from IPython.display import Markdown, display

from asdlib.study.claims import claims_table, tally
from asdlib.study.departures import as_markdown
from asdlib.study.load import load_study
from asdlib.study.paper import paper_numbers, setting_caption

study = load_study(study_dir, checkpoint)
table = claims_table(study.evidence, paper_numbers(paper_results, "table2"), paper_numbers(paper_results, "table3"))
display(Markdown("**The paper's claims.** Differences in points of the official score (or of AUC (T)), %. "
                 + setting_caption(data_root, scale, checkpoint, study.evidence.seeds,
                                   study.evidence.n_resamples).split(" Cells read")[0]))
display(Markdown(as_markdown(table.drop(columns=["difference mean", "difference half", "paper difference"]))))
display(Markdown("Verdicts: " + tally(table)))

# %% [markdown]
# The same differences as a picture: ours with their unadjusted 95 % intervals (blue; grey where
# the comparison is by construction), the paper's (orange diamond, no interval given). The
# verdicts above use the family-adjusted intervals, which are wider.

# %%
fig, ax = plt.subplots(figsize=(8, 0.9 + 0.32 * len(table)))
y = np.arange(len(table))[::-1]
built = (table["by construction"] != "no").to_numpy()
for mask, colour, label in ((~built, "tab:blue", "here (95 % interval)"), (built, "tab:gray", "here, by construction")):
    ax.errorbar(table["difference mean"][mask], y[mask], xerr=table["difference half"][mask], fmt="o", color=colour,
                capsize=2, label=label)
ax.scatter(table["paper difference"], y, marker="D", color="tab:orange", zorder=3, label="paper")
ax.axvline(0, color="black", lw=0.8)
ax.set_yticks(y, [c if len(c) < 60 else c[:57] + "..." for c in table["claim"]], fontsize=7)
ax.set(xlabel="difference (points, %)")
ax.legend(fontsize=7, loc="lower right")
plt.tight_layout()
plt.show()
