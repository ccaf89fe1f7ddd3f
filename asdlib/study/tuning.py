"""The rows tuned on the development set (the paper's Table 4), per training seed.

* MSL (S1): per machine, the single system with the best development-set official score;
* Disent.Wt (S4): per machine, w_S of Eq. 5 (w_A = 1 - w_S) on a 0.05 grid, on the development set;
  under the ``best_dev`` checkpoint rule the checkpoint is chosen together with the weight;
* MSL+ANP (S2): per machine, ``(1 - a) MSL + a ANP`` on a 0.05 grid, each system's scores first
  standardised per section by the mean and standard deviation of its own training clips' scores
  (so no test label makes them comparable).

Every choice looks at development-set labels only (a test flips every evaluation label and checks
that no choice moves). Each seed is tuned on its own runs.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from asdlib.inference import results_path
from asdlib.metrics import hmean, weighted_section_metrics
from asdlib.study.rows import DISENT_WT, GRID, MSL, MSL_ANP, MSL_CANDIDATES, TUNED
from asdlib.study.runs import SCORE_COLUMNS, clips, epoch_scores, result_scores, seed_folder

W_S, W_A = "Disent. wt. (S4) w_S", "Disent. wt. (S4) w_A"
ENS_MSL, ENS_ANP = "Ens. wt. (S2) MSL", "Ens. wt. (S2) ANP"


def dev_scorer(test: pd.DataFrame):
    """A function of clip scores (m,) giving their official score over the development sections
    (00-02) of ``test`` (m clips indexed 0..m-1, with section, label and domain), NaN if it has none.
    The sections are split once, so that a grid of weights is scored quickly."""
    parts = [(part.index.to_numpy(), (part["label"] == "anomaly").to_numpy(), (part["domain"] == "target").to_numpy())
             for section, part in test.groupby("section")
             if int(section) < 3 and part["label"].notna().all() and part["domain"].notna().all()]

    def score(scores) -> float:
        if not parts:
            return np.nan
        scores = np.asarray(scores, dtype=float)
        values = [weighted_section_metrics(scores[rows], anomalous, target)[0]
                  for rows, anomalous, target in parts]
        return float(hmean(np.concatenate(values)))
    return score


def dev_official(test: pd.DataFrame, scores) -> float:
    """Official score of ``scores`` over the development sections (00-02) of ``test`` (see :func:`dev_scorer`)."""
    return dev_scorer(test)(scores)


def mean_dev_official(scores: pd.DataFrame) -> float:
    """The mean over runs (machine, seed) of each run's development-set official score: how settings
    compared across a study are ranked when one is chosen for all machines and seeds."""
    test = scores[scores["split"] == "test"]
    return float(np.mean([dev_official(run.reset_index(drop=True), run["score"].to_numpy())
                          for _, run in test.groupby(["machine", "seed"])]))


def _test(part: pd.DataFrame) -> pd.DataFrame:
    return part[part["split"] == "test"].reset_index(drop=True)


def msl_choice(part: pd.DataFrame, candidates=MSL_CANDIDATES) -> str | None:
    """MSL (S1) of one (seed, machine): the row among ``candidates`` with the best development-set
    official score in ``part`` (that seed and machine's clip scores), the first in the paper's order
    on a tie; None if it has none of them."""
    rows = [r for r in candidates if r in set(part["row"])]
    if not rows:
        return None
    dev = {r: dev_official(_test(part[part["row"] == r]), _test(part[part["row"] == r])["score"]) for r in rows}
    return max(rows, key=lambda r: dev[r])


def tune(study_dir: str | Path, scores: pd.DataFrame, rule: str = "last", grid=GRID):
    """The tuned rows' clip scores (columns as :func:`asdlib.study.runs.collect_scores`) and the choices
    (one row per (seed, machine), Table 4's names as columns)."""
    base = scores[~scores["row"].isin(TUNED)]
    tuned, choices = [], []
    for (seed, machine), part in base.groupby(["seed", "machine"]):
        choice = {"seed": seed, "machine": machine}
        chosen = msl_choice(part)
        if chosen is not None:
            choice[MSL] = chosen
            tuned.append(part[part["row"] == chosen].assign(row=MSL))
        disent = seed_folder(Path(study_dir) / "disent" / machine, seed)
        if all((results_path(disent, rule, mode) / "summary.json").is_file() for mode in ("sec", "att")):
            frame, weight = _disent_wt(disent, rule, grid, machine, seed)
            tuned.append(frame)
            choice.update({W_S: weight, W_A: round(1 - weight, 2)})
        if MSL in choice and "ANP-Boot" in set(part["row"]):
            frame, a = _msl_anp(part[part["row"] == choice[MSL]], part[part["row"] == "ANP-Boot"], grid)
            tuned.append(frame)
            choice.update({ENS_MSL: round(1 - a, 2), ENS_ANP: a})
        choices.append(choice)
    frame = pd.concat(tuned, ignore_index=True)[SCORE_COLUMNS] if tuned else pd.DataFrame(columns=SCORE_COLUMNS)
    return frame, pd.DataFrame(choices).set_index(["seed", "machine"])


def _disent_wt(run: Path, rule: str, grid, machine: str, seed: int) -> tuple[pd.DataFrame, float]:
    """Disent.Wt of one disent run: Eq. 5, ``w_S d_S + w_A d_A``, the per-space nearest-neighbour
    distances being the run's ``sec`` and ``att`` mode scores: at every checkpoint under ``best_dev``
    (the checkpoint is chosen with the weight), else those of the rule's result folders."""
    table = clips(run)
    if rule == "best_dev":
        epochs, saved = epoch_scores(run)
        candidates = {epoch: (saved["sec"][i], saved["att"][i]) for i, epoch in enumerate(epochs)}
    else:
        sec, att = (result_scores(run, rule, mode, table)["score"].to_numpy() for mode in ("sec", "att"))
        candidates = {json.loads((results_path(run, rule, "sec") / "summary.json").read_text())["checkpoint"]["epoch"]:
                      (sec, att)}
    test = (table["split"] == "test").to_numpy()
    dev = dev_scorer(table[test].reset_index(drop=True))
    tries = {(epoch, float(w)): dev(w * d_s[test] + (1 - w) * d_a[test])
             for epoch, (d_s, d_a) in candidates.items() for w in grid}
    epoch, weight = max(tries, key=tries.get)  # first best: earliest epoch, smallest w_S
    d_s, d_a = candidates[epoch]
    frame = table[["split", "section", "name", "domain", "label"]].assign(
        row=DISENT_WT, system="disent", mode="wt", machine=machine, seed=seed, epoch=epoch,
        score=weight * d_s + (1 - weight) * d_a)
    return frame, weight


def standardised(frame: pd.DataFrame) -> np.ndarray:
    """A row's clip scores standardised per section by the mean and sd of its training clips' scores."""
    train = frame[frame["split"] == "train"].groupby("section")["score"].agg(["mean", "std"])
    mean = frame["section"].map(train["mean"]).to_numpy()
    sd = np.maximum(frame["section"].map(train["std"]).to_numpy(), 1e-12)
    return (frame["score"].to_numpy() - mean) / sd


def _msl_anp(msl: pd.DataFrame, anp: pd.DataFrame, grid) -> tuple[pd.DataFrame, float]:
    msl, anp = msl.sort_values("name", kind="stable"), anp.sort_values("name", kind="stable")
    if msl["name"].tolist() != anp["name"].tolist():
        raise ValueError(f"{msl['machine'].iloc[0]} seed {msl['seed'].iloc[0]}: MSL and ANP scored different clips")
    a_scores, b_scores = standardised(msl), standardised(anp)
    test = (msl["split"] == "test").to_numpy()
    official = dev_scorer(msl[test].reset_index(drop=True))
    dev = {float(a): official(((1 - a) * a_scores + a * b_scores)[test]) for a in grid}
    best = max(dev, key=dev.get)
    return msl.assign(row=MSL_ANP, mode="ensemble", score=(1 - best) * a_scores + best * b_scores), best


def summarise_choices(choices: pd.DataFrame) -> pd.DataFrame:
    """Table 4's cells over seeds: per machine, the MSL choice made most often ("Disent.Sec (2/3)")
    and each weight's mean over seeds ± half its 95 % t interval over seeds
    (:func:`asdlib.bootstrap.seed_and_clip_interval`; no clip enters a choice's own spread)."""
    from asdlib.bootstrap import seed_and_clip_interval
    from asdlib.study.rows import TABLE4_NAMES

    out = {}
    for machine, part in choices.groupby(level="machine"):
        cells = {}
        for column in part.columns:
            values = part[column].dropna()
            if values.empty:
                continue
            if column == MSL:
                counts = values.map(lambda r: TABLE4_NAMES.get(r, r)).value_counts()
                cells[column] = f"{counts.index[0]} ({counts.iloc[0]}/{len(values)})"
            else:
                spread = seed_and_clip_interval(values.to_numpy(float)[:, None])
                cells[column] = f"{spread.mean:.2f} ± {spread.half():.2f}"
        out[machine] = cells
    return pd.DataFrame(out)
