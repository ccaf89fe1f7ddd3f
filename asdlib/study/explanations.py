"""Beyond the paper, part 3: are the disentangled explanations right?

No published system can check its explanations; the synthetic stand-in can, because it records the
cause of every anomalous clip (``anomaly_causes.csv``: the fault type and its severity). Three
measurements, per machine, on every seed's ``disent`` run (:func:`asdlib.explain.clip_table`):

* **severity**: Spearman's rho between the Disent.Cat score and the fault's severity over the
  anomalous test clips;
* **type**: how well the fault type can be told from the explanation's features (each space's
  standardised distance and the posteriors of the stated attribute values), as the cross-validated
  accuracy of a logistic regression, against chance (the most frequent type) and against the same
  features from the entangled MTL model (its one space);
* **false alarms**: the share of the target-domain normal clips declared anomalous (score above the
  run's decision threshold) that the explanation puts in the attribute space only, i.e. reads as
  domain shift rather than a fault.

Every number comes with a 95 % interval from resampling the seeds and the clips (as
:mod:`asdlib.bootstrap` does for the tables).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from asdlib.bootstrap import interval
from asdlib.names import MACHINES
from asdlib.study.evidence import Estimate
from asdlib.study.runs import seed_folder


def causes(data_root: str | Path) -> pd.DataFrame:
    """The stand-in's ``anomaly_causes.csv`` (machine, name, anomaly_type, severity); empty for real data."""
    path = Path(data_root) / "anomaly_causes.csv"
    if not path.is_file():
        return pd.DataFrame(columns=["machine", "name", "anomaly_type", "severity"])
    frame = pd.read_csv(path)
    return frame.rename(columns={"file_name": "name"})[["machine", "name", "anomaly_type", "severity"]]


def explanation_tables(study_dir: str | Path, data_root: str | Path, rule: str = "last") -> pd.DataFrame:
    """Every test clip of every disent and mtl run with its explanation's numbers, its run's Disent.Cat
    (or MTL) score and decision, and its cause: columns of :func:`asdlib.explain.clip_table` plus
    system, machine, seed, score, decision, anomaly_type, severity."""
    from asdlib.explain import clip_table
    from asdlib.metrics import read_score_csv

    frames = []
    for system, mode in (("disent", "cat"), ("mtl", "mtl")):
        for run in sorted(Path(study_dir).glob(f"{system}/*/seed*")):
            folder = run / "results" / rule / mode
            if not (folder / "summary.json").is_file():
                continue
            summary = json.loads((folder / "summary.json").read_text())
            table = clip_table(run, rule, mode)
            test = table[table["split"] == "test"].copy()
            scores, decisions = {}, {}
            for section in test["section"].unique():
                scores.update(read_score_csv(folder / f"anomaly_score_{run.parent.name}_section_{section}_test.csv"))
                decisions.update(read_score_csv(folder / f"decision_result_{run.parent.name}_section_{section}_test.csv"))
            frames.append(test.assign(system=system, machine=summary["machine"], seed=int(summary["config"]["seed"]),
                                      score=test["name"].map(scores), decision=test["name"].map(decisions)))
    if not frames:
        raise FileNotFoundError(f"{study_dir}: no disent run scored under rule {rule!r}")
    frame = pd.concat(frames, ignore_index=True)
    return frame.merge(causes(data_root), on=["machine", "name"], how="left")


def _estimate(per_seed_draws: dict[int, np.ndarray], points: dict[int, float], rng, n: int) -> Estimate:
    seeds = sorted(points)
    draws = np.array([np.mean([per_seed_draws[seeds[k]][b] for k in rng.integers(0, len(seeds), len(seeds))])
                      for b in range(n)])
    return Estimate(float(np.mean(list(points.values()))), *interval(draws), draws)


def severity_correlation(table: pd.DataFrame, n_resamples: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Per machine: Spearman's rho of the Disent.Cat score with the fault's severity (anomalous clips)."""
    from scipy.stats import spearmanr

    rng = np.random.default_rng(seed)
    anomalous = table[(table["system"] == "disent") & (table["label"] == "anomaly") & table["severity"].notna()]
    out = {}
    for machine, part in anomalous.groupby("machine"):
        points, draws = {}, {}
        for s, run in part.groupby("seed"):
            score, severity = run["score"].to_numpy(), run["severity"].to_numpy()
            points[s] = spearmanr(score, severity).statistic
            picks = rng.integers(0, len(run), size=(n_resamples, len(run)))
            draws[s] = np.array([spearmanr(score[p], severity[p]).statistic for p in picks])
        estimate = _estimate(draws, points, rng, n_resamples)
        out[machine] = {"rho": estimate.mean, "half": estimate.half, "text": estimate.text(scale=1, digits=2),
                        "clips": len(part) // part["seed"].nunique()}
    return pd.DataFrame.from_dict(out, orient="index").reindex([m for m in MACHINES if m in out])


def _features(run: pd.DataFrame, system: str) -> np.ndarray:
    spaces = ("section", "attribute") if system == "disent" else ("mtl",)
    columns = [f"z_{s}" for s in spaces] + sorted(c for c in run.columns if c.startswith("p:"))
    return run[columns].fillna(1.0).to_numpy(float)


def type_accuracy(table: pd.DataFrame, n_resamples: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Per machine: cross-validated accuracy of telling the fault type from the explanation's features,
    for the disentangled model and the entangled MTL model, and chance (the most frequent type)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(seed)
    anomalous = table[(table["label"] == "anomaly") & table["anomaly_type"].notna()]
    out = {}
    for machine, part in anomalous.groupby("machine"):
        cells = {}
        for system in ("disent", "mtl"):
            points, draws = {}, {}
            for s, run in part[part["system"] == system].groupby("seed"):
                y = run["anomaly_type"].to_numpy()
                folds = min(5, int(pd.Series(y).value_counts().min()))
                if folds < 2 or len(set(y)) < 2:
                    continue
                model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
                cv = StratifiedKFold(folds, shuffle=True, random_state=0)
                right = (cross_val_predict(model, _features(run, system), y, cv=cv) == y).astype(float)
                points[s] = right.mean()
                draws[s] = right[rng.integers(0, len(right), size=(n_resamples, len(right)))].mean(axis=1)
            if points:
                cells[system] = _estimate(draws, points, rng, n_resamples).text(digits=0)
        types = part.drop_duplicates("name")["anomaly_type"].value_counts(normalize=True)
        cells["chance"] = f"{100 * types.iloc[0]:.0f}"
        cells["types"] = len(types)
        out[machine] = cells
    return pd.DataFrame.from_dict(out, orient="index").reindex([m for m in MACHINES if m in out])


def false_alarms(table: pd.DataFrame, n_resamples: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Target-domain normal clips declared anomalous by Disent.Cat: how many, and the share of them the
    explanation reads as attribute space only (domain shift), per machine and over all machines."""
    rng = np.random.default_rng(seed)
    alarms = table[(table["system"] == "disent") & (table["domain"] == "target") & (table["label"] == "normal")
                   & (table["decision"] == 1)]
    out = {}
    for machine, part in [*alarms.groupby("machine"), ("all machines", alarms)]:
        points, draws = {}, {}
        for s, run in part.groupby("seed"):
            attribute_only = (run["carrier"] == "attribute").to_numpy(float)
            points[s] = attribute_only.mean()
            draws[s] = attribute_only[rng.integers(0, len(run), size=(n_resamples, len(run)))].mean(axis=1)
        if points:
            out[machine] = {"false alarms per seed": len(part) / part["seed"].nunique(),
                            "attribute space only (%)": _estimate(draws, points, rng, n_resamples).text(digits=0),
                            "carriers": ", ".join(f"{k} {v}" for k, v in part["carrier"].value_counts().items())}
    return pd.DataFrame.from_dict(out, orient="index")


def example_clips(table: pd.DataFrame, machine: str, seed: int = 0) -> list[str]:
    """A few test clips of one machine worth a card: the most anomalous-looking anomaly, an anomaly
    the model misses, and a target-domain false alarm, where the run has them."""
    run = table[(table["system"] == "disent") & (table["machine"] == machine) & (table["seed"] == seed)]
    picks = []
    anomalies = run[run["label"] == "anomaly"].sort_values("score")
    if len(anomalies):
        picks += [anomalies.iloc[-1]["name"], anomalies.iloc[0]["name"]]
    alarms = run[(run["domain"] == "target") & (run["label"] == "normal") & (run["decision"] == 1)]
    if len(alarms):
        picks.append(alarms.sort_values("score").iloc[-1]["name"])
    return picks


def disent_run(study_dir: str | Path, machine: str, seed: int = 0) -> Path:
    return seed_folder(Path(study_dir) / "disent" / machine, seed)
