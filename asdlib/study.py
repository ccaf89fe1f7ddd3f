"""The study: collect every run's result files and build the paper's Tables 2-4 from them.

A study folder holds one run folder per (system, machine), ``STUDY/<system>/<machine>/``, each with
``results/<rule>/<mode>/summary.json`` per checkpoint rule and inference mode (:mod:`asdlib.inference`).
Tables are built only from those files, never from typed-in numbers. Our rows carry the paper's row
names, so that the paper's own numbers (``book/paper_results.csv``, a copy of
``shared/paper/tables.csv``) sit beside ours by name. Imports no torch.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from asdlib.inference import embeddings_path, scored_path
from asdlib.metrics import harmonic_mean, labelled_section_metrics
from asdlib.names import MACHINES

METRICS = ("auc_source", "auc_target", "pauc")

# (system, inference mode) of a run -> the row name of the paper's tables (the paper's spelling).
ROW_NAMES = {
    ("disent", "wt"): "Disent.Wt (0.5/0.5)",
    ("disent", "cat"): "Disent.Cat (S3)",
    ("disent", "cat_norm"): "Disent.Cat (norm.)",
    ("disent", "sec"): "Disent.Sec",
    ("disent", "att"): "Disent.Att",
    ("disent_split", "cat"): "Disent.Split",
    ("mtl", "mtl"): "MTL",
    ("adversarial", "section"): "Adversarial",
    ("sec_arcface", "section"): "Sec_ArcFace",
    ("sec_softmax", "section"): "Sec_Softmax",
    ("anp", "score"): "ANP-Boot",
    ("ae", "score"): "AE Baseline",
    ("mn", "score"): "MN Baseline",
}
MSL, MSL_ANP, DISENT_WT = "MSL (S1)", "MSL+ANP (S2)", "Disent.Wt (S4)"
TUNED = (MSL_ANP, MSL, DISENT_WT)  # rows chosen or weighted on the development set (Table 4)
# the systems MSL chooses from: the paper's own MobileFaceNet systems (not ANP or the baselines)
MSL_CANDIDATES = ("Disent.Cat (S3)", "Disent.Sec", "Disent.Att", "Disent.Split", "MTL", "Adversarial",
                  "Sec_ArcFace", "Sec_Softmax")
ROW_ORDER = [MSL_ANP, MSL, DISENT_WT, "Disent.Wt (0.5/0.5)", "Disent.Cat (S3)", "Disent.Cat (norm.)",
             "Disent.Sec", "Disent.Att", "Disent.Split", "MTL", "Adversarial", "Sec_ArcFace", "Sec_Softmax",
             "ANP-Boot", "AE Baseline", "MN Baseline"]
# Table 4 names the MSL choice in its own words; the numbers of Tables 2 and 4 identify them
# (e.g. bearing: MSL (S1) = Sec_Softmax = 73.93).
TABLE4_NAMES = {"Disent.Cat (S3)": "Disent.Cat", "Sec_Softmax": "Sections only", "Sec_ArcFace": "ArcFace"}
GRID = np.round(np.arange(0, 21) * 0.05, 2)
"""Weights tried by the tuned systems: steps of 0.05, as the paper's Table 4 values imply."""


def collect(study_dir: str | Path, rule: str = "last", every_mode: bool = False) -> pd.DataFrame:
    """One row per (run, mode, section) under checkpoint ``rule``: the tidy table every artefact is built from.

    Columns: row (the paper's row name), system, mode, machine, seed, section, set ('dev'/'eval'),
    auc_source, auc_target, pauc, epoch, rule. Modes the paper has no row for (each attribute space
    of ``disent_split`` alone) are left out unless ``every_mode``; they are then named ``system:mode``.
    """
    records = []
    for path in sorted(Path(study_dir).glob(f"*/*/results/{rule}/*/summary.json")):
        s = json.loads(path.read_text())
        if (s["system"], s["mode"]) not in ROW_NAMES and not every_mode:
            continue
        row = ROW_NAMES.get((s["system"], s["mode"]), f"{s['system']}:{s['mode']}")
        for sec in s["sections"]:
            records.append({"row": row, "system": s["system"], "mode": s["mode"], "machine": s["machine"],
                            "seed": s["config"]["seed"], "section": sec["section"],
                            "set": "dev" if int(sec["section"]) < 3 else "eval",
                            **{m: sec[m] for m in METRICS}, "epoch": s["checkpoint"]["epoch"],
                            "rule": s["checkpoint"]["rule"]})
    if not records:
        raise FileNotFoundError(f"{study_dir}: no results/{rule}/*/summary.json under <system>/<machine>/")
    return pd.DataFrame.from_records(records)


def _ordered(table: pd.DataFrame) -> pd.DataFrame:
    known = [r for r in ROW_ORDER if r in table.index]
    return table.loc[known + sorted(set(table.index) - set(known))]


def official(part: pd.DataFrame) -> float:
    """Harmonic mean of every AUC (S), AUC (T) and pAUC value of ``part`` (the official score)."""
    return harmonic_mean(part[list(METRICS)].to_numpy().ravel())


def table2(results: pd.DataFrame) -> pd.DataFrame:
    """Table 2 (development set): per machine the harmonic mean of its 9 values (3 sections x AUC (S),
    AUC (T), pAUC); per metric the harmonic mean of its 21 values over all machines; and the overall
    harmonic mean of all 63 (the official score). Rows: systems; a machine without results is NaN."""
    dev = results[results["set"] == "dev"]
    out = {}
    for row, rows in dev.groupby("row"):
        cells = {machine: official(rows[rows["machine"] == machine])
                 for machine in MACHINES if (rows["machine"] == machine).any()}
        cells.update({"AUC (S)": harmonic_mean(rows["auc_source"]), "AUC (T)": harmonic_mean(rows["auc_target"]),
                      "pAUC": harmonic_mean(rows["pauc"]), "hmean": official(rows)})
        out[row] = cells
    table = pd.DataFrame.from_dict(out, orient="index")
    return _ordered(table[[c for c in list(MACHINES) + ["AUC (S)", "AUC (T)", "pAUC", "hmean"] if c in table]])


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
        cells["score"] = official(part)
        out[row] = cells
    return _ordered(pd.DataFrame.from_dict(out, orient="index"))


# --------------------------------------------------------------------------------------------
# Selection and tuned weights (Table 4)
# --------------------------------------------------------------------------------------------
def machine_hmeans(results: pd.DataFrame, which: str) -> pd.DataFrame:
    """Harmonic mean of each (row, machine) over its sections of ``which`` set: rows x machines."""
    part = results[results["set"] == which]
    return part.groupby(["row", "machine"])[list(METRICS)].apply(official).unstack("machine")


def model_selection(results: pd.DataFrame, candidates=MSL_CANDIDATES) -> pd.Series:
    """MSL (Table 4, S1): per machine, the candidate row with the best development-set harmonic mean
    (the first in ``candidates`` order on a tie). Returns machine -> chosen row."""
    dev = machine_hmeans(results, "dev")
    dev = dev.loc[[c for c in candidates if c in dev.index]]
    return pd.Series({machine: dev[machine].idxmax() for machine in dev.columns}, name=MSL)


def run_embeddings(run: str | Path, rule: str, mode: str) -> tuple[dict[str, np.ndarray], pd.DataFrame] | None:
    """The pooled embeddings of every clip of a run at the checkpoint that ``rule`` chose for ``mode``,
    and the run's clip table (``scored/clips.csv``, attributes as dicts). None if the run has no such result."""
    run = Path(run)
    summary = run / "results" / rule / mode / "summary.json"
    if not summary.is_file():
        return None
    epoch = json.loads(summary.read_text())["checkpoint"]["epoch"]
    clips = _clips(run)
    clips["attributes"] = clips["attributes"].map(json.loads)
    return dict(np.load(embeddings_path(run, epoch))), clips


def _clips(run: Path) -> pd.DataFrame:
    """A run's clip table (``scored/clips.csv``), attributes as JSON text."""
    return pd.read_csv(scored_path(run) / "clips.csv", dtype={"section": str})


def _test_clips(run: Path) -> pd.DataFrame:
    clips = _clips(run)
    return clips[clips["split"] == "test"].reset_index(drop=True)


def _section_rows(test: pd.DataFrame, scores: np.ndarray, row: str, machine: str) -> list[dict]:
    """Per-section metric records (as :func:`collect` gives) of ``scores`` (aligned with ``test``)."""
    return [{"row": row, "machine": machine, "set": "dev" if int(r["section"]) < 3 else "eval", **r}
            for r in labelled_section_metrics(test, scores)]


def _dev_hmean(records: list[dict]) -> float:
    values = [r[m] for r in records if r["set"] == "dev" for m in METRICS]
    return harmonic_mean(values) if values else np.nan


def _standardised_scores(run: Path, rule: str, mode: str, test: pd.DataFrame) -> np.ndarray:
    """A run's test scores, standardised per section by the mean and standard deviation of its own
    training-clip scores (``train_scores.csv``): this makes two systems' scores comparable without
    looking at any test label (used by the MSL+ANP ensemble)."""
    from asdlib.metrics import anomaly_score_file_name, read_score_csv

    folder = run / "results" / rule / mode.replace(":", "-")
    train = pd.read_csv(folder / "train_scores.csv", dtype={"section": str})
    out = np.empty(len(test))
    for section, part in test.groupby("section"):
        raw = read_score_csv(folder / anomaly_score_file_name(run.name, section))
        ref = train.loc[train["section"] == section, "score"]
        out[part.index] = (np.array([raw[n] for n in part["name"]]) - ref.mean()) / max(ref.std(), 1e-12)
    return out


def tune_disent_weights(run_dir: str | Path, rule: str = "last", grid=GRID) -> tuple[int, float, pd.DataFrame]:
    """Disent.Wt (Table 4, S4): w_S of Eq. 5 (w_A = 1 - w_S) chosen on the development set.

    Eq. 5 with nearest neighbours is ``w_S d_S + w_A d_A``, the per-space distances being the
    ``sec`` and ``att`` modes' scores, which :func:`asdlib.inference.score_run` saved per checkpoint
    (``epoch_scores.npz``). Under ``rule`` "last" the last checkpoint is used; under "best_dev" the
    checkpoint is chosen together with the weight. Returns ``(epoch, w_S, records)``: the choice and
    per-section records for every (epoch, w_S) tried (columns ``epoch``, ``w_S``); the evaluation
    set's numbers are reported, never used for the choice (first best on a tie: earliest epoch,
    smallest w_S).
    """
    run_dir = Path(run_dir)
    saved = np.load(scored_path(run_dir) / "epoch_scores.npz")
    clips = _clips(run_dir)
    test_mask = (clips["split"] == "test").to_numpy()
    test = clips[test_mask].reset_index(drop=True)
    epochs = saved["epochs"].tolist() if rule == "best_dev" else saved["epochs"].tolist()[-1:]
    records, dev = [], {}
    for epoch in epochs:
        i = saved["epochs"].tolist().index(epoch)
        d_s, d_a = saved["sec"][i, test_mask], saved["att"][i, test_mask]
        for w in grid:
            rows = _section_rows(test, float(w) * d_s + (1.0 - float(w)) * d_a, DISENT_WT, run_dir.name)  # Eq. (5)
            dev[epoch, float(w)] = _dev_hmean(rows)
            records += [{**r, "epoch": epoch, "w_S": float(w)} for r in rows]
    epoch, w = max(dev, key=dev.get)
    return epoch, w, pd.DataFrame(records)


def tuned_systems(study_dir: str | Path, results: pd.DataFrame, rule: str = "last", grid=GRID):
    """The development-set-tuned rows of Tables 2-3 and the choices of Table 4.

    * MSL (S1): per machine, the single-system row with the best dev harmonic mean;
    * Disent.Wt (S4): per machine, w_S of Eq. 5 chosen on dev (:func:`tune_disent_weights`);
    * MSL+ANP (S2): per machine, ``(1 - a) * MSL + a * ANP`` on standardised scores
      (:func:`_standardised_scores`), ``a`` chosen on dev from ``grid``.

    Returns ``(records, choices)``: per-section records for these rows (append them to
    :func:`collect`'s frame) and one row per machine with the choices, in Table 4's row names.
    """
    base = results[~results["row"].isin(TUNED)]
    msl = model_selection(base)
    records, choices = [], []
    for machine in sorted(base["machine"].unique()):
        choice = {"machine": machine}
        if machine in msl.index:
            chosen = choice[MSL] = msl[machine]
            part = base[(base["row"] == chosen) & (base["machine"] == machine)]
            records += [{**r, "row": MSL} for r in part.to_dict("records")]
        disent = Path(study_dir) / "disent" / machine
        if (scored_path(disent) / "epoch_scores.npz").exists():
            epoch, w, table = tune_disent_weights(disent, rule, grid)
            choice.update({"Disent. wt. (S4) w_S": w, "Disent. wt. (S4) w_A": round(1 - w, 2)})
            best = table[(table["epoch"] == epoch) & (table["w_S"] == w)].drop(columns=["epoch", "w_S"])
            records += [{**r, "epoch": epoch, "rule": rule} for r in best.to_dict("records")]
        anp = Path(study_dir) / "anp" / machine
        if MSL in choice and (anp / "results" / rule).exists():
            system, mode = next(key for key, name in ROW_NAMES.items() if name == choice[MSL])
            run = Path(study_dir) / system / machine
            test = _test_clips(run)
            a_scores = _standardised_scores(run, rule, mode, test)
            b_scores = _standardised_scores(anp, rule, "score", test)
            tries = {float(a): _section_rows(test, (1 - a) * a_scores + a * b_scores, MSL_ANP, machine)
                     for a in grid}
            best = max(tries, key=lambda a: _dev_hmean(tries[a]))
            choice.update({"Ens. wt. (S2) MSL": round(1 - best, 2), "Ens. wt. (S2) ANP": best})
            records += [{**r, "rule": rule} for r in tries[best]]
        choices.append(choice)
    return pd.DataFrame(records), pd.DataFrame(choices).set_index("machine")


def load_study(study_dir: str | Path, rule: str = "last") -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every row of Tables 2-3 (the runs' rows plus the tuned ones) and the Table 4 choices."""
    results = collect(study_dir, rule)
    tuned, choices = tuned_systems(study_dir, results, rule)
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
        return official(part) if len(part) else np.nan

    singles = [r for r in MSL_CANDIDATES if r in set(results["row"])]
    best_single = max(singles, key=lambda r: score(r, "dev")) if singles else None
    references = {DISENT_WT: "Disent.Wt (0.5/0.5)", MSL: best_single, MSL_ANP: MSL}
    rows = []
    for tuned, ref in references.items():
        if ref is None or tuned not in set(results["row"]):
            continue
        rows.append({"tuned": tuned, "reference": ref,
                     "dev gain": score(tuned, "dev") - score(ref, "dev"),
                     "eval gain": score(tuned, "eval") - score(ref, "eval")})
    return pd.DataFrame(rows).set_index("tuned")


def checkpoint_rules(study_dir: str | Path, rows=MSL_CANDIDATES) -> pd.DataFrame:
    """The paper's checkpoint rule against ours, for the paper's single systems: the official score
    on dev and on eval with the last checkpoint and with the checkpoint chosen on dev (each mode its
    own), and what the dev choice gains on dev and keeps on eval."""
    last, best = collect(study_dir, "last"), collect(study_dir, "best_dev")
    out = {}
    for row in rows:
        a, b = last[last["row"] == row], best[best["row"] == row]
        if a.empty or b.empty:
            continue
        cells = {}
        for which in ("dev", "eval"):
            cells[f"{which}, last"] = official(a[a["set"] == which])
            cells[f"{which}, best dev"] = official(b[b["set"] == which])
            cells[f"{which} gain"] = cells[f"{which}, best dev"] - cells[f"{which}, last"]
        out[row] = cells
    return pd.DataFrame.from_dict(out, orient="index")


def adversary_summary(study_dir: str | Path) -> pd.DataFrame:
    """The adversarial runs' last training epoch per machine: section accuracy, the adversary's
    accuracy and loss, their chance levels (:func:`asdlib.data.domain_shift_prior` of the run's
    training clips), and the final reversal strength."""
    from asdlib.data import domain_shift_prior

    rows = {}
    for log_path in sorted(Path(study_dir).glob("adversarial/*/train_log.csv")):
        run, last = log_path.parent, pd.read_csv(log_path).iloc[-1]
        clips = _clips(run)
        prior = domain_shift_prior(clips.assign(attributes=clips["attributes"].map(json.loads)), run.name)
        rows[run.name] = {"section_acc": last["section_acc"], "shift_acc": last["shift_acc"],
                          "shift_chance_acc": prior["acc"], "shift_loss": last["shift_loss"],
                          "shift_chance_loss": prior["loss"], "grl_lambda": last["grl_lambda"]}
    return pd.DataFrame.from_dict(rows, orient="index")


def as_markdown(frame: pd.DataFrame) -> str:
    """A frame as a Markdown table (index dropped), so that the book renders code and maths in cells."""
    def cell(value):
        return str(value).replace("|", "\\|").replace("\n", " ")
    lines = ["| " + " | ".join(cell(c) for c in frame.columns) + " |", "|" + "---|" * len(frame.columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join(lines)


def _points(value: float) -> str:
    return f"{100 * value:+.1f}"


def departures(study_dir: str | Path, rule: str = "last") -> pd.DataFrame:
    """The departures table of the book's systems page: every place where asdlib departs from the
    paper or from the DCASE 2022 baselines, why, and what this build's runs measured of it."""
    study_dir = Path(study_dir)
    results = collect(study_dir, rule)
    measured = {}
    try:
        rules = checkpoint_rules(study_dir)
        measured["checkpoint"] = (f"best dev minus last, mean over {len(rules)} single systems: dev "
                                  f"{_points(rules['dev gain'].mean())}, eval {_points(rules['eval gain'].mean())}"
                                  " (per system: Table 4 page)")
    except FileNotFoundError:
        measured["checkpoint"] = "not in this build (no run scored with both rules)"
    rows = set(results["row"])
    if {"Disent.Cat (S3)", "Disent.Cat (norm.)"} <= rows:
        diff = {w: official(results[(results["row"] == "Disent.Cat (norm.)") & (results["set"] == w)])
                - official(results[(results["row"] == "Disent.Cat (S3)") & (results["set"] == w)]) for w in ("dev", "eval")}
        measured["cat"] = f"normalised minus raw: dev {_points(diff['dev'])}, eval {_points(diff['eval'])}"
    else:
        measured["cat"] = "not in this build (no disent run)"
    adversary = adversary_summary(study_dir)
    if len(adversary):
        measured["adversarial"] = (f"last epoch, mean over {len(adversary)} machines: adversary accuracy "
                                   f"{adversary['shift_acc'].mean():.2f} (chance {adversary['shift_chance_acc'].mean():.2f}), "
                                   f"section accuracy {adversary['section_acc'].mean():.2f}")
    else:
        measured["adversarial"] = "not in this build (no adversarial run)"
    table = [
        ("data", "the real DCASE 2022 Task 2 audio",
         "a synthetic stand-in with the real layout, names, attributes and evaluator files (`asdlib synth`)",
         "the real audio cannot be downloaded where asdlib is built; `make book DATA=...` reads the real set",
         "levels are not comparable; the ordering of systems is compared with Kendall's tau (Tables 2, 3)"),
        ("scale", "10 s clips, 990 + 10 training clips per section, 1025 STFT bins, up to 300 epochs, lr 1e-4",
         "`quick`: 4 s clips, 36 + 4 training clips per section, 129 bins, 12 epochs, lr 1e-3 (see *Reproducing*)",
         "the whole study must build on a 2-core CPU in under an hour; `SCALE=paper` runs the paper's settings",
         "not measured: the paper scale needs a GPU and the real data"),
        ("checkpoint rule", "per system, machine and mode, the checkpoint (every 5 epochs) with the best dev score",
         f"tables use `{rule}` (`make book CHECKPOINT=...`); every run is scored with both rules",
         "the paper's rule lets the dev test set choose the model; the last checkpoint uses no test label",
         measured["checkpoint"]),
        ("Disent.Cat (norm.)", "Disent.Cat: Eq. (4) on the raw concatenation [z_S; z_A]",
         "the paper's form is the Disent.Cat (S3) row; an extra row normalises each space first",
         "shows how much the spaces' relative norms matter", measured["cat"]),
        ("Adversarial", "named only", "our definition: DANN with a within-section adversary (above)",
         "the paper gives no definition", measured["adversarial"]),
        ("ANP-Boot", "named only; an ANP as in Wichern et al. 2021",
         "our definition of Boot (above); no self-attention over the context and no latent path",
         "the paper gives no definition; the CPU budget", "not measurable against the paper's (no code)"),
        ("MSL (S1)", "the best dev system per machine; its choices do not all follow from its Table 2 (Table 4 page)",
         "the best dev system of these runs among the paper's MobileFaceNet systems",
         "the paper's choices were made on runs it does not report", "our choices beside the paper's: Table 4"),
        ("MSL+ANP (S2)", "a weighted sum of the MSL and ANP scores",
         "each score standardised per section by the mean and sd of its training clips' scores first",
         "the two systems' scores live on different scales; the paper does not say how it combined them",
         "not measured"),
        ("AE and MN baselines", "one model per machine and data set (dev, eval); every window per epoch; AE 100 epochs",
         "one model per machine for all six sections; random windows or patches per epoch; fewer epochs, "
         "and for MN fewer mel bands and width 0.25, at the `quick` scale",
         "the CPU budget", "not measured"),
        ("features", "'STFT magnitude'", "log of the STFT magnitude, floor 1e-8",
         "the paper does not name the compression", "not measured"),
        ("decision threshold", "gamma fit to the training clips' nearest-neighbour scores (leave-one-out)",
         "the same for the embedding systems; AE, MN and ANP use their in-sample training scores, as the baselines do",
         "direct systems have no neighbour to leave out", "affects the decision files only, not AUC or pAUC"),
    ]
    return pd.DataFrame(table, columns=["departure", "paper / DCASE baseline", "here", "why", "measured here"])


# --------------------------------------------------------------------------------------------
# A small study for notebooks run on their own (Colab)
# --------------------------------------------------------------------------------------------
def run_small_study(folder: str | Path, systems=("disent", "mtl"), machines=("fan",),
                    scale: str = "smoke") -> tuple[str, str, str]:
    """Generate a synthetic set and train + score ``systems`` on ``machines`` under ``folder``.

    Returns ``(study_dir, data_root, truth_dir)``; what already exists is reused.
    """
    from asdlib.inference import CHECKPOINT_RULES, score_run
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
            score_run(run, rules=CHECKPOINT_RULES, progress=False)
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
def default_paper_results() -> Path:
    """``book/paper_results.csv`` of the asdlib repository: beside the package's source (a checkout or an
    editable install), or in the working folder, a parent of it, or ``asdlib-src/`` (a notebook's clone)."""
    import asdlib

    here = Path.cwd()
    for root in (Path(asdlib.__file__).resolve().parents[1], here, *here.parents, here / "asdlib-src"):
        if (root / "book" / "paper_results.csv").is_file():
            return root / "book" / "paper_results.csv"
    raise FileNotFoundError("the paper's numbers (book/paper_results.csv of the asdlib repository) were not "
                            "found; pass their path as paper_results")


def paper_numbers(path: str | Path | None, table: str) -> pd.DataFrame:
    """The paper's cells of ``table`` ('table2', 'table3', 'table4') from ``book/paper_results.csv``
    (columns: table, row, column, value, source; ``path`` empty: :func:`default_paper_results`) as a
    rows x columns frame; Tables 2-3 in %, Table 4 as text (system names and weights)."""
    frame = pd.read_csv(path or default_paper_results(), comment="#", dtype=str)
    part = frame[frame["table"] == table]
    if part.empty:
        raise ValueError(f"{path}: no cell of {table}")
    if table != "table4":
        part = part.assign(value=pd.to_numeric(part["value"]))
    return part.pivot_table(index="row", columns="column", values="value", aggfunc="first")


def paper_msl_consistency(paper_table2: pd.DataFrame, paper_table4: pd.DataFrame) -> pd.DataFrame:
    """Does the paper's MSL choice (Table 4) follow from its own Table 2?

    Per machine: the paper's choice and its Table 2 value, and the best of the paper's single
    MobileFaceNet systems in Table 2 with its value. A choice the Table 2 has no row for (Adversarial,
    Disent.Split) cannot be checked.
    """
    to_ours = {v: k for k, v in TABLE4_NAMES.items()}
    singles = [r for r in MSL_CANDIDATES if r in paper_table2.index]
    rows = []
    for machine in paper_table4.columns:
        choice = paper_table4.loc[MSL, machine]
        ours = to_ours.get(choice, choice)
        best = paper_table2.loc[singles, machine].idxmax()
        value = paper_table2.loc[ours, machine] if ours in paper_table2.index else np.nan
        rows.append({"machine": machine, "paper's MSL choice": choice, "its Table 2 value": value,
                     "best single system in Table 2": best, "best value": paper_table2.loc[best, machine],
                     "follows from Table 2": ("not checkable" if np.isnan(value)
                                              else "yes" if value >= paper_table2.loc[best, machine] else "no")})
    return pd.DataFrame(rows).set_index("machine")


def setting_caption(results: pd.DataFrame, data_root: str, scale: str) -> str:
    """The sentence every table's caption carries: data set, scale, checkpoint rule, how to read a cell."""
    data = "the synthetic stand-in" if (Path(data_root) / "synth.json").exists() else f"the data at `{data_root}`"
    setting = "the paper's settings" if scale == "paper" else "a reduced setting, see *Reproducing*"
    rules = ", ".join(sorted(results["rule"].dropna().unique()))
    text = (f"Measured on {data} at the `{scale}` scale ({setting}); checkpoint rule: {rules}. "
            "Cells read *here (paper)*, in %; the paper's numbers are from its tables, on the real data.")
    if "synthetic" in data:
        text += " Numbers on the synthetic stand-in are not comparable with the paper's in level, only in pattern."
    return text


def beside(here: pd.DataFrame, paper: pd.DataFrame, digits: int = 2) -> pd.DataFrame:
    """Cells 'here (paper)' for display, both in %: ours (fractions) times 100; '-' where either is
    missing. Rows: ours, then the paper's rows we have no result for (e.g. "Top rank")."""
    rows = list(here.index) + [r for r in paper.index if r not in here.index]

    def cell(row, column):
        ours = here.loc[row, column] if row in here.index and column in here.columns else np.nan
        theirs = paper.loc[row, column] if row in paper.index and column in paper.columns else np.nan
        left = "-" if pd.isna(ours) else f"{100 * ours:.{digits}f}"
        return f"{left} ({'-' if pd.isna(theirs) else f'{theirs:.{digits}f}'})"
    return pd.DataFrame({c: [cell(r, c) for r in rows] for c in here.columns}, index=rows)


def paper_against_here(here: pd.Series, paper: pd.Series) -> tuple[pd.DataFrame, float, float]:
    """The systems' overall scores, paper (%) against here (%), on the rows both have; and Kendall's
    tau of the two orderings with its p-value (``scipy.stats.kendalltau``)."""
    from scipy.stats import kendalltau

    both = pd.DataFrame({"paper": paper, "here": 100 * here}).dropna()
    if len(both) < 2:
        return both, np.nan, np.nan
    tau, p = kendalltau(both["paper"], both["here"])
    return both, float(tau), float(p)
