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
    ("disent", "wt"): "Disent.Wt (0.5/0.5)",
    ("disent", "cat"): "Disent.Cat",
    ("disent", "cat_norm"): "Disent.Cat (norm.)",
    ("disent", "sec"): "Disent.Sec",
    ("disent", "att"): "Disent.Att",
    ("disent_split", "cat"): "Disent.Split",
    ("mtl", "mtl"): "MTL",
    ("adversarial", "section"): "Adversarial",
    ("sec_arcface", "section"): "Sec_ArcFace",
    ("sec_softmax", "section"): "Sec_Softmax",
    ("anp", "score"): "ANP-Boot",
    ("ae", "score"): "AE baseline",
    ("mn", "score"): "MN baseline",
}
TUNED = ("MSL+ANP", "MSL", "Disent.Wt")  # rows chosen or weighted on the development set (Table 4)
# the systems MSL chooses from: the paper's own MobileFaceNet systems (not ANP or the baselines)
MSL_CANDIDATES = ("Disent.Cat", "Disent.Sec", "Disent.Att", "Disent.Split", "MTL", "Adversarial",
                  "Sec_ArcFace", "Sec_Softmax")
ROW_ORDER = ["MSL+ANP", "MSL", "Disent.Wt", "Disent.Wt (0.5/0.5)", "Disent.Cat", "Disent.Cat (norm.)", "Disent.Sec", "Disent.Att",
             "Disent.Split", "MTL", "Adversarial", "Sec_ArcFace", "Sec_Softmax", "ANP-Boot", "AE baseline",
             "MN baseline"]


def collect(study_dir: str | Path, every_mode: bool = False) -> pd.DataFrame:
    """One row per (run, mode, section): the tidy table every artefact is built from.

    Columns: row (the paper's row name), system, mode, machine, section, set ('dev'/'eval'),
    auc_source, auc_target, pauc, epoch, rule. Modes the paper has no row for (each attribute space
    of ``disent_split`` alone) are left out unless ``every_mode``; they are then named ``system:mode``.
    """
    records = []
    for path in sorted(Path(study_dir).glob("*/*/results/*/summary.json")):
        s = json.loads(path.read_text())
        if (s["system"], s["mode"]) not in ROW_NAMES and not every_mode:
            continue
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
    """Table 3 (evaluation set, sections 03-05): per machine "<machine> AUC" (harmonic mean of its 6
    AUC (S) and AUC (T) values) and "<machine> pAUC" (of its 3 values), and "score", the official
    score over all machines (harmonic mean of all AUC (S), AUC (T) and pAUC values)."""
    ev = results[results["set"] == "eval"]
    out = {}
    for row, part in ev.groupby("row"):
        cells = {}
        for machine in MACHINES:
            m = part[part["machine"] == machine]
            if len(m):
                cells[f"{machine} AUC"] = harmonic_mean(np.r_[m["auc_source"], m["auc_target"]])
                cells[f"{machine} pAUC"] = harmonic_mean(m["pauc"])
        cells["score"] = harmonic_mean(np.r_[part["auc_source"], part["auc_target"], part["pauc"]])
        out[row] = cells
    return _ordered(pd.DataFrame.from_dict(out, orient="index"))


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


def _run_folder(study_dir, row: str, machine: str) -> tuple[Path, str]:
    system, mode = next(key for key, name in ROW_NAMES.items() if name == row)
    return Path(study_dir) / system / machine, mode


def _test_clips(run: Path) -> pd.DataFrame:
    clips = pd.read_csv(run / "clips.csv", dtype={"section": str})
    return clips[clips["split"] == "test"].reset_index(drop=True)


def _section_rows(test: pd.DataFrame, scores: np.ndarray, row: str, machine: str) -> list[dict]:
    """Per-section metric records (as :func:`collect` gives) of ``scores`` (aligned with ``test``)."""
    from asdlib.metrics import labelled_section_metrics

    return [{"row": row, "machine": machine, "set": "dev" if int(r["section"]) < 3 else "eval", **r}
            for r in labelled_section_metrics(test, scores)]


def _hmean_of(records: list[dict], which: str) -> float:
    values = [r[m] for r in records if r["set"] == which for m in METRICS]
    return harmonic_mean(values) if values else np.nan


def _standardised_scores(run: Path, mode: str, test: pd.DataFrame) -> np.ndarray:
    """A run's test scores, standardised per section by the mean and standard deviation of its own
    training-clip scores (``train_scores.csv``): this makes two systems' scores comparable without
    looking at any test label (used by the MSL+ANP ensemble)."""
    from asdlib.metrics import anomaly_score_file_name, read_score_csv

    folder = run / "results" / mode.replace(":", "-")
    train = pd.read_csv(folder / "train_scores.csv", dtype={"section": str})
    out = np.empty(len(test))
    for section, part in test.groupby("section"):
        raw = read_score_csv(folder / anomaly_score_file_name(run.name, section))
        ref = train.loc[train["section"] == section, "score"]
        out[part.index] = (np.array([raw[n] for n in part["name"]]) - ref.mean()) / max(ref.std(), 1e-12)
    return out


def tune_disent_weights(run_dir: str | Path, grid=np.linspace(0, 1, 11)) -> tuple[float, pd.DataFrame]:
    """Disent.Wt (Table 4, S4): w_S of Eq. 5 (w_A = 1 - w_S) chosen on the development set.

    Scores a ``disent`` run's pooled embeddings (``embeddings.npz``, ``clips.csv``) for each w_S of
    ``grid``; returns the chosen w_S and a frame of per-section records for every w_S (column
    ``w_S``); the evaluation set's numbers are reported, never used for the choice.
    """
    from asdlib.scoring import SpaceScorer

    run_dir = Path(run_dir)
    emb = dict(np.load(run_dir / "embeddings.npz"))
    clips = pd.read_csv(run_dir / "clips.csv", dtype={"section": str})
    train = (clips["split"] == "train").to_numpy()
    test = clips[~train].reset_index(drop=True)
    # the two spaces' nearest-neighbour distances do not depend on the weights: compute them once
    distances = {}
    for mode in ("sec", "att"):
        scorer = SpaceScorer(mode).fit({k: v[train] for k, v in emb.items()}, clips.loc[train, "section"].to_numpy())
        distances[mode] = scorer.score({k: v[~train] for k, v in emb.items()}, test["section"].to_numpy())
    records, dev = [], {}
    for w in np.round(grid, 3):
        scores = float(w) * distances["sec"] + (1.0 - float(w)) * distances["att"]  # Eq. (5)
        rows = _section_rows(test, scores, "Disent.Wt", run_dir.name)
        dev[float(w)] = _hmean_of(rows, "dev")
        records += [{**r, "w_S": float(w)} for r in rows]
    return max(dev, key=dev.get), pd.DataFrame(records)


def tuned_systems(study_dir: str | Path, results: pd.DataFrame, grid=np.linspace(0, 1, 11)):
    """The development-set-tuned rows of Tables 2-3 and the choices of Table 4.

    * MSL (S1): per machine, the single-system row with the best dev harmonic mean;
    * Disent.Wt (S4): per machine, w_S of Eq. 5 chosen on dev (:func:`tune_disent_weights`);
    * MSL+ANP (S2): per machine, ``(1 - a) * MSL + a * ANP`` on standardised scores
      (:func:`_standardised_scores`), ``a`` chosen on dev from ``grid``.

    Returns ``(records, choices)``: per-section records for these rows (append them to
    :func:`collect`'s frame) and one row per machine with the choices.
    """
    base = results[~results["row"].isin(TUNED)]
    msl = model_selection(base, candidates=list(MSL_CANDIDATES))
    records, choices = [], []
    for machine in sorted(base["machine"].unique()):
        choice = {"machine": machine}
        if machine in msl.index:
            chosen = msl.loc[machine, "chosen"]
            choice["MSL"] = chosen
            part = base[(base["row"] == chosen) & (base["machine"] == machine)]
            records += [{**r, "row": "MSL"} for r in part.to_dict("records")]
        disent = Path(study_dir) / "disent" / machine
        if (disent / "embeddings.npz").exists():
            w, table = tune_disent_weights(disent, grid)
            choice.update({"w_S": w, "w_A": round(1 - w, 3)})
            records += table[table["w_S"] == w].drop(columns="w_S").to_dict("records")
        anp = Path(study_dir) / "anp" / machine
        if "MSL" in choice and (anp / "results").exists():
            run, mode = _run_folder(study_dir, choice["MSL"], machine)
            test = _test_clips(run)
            a_scores = _standardised_scores(run, mode, test)
            b_scores = _standardised_scores(anp, "score", test)
            tries = {float(a): _section_rows(test, (1 - a) * a_scores + a * b_scores, "MSL+ANP", machine)
                     for a in np.round(grid, 3)}
            best = max(tries, key=lambda a: _hmean_of(tries[a], "dev"))
            choice["ANP weight"] = best
            records += tries[best]
        choices.append(choice)
    return pd.DataFrame(records), pd.DataFrame(choices).set_index("machine")


def load_study(study_dir: str | Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every row of Tables 2-3 (the runs' rows plus the tuned ones) and the Table 4 choices."""
    results = collect(study_dir)
    tuned, choices = tuned_systems(study_dir, results)
    return pd.concat([results, tuned], ignore_index=True), choices


def tuning_gains(results: pd.DataFrame) -> pd.DataFrame:
    """The paper's lesson, checked: does a gain found by tuning on dev carry over to eval?

    For each tuned row, its official score (harmonic mean over machines and sections) on dev and on
    eval, minus that of an untuned reference from the same runs: Disent.Wt against Disent.Wt
    (0.5/0.5); MSL against the candidate system (:data:`MSL_CANDIDATES`) with the best overall dev
    score, one system for every machine; MSL+ANP against MSL.
    """
    def score(row, which):
        part = results[(results["row"] == row) & (results["set"] == which)]
        return harmonic_mean(part[list(METRICS)].to_numpy().ravel()) if len(part) else np.nan

    singles = [r for r in MSL_CANDIDATES if r in set(results["row"])]
    best_single = max(singles, key=lambda r: score(r, "dev")) if singles else None
    references = {"Disent.Wt": "Disent.Wt (0.5/0.5)", "MSL": best_single, "MSL+ANP": "MSL"}
    rows = []
    for tuned, ref in references.items():
        if ref is None or tuned not in set(results["row"]):
            continue
        rows.append({"tuned": tuned, "reference": ref,
                     "dev gain": score(tuned, "dev") - score(ref, "dev"),
                     "eval gain": score(tuned, "eval") - score(ref, "eval")})
    return pd.DataFrame(rows).set_index("tuned")


# --------------------------------------------------------------------------------------------
# A small study for notebooks run on their own (Colab)
# --------------------------------------------------------------------------------------------
def run_small_study(folder: str | Path, systems=("disent", "mtl"), machines=("fan",),
                    scale: str = "smoke") -> tuple[str, str, str]:
    """Generate a synthetic set and train + score ``systems`` on ``machines`` under ``folder``.

    Returns ``(study_dir, data_root, truth_dir)``; what already exists is reused.
    """
    from asdlib.inference import score_run
    from asdlib.scales import get_scale
    from asdlib.synth import generate
    from asdlib.train import RunConfig, train

    folder = Path(folder).resolve()
    data = folder / "data"
    if not data.exists():
        generate(data, get_scale(scale).synth, machines=tuple(machines), progress=False)
    study = folder / "study"
    for system in systems:
        for machine in machines:
            run = study / system / machine
            if (run / "results").exists():
                continue
            config = RunConfig.create(system, machine, data, scale, truth_dir=data / "eval_truth")
            train(config, run, progress=False)
            score_run(run, progress=False)
    return str(study), str(data), str(data / "eval_truth")


def ensure_study(study_dir: str, data_root: str, truth_dir: str, machines: str, systems=("disent", "mtl")):
    """A chapter notebook's inputs: the given study, or a small one made here when none is given.

    Returns ``(study_dir, data_root, truth_dir, machines)``.
    """
    if study_dir:
        return study_dir, data_root, truth_dir, machines
    return (*run_small_study("asdlib-small-study", systems=systems, machines=("fan",)), "fan")


# --------------------------------------------------------------------------------------------
# Paper beside here
# --------------------------------------------------------------------------------------------
def paper_numbers(path: str | Path, table: str) -> pd.DataFrame:
    """The paper's numbers of ``table`` ('table2', 'table3') from ``book/paper_results.csv``
    (columns: table, row, column, value, source) as a rows x columns frame (may be empty)."""
    frame = pd.read_csv(path, comment="#", dtype=str)
    part = frame[frame["table"] == table]
    if part.empty:
        return pd.DataFrame()
    if table != "table4":  # tables 2-3 hold numbers; table 4 names systems and weights
        part = part.assign(value=pd.to_numeric(part["value"]))
    return part.pivot_table(index="row", columns="column", values="value", aggfunc="first")


def setting_caption(results: pd.DataFrame, data_root: str, scale: str, paper: pd.DataFrame) -> str:
    """The sentence every table's caption carries: data set, scale, checkpoint rule, paper column."""
    data = "the synthetic stand-in" if (Path(data_root) / "synth.json").exists() else f"the data at `{data_root}`"
    setting = "the paper's settings" if scale == "paper" else "a reduced setting, see *Reproducing*"
    rules = ", ".join(sorted(results["rule"].dropna().unique()))
    text = f"Measured on {data} at the `{scale}` scale ({setting}); checkpoint rule: {rules}. "
    if paper.empty:
        text += ("The paper's numbers are not entered yet (`book/paper_results.csv`), so only the numbers "
                 "measured here are shown.")
    else:
        text += "Cells read *here (paper)*."
    if "synthetic" in data:
        text += " Numbers on the synthetic stand-in are not comparable with the paper's."
    return text


def beside(here: pd.DataFrame, paper: pd.DataFrame, digits: int = 3) -> pd.DataFrame:
    """Cells 'here (paper)' for display; '-' where the paper gives no number. With no paper numbers
    at all, just ours, rounded."""
    if paper.empty:
        return here.round(digits)

    def cell(row, column):
        value = here.loc[row, column]
        ours = "" if pd.isna(value) else f"{value:.{digits}f}"
        theirs = paper.loc[row, column] if (row in paper.index and column in paper.columns) else np.nan
        return f"{ours} ({theirs:.{digits}f})" if not pd.isna(theirs) else f"{ours} (-)"
    return pd.DataFrame({c: [cell(r, c) for r in here.index] for c in here.columns}, index=here.index)
