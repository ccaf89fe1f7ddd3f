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
# # The method on a later year's layout (DCASE 2023-2025)
#
# From 2023 on, DCASE Task 2 gives every machine type one section, `00`, in the development set (the
# 2022 seven machine types) and in the evaluation set (new machine types each year), and some machine
# types carry no attributes (their clip names end in `noAttribute`). With one section per machine
# type, the paper's section task has one class within a machine: nothing to learn. The method then is
# the pre-training on every machine (`asdlib train --machine all`): the section task classifies the
# machine type across all machines, each attribute task uses the attributes of the machine that has
# them and is skipped for a machine that has none (its labels are missing, Eq. 3), and each machine's
# test clips are scored against that machine's own training clips (Eq. 4).
#
# This chapter reads the data set this build wrote, counts its clips per machine, and gives each
# system's official metrics per machine and the year's official score, each with a 95 % interval
# over the test clips (one training seed: the seeds' share of the spread is not measured here).

# %% tags=["parameters"]
data_root = ""      # a root in a 2023-2025 layout; empty: write a smoke-scale stand-in of `year` here
truth_dir = ""      # the evaluator's folder (labels of the anonymised eval test clips)
scale = "smoke"     # the scale the runs were trained at
year = 2024         # the layout's year
runs_dir = ""       # the runs' folder: <system>/ holding a scored --machine all run; empty: train one here
systems = "disent sec_softmax"
rule = "last"       # the checkpoint rule shown

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

year = int(year)
if not data_root:
    from asdlib.scales import get_scale
    from asdlib.synth import generate

    data_root = str(Path(f"asdlib-smoke-{year}").resolve())
    if not Path(data_root).exists():
        generate(Path(data_root), get_scale("smoke").synth, year=year)
    truth_dir = str(Path(data_root) / "eval_truth")
if not runs_dir:
    from asdlib.inference import score_run
    from asdlib.train import RunConfig, train

    runs_dir = str(Path(f"asdlib-runs-{year}").resolve())
    for system in systems.split():
        run = Path(runs_dir) / system
        train(RunConfig.create(system, "all", data_root, scale, truth_dir=truth_dir or None), run, progress=False)
        score_run(run, rules=[rule], progress=False)

# %%
import json

import numpy as np
import pandas as pd
from IPython.display import Markdown, display

from asdlib.bootstrap import seed_and_clip_interval, stratified_weights
from asdlib.data import index_dataset
from asdlib.evaluate import evaluate_dir
from asdlib.metrics import (METRICS, anomaly_score_file_name, hmean, official_score, read_score_csv,
                            weighted_section_metrics)

root = Path(data_root)
index = index_dataset(root, truth=truth_dir or None, year=year)
provenance = json.loads((root / "synth.json").read_text()) if (root / "synth.json").is_file() else None
named = (f"**the synthetic stand-in** in the DCASE {year} layout (`asdlib synth --year {year}`), not the real "
         f"DCASE {year} data: each machine is rendered by the physics of a DCASE 2022 machine type"
         if provenance else f"the DCASE {year} data")
display(Markdown(f"**Data:** {named} (`{root.name}`), {len(index)} clips, `{scale}` scale."))

# %% [markdown]
# ## The clips per machine
#
# One row per machine: its data set, the clips of each split, whether its names carry attributes,
# and (for the stand-in) the 2022 machine type whose physics renders it.

# %%
train_part = index[index["split"] == "train"]
counts = index.pivot_table(index=["dataset", "machine"], columns="split", values="name", aggfunc="count", fill_value=0)
counts["sections"] = index.groupby(["dataset", "machine"])["section"].nunique()
counts["attribute keys in names"] = train_part.groupby(["dataset", "machine"])["attributes"].agg(
    lambda a: ", ".join(sorted({k for d in a for k in d})) or "noAttribute")
if provenance:
    counts["rendered by (2022 physics)"] = [provenance["physics"][m] for _, m in counts.index]
display(counts)

# %% [markdown]
# ## Each system's official metrics per machine
#
# Per machine (one section), AUC over the source-domain normal clips and all anomalous clips, AUC
# likewise over the target domain, and pAUC (FPR up to 0.1) over all clips, as the year's official
# evaluator computes them (`asdlib evaluate --year`); their harmonic mean per machine, and the
# official score: the harmonic mean over every machine's three values. Each value is given with its
# 95 % interval over the test clips (resampled within each domain and label, 1000 times; one training
# seed). A difference that lies inside these intervals is not read as one.

# %%
N_RESAMPLES = 1000


def machine_estimates(folder: Path, table: pd.DataFrame) -> tuple[pd.DataFrame, float]:
    """Per machine, its AUC (S), AUC (T), pAUC and their harmonic mean with its 95 % interval over clip
    resamples, in points, and a last row, the official score over every machine; and the official
    score itself (a fraction)."""
    test = table[table["split"] == "test"]
    rng = np.random.default_rng(0)
    values, rows = {}, {}
    for machine, part in test.groupby("machine", sort=False):
        scores = read_score_csv(folder / anomaly_score_file_name(machine, "00"))
        weights = stratified_weights((part["domain"] + part["label"]).to_numpy(), N_RESAMPLES, rng)
        values[machine] = weighted_section_metrics(part["name"].map(scores).to_numpy(float),
                                                   (part["label"] == "anomaly").to_numpy(),
                                                   (part["domain"] == "target").to_numpy(), weights)
    values["official score"] = np.concatenate(list(values.values()), axis=1)
    for machine, v in values.items():
        spread = seed_and_clip_interval(hmean(v)[None, :])
        rows[machine] = {**({m: f"{100 * x:.1f}" for m, x in zip(METRICS, v[0])} if v.shape[1] == 3 else {}),
                         "hmean": f"{100 * spread.mean:.1f} ± {100 * spread.half():.1f}"}
    return pd.DataFrame(rows).T.fillna(""), float(hmean(values["official score"][:1])[0])


for system in systems.split():
    run = Path(runs_dir) / system
    clips = pd.read_csv(run / "scored" / "clips.csv", dtype={"section": str})
    for summary_path in sorted((run / "results" / rule).glob("*/summary.json")):
        summary = json.loads(summary_path.read_text())
        table, score = machine_estimates(summary_path.parent, clips)
        official = official_score(evaluate_dir(summary_path.parent, truth_dir or None, year=year))
        assert abs(official - score) < 1e-9, (official, score)  # the year's evaluator reads the same files alike
        display(Markdown(f"**{system}**, mode `{summary['mode']}`, checkpoint `{rule}` (epoch "
                         f"{summary['checkpoint']['epoch']}): official score {100 * official:.1f} (the year's "
                         f"evaluator, `asdlib evaluate --year {year}`)"))
        display(table)

# %% [markdown]
# What this chapter shows is that the path runs on a later year's layout: the stand-in is indexed in
# that layout, one system is trained on every machine with one section class per machine type, and
# its files are read by the year's evaluator. At the smoke scale the test sets are a handful of clips
# per machine, so the intervals are wide: these numbers are not evidence about the method on the real
# data of that year.
