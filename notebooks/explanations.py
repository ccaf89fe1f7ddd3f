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
# # Beyond the paper: explaining anomaly decisions with the disentangled spaces
#
# The poster's third next step: "use disentangled embeddings to explain anomaly decisions". For
# every test clip the disentangled model gives more than one score: its distance to the nearest
# normal training clip in the **section space** $z_S$ (what the machine is) and in the **attribute
# space** $z_A$ (how it runs and is recorded), each standardised by the spread of the section's
# leave-one-out training distances in that space; its nearest normal clip in each space; and the
# attribute classifiers' posteriors against the attribute values its file name states. An
# explanation (`asdlib explain RUN_DIR --clip NAME`) reads them together: which space carries the
# anomaly (a space is *unusual* beyond 2 standard deviations), how unusual the clip is there, which
# normal clips it is closest to, and whether it still "sounds like" its stated attributes. An alarm
# carried by the attribute space alone reads as a change of conditions (domain shift), not a fault.
# The stated attributes are those the clip's file name states: an eval test clip's anonymised name
# states none (only the evaluator's ground truth knows them, and a system at inference does not have
# it), so its explanation has no posterior to check and everything below that uses posteriors uses
# the dev sections (00-02) only.
#
# Are the explanations right? No published system can say, because real test clips come without
# their cause; the synthetic stand-in records the type and severity of every anomalous clip. Three
# measurements follow, each with its 95 % interval over seeds and clips.

# %% tags=["parameters"]
data_root = ""      # the data set the study ran on (its anomaly_causes.csv, for the stand-in)
truth_dir = ""
scale = "smoke"
machines = "ToyCar ToyTrain bearing fan gearbox slider valve"
study_dir = ""      # <system>/<machine>/seed<k>/results/<rule>/<mode>/summary.json live here; empty: a small study
paper_results = ""  # unused here
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

study_dir, data_root, truth_dir, machines = ensure_study(study_dir, data_root, truth_dir, machines, systems=("disent", "mtl"))

# %%
import warnings

warnings.filterwarnings("ignore", message=".*IProgress not found.*")  # tqdm.auto without ipywidgets; no bars here
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from IPython.display import Image, Markdown, display  # noqa: E402

from asdlib.study.explanations import (explanation_tables, false_alarms, severity_correlation,  # noqa: E402
                                       type_accuracy)

table = explanation_tables(study_dir, data_root, checkpoint)
if table["anomaly_type"].notna().any():
    display(Markdown("**Does the score grow with the fault's severity?** Spearman's rho between the Disent.Cat "
                     "score and the severity the stand-in drew for each anomalous test clip, over all sections "
                     "of a run pooled. The sections' scores lie on different scales, and pooled raw scores would "
                     "rank sections rather than faults, so each score is first standardised by the mean and "
                     "standard deviation of the leave-one-out scores of its section's training clips (the scores "
                     "the decision threshold is fitted to). Mean over seeds ± half the 95 % interval; *clips*: "
                     "anomalous test clips per seed."))
    display(severity_correlation(table)[["text", "clips"]].rename(columns={"text": "rho"}))
    display(Markdown("**Can the fault type be told from the model's numbers?** Cross-validated accuracy (%) of "
                     "a logistic regression, for the disentangled model and the entangled MTL model with the same "
                     "features (*features*: their count): the system's score standardised per section (for the "
                     "disentangled model its Disent.Cat score, not its two space distances, so that it gets no "
                     "more features than MTL's one space) and the posteriors of the stated attribute values that "
                     "both models give. Dev test clips only (their names state the attributes), against chance "
                     "(the most frequent type)."))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        display(type_accuracy(table))
else:
    display(Markdown("This data set records no anomaly causes (real data): the first two measurements need the "
                     "synthetic stand-in."))
display(Markdown("**Target-domain false alarms.** Of the target-domain normal clips that Disent.Cat declares "
                 "anomalous (score above the run's gamma threshold), the share that the explanation puts in the "
                 "attribute space only, i.e. reads as domain shift rather than a fault. That share means "
                 "something only against the same share among the anomalies it detects (anomalous test clips "
                 "declared anomalous): beside both, their difference in percentage points (false alarms minus "
                 "detected anomalies, paired by seed), each with its 95 % interval over seeds and clips, and the "
                 "counts of each group per seed."))
alarms = false_alarms(table)
display(alarms.drop(columns=["difference", "low", "high"]))
pooled = alarms.loc["all machines"]
if np.isnan(pooled["difference"]):
    reading = "No seed has both a false alarm and a detected anomaly: there is nothing to compare."
elif pooled["low"] <= 0 <= pooled["high"]:
    reading = ("Over all machines the interval of the difference holds zero: these runs cannot say whether the "
               "explanation reads false alarms as domain shift more or less often than it reads detected anomalies "
               "so, and the false alarms' share alone is no evidence that it singles out domain shift.")
else:
    more = pooled["low"] > 0
    reading = (f"Over all machines the explanation puts false alarms in the attribute space only "
               f"{'more' if more else 'less'} often than detected anomalies ({pooled['difference (points)']} points, "
               f"an interval that excludes zero): the attribute-space-only reading is "
               + ("commoner among false alarms than among real faults, as a reading of domain shift should be."
                  if more else "rarer among false alarms than among real faults: it does not single out domain "
                  "shift."))
resolved = [f"{m} ({alarms.loc[m, 'difference (points)']})" for m in alarms.index[:-1]
            if alarms.loc[m, "low"] > 0 or alarms.loc[m, "high"] < 0]
display(Markdown(reading + " Machines whose own interval excludes zero: " + (", ".join(resolved) or "none") + "."))

# %% [markdown]
# ## Explanation cards
#
# For each machine, seed 0: the anomaly the model finds most anomalous, the anomaly it finds least
# anomalous, and (where there is one) its strongest target-domain false alarm. Each card shows the
# clip's spectrogram beside its nearest normal clip in each space and their difference, where the
# clip lies among the section's training clips in each space (vertical lines; the dotted line is the
# 2-sd mark), and the posterior of each stated attribute value; the text below it is what
# `asdlib explain` prints.

# %%
import tempfile
from pathlib import Path

from asdlib.explain import card, clip_table, describe
from asdlib.study.explanations import disent_run, example_clips

cards = Path(tempfile.mkdtemp(prefix="asdlib-cards-"))
for machine in machines.split():
    run = disent_run(study_dir, machine)
    if not run.is_dir():
        continue
    clips = clip_table(run, checkpoint)
    kinds = table.set_index(["system", "machine", "seed", "name"])["anomaly_type"]
    display(Markdown(f"### {machine}"))
    for name in example_clips(table, machine):
        png = card(run, name, clips, cards / f"{machine}-{name}.png")
        cause = kinds.get(("disent", machine, 0, name))
        display(Image(filename=str(png)))
        display(Markdown("```text\n" + describe(clips.set_index("name", drop=False).loc[name])
                         + (f"\n  (its recorded cause: {cause})" if isinstance(cause, str) else "") + "\n```"))
