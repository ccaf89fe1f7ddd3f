"""The study: collect every run's result files and build the paper's Tables 2-4 from them.

A study folder holds one run folder per (system, machine), ``STUDY/<system>/<machine>/``, each with
``results/<mode>/summary.json`` (:mod:`asdlib.inference`). Tables are built only from those files,
never from typed-in numbers; the paper's own numbers come from ``book/paper_results.csv`` and are
shown beside ours. Imports no torch.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from asdlib.metrics import harmonic_mean
from asdlib.names import MACHINES

METRICS = ("auc_source", "auc_target", "pauc")

# (system, inference mode) of a run -> the row name of the paper's tables.
ROW_NAMES = {
    ("disent", "wt"): "Disent.Wt",
    ("disent", "cat"): "Disent.Cat",
    ("disent", "sec"): "Disent.Sec",
    ("disent", "att"): "Disent.Att",
    ("disent_split", "cat"): "Disent.Split",
    ("mtl", "mtl"): "MTL",
    ("adversarial", "section"): "Adversarial",
    ("sec_arcface", "section"): "Sec_ArcFace",
    ("sec_softmax", "section"): "Sec_Softmax",
}
ROW_ORDER = ["MSL+ANP", "MSL", "Disent.Wt", "Disent.Cat", "Disent.Sec", "Disent.Att", "Disent.Split",
             "MTL", "Adversarial", "Sec_ArcFace", "Sec_Softmax", "ANP-Boot", "AE baseline", "MN baseline"]


def collect(study_dir: str | Path) -> pd.DataFrame:
    """One row per (run, mode, section): the tidy table every artefact is built from.

    Columns: row (paper row name, or ``system:mode`` for modes the paper has no row for), system,
    mode, machine, section, set ('dev'/'eval'), auc_source, auc_target, pauc, epoch, rule.
    """
    records = []
    for path in sorted(Path(study_dir).glob("*/*/results/*/summary.json")):
        s = json.loads(path.read_text())
        row = ROW_NAMES.get((s["system"], s["mode"]), f"{s['system']}:{s['mode']}")
        for sec in s["sections"]:
            records.append({"row": row, "system": s["system"], "mode": s["mode"], "machine": s["machine"],
                            "section": sec["section"], "set": "dev" if int(sec["section"]) < 3 else "eval",
                            **{m: sec[m] for m in METRICS}, "epoch": s["checkpoint"]["epoch"],
                            "rule": s["checkpoint"]["rule"]})
    if not records:
        raise FileNotFoundError(f"{study_dir}: no results/*/summary.json under <system>/<machine>/")
    return pd.DataFrame.from_records(records)


def _ordered(table: pd.DataFrame) -> pd.DataFrame:
    known = [r for r in ROW_ORDER if r in table.index]
    return table.loc[known + sorted(set(table.index) - set(known))]


def table2(results: pd.DataFrame) -> pd.DataFrame:
    """Table 2 (development set): per machine the harmonic mean of its 9 values (3 sections x AUC (S),
    AUC (T), pAUC); per metric the harmonic mean of its 21 values over all machines; and the overall
    harmonic mean of all 63 (the official score). Rows: systems; a machine without results is NaN."""
    return _summary(results[results["set"] == "dev"])


def table3(results: pd.DataFrame) -> pd.DataFrame:
    """Table 3 (evaluation set, sections 03-05): per machine AUC (harmonic mean of the 6 AUC (S) and
    AUC (T) values) and pAUC (of its 3 values), and the official score over all machines."""
    ev = results[results["set"] == "eval"]
    out = {}
    for row, part in ev.groupby("row"):
        cells = {}
        for machine in MACHINES:
            m = part[part["machine"] == machine]
            if len(m):
                cells[(machine, "AUC")] = harmonic_mean(np.r_[m["auc_source"], m["auc_target"]])
                cells[(machine, "pAUC")] = harmonic_mean(m["pauc"])
        cells[("all", "score")] = harmonic_mean(np.r_[part["auc_source"], part["auc_target"], part["pauc"]])
        out[row] = cells
    table = pd.DataFrame.from_dict(out, orient="index")
    table.columns = pd.MultiIndex.from_tuples(table.columns)
    return _ordered(table)


def _summary(part: pd.DataFrame) -> pd.DataFrame:
    out = {}
    for row, rows in part.groupby("row"):
        cells = {machine: harmonic_mean(rows.loc[rows["machine"] == machine, list(METRICS)].to_numpy().ravel())
                 for machine in MACHINES if (rows["machine"] == machine).any()}
        cells.update({"AUC (S)": harmonic_mean(rows["auc_source"]), "AUC (T)": harmonic_mean(rows["auc_target"]),
                      "pAUC": harmonic_mean(rows["pauc"]),
                      "hmean": harmonic_mean(rows[list(METRICS)].to_numpy().ravel())})
        out[row] = cells
    table = pd.DataFrame.from_dict(out, orient="index")
    return _ordered(table[[c for c in list(MACHINES) + ["AUC (S)", "AUC (T)", "pAUC", "hmean"] if c in table]])


# --------------------------------------------------------------------------------------------
# Selection and tuned weights (Table 4)
# --------------------------------------------------------------------------------------------
def machine_hmeans(results: pd.DataFrame, which: str) -> pd.DataFrame:
    """Harmonic mean of each (row, machine) over its sections of ``which`` set: rows x machines."""
    part = results[results["set"] == which]
    return part.groupby(["row", "machine"])[list(METRICS)].apply(
        lambda g: harmonic_mean(g.to_numpy().ravel())).unstack("machine")


def model_selection(results: pd.DataFrame, candidates: list[str] | None = None) -> pd.DataFrame:
    """MSL (Table 4, S1): per machine, the row with the best development-set harmonic mean.

    Returns one row per machine: chosen row, its dev and eval harmonic means.
    """
    dev, ev = machine_hmeans(results, "dev"), machine_hmeans(results, "eval")
    if candidates is not None:
        dev = dev.loc[[c for c in candidates if c in dev.index]]
    rows = []
    for machine in dev.columns:
        best = dev[machine].idxmax()
        rows.append({"machine": machine, "chosen": best, "dev": dev.loc[best, machine],
                     "eval": ev.loc[best, machine] if best in ev.index and machine in ev.columns else np.nan})
    return pd.DataFrame(rows).set_index("machine")


def tune_disent_weights(run_dir: str | Path, grid=np.linspace(0, 1, 11)) -> pd.DataFrame:
    """Disent.Wt (Table 4, S4): score a ``disent`` run with w_S + w_A = 1 on a grid (Eq. 5).

    Reads the run's pooled embeddings (``embeddings.npz``, ``clips.csv``); returns one row per w_S
    with the dev and eval harmonic means (the eval numbers are reported, never used for the choice).
    """
    from asdlib.metrics import section_metrics
    from asdlib.scoring import SpaceScorer

    run_dir = Path(run_dir)
    emb = dict(np.load(run_dir / "embeddings.npz"))
    clips = pd.read_csv(run_dir / "clips.csv", dtype={"section": str})
    train = (clips["split"] == "train").to_numpy()
    test = clips[~train].reset_index(drop=True)
    rows = []
    for w in grid:
        scorer = SpaceScorer("wt", weights=(float(w), 1.0 - float(w))).fit(
            {k: v[train] for k, v in emb.items()}, clips.loc[train, "section"].to_numpy())
        scores = scorer.score({k: v[~train] for k, v in emb.items()}, test["section"].to_numpy())
        values = {"dev": [], "eval": []}
        for section, part in test.groupby("section"):
            if part["label"].isna().any():
                continue
            m = section_metrics((part["label"] == "anomaly").to_numpy().astype(int), scores[part.index],
                                part["domain"].to_numpy())
            values["dev" if int(section) < 3 else "eval"] += [m[k] for k in METRICS]
        rows.append({"w_S": round(float(w), 3), "w_A": round(1.0 - float(w), 3),
                     **{k: harmonic_mean(v) if v else np.nan for k, v in values.items()}})
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------
# Paper beside here
# --------------------------------------------------------------------------------------------
def paper_numbers(path: str | Path, table: str) -> pd.DataFrame:
    """The paper's numbers of ``table`` ('table2', 'table3') from ``book/paper_results.csv``
    (columns: table, row, column, value, source) as a rows x columns frame (may be empty)."""
    frame = pd.read_csv(path, comment="#")
    part = frame[frame["table"] == table]
    if part.empty:
        return pd.DataFrame()
    return part.pivot_table(index="row", columns="column", values="value", aggfunc="first")


def beside(here: pd.DataFrame, paper: pd.DataFrame, digits: int = 3) -> pd.DataFrame:
    """Cells 'here (paper)' for display; '-' where the paper gives no number."""
    def cell(row, column):
        value = here.loc[row, column]
        ours = "" if pd.isna(value) else f"{value:.{digits}f}"
        theirs = paper.loc[row, column] if (row in paper.index and column in paper.columns) else np.nan
        return f"{ours} ({theirs:.{digits}f})" if not pd.isna(theirs) else f"{ours} (-)"
    return pd.DataFrame({c: [cell(r, c) for r in here.index] for c in here.columns}, index=here.index)
