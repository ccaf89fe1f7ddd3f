"""Beyond the paper, part 3: are the disentangled explanations right?

No published system can check its explanations; the synthetic stand-in can, because it records the
cause of every anomalous clip (``anomaly_causes.csv``: the fault type and its severity). Three
measurements, per machine, on every seed's ``disent`` run (:func:`asdlib.explain.clip_table`):

* **severity**: Spearman's rho between the Disent.Cat score and the fault's severity over the
  anomalous test clips, the scores first standardised per section by the run's training clips
  (:func:`standardise`: sections' score scales differ, and pooled raw scores would rank sections);
* **type**: how well the fault type can be told from the system's numbers, as the cross-validated
  accuracy of a logistic regression on the dev test clips, for the disentangled model and the
  entangled MTL model with the same features (:func:`type_features`), against chance (the most
  frequent type);
* **false alarms**: the share of the target-domain normal clips declared anomalous (decision 1)
  that the explanation puts in the attribute space only, i.e. reads as domain shift rather than a
  fault, against the same share among the detected anomalies (anomalous test clips declared
  anomalous), and their difference.

Every number comes with a 95 % interval over seeds and clips (:func:`_estimate`).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from asdlib.bootstrap import seed_and_clip_interval
from asdlib.inference import results_path
from asdlib.names import DEV_SECTIONS, MACHINES
from asdlib.study.evidence import Estimate
from asdlib.study.runs import seed_folder


def causes(data_root: str | Path) -> pd.DataFrame:
    """The stand-in's ``anomaly_causes.csv`` (machine, name, anomaly_type, severity); empty for real data."""
    path = Path(data_root) / "anomaly_causes.csv"
    if not path.is_file():
        return pd.DataFrame(columns=["machine", "name", "anomaly_type", "severity"])
    frame = pd.read_csv(path)
    return frame.rename(columns={"file_name": "name"})[["machine", "name", "anomaly_type", "severity"]]


def standardise(scores: pd.DataFrame) -> pd.Series:
    """Every clip's score in standard deviations from its section's training clips' scores.

    ``scores``: one run's clips, columns split, section, score (as :func:`asdlib.study.runs.result_scores`
    gives them: training clips with their leave-one-out scores). Returns ``(score - mean) / sd`` with
    the mean and sd (ddof 0) of the training clips of the clip's section, on ``scores``' index.
    """
    train = scores[scores["split"] == "train"].groupby("section")["score"]
    mean, sd = scores["section"].map(train.mean()), scores["section"].map(train.std(ddof=0))
    return (scores["score"] - mean) / sd.clip(lower=1e-12)


def explanation_tables(study_dir: str | Path, data_root: str | Path, rule: str = "last") -> pd.DataFrame:
    """Every test clip of every disent and mtl run with its explanation's numbers, its run's Disent.Cat
    (or MTL) score and decision, and its cause: columns of :func:`asdlib.explain.clip_table` plus
    system, machine, seed, score, z_score (the score standardised per section, :func:`standardise`),
    decision, anomaly_type, severity."""
    from asdlib.explain import clip_table
    from asdlib.metrics import decision_result_file_name, read_score_csv
    from asdlib.study.runs import result_scores

    frames = []
    for system, mode in (("disent", "cat"), ("mtl", "mtl")):
        for run in sorted(Path(study_dir).glob(f"{system}/*/seed*")):
            folder = results_path(run, rule, mode)
            if not (folder / "summary.json").is_file():
                continue
            summary = json.loads((folder / "summary.json").read_text())
            table = clip_table(run, rule, mode)
            scores = result_scores(run, rule, mode, table)
            table = table.assign(score=scores["score"], z_score=standardise(scores))
            test = table[table["split"] == "test"]
            decisions = {}
            for section in test["section"].unique():
                decisions.update(read_score_csv(folder / decision_result_file_name(summary["machine"], section)))
            frames.append(test.assign(system=system, machine=summary["machine"], seed=int(summary["config"]["seed"]),
                                      decision=test["name"].map(decisions)))
    if not frames:
        raise FileNotFoundError(f"{study_dir}: no disent run scored under rule {rule!r}")
    frame = pd.concat(frames, ignore_index=True)
    return frame.merge(causes(data_root), on=["machine", "name"], how="left")


def _estimate(per_seed_draws: dict[int, np.ndarray], points: dict[int, float]) -> Estimate:
    """The mean over seeds of ``points`` (seed -> value) with the book's interval
    (:func:`asdlib.bootstrap.seed_and_clip_interval`): each seed's (n,) clip resamples
    ``per_seed_draws`` are drawn apart from the other seeds', so the clips enter through the spread
    of the seeds' values and the interval is the t interval over seeds. NaN without seeds."""
    seeds = sorted(points)
    if not seeds:
        return Estimate(np.nan, np.nan, np.nan, np.empty(0))
    per_seed = np.array([[points[s], *per_seed_draws[s]] for s in seeds])
    spread = seed_and_clip_interval(per_seed)
    return Estimate(spread.mean, *spread.bounds(), per_seed[:, 1:].mean(axis=0), spread)


def severity_correlation(table: pd.DataFrame, n_resamples: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Per machine: Spearman's rho of the Disent.Cat score, standardised per section (``z_score``), with
    the fault's severity, over the anomalous test clips of all sections of a run pooled.

    ``table``: rows as :func:`explanation_tables` gives (system, machine, seed, label, severity,
    z_score). Returns per machine ``rho`` (mean over seeds), ``half``, ``text`` and ``clips`` (per seed).
    """
    from scipy.stats import spearmanr

    rng = np.random.default_rng(seed)
    anomalous = table[(table["system"] == "disent") & (table["label"] == "anomaly") & table["severity"].notna()]
    out = {}
    for machine, part in anomalous.groupby("machine"):
        points, draws = {}, {}
        for s, run in part.groupby("seed"):
            score, severity = run["z_score"].to_numpy(), run["severity"].to_numpy()
            points[s] = spearmanr(score, severity).statistic
            picks = rng.integers(0, len(run), size=(n_resamples, len(run)))
            draws[s] = np.array([spearmanr(score[p], severity[p]).statistic for p in picks])
        estimate = _estimate(draws, points)
        out[machine] = {"rho": estimate.mean, "half": estimate.half, "text": estimate.text(scale=1, digits=2),
                        "clips": len(part) // part["seed"].nunique()}
    return pd.DataFrame.from_dict(out, orient="index").reindex([m for m in MACHINES if m in out])


def type_features(part: pd.DataFrame) -> list[str]:
    """The type classifier's feature columns, the same for both systems: the system's score standardised
    per section (``z_score``; for disent its Disent.Cat score, one number like MTL's, not its two space
    distances, so that neither model gets more features) and the posterior ``p:<key>`` of every
    attribute key that both systems give for some clip of ``part`` (one machine's rows of both)."""
    systems = [part[part["system"] == s] for s in ("disent", "mtl")]
    shared = [c for c in sorted(part.columns) if c.startswith("p:") and all(rows[c].notna().any() for rows in systems)]
    return ["z_score", *shared]


def type_accuracy(table: pd.DataFrame, n_resamples: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Per machine: cross-validated accuracy (%) of telling the fault type from :func:`type_features`,
    for the disentangled model and the entangled MTL model, and chance (the most frequent type).

    Only the dev sections' (00-02) anomalous test clips are used: the posteriors need the attribute
    values a clip's name states, which an eval test clip's name does not. A key the clip's name does
    not state enters as posterior 1. Returns per machine text cells ``disent`` and ``mtl`` (mean over
    seeds ± half the 95 % interval), ``chance``, ``types`` and ``features`` (the count, for each system).
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(seed)
    anomalous = table[(table["label"] == "anomaly") & table["anomaly_type"].notna()
                      & table["section"].isin(DEV_SECTIONS)]
    out = {}
    for machine, part in anomalous.groupby("machine"):
        columns = type_features(part)
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
                features = run[columns].fillna(1.0).to_numpy(float)
                right = (cross_val_predict(model, features, y, cv=cv) == y).astype(float)
                points[s] = right.mean()
                draws[s] = right[rng.integers(0, len(right), size=(n_resamples, len(right)))].mean(axis=1)
            if points:
                cells[system] = _estimate(draws, points).text(digits=0)
        types = part.drop_duplicates("name")["anomaly_type"].value_counts(normalize=True)
        cells.update(chance=f"{100 * types.iloc[0]:.0f}", types=len(types), features=len(columns))
        out[machine] = cells
    return pd.DataFrame.from_dict(out, orient="index").reindex([m for m in MACHINES if m in out])


FALSE_ALARMS = ("false alarms", "detected anomalies")
"""The two groups of clips Disent.Cat declares anomalous that :func:`false_alarms` compares."""


def false_alarms(table: pd.DataFrame, n_resamples: int = 1000, seed: int = 0) -> pd.DataFrame:
    """The share of Disent.Cat's target-domain false alarms (target normal test clips, decision 1) that
    the explanation puts in the attribute space only (carrier "attribute"), against the same share
    among its detected anomalies (anomalous test clips, decision 1), per machine and over all machines.

    The interval resamples, per seed, the clips of each group with replacement within the group, and
    then the seeds (:func:`_estimate`); the difference (false alarms minus detected anomalies) is
    paired by seed. A seed with no clip in one of the groups enters no share. ``table``: rows as
    :func:`explanation_tables` gives them (system, machine, seed, domain, label, decision, carrier).

    Returns one row per machine and ``all machines``: ``<group> per seed`` (the counts, in seed
    order), ``<group>: attribute only (%)`` and ``difference (points)`` (texts, mean ± half the 95 %
    interval), and the difference as fractions ``difference``, ``low``, ``high``.
    """
    rng = np.random.default_rng(seed)
    disent = table[table["system"] == "disent"]
    declared = disent["decision"] == 1
    groups = dict(zip(FALSE_ALARMS, (declared & (disent["domain"] == "target") & (disent["label"] == "normal"),
                                     declared & (disent["label"] == "anomaly"))))
    out = {}
    for machine, index in [*disent.groupby("machine").groups.items(), ("all machines", disent.index)]:
        part = disent.loc[index]
        row = {f"{g} per seed": ", ".join(str(int(n)) for n in mask[index].groupby(part["seed"]).sum())
               for g, mask in groups.items()}
        points = {g: {} for g in (*FALSE_ALARMS, "difference")}
        draws = {g: {} for g in points}
        for s, run in part.groupby("seed"):
            attribute_only = {g: (run.loc[mask[run.index], "carrier"] == "attribute").to_numpy(float)
                              for g, mask in groups.items()}
            if min(map(len, attribute_only.values())) == 0:
                continue
            for g, values in attribute_only.items():
                points[g][s] = values.mean()
                draws[g][s] = values[rng.integers(0, len(values), size=(n_resamples, len(values)))].mean(axis=1)
            points["difference"][s] = points[FALSE_ALARMS[0]][s] - points[FALSE_ALARMS[1]][s]
            draws["difference"][s] = draws[FALSE_ALARMS[0]][s] - draws[FALSE_ALARMS[1]][s]
        estimates = {g: _estimate(draws[g], points[g]) for g in points}
        for g in FALSE_ALARMS:
            row[f"{g}: attribute only (%)"] = estimates[g].text(digits=0)
        difference = estimates["difference"]
        row.update({"difference (points)": difference.text(digits=0, sign=True), "difference": difference.mean,
                    "low": difference.low, "high": difference.high})
        out[machine] = row
    order = [m for m in MACHINES if m in out] + ["all machines"]
    return pd.DataFrame.from_dict(out, orient="index").reindex(order)


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
