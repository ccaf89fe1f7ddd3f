"""Beyond the paper, part 1: other anomaly detection backends on the same embeddings.

The poster's first next step: "explore other anomaly detection backends in addition to NN, e.g.
GMM". Every embedding system of the study is scored again from the embeddings its runs saved (at
the checkpoint the rule chose; no retraining) with

* ``nn``: the paper's nearest neighbour (Eq. 4);
* ``knn``: the mean cosine distance to the k nearest training clips of the section;
* ``gmm``: a Gaussian mixture per section on L2-normalised embeddings, score = negative
  log-likelihood: full or diagonal covariances, or a full one after a per-section PCA to a few
  dimensions (a form that suits few clips per section, n << d);
* ``mahalanobis``: a single Gaussian per section with a shrinkage covariance (Ledoit-Wolf or OAS);

and the domain-generalisation backends (:data:`DOMAIN_BACKENDS`, :mod:`asdlib.scoring.domain`,
:mod:`asdlib.scoring.local_density`), which answer a target clip's few references:

* ``knn_domain``: a k-NN distance to the source clips and one to the target clips, the smaller wins;
* ``kmeans_target``: k-means centres of a section's training clips together with every target clip;
* ``smote_knn``: knn_domain with the target clips over-sampled by SMOTE;
* ``knn_ldn``: each distance to a training clip rescaled by that clip's mean distance to its own
  nearest training clips (divided or subtracted).

Each backend's setting (k; the mixture's form; the shrinkage) is chosen per system on the
development set (the mean over machines and seeds of the official score), from :data:`SETTINGS`.
Disent.Wt (Eq. 5) is tuned per backend as Disent.Wt (S4) is for nn: w_S on the 0.05 grid per seed
and machine on the development set, at the checkpoint Disent.Wt (S4) chose. Every choice is made on
the development set, so its development-set numbers are not evidence: the evaluation set is.

The question of the domain-generalisation backends, fixed before any number: do the disentangled
spaces gain more from them than the entangled MTL space does? :func:`gain_family` tests it as one
family, each backend's eval gain over nn on Disent.Cat (S3) minus MTL's, Holm-adjusted.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from asdlib.inference import embeddings_path
from asdlib.metrics import METRICS
from asdlib.scoring import FORMS, SHRINKAGE, SpaceScorer
from asdlib.study.claims import ALPHA, holm
from asdlib.study.evidence import Evidence
from asdlib.study.rows import DISENT_WT, GRID, ROW_NAMES
from asdlib.study.runs import SCORE_COLUMNS, clips
from asdlib.study.tuning import dev_scorer, mean_dev_official, standardised

SETTINGS = {
    "nn": [{}],
    "knn": [{"k": k} for k in (2, 4, 8)],
    "gmm": [{"covariance_type": "full", "reg_covar": 1e-6}]
    + [{"covariance_type": "diag", "n_components": c} for c in (1, 2, 4)]
    + [{"pca_dims": p, "covariance_type": "full"} for p in (2, 4, 8)],
    "mahalanobis": [{"shrinkage": s} for s in SHRINKAGE],
    "knn_domain": [{"k": k} for k in (2, 4)],
    "kmeans_target": [{"n_clusters": 16}],
    "smote_knn": [{"k": 1, "ratio": 1.0}],
    "knn_ldn": [{"form": f} for f in FORMS],
}
"""Each backend's grid (keyword arguments of :func:`asdlib.scoring.make_backend`), one setting chosen
per system on the development set (:func:`choose_settings`): knn's k; gmm's form, a full covariance
(governed by ``reg_covar`` when a section has no more clips than dimensions), diagonal ones with 1, 2
or 4 components, or a full one after a per-section PCA to 2, 4 or 8 dimensions; mahalanobis's
shrinkage (Ledoit-Wolf, OAS); knn_domain's k (2 or 4; k=1 is nn exactly); kmeans_target's 16 centres
(Wilkinghoff's; one setting, as its k-means fits cost about four times knn_domain's scoring: 3.5 s
against 0.9 s a run and setting on the quick study, measured on a loaded 2-core machine); smote_knn's target bank as large as the source bank (k=1 and SMOTE's
k_neighbors=2, as the ASD toolkit's default, whose ratio 0.2 over-samples the real data's 10 target
clips against 990 but none at the quick scale's 10 against 40; one setting, its SMOTE fits cost
3.2 s a run and setting on the same machine); knn_ldn's form, the distance divided by the reference's density
or less it (k=1, density from 4 neighbours, as the ASD toolkit's default)."""
DOMAIN_BACKENDS = ("knn_domain", "kmeans_target", "smote_knn", "knn_ldn")
"""The domain-generalisation backends of :func:`gain_family`."""
RAW_WEIGHTED = ("nn", "knn", "knn_domain", "kmeans_target", "smote_knn")
"""Backends whose two spaces' scores Disent.Wt weights as they are, as Eq. 5 does: cosine distances,
on one scale ([0, 2]) in every space. The others' scores (a log-likelihood, a Mahalanobis distance,
a distance rescaled by a density) have scales that differ between spaces (with the dimension and the spread), so each space's score is
first standardised per section by its training clips' scores (:func:`asdlib.study.tuning.standardised`)."""
ROWS = ("Sec_Softmax", "Sec_ArcFace", "MTL", "Disent.Cat (S3)", "Disent.Sec", "Disent.Att", DISENT_WT,
        "Disent.Split")
RUN_OF = {row: key for key, row in ROW_NAMES.items()}
RUN_OF[DISENT_WT] = ("disent", "wt")


def _label(settings: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in settings.items()) or "-"


def _clip_scores(scorer: SpaceScorer, embeddings: dict, table: pd.DataFrame) -> np.ndarray:
    """``scorer`` fitted on a run's training clips (``embeddings``: space -> (n_clips, d_space), in
    ``table``'s order): every clip's score (n_clips,), test clips against the training clips of their
    section, training clips as :meth:`asdlib.scoring.SpaceScorer.score_train` gives them."""
    train = (table["split"] == "train").to_numpy()
    sections = table["section"].to_numpy()
    scorer.fit({k: v[train] for k, v in embeddings.items()}, sections[train], table["domain"].to_numpy()[train])
    out = np.empty(len(table))
    out[~train] = scorer.score({k: v[~train] for k, v in embeddings.items()}, sections[~train])
    out[train] = scorer.score_train()
    return out


def tune_weight(table: pd.DataFrame, d_s: np.ndarray, d_a: np.ndarray, grid=GRID) -> float:
    """Eq. 5's w_S (w_A = 1 - w_S) with the best development-set official score of
    ``w_S d_s + w_A d_a`` over ``grid``, the first best (the smallest w_S), as Disent.Wt (S4) is tuned.

    ``table``: one run's clips (split, section, domain, label); ``d_s``, ``d_a``: (n_clips,) the
    section and attribute spaces' scores in its order. Only development-set labels are read.
    """
    test = (table["split"] == "test").to_numpy()
    dev = dev_scorer(table[test].reset_index(drop=True))
    tries = {float(w): dev(w * d_s[test] + (1 - w) * d_a[test]) for w in grid}
    return max(tries, key=tries.get)


def backend_scores(study_dir: str | Path, rule: str, study_scores: pd.DataFrame, rows=ROWS) -> pd.DataFrame:
    """Clip scores of every (row, backend, setting): columns of :func:`asdlib.study.runs.collect_scores`
    plus ``backend``, ``setting`` and ``w_S`` (Disent.Wt's tuned weight; NaN for the other rows);
    ``row`` names the system only, ``epoch`` the checkpoint scored.

    ``study_scores``: the study's clip scores with its tuned rows (:attr:`asdlib.study.load.Study.scores`);
    Disent.Wt is scored at the checkpoint Disent.Wt (S4) chose in each (seed, machine) (its rows'
    ``epoch``), or at Disent.Wt (0.5/0.5)'s where that checkpoint's embeddings were not saved (only
    the checkpoints some rule and mode chose are); the other rows at their own rule's checkpoint.
    """
    s4 = study_scores[study_scores["row"] == DISENT_WT].groupby(["seed", "machine"])["epoch"].first()
    frames = []
    for row in rows:
        system, mode = RUN_OF[row]
        for summary_path in sorted(Path(study_dir).glob(f"{system}/*/seed*/results/{rule}/{mode}/summary.json")):
            run = summary_path.parents[3]
            summary = json.loads(summary_path.read_text())
            machine, seed, epoch = summary["machine"], int(summary["config"]["seed"]), summary["checkpoint"]["epoch"]
            if mode == "wt" and (seed, machine) in s4.index and embeddings_path(run, int(s4[seed, machine])).is_file():
                epoch = int(s4[seed, machine])
            embeddings = dict(np.load(embeddings_path(run, epoch)))
            table = clips(run)
            for backend, grid in SETTINGS.items():
                for settings in grid:
                    w = np.nan
                    if mode == "wt":
                        d_s, d_a = (_clip_scores(SpaceScorer(space, backend=backend, **settings), embeddings, table)
                                    for space in ("section", "attribute"))
                        if backend not in RAW_WEIGHTED:
                            d_s, d_a = (standardised(table.assign(score=d)) for d in (d_s, d_a))
                        w = tune_weight(table, d_s, d_a)
                        score = w * d_s + (1 - w) * d_a
                    else:
                        score = _clip_scores(SpaceScorer(mode, backend=backend, **settings), embeddings, table)
                    frames.append(table[["split", "section", "name", "domain", "label"]].assign(
                        row=row, system=system, mode=mode, machine=machine, seed=seed, epoch=epoch, score=score,
                        backend=backend, setting=_label(settings), w_S=w))
    if not frames:
        raise FileNotFoundError(f"{study_dir}: no scored embedding system under rule {rule!r}")
    return pd.concat(frames, ignore_index=True)[SCORE_COLUMNS + ["backend", "setting", "w_S"]]


def choose_settings(scores: pd.DataFrame) -> pd.DataFrame:
    """Per (row, backend), the setting with the best development-set official score (mean over the
    machines' and seeds' runs, :func:`asdlib.study.tuning.mean_dev_official`; on a tie the first
    setting label in alphabetical order). Returns the chosen ``setting`` and its score ``dev``,
    indexed by (row, backend). Only development-set labels are read."""
    records = [{"row": row, "backend": backend, "setting": setting, "dev": mean_dev_official(part)}
               for (row, backend, setting), part in scores.groupby(["row", "backend", "setting"])]
    frame = pd.DataFrame(records)
    return frame.loc[frame.groupby(["row", "backend"])["dev"].idxmax()].set_index(["row", "backend"])


def chosen_scores(scores: pd.DataFrame, chosen: pd.DataFrame) -> pd.DataFrame:
    """The clip scores of the chosen settings, each (row, backend) as one row named ``"<row> | <backend>"``."""
    keep = scores.merge(chosen.reset_index()[["row", "backend", "setting"]], on=["row", "backend", "setting"])
    return keep.assign(row=keep["row"] + " | " + keep["backend"])


def chosen_weights(scores: pd.DataFrame, chosen: pd.DataFrame) -> pd.DataFrame:
    """Disent.Wt's w_S at each backend's chosen setting: one row per (seed, machine), a column per
    backend (the form of Table 4's choices, for :func:`asdlib.study.tuning.summarise_choices`)."""
    picked = scores[scores["row"] == DISENT_WT].merge(
        chosen.reset_index()[["row", "backend", "setting"]], on=["row", "backend", "setting"])
    weights = picked.groupby(["seed", "machine", "backend"])["w_S"].first().unstack("backend")
    return weights[[b for b in SETTINGS if b in weights.columns]]


FAMILY_ROWS = ("Disent.Cat (S3)", "MTL")
"""The disentangled space and the entangled one whose gains :func:`gain_family` compares."""
FAMILY_METRICS = {"official": METRICS, "AUC (T)": ("auc_target",)}


def gain_family(evidence: Evidence, backends=DOMAIN_BACKENDS, rows=FAMILY_ROWS) -> pd.DataFrame:
    """The family fixed in advance: do the disentangled spaces gain more from the domain-generalisation
    backends than the entangled MTL space does?

    For each backend ``b`` and each of the official score and AUC (T), the evaluation set's paired
    difference of gains ``(D | b - D | nn) - (M | b - M | nn)`` (``D``, ``M`` = ``rows``; rows named
    ``"<row> | <backend>"`` as :func:`chosen_scores` names them; :meth:`Evidence.contrast`). Each is
    tested two-sided ("no difference", the t test behind its interval); the 2 x len(backends) tests
    are one family, Holm's step-down at :data:`asdlib.study.claims.ALPHA`, and each family-adjusted
    interval is at the level Holm tests it at. Columns: backend, metric, each row's gain, the
    difference of gains (95 %), family-adjusted, Holm p, verdict, and "mean", "half" (in points).
    """
    a, b = rows
    differences, gains = [], []
    for backend in backends:
        for metric, columns in FAMILY_METRICS.items():
            names = {row: (f"{row} | {backend}", f"{row} | nn") for row in rows}
            gains.append({row: evidence.difference(*names[row], "eval", None, columns) for row in rows})
            differences.append(evidence.contrast({names[a][0]: 1.0, names[a][1]: -1.0, names[b][0]: -1.0,
                                                  names[b][1]: 1.0}, "eval", None, columns))
    adjusted_p, levels = holm([np.nan if np.isnan(d.mean) else d.p_value() for d in differences])
    records = []
    keys = [(backend, metric) for backend in backends for metric in FAMILY_METRICS]
    for (backend, metric), gain, diff, p_adj, level in zip(keys, gains, differences, adjusted_p, levels):
        tested = not np.isnan(p_adj)
        adjusted = diff.at_level(1 - level) if tested and diff.spread is not None else None
        verdict = ("not in this build" if not tested else "not resolved" if p_adj > ALPHA
                   else f"{a} gains more" if diff.mean > 0 else f"{b} gains more")
        records.append({"backend": backend, "metric": f"{metric} (eval)", f"{a} gain": gain[a].text(sign=True),
                        f"{b} gain": gain[b].text(sign=True), "difference of gains (95 %)": diff.text(sign=True),
                        "family-adjusted": (f"{100 * adjusted.low:+.1f} to {100 * adjusted.high:+.1f} "
                                            f"({100 * (1 - level):.2f} %)" if adjusted is not None else "-"),
                        "Holm p": f"{p_adj:.3f}" if tested else "-", "verdict": verdict,
                        "mean": 100 * diff.mean, "half": 100 * diff.half})
    return pd.DataFrame(records)


TOOLKIT_RESULTS = pd.DataFrame([
    ("dis_spec scac_trainable (a CNN on spectrograms, SC-AdaCos)", 71.62, 0.47, 67.74, 0.89),
    ("dis_eat scac_trainable (the pre-trained EAT model)", 73.88, 0.80, 69.85, 0.43),
], columns=["system", "dev", "dev sd", "eval", "eval sd"])
"""Published official scores on the real DCASE 2022 Task 2 data (%, mean and standard deviation over
four trials; backend kNN with SMOTE), the anchors of the backends chapter, as the ASD toolkit's
results figure shows them (TakuyaFujimura/dcase-asd-toolkit, ``docs/results.png`` at commit ed27d82,
columns 22dev and 22eval)."""
