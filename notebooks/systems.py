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
# # The systems, and where we depart
#
# Every row of Tables 2-4, what it is, and every place where `asdlib` departs from the paper or
# from the DCASE 2022 baselines, with what was measured of each departure. Each system is trained
# once per machine on all six sections' training clips (`notebooks/run_system.py`, run by
# papermill), then scored with the official rules.
#
# | row | system (`asdlib train --system`) | what it is |
# |---|---|---|
# | Sec_Softmax | `sec_softmax` | MobileFaceNet, 128-d section embedding, softmax section classifier (Eq. 2); scored by Eq. (4) |
# | Sec_ArcFace | `sec_arcface` | the same with an ArcFace classifier (scale 32, margin 0.5) |
# | MTL | `mtl` | one entangled 256-d embedding feeding the section and every attribute classifier |
# | Disent.Sec, .Att, .Cat (S3) | `disent` | section space $z_S$ and attribute space $z_A$ (Eq. 1-3); scored on $z_S$, on $z_A$, or on $z_C = [z_S; z_A]$ |
# | Disent.Cat (norm.) | `disent` | not in the paper: $z_S$ and $z_A$ each L2-normalised before the concatenation |
# | Disent.Wt (S4) | `disent` | Eq. (5) with per-machine weights chosen on the development set (Table 4); *Disent.Wt (0.5/0.5)* is the untuned reference |
# | Disent.Split | `disent_split` | a section space plus one 128-d space per attribute key (the paper's valve variant); scored on all spaces concatenated |
# | Adversarial | `adversarial` | the paper names this system only; our definition is below |
# | ANP-Boot | `anp` | an attentive neural process (after Wichern et al., WASPAA 2021) on 5-frame log-mel patches; score: Gaussian negative log-likelihood of a target frame given the others. "Boot" is defined below |
# | AE Baseline | `ae` | the DCASE 2022 autoencoder baseline: 5 stacked log-mel frames (640-d), dense 128-128-128-128-8-128-128-128-128, MSE; score: mean reconstruction error |
# | MN Baseline | `mn` | the DCASE 2022 MobileNetV2 baseline: section classifier on log-mel patches; score: mean over patches of $\log((1-p)/p)$, $p$ the probability of the clip's own section |
# | MSL (S1) | - | per machine, the single system with the best development-set score (Table 4) |
# | MSL+ANP (S2) | - | per machine, a weighted sum of the MSL and ANP scores, the weight chosen on the development set (Table 4) |
#
# ## Adversarial: our definition
#
# Domain-adversarial training as it is usually done (Ganin & Lempitsky's DANN): the section
# embedding feeds the section classifier, and, through a gradient-reversal layer, an *adversary*
# that predicts the clip's domain-shift attribute value (e.g. fan section 00: the machine-noise
# letter) **within the clip's own section**: its softmax runs over that section's values only, so
# the reversed gradient removes the domain-shift value from the section embedding without removing
# the section itself, which the section loss must keep. The reversal strength ramps up with the
# DANN schedule $\lambda(p) = 2/(1 + e^{-10p}) - 1$ over the training progress $p \in [0, 1]$, so
# the adversary first learns unopposed. If the adversarial game works, the adversary ends near
# chance (it can no longer read the value from the embedding) while the section accuracy stays
# high; the figure below shows whether it did in this build.
#
# ## ANP-Boot: what "Boot" means here
#
# The paper names the row but does not define "Boot". `asdlib` defines it as *bootstrap aggregation
# over context/target partitions*. During training every patch gets a new random partition: the
# target is one whole frame at a random position, and the context is the other frames. At test time
# a patch's score is the negative log-likelihood of its target values, averaged over fixed
# partitions: first the centre frame as the target (the WASPAA/IDNN split), then the other frames in
# a seeded order, so that every frame is the target once. A clip's score is the mean over its
# patches. (`asdlib.models.anp.BOOT_DEFINITION` holds the same text.)

# %% tags=["parameters"]
data_root = ""      # the data set the study ran on (named in captions)
truth_dir = ""
scale = "smoke"
machines = "ToyCar ToyTrain bearing fan gearbox slider valve"
study_dir = ""      # <system>/<machine>/results/<rule>/<mode>/summary.json live here; empty: run a small study
paper_results = ""  # the paper's numbers; empty: the copy asdlib ships (asdlib/paper_results.csv)
checkpoint = "last" # the checkpoint rule of the tables: "last" or "best_dev" (the paper's)

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

study_dir, data_root, truth_dir, machines = ensure_study(study_dir, data_root, truth_dir, machines,
                                                         systems=("disent", "adversarial", "sec_softmax"))

# %% [markdown]
# ## How far each system trained
#
# Left: the section classifier's accuracy on the training batches per epoch (mean over machines
# and seeds), for each MobileFaceNet system. Right: the development-set official score of each
# scored checkpoint (mean over machines and seeds), for each row of Table 2 that a run gives. A
# section accuracy still rising, or a dev score still rising at the last checkpoint, says that
# these runs stopped before the surrogate task or the detector saturated: the quick scale's budget
# (the departures table), not the method, may set their level. The dev score per checkpoint is on the
# same clips as Table 2: it shows a trend, not a choice.

# %%
import matplotlib.pyplot as plt
from IPython.display import Markdown, display

from asdlib.study.curves import dev_score_by_checkpoint, section_accuracy
from asdlib.study.curves import summary as curve_summary

accuracy, by_checkpoint = section_accuracy(study_dir), dev_score_by_checkpoint(study_dir)
if len(accuracy):
    acc, dev_curve = curve_summary(accuracy, by_checkpoint)
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.4), constrained_layout=True)
    for system, values in acc.iterrows():
        left.plot(values.index, values.to_numpy(), marker=".", lw=1, label=system)
    left.set(xlabel="epoch", ylabel="section accuracy (training batches)", ylim=(0, 1.02))
    left.legend(fontsize=7)
    for row, values in dev_curve.iterrows():
        right.plot(values.dropna().index, 100 * values.dropna().to_numpy(), marker="o", lw=1, label=row)
    right.set(xlabel="checkpoint epoch", ylabel="dev official score (%)")
    right.axhline(50, color="grey", lw=0.6, ls=":")
    right.legend(fontsize=7, ncol=2)
    plt.show()
    last = acc.apply(lambda r: r.dropna().iloc[-1], axis=1)   # each system's own last epoch
    display(Markdown(f"Last epoch's section accuracy, mean over machines and seeds: "
                     + ", ".join(f"{s} {v:.2f} (epoch {acc.loc[s].last_valid_index()})" for s, v in last.items()) + "."))
else:
    display(Markdown("No MobileFaceNet training log in this build."))

# %% [markdown]
# ## The adversary in this build
#
# Per machine, over the training epochs (one line per seed): the section classifier's accuracy, and the adversary's
# accuracy against its chance level, with the reversal strength $\lambda$. Chance is what an
# adversary that knows only the section achieves: always guessing the section's most frequent
# domain-shift value (most training clips are source-domain clips, so this is well above one over
# the number of values). The table gives the last epoch, with the adversary's cross-entropy against
# that of the frequency guess.

# %%
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
from IPython.display import Markdown, display

from asdlib.study.departures import adversary_summary

summary = adversary_summary(study_dir)
if len(summary):
    machines_run = summary.index.get_level_values("machine").unique()
    fig, axes = plt.subplots(1, len(machines_run), figsize=(2.3 * len(machines_run) + 1, 2.6), sharey=True,
                             squeeze=False)
    for ax, machine in zip(axes[0], machines_run):
        for (_, seed), last in summary.loc[[machine]].iterrows():
            log = pd.read_csv(Path(study_dir) / "adversarial" / machine / f"seed{seed}" / "train_log.csv")
            first = seed == summary.loc[[machine]].index.get_level_values("seed")[0]
            ax.plot(log["epoch"], log["section_acc"], color="tab:blue", lw=0.9, label="section" if first else None)
            ax.plot(log["epoch"], log["shift_acc"], color="tab:red", lw=0.9, label="adversary" if first else None)
            ax.plot(log["epoch"], log["grl_lambda"], color="grey", lw=0.7, label="reversal $\\lambda$" if first else None)
        ax.axhline(summary.loc[[machine], "shift_chance_acc"].mean(), color="tab:red", ls=":", label="adversary chance")
        ax.set(title=machine, xlabel="epoch", ylim=(0, 1.02))
    axes[0][0].set_ylabel("training accuracy")
    axes[0][-1].legend(fontsize=7, loc="lower right")
    plt.tight_layout()
    plt.show()
    display(summary.groupby(level="machine").mean().style.format("{:.3f}"))
else:
    display(Markdown("No adversarial run in this build."))

# %% [markdown]
# ## Departures from the paper and from the DCASE 2022 baselines
#
# One row per departure still in the code. *Measured here* is computed from this build's runs where
# the build holds both sides of the departure; otherwise it says what was measured, or why nothing
# could be. Differences are paired (the same seeds and test clips for both sides), in points of the
# official score (harmonic mean over machines and sections, %) ± half their 95 % interval, on the
# development set (dev) and the evaluation set (eval).

# %% tags=["full-width"]
import warnings  # noqa: E402

warnings.filterwarnings("ignore", message=".*IProgress not found.*")  # tqdm.auto without ipywidgets; no bars here
from asdlib.study.departures import NORM_ROWS, as_markdown, departures, msl_pools, without_embedding_norm  # noqa: E402
from asdlib.study.evidence import Evidence
from asdlib.study.load import load_study, rules_evidence
from asdlib.study.runs import run_durations

study = load_study(study_dir, checkpoint)
unnormed = without_embedding_norm(study_dir, checkpoint)
norm = (Evidence(pd.concat([study.scores[study.scores["row"].isin(NORM_ROWS.values())], unnormed], ignore_index=True),
                 study.evidence.n_resamples) if len(unnormed) else None)
table = departures(study.evidence, rules_evidence(study_dir, study.evidence.n_resamples), summary, checkpoint,
                   msl_pools(study.scores, study.evidence.n_resamples), norm, run_durations(study_dir))
display(Markdown(as_markdown(table)))
