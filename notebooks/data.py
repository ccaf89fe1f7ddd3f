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
# # The data
#
# DCASE 2022 Task 2 has seven machine types. Each has six *sections* (00-02 in the development
# set, 03-05 in the evaluation set); a section is one recording setting. Within a section, clips
# come from a *source* domain (990 training clips in the real set) and a *target* domain (only 10
# training clips): the target domain differs in one attribute, such as a speed, a noise type or a
# microphone. Training clips are all normal; test clips are normal or anomalous, and a detector
# must rank anomalous clips above normal ones in both domains.
#
# This chapter shows the data set this build read: how many clips of each kind, and what a
# normal and an anomalous clip look like in each domain.

# %% tags=["parameters"]
data_root = ""     # a DCASE 2022 root; empty: generate a smoke-scale synthetic set here
truth_dir = ""     # the evaluator's folder, for the labels of anonymised eval test clips
scale = "smoke"    # the feature settings of this scale are used for the spectrograms
machines = "ToyCar ToyTrain bearing fan gearbox slider valve"
study_dir = ""     # unused here; every chapter takes the same parameters
paper_results = ""  # unused here
checkpoint = "last"  # unused here

# %% tags=["setup"]
# Colab / stand-alone: install asdlib when it is missing, and make a small data set when none is given.
import importlib.util
import os
import subprocess
import sys

ASDLIB_GIT = os.environ.get("ASDLIB_GIT", "https://github.com/OWNER/asdlib")  # pyproject.toml's Repository
if importlib.util.find_spec("asdlib") is None:  # install this notebook's checkout, or a clone of ASDLIB_GIT here
    import pathlib
    here = next((p for p in (pathlib.Path.cwd(), *pathlib.Path.cwd().parents) if (p / "asdlib/__init__.py").is_file()),
                pathlib.Path("asdlib-src").resolve())
    if not here.exists():  # a rerun reuses the clone
        subprocess.run(["git", "clone", "-q", ASDLIB_GIT, str(here)], check=True)
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", str(here)], check=True)  # a path, not a name
    importlib.invalidate_caches()

from pathlib import Path

if not data_root:
    from asdlib.scales import get_scale
    from asdlib.synth import generate

    data_root = str(Path("asdlib-smoke-data").resolve())
    if not Path(data_root).exists():
        generate(Path(data_root), get_scale("smoke").synth, machines=tuple(machines.split()))
    truth_dir = str(Path(data_root) / "eval_truth")

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from IPython.display import Markdown, display

from asdlib.data import count_table, find_problems, index_dataset, load_clip
from asdlib.features import log_spectrogram
from asdlib.scales import get_scale

index = index_dataset(data_root, truth=truth_dir or None, machines=tuple(machines.split()))
spec = get_scale(scale).features
root = Path(data_root)
named = ("the synthetic stand-in" if (root / "synth.json").is_file() else "the DCASE 2022 Task 2 data") + f" (`{root.name}`)"
display(Markdown(f"**Data:** {named}, {len(index)} clips. Features of the `{scale}` "
                 f"scale: STFT window {spec.n_fft}, hop {spec.hop}, {spec.n_bins} bins."))

# %% [markdown]
# ## Clip counts
#
# Per machine and section: training clips by domain, and test clips by domain and label. The
# evaluation-set test clips (sections 03-05) have anonymised names; their domains and labels come
# from the evaluator's ground-truth files.

# %%
counts = count_table(index)
wide = counts.pivot_table(index=["machine", "section"], columns=["split", "domain", "label"], values="clips",
                          fill_value=0, aggfunc="sum")
wide.columns.names = [None, None, None]
# the counts most sections share, said once per set; only the sections that differ are listed
usual = {}
for dataset, part in wide.groupby(lambda key: "dev" if int(key[1]) < 3 else "eval"):
    common = part.apply(tuple, axis=1).mode().iloc[0]
    usual[dataset] = pd.Series(common, index=part.columns)
    odd = part[part.apply(tuple, axis=1) != common]
    shares = ", ".join(f"{' '.join(str(c) for c in col if c)}: {n}" for col, n in usual[dataset].items() if n)
    display(Markdown(f"**{dataset} sections ({len(part) - len(odd)} of {len(part)}):** {shares}."))
    if len(odd):
        display(Markdown(f"The {dataset} sections whose counts differ:"))
        display(odd)
problems = [p for p in find_problems(index) if not p.startswith("note:")]
print("Problems found:", *(problems or ["none"]), sep="\n  ")

# %% [markdown]
# ## What the machines sound like
#
# For each machine: a normal and an anomalous test clip of section 00, in the source and the target
# domain (log-magnitude STFT, the input of every system in this book). Differences between the
# domains are often larger than the differences an anomaly makes: that is the domain-generalisation
# problem the paper addresses.

# %%
def show_machine(machine):
    part = index[(index.machine == machine) & (index.section == "00") & (index.split == "test")]
    fig, axes = plt.subplots(2, 2, figsize=(9, 4.6), sharex=True, sharey=True, constrained_layout=True)
    for ax, (domain, label) in zip(axes.ravel(), [(d, l) for d in ("source", "target") for l in ("normal", "anomaly")]):
        pick = part[(part.domain == domain) & (part.label == label)]
        if pick.empty:
            ax.set_axis_off()
            continue
        row = pick.iloc[0]
        logmag = log_spectrogram(torch.from_numpy(load_clip(row.path)), spec).numpy()
        seconds = logmag.shape[0] * spec.hop / 16000
        ax.imshow(logmag.T, origin="lower", aspect="auto", cmap="magma",
                  extent=[0, seconds, 0, 8], vmin=np.percentile(logmag, 5), vmax=logmag.max())
        attrs = ", ".join(f"{k}={v}" for k, v in row.attributes.items())
        ax.set_title(f"{domain} / {label}:  {attrs}", fontsize=9)
    for ax in axes[1]:
        ax.set_xlabel("time (s)")
    for ax in axes[:, 0]:
        ax.set_ylabel("frequency (kHz)")
    fig.suptitle(machine, x=0.01, ha="left", fontweight="bold")
    plt.show()


for machine in sorted(index.machine.unique()):
    show_machine(machine)

# %% [markdown]
# ## How the stand-in was calibrated: the probe ladder
#
# A test bed can only tell surrogate tasks apart if it needs learning: if the section could be named
# from a clip's average spectrum, the section task teaches nothing; if the faults were in the average
# spectrum, a detector without learning would find them; if the faults were not in the features at
# all, no system could. The stand-in's generator (`asdlib.synth`) was set by four instruments that
# are none of the paper's systems (`asdlib.synth.ladder`), measured here on a *calibration set*: clips
# of the same generator with their own seed (7; the study's data use seed 0) and 200 dev test clips
# per section, so that neither the study's clips nor its systems decide how the generator is set.
#
# | instrument | what it is | target |
# |---|---|---|
# | section probe | nearest centroid of the average spectrum (training clips), accuracy on test normal clips; chance 0.33 | below 0.85 on average, below 1.00 on every machine |
# | floor | cosine nearest neighbour of the average spectrum, official score | at most 0.60 over all machines |
# | frame statistics | per bin mean, std and mean absolute frame difference, Mahalanobis (Ledoit-Wolf), official score | (the strongest detector without learning) |
# | ceiling | supervised logistic regression of normal vs anomalous on the frame statistics, 5-fold cross-validated within each section's test clips, ROC AUC | at least 0.85 on every machine |
#
# The ceiling is a calibration instrument only: it sees anomalous clips, which no system of the
# paper does, and is never a row of the paper's tables. The two other calibration rules (the
# organisers' AE and MobileNetV2 baselines near their real levels, and physical plausibility) are
# checked on the Reproducing page; where they conflict, this ladder wins. Per-machine multipliers
# of the fault sizes (`asdlib.synth.anomalies.MULTIPLIER`) were the only knobs moved per machine.

# %%
from asdlib.study.departures import as_markdown
from asdlib.synth import ladder

if (root / "synth.json").is_file():
    import json

    made = json.loads((root / "synth.json").read_text())
    sizes = get_scale(scale).synth
    calibration = ladder.calibration_set(sizes, spec, machines=tuple(machines.split()),
                                         strength=float(made.get("strength", 1.0)), workers=os.cpu_count() or 1)
    steps = ladder.ladder(calibration, n_resamples=1000)
    display(Markdown(f"**The ladder per machine** (calibration set: seed {ladder.CALIBRATION_SEED}, "
                     f"{4 * ladder.CALIBRATION_TEST_PER_DOMAIN} dev test clips and {sizes.train_source} + "
                     f"{sizes.train_target} training clips per section, `{scale}` features; ± half a 95 % "
                     "interval over resamples of the test clips, the fitted detectors kept):"))
    cells = pd.DataFrame({name: [f"{v:.3f} ± {h:.3f}" for v, h in zip(steps[name], steps[f"{name} ±"])]
                          for name in ladder.INSTRUMENTS}, index=steps.index)
    display(Markdown(as_markdown(cells.reset_index())))
    display(Markdown("**Targets:**"))
    display(Markdown(as_markdown(ladder.target_check(steps).round(3))))
    display(Markdown("**Per fault type** (ROC AUC of that fault's clips against the normal test clips, mean "
                     "over sections): a floor near 0.5 with a high ceiling is a fault that only learned "
                     "features can find."))
    display(Markdown(as_markdown(ladder.by_fault(calibration).round(3).reset_index())))
else:
    display(Markdown("The ladder calibrates the synthetic stand-in; on the real data there is nothing to calibrate."))
