"""A study folder, read once for a chapter: clip scores, the tuned rows, and their bootstrap."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from asdlib.study.evidence import Evidence
from asdlib.study.rows import SINGLE_SYSTEMS
from asdlib.study.runs import collect_scores
from asdlib.study.tuning import tune


@dataclass
class Study:
    """``scores``: every row's clip scores (the runs' and the tuned ones); ``choices``: Table 4's
    choices per (seed, machine); ``evidence``: their bootstrap; ``rule``: the checkpoint rule."""

    scores: pd.DataFrame
    choices: pd.DataFrame
    evidence: Evidence
    rule: str


def load_study(study_dir: str | Path, rule: str = "last", n_resamples: int = 1000) -> Study:
    """Every row of Tables 2-3 under checkpoint ``rule`` (the runs' rows plus the tuned ones)."""
    scores = collect_scores(study_dir, rule)
    tuned, choices = tune(study_dir, scores, rule)
    scores = pd.concat([scores, tuned], ignore_index=True)
    return Study(scores, choices, Evidence(scores, n_resamples), rule)


def rules_evidence(study_dir: str | Path, n_resamples: int = 1000) -> Evidence | None:
    """The paper's single systems under both checkpoint rules in one bootstrap (rows ``X`` for the
    last checkpoint, ``X [best dev]`` for the paper's rule), so that the rules are compared paired.
    None if the study was not scored with both rules."""
    try:
        last, best = collect_scores(study_dir, "last"), collect_scores(study_dir, "best_dev")
    except FileNotFoundError:
        return None
    last = last[last["row"].isin(SINGLE_SYSTEMS)]
    best = best[best["row"].isin(SINGLE_SYSTEMS)].assign(row=lambda f: f["row"] + " [best dev]")
    return Evidence(pd.concat([last, best], ignore_index=True), n_resamples)
