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
# # Beyond the paper: other backends on the same embeddings
#
# The poster names as a next step to "explore other anomaly detection backends in addition to NN,
# e.g. GMM". Every embedding system of the study is scored again from the embeddings its runs saved
# (no retraining), with four backends per section of each machine:
#
# - **nn**: the paper's cosine nearest neighbour (Eq. 4);
# - **knn**: the mean cosine distance to the *k* nearest training clips;
# - **gmm**: a Gaussian mixture on the L2-normalised embeddings, score the negative log-likelihood.
#   A section has few training clips for its dimensions (n << d: at the `quick` scale 50 clips of
#   128- or 256-d embeddings), so a full covariance is singular and the likelihood is governed by
#   the variance `reg_covar` added in every direction; the grid therefore also holds diagonal
#   covariances (1, 2 or 4 components) and a full covariance after a PCA of the section's training
#   clips to 2, 4 or 8 dimensions (`pca_dims`);
# - **mahalanobis**: a single Gaussian per section with a shrinkage covariance, Ledoit-Wolf or OAS
#   (`shrinkage`): the sample covariance shrunk towards a multiple of the identity, positive
#   definite however few the clips. Within a section its distance ranks clips as the Gaussian's
#   likelihood does.
#
# Each backend's setting is chosen per system on the development set (the mean over machines and
# seeds of the official score), from a small grid (`asdlib.study.backends.SETTINGS`); the chosen
# forms are listed below. Disent.Wt (Eq. 5) is tuned per backend as Table 4's Disent.Wt (S4) is for
# nn: the weight $w_S$ on the 0.05 grid, per seed and machine, on the development set, at the
# checkpoint Disent.Wt (S4) chose. For nn and knn the two spaces' cosine distances are weighted as
# they are (both lie in [0, 2]), so nn's Disent.Wt *is* Disent.Wt (S4); a log-likelihood or a
# Mahalanobis distance has a scale that differs between the spaces (with their dimension and
# spread), so for gmm and mahalanobis each space's score is first standardised per section by the
# mean and standard deviation of its training clips' scores, as MSL+ANP's are.
#
# **What is evidence here.** Every setting and weight is chosen on the development set, so the
# development-set numbers below are a choice scored on the data it was made on: they are shown,
# marked *dev (chosen here, by construction)*, and are not evidence. The evaluation set, whose labels
# no choice reads, is: the paired differences against nn are on the evaluation set only (its official
# score and its AUC (T)). Cells: official score (%), mean over seeds ± half the 95 % interval, as
# everywhere in this book.

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

study_dir, data_root, truth_dir, machines = ensure_study(study_dir, data_root, truth_dir, machines, systems=("disent", "mtl", "sec_softmax"))

# %% tags=["full-width"]
import pandas as pd
from IPython.display import Markdown, display

from asdlib.study.backends import SETTINGS, backend_scores, choose_settings, chosen_scores, chosen_weights
from asdlib.study.evidence import Evidence
from asdlib.study.load import load_study
from asdlib.study.paper import setting_caption
from asdlib.study.rows import DISENT_WT
from asdlib.study.tuning import summarise_choices

OFFICIAL, AUC_T = ("auc_source", "auc_target", "pauc"), ("auc_target",)
BY_CONSTRUCTION = "dev (chosen here, by construction)"
study = load_study(study_dir, checkpoint)
scores = backend_scores(study_dir, checkpoint, study.scores)
chosen = choose_settings(scores)
evidence = Evidence(chosen_scores(scores, chosen), study.evidence.n_resamples)
systems = list(dict.fromkeys(chosen.index.get_level_values("row")))
table = {}
for which, metrics, label in (("dev", OFFICIAL, BY_CONSTRUCTION), ("eval", OFFICIAL, "eval"),
                              ("eval", AUC_T, "eval AUC (T)")):
    for backend in SETTINGS:
        table[(label, backend)] = [evidence.cell(f"{row} | {backend}", which, None, metrics).text() for row in systems]
shown = pd.DataFrame(table, index=systems)
caption = setting_caption(data_root, scale, checkpoint, evidence.seeds, evidence.n_resamples).split(" Cells read")[0]
display(Markdown(f"**Backends.** Official score ({BY_CONSTRUCTION}; eval) and the evaluation set's AUC (T), "
                 f"in %. {caption}"))
display(shown)

# %% [markdown]
# The evidence: each backend against the paper's nn on the same system, paired, on the evaluation
# set (points, %): a difference whose interval holds zero is not a difference. (On the development
# set every backend's setting was chosen to do well, so a difference there says nothing.)

# %% tags=["full-width"]
rows = {}
for row in systems:
    cells = {}
    for backend in SETTINGS:
        if backend == "nn":
            continue
        for metrics, label in ((OFFICIAL, "eval"), (AUC_T, "eval AUC (T)")):
            cells[(backend, label)] = evidence.difference(f"{row} | {backend}", f"{row} | nn", "eval", None,
                                                          metrics).text(sign=True)
    rows[row] = cells
display(pd.DataFrame.from_dict(rows, orient="index"))

# %% [markdown]
# The setting each backend was given per system on the development set (for gmm: the covariance
# type, the number of components, and `pca_dims` where a PCA came first; for mahalanobis: the
# shrinkage), and the weight $w_S$ Disent.Wt chose per machine at each backend's chosen setting
# (mean over seeds ± half the 95 % interval over resampled seeds, as Table 4).

# %% tags=["full-width"]
display(chosen.reset_index().pivot(index="row", columns="backend", values="setting")[list(SETTINGS)])
weights = chosen_weights(scores, chosen)
if not weights.empty:
    display(summarise_choices(weights).rename_axis("Disent.Wt w_S"))
    s4 = study.scores[study.scores["row"] == DISENT_WT].groupby(["seed", "machine"])["epoch"].first()
    used = scores[scores["row"] == DISENT_WT].groupby(["seed", "machine"])["epoch"].first()
    moved = int((used != s4.reindex(used.index)).sum())
    display(Markdown(f"Disent.Wt is scored at the checkpoint Disent.Wt (S4) chose in {len(used) - moved} of "
                     f"{len(used)} runs" + (f"; in the other {moved}, whose embeddings at that checkpoint were "
                                            "not saved, at Disent.Wt (0.5/0.5)'s." if moved else ".")))
