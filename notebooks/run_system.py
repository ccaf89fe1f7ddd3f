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
# # One run: train and score one system on one machine
#
# This notebook is run by papermill once per (system, machine) of the study (`make book`); it can
# also be run on its own (in Colab: it installs asdlib and makes a smoke-scale synthetic data set
# when given no data). It trains the system on every training clip of the machine (sections 00-05,
# Sec. 3.2 of the paper), resuming if the run folder already holds checkpoints, then embeds every
# clip and scores the test clips in each inference mode (Sec. 2.2, Eq. 4-5), writing the official
# score files and a `summary.json` per mode into `run_dir/results/<mode>/`.

# %% tags=["parameters"]
system = "disent"       # sec_softmax, sec_arcface, mtl, disent, disent_split, adversarial
machine = "fan"
scale = "smoke"         # smoke, quick or paper (asdlib/scales.py)
data_root = ""          # a DCASE 2022 root; empty: generate a smoke-scale synthetic set
truth_dir = ""          # the evaluator's folder (labels of the anonymised eval test clips)
seed = 0
run_dir = ""            # where checkpoints and results go; empty: runs/<system>/<machine>
rules = "last best_dev" # checkpoint rules scored: "last" (no test labels), "best_dev" (the paper's rule)
overrides = ""          # scale overrides, e.g. "train.epochs=10 train.embed_hop=8"

# %% tags=["setup"]
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

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

from asdlib.inference import score_run
from asdlib.train import RunConfig, train

config = RunConfig.create(system, machine, data_root, scale, seed=seed, truth_dir=truth_dir,
                          overrides=overrides.split())
last = train(config, run_dir, progress=False)
log = pd.read_csv(run_dir / "train_log.csv")
display(Markdown(f"**{system}** on **{machine}**, `{scale}` scale: {len(log)} epochs, "
                 f"{log['seconds'].sum():.0f} s of training; last checkpoint `{last.name}`."))

# %%
import matplotlib.pyplot as plt

accuracies = [c for c in log.columns if c.endswith("_acc")]
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 2.6), constrained_layout=True)
ax1.plot(log["epoch"], log["loss"])
ax1.set(xlabel="epoch", ylabel="training loss")
for column in accuracies:
    ax2.plot(log["epoch"], log[column], label=column.replace("_acc", ""))
ax2.set(xlabel="epoch", ylabel="surrogate-task accuracy", ylim=(0, 1.02))
ax2.legend(fontsize=8)
plt.show()

# %%
summaries = score_run(run_dir, rules=rules.split(), progress=False)
rows = []
for rule, modes in summaries.items():
    for mode, s in modes.items():
        for part in ("dev", "eval"):
            if s[part]:
                rows.append({"rule": rule, "mode": mode, "epoch": s["checkpoint"]["epoch"], "set": part,
                             **{k: round(v, 4) for k, v in s[part].items()}})
display(pd.DataFrame(rows).set_index(["rule", "mode", "set"]))
