"""Where the systems sit in the room the stand-in leaves: between the ladder's floor and its ceiling.

The ladder (:mod:`asdlib.synth.ladder`) measures, on a calibration set, what a detector without
learning reaches (the floor, the frame-statistics detector) and how much of the faults the features
hold (the supervised ceiling). :func:`room_table` sets the study's development-set official scores
beside them, per machine: a learned system below the frame-statistics detector has learned nothing
a fixed feature does not already give.
"""
from __future__ import annotations

import pandas as pd

from asdlib.study.evidence import Evidence

LADDER_ROWS = {"floor": "floor: average-spectrum NN (no learning)",
               "frame_stats": "frame statistics, Mahalanobis (no learning)",
               "ceiling": "ceiling: supervised, cross-validated (ROC AUC)"}


def room_table(evidence: Evidence, steps: pd.DataFrame, rows) -> pd.DataFrame:
    """A frame of text cells (%): the ladder's rows (``steps``, :func:`asdlib.synth.ladder.ladder`, on
    the calibration set, with its ``±`` columns when it has them), then each of ``rows`` present in
    ``evidence`` (development-set official score with its 95 % interval); one column per machine of
    ``steps`` and ``all``."""
    machines = [m for m in steps.index if m != "all" and m in evidence.machines]
    columns = machines + ["all"]
    table = {}
    for key, label in LADDER_ROWS.items():
        half = steps[f"{key} ±"] if f"{key} ±" in steps else None
        table[label] = {m: f"{100 * steps.loc[m, key]:.1f}" + ("" if half is None else f" ± {100 * half[m]:.1f}")
                        for m in columns}
    for row in rows:
        if row in evidence.rows:
            table[row] = {m: evidence.cell(row, "dev", None if m == "all" else [m]).text() for m in columns}
    return pd.DataFrame.from_dict(table, orient="index")[columns]
