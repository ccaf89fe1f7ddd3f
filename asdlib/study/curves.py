"""Training curves of a study's runs: how far each system trained, and whether longer would help.

Per run (system, machine, seed): the training log's section accuracy per epoch (on the training
batches, ``train_log.csv``), and the development-set official score of each scored checkpoint
(``scored/epoch_scores.npz``), for the inference mode of each row of the paper's tables.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from asdlib.metrics import labelled_section_metrics, official_score
from asdlib.study.rows import ROW_NAMES
from asdlib.study.runs import clips, epoch_scores


def _runs(study_dir: str | Path):
    for log in sorted(Path(study_dir).glob("*/*/seed*/train_log.csv")):
        run = log.parent
        if not any(part.startswith(".") for part in run.relative_to(study_dir).parts):
            yield run, run.parents[1].name, run.parent.name, int(run.name[len("seed"):])


def section_accuracy(study_dir: str | Path) -> pd.DataFrame:
    """Columns system, machine, seed, epoch, section_acc: every run's training section accuracy per
    epoch (runs whose log has no section accuracy, the baselines', are left out)."""
    frames = []
    for run, system, machine, seed in _runs(study_dir):
        log = pd.read_csv(run / "train_log.csv")
        if "section_acc" in log:
            frames.append(log[["epoch", "section_acc"]].assign(system=system, machine=machine, seed=seed))
    columns = ["system", "machine", "seed", "epoch", "section_acc"]
    return pd.concat(frames, ignore_index=True)[columns] if frames else pd.DataFrame(columns=columns)


def dev_score_by_checkpoint(study_dir: str | Path) -> pd.DataFrame:
    """Columns row, system, machine, seed, epoch, official: the development-set official score (over
    the machine's dev sections) of every scored checkpoint of every run, per row of the paper's tables."""
    records = []
    for run, system, machine, seed in _runs(study_dir):
        if not (run / "scored" / "epoch_scores.npz").is_file():
            continue
        epochs, per_mode = epoch_scores(run)
        table = clips(run)
        dev = ((table["split"] == "test") & (table["section"].astype(int) < 3)).to_numpy()
        for mode, scores in per_mode.items():
            row = ROW_NAMES.get((system, mode))
            if row is None:
                continue
            for epoch, values in zip(epochs, scores):
                metrics = labelled_section_metrics(table[dev].reset_index(drop=True), values[dev])
                records.append({"row": row, "system": system, "machine": machine, "seed": seed,
                                "epoch": int(epoch), "official": official_score(metrics)})
    return pd.DataFrame(records, columns=["row", "system", "machine", "seed", "epoch", "official"])


def summary(accuracy: pd.DataFrame, scores: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Means over machines and seeds: section accuracy (system x epoch) and dev official score (row x
    checkpoint epoch), the numbers the systems chapter plots."""
    acc = accuracy.groupby(["system", "epoch"])["section_acc"].mean().unstack("epoch")
    dev = scores.groupby(["row", "epoch"])["official"].mean().unstack("epoch")
    return acc, dev


