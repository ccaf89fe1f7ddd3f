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
# - **gmm**: a Gaussian mixture on the L2-normalised embeddings, score the negative log-likelihood;
# - **mahalanobis**: the Mahalanobis distance with a Ledoit-Wolf shrinkage covariance, a common
#   one-class backend on embeddings.
#
# Each backend's settings (*k*; the mixture's number of components and covariance type) are chosen
# per system on the development set, from a small grid (`asdlib.study.backends.SETTINGS`); the
# chosen ones are listed below. Disent.Wt combines each space's backend score with the weights its
# seed chose in Table 4. Cells: official score (%), mean over seeds ± half the 95 % interval, as
# everywhere in this book; the differences against nn are paired.

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

study_dir, data_root, truth_dir, machines = ensure_study(study_dir, data_root, truth_dir, machines, systems=("disent", "mtl", "sec_softmax"))

# %% tags=["full-width"]
import pandas as pd
from IPython.display import Markdown, display

from asdlib.study.backends import SETTINGS, backend_scores, choose_settings, chosen_scores
from asdlib.study.evidence import Evidence
from asdlib.study.load import load_study
from asdlib.study.paper import setting_caption

study = load_study(study_dir, checkpoint)
scores = backend_scores(study_dir, checkpoint, study.choices)
chosen = choose_settings(scores)
evidence = Evidence(chosen_scores(scores, chosen), study.evidence.n_resamples)
systems = list(dict.fromkeys(chosen.index.get_level_values("row")))
table = {}
for which, metrics, label in (("dev", ("auc_source", "auc_target", "pauc"), "dev"),
                              ("eval", ("auc_source", "auc_target", "pauc"), "eval"),
                              ("dev", ("auc_target",), "dev AUC (T)")):
    for backend in SETTINGS:
        table[(label, backend)] = [evidence.cell(f"{row} | {backend}", which, None, metrics).text() for row in systems]
shown = pd.DataFrame(table, index=systems)
display(Markdown("**Backends.** Official score (dev, eval) and the development set's AUC (T), in %. "
                 + setting_caption(data_root, scale, checkpoint, evidence.seeds, evidence.n_resamples).split(" Cells read")[0]))
display(shown)

# %% [markdown]
# Each backend against the paper's nn on the same system, paired (points, %): a difference whose
# interval holds zero is not a difference.

# %% tags=["full-width"]
rows = {}
for row in systems:
    cells = {}
    for backend in SETTINGS:
        if backend == "nn":
            continue
        for which, metrics, label in (("dev", ("auc_source", "auc_target", "pauc"), "dev"),
                                      ("eval", ("auc_source", "auc_target", "pauc"), "eval"),
                                      ("eval", ("auc_target",), "eval AUC (T)")):
            cells[(backend, label)] = evidence.difference(f"{row} | {backend}", f"{row} | nn", which, None,
                                                          metrics).text(sign=True)
    rows[row] = cells
display(pd.DataFrame.from_dict(rows, orient="index"))
display(Markdown("The settings chosen on the development set:"))
display(chosen.reset_index().pivot(index="row", columns="backend", values="setting"))
