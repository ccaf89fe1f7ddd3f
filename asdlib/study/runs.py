"""Reading a study folder: one run folder per (system, machine, seed), ``STUDY/<system>/<machine>/seed<k>/``.

Each run folder holds what :func:`asdlib.inference.score_run` wrote: ``results/<rule>/<mode>/summary.json``
(the checkpoint each rule chose for each mode) and ``scored/epoch_scores.npz`` with ``scored/clips.csv``
(every clip's score in every mode at every scored checkpoint). :func:`collect_scores` turns a study into
one table with a row per (table row, seed, clip), the input of everything else in :mod:`asdlib.study`.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from asdlib.inference import embeddings_path, epoch_scores_path, results_path, scored_path
from asdlib.study.rows import ROW_NAMES

SCORE_COLUMNS = ["row", "system", "mode", "machine", "seed", "epoch", "split", "section", "name", "domain",
                 "label", "score"]


def seed_folder(run_base: str | Path, seed: int) -> Path:
    """The run folder of ``seed`` under a (system, machine) folder."""
    return Path(run_base) / f"seed{seed}"


def summaries(study_dir: str | Path, rule: str) -> list[tuple[Path, dict]]:
    """``(run folder, summary)`` of every scored mode under checkpoint ``rule``, in a stable order."""
    out = []
    for path in sorted(Path(study_dir).glob(f"*/*/seed*/results/{rule}/*/summary.json")):
        if not any(part.startswith(".") for part in path.relative_to(study_dir).parts):  # not a staging folder
            out.append((path.parents[3], json.loads(path.read_text())))
    if not out:
        raise FileNotFoundError(f"{study_dir}: no <system>/<machine>/seed<k>/results/{rule}/<mode>/summary.json")
    return out


def clips(run: str | Path) -> pd.DataFrame:
    """A run's clip table (``scored/clips.csv``), in the order of its score arrays; attributes as JSON text."""
    return pd.read_csv(scored_path(run) / "clips.csv", dtype={"section": str})


def epoch_scores(run: str | Path) -> tuple[list[int], dict[str, np.ndarray]]:
    """The checkpoints a run was scored at, and per mode its (n_checkpoints, n_clips) scores."""
    saved = np.load(epoch_scores_path(run))
    return saved["epochs"].tolist(), {k: saved[k] for k in saved.files if k != "epochs"}


def result_scores(run: str | Path, rule: str, mode: str, table: pd.DataFrame | None = None) -> pd.DataFrame:
    """The clip scores a run's result folder holds: its official anomaly score files (test clips) and
    ``train_scores.csv`` (training clips, leave-one-out), with each clip's split, section, name,
    domain and label (from ``scored/clips.csv``, or ``table`` when given)."""
    from asdlib.metrics import anomaly_score_file_name, read_score_csv

    run = Path(run)
    folder = results_path(run, rule, mode)
    table = clips(run) if table is None else table
    scores = dict(pd.read_csv(folder / "train_scores.csv", dtype={"section": str})[["name", "score"]].itertuples(
        index=False, name=None))
    machine = run.parent.name
    for section in table.loc[table["split"] == "test", "section"].unique():
        scores.update(read_score_csv(folder / anomaly_score_file_name(machine, section)))
    out = table[["split", "section", "name", "domain", "label"]].copy()
    out["score"] = out["name"].map(scores)
    if out["score"].isna().any():
        missing = out.loc[out["score"].isna(), "name"].head(3).tolist()
        raise ValueError(f"{folder}: no score for clips of the run's clip table, e.g. {missing}")
    return out


def collect_scores(study_dir: str | Path, rule: str = "last", every_mode: bool = False) -> pd.DataFrame:
    """Every clip's score of every run and mode under checkpoint ``rule``: columns :data:`SCORE_COLUMNS`.

    Read from each result folder (:func:`result_scores`): test clips carry their test score, training
    clips (``split`` "train") their leave-one-out score (the decision threshold's, and what makes two
    systems' scores comparable in an ensemble). Modes the paper has no row for (each attribute space
    of ``disent_split`` alone) are left out unless ``every_mode``; they are then named ``system:mode``.
    """
    frames, tables = [], {}
    for run, s in summaries(study_dir, rule):
        key = (s["system"], s["mode"])
        if key not in ROW_NAMES and not every_mode:
            continue
        if run not in tables:
            tables[run] = clips(run)
        frames.append(result_scores(run, rule, s["mode"], tables[run]).assign(
            row=ROW_NAMES.get(key, f"{key[0]}:{key[1]}"), system=s["system"], mode=s["mode"], machine=s["machine"],
            seed=int(s["config"]["seed"]), epoch=s["checkpoint"]["epoch"]))
    if not frames:
        raise FileNotFoundError(f"{study_dir}: no scored mode of a table row under rule {rule!r}")
    return pd.concat(frames, ignore_index=True)[SCORE_COLUMNS]


def run_embeddings(run: str | Path, rule: str, mode: str) -> tuple[dict[str, np.ndarray], pd.DataFrame] | None:
    """The pooled embeddings of every clip of a run at the checkpoint that ``rule`` chose for ``mode``,
    and the run's clip table (attributes as dicts). None if the run has no such result."""
    run = Path(run)
    summary = results_path(run, rule, mode) / "summary.json"
    if not summary.is_file():
        return None
    epoch = json.loads(summary.read_text())["checkpoint"]["epoch"]
    table = clips(run)
    table["attributes"] = table["attributes"].map(json.loads)
    return dict(np.load(embeddings_path(run, epoch))), table


# --------------------------------------------------------------------------------------------
# A small study for notebooks run on their own (Colab)
# --------------------------------------------------------------------------------------------
def run_durations(study_dir: str | Path) -> pd.DataFrame:
    """The wall time of every executed run notebook of a study (papermill's record): columns system,
    machine, seconds; empty when the study was run another way."""
    rows = []
    for nb in sorted(Path(study_dir).glob("*/*.ipynb")):
        meta = json.loads(nb.read_text(encoding="utf-8")).get("metadata", {}).get("papermill", {})
        if meta.get("duration") is not None:
            rows.append({"system": nb.parent.name, "machine": nb.stem, "seconds": float(meta["duration"])})
    return pd.DataFrame(rows, columns=["system", "machine", "seconds"])


def run_small_study(folder: str | Path, systems=("disent", "mtl"), machines=("fan",), scale: str = "smoke",
                    seeds=(0,)) -> tuple[str, str, str]:
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
            for seed in seeds:
                run = seed_folder(study / system / machine, seed)
                if (run / "results").exists():
                    continue
                config = RunConfig.create(system, machine, data, scale, seed=seed, truth_dir=data / "eval_truth")
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
