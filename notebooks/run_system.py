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
# # One system on one machine: train and score each seed
#
# This notebook is run by papermill once per (system, machine) of the study (`make book`); it can
# also be run on its own (in Colab: it installs asdlib and makes a smoke-scale synthetic data set
# when given no data). For each training seed it trains the system on every training clip of the
# machine (sections 00-05, Sec. 3.2 of the paper) into `run_dir/seed<k>/`, resuming if that folder
# already holds checkpoints, then embeds every clip and scores the test clips in each inference mode
# (Sec. 2.2, Eq. 4-5) under each checkpoint rule, writing the official score files and a
# `summary.json` per rule and mode into `run_dir/seed<k>/results/<rule>/<mode>/`.

# %% tags=["parameters"]
system = "disent"       # sec_softmax, sec_arcface, mtl, disent, disent_split, adversarial
machine = "fan"
scale = "smoke"         # smoke, quick or paper (asdlib/scales.py)
data_root = ""          # a DCASE 2022 root; empty: generate a smoke-scale synthetic set
truth_dir = ""          # the evaluator's folder (labels of the anonymised eval test clips)
seeds = "0"             # training seeds, space-separated
run_dir = ""            # where the seeds' run folders go; empty: runs/<system>/<machine>
rules = "last best_dev" # checkpoint rules scored: "last" (no test labels), "best_dev" (the paper's rule), "average2"
overrides = ""          # scale overrides, space-separated, as asdlib train --set takes them
stage = ""              # "" (train from scratch), "pretrain" (machine "all": every machine, no scoring) or
                        # "finetune" (start each seed from pretrained/seed<k>), at the same step budget
pretrained = ""         # the pre-trained runs' folder (its seed<k> run folders), for stage "finetune"

# %% tags=["setup"]
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

ASDLIB_GIT = os.environ.get("ASDLIB_GIT", "https://github.com/OWNER/asdlib")  # pyproject.toml's Repository
if importlib.util.find_spec("asdlib") is None:  # install this notebook's checkout, or a clone of ASDLIB_GIT here
    import pathlib
    here = next((p for p in (pathlib.Path.cwd(), *pathlib.Path.cwd().parents) if (p / "asdlib/__init__.py").is_file()),
                pathlib.Path("asdlib-src").resolve())
    if not here.exists():  # a rerun reuses the clone
        subprocess.run(["git", "clone", "-q", ASDLIB_GIT, str(here)], check=True)
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", str(here)], check=True)  # a path, not a name
    importlib.invalidate_caches()

if not data_root:
    from asdlib.scales import get_scale
    from asdlib.synth import generate

    data_root = str(Path("asdlib-smoke-data").resolve())
    if not Path(data_root).exists():
        generate(Path(data_root), get_scale("smoke").synth, machines=(machine,))
    truth_dir = str(Path(data_root) / "eval_truth")
run_dir = Path(run_dir or Path("runs") / system / machine)

# %%
import pandas as pd
from IPython.display import Markdown, display

from asdlib.data import index_dataset
from asdlib.inference import score_run
from asdlib.scales import get_scale
from asdlib.study.runs import seed_folder
from asdlib.train import ALL_MACHINES, RunConfig, pipeline_overrides, train

index = index_dataset(data_root, truth=truth_dir or None, machines=None if machine == ALL_MACHINES else (machine,))
settings = overrides.split() + (pipeline_overrides(get_scale(scale), stage) if stage else [])
logs, rows = {}, []
for seed in [int(s) for s in seeds.split()]:
    config = RunConfig.create(system, machine, data_root, scale, seed=seed, truth_dir=truth_dir, overrides=settings,
                              init=seed_folder(pretrained, seed) if stage == "finetune" else None)
    folder = seed_folder(run_dir, seed)
    train(config, folder, progress=False, index=index)
    logs[seed] = pd.read_csv(folder / "train_log.csv")
    if machine == ALL_MACHINES:
        continue  # a pre-trained run is scored through the runs fine-tuned from it
    for rule, modes in score_run(folder, rules=rules.split(), progress=False, index=index).items():
        for mode, s in modes.items():
            for part in ("dev", "eval"):
                if s[part]:
                    rows.append({"seed": seed, "rule": rule, "mode": mode, "epoch": s["checkpoint"]["epoch"],
                                 "set": part, **{k: round(v, 4) for k, v in s[part].items()}})
seconds = sum(log["seconds"].sum() for log in logs.values())
display(Markdown(f"**{system}** on **{machine}**, `{scale}` scale, seeds {seeds}: {seconds:.0f} s of training."))
if rows:
    display(pd.DataFrame(rows).set_index(["seed", "rule", "mode", "set"]))

# %%
import matplotlib.pyplot as plt

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 2.6), constrained_layout=True)
for seed, log in logs.items():
    ax1.plot(log["epoch"], log["loss"], label=f"seed {seed}")
    for column in [c for c in log.columns if c.endswith("_acc")]:
        ax2.plot(log["epoch"], log[column], label=f"{column.replace('_acc', '')}, seed {seed}")
ax1.set(xlabel="epoch", ylabel="training loss")
ax2.set(xlabel="epoch", ylabel="surrogate-task accuracy", ylim=(0, 1.02))
ax2.legend(fontsize=7)
plt.show()
