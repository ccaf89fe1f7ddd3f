"""Seeded inputs in the DCASE 2023/2024 official evaluators' formats, and a reader of their result file.

``python tests/evaluator_fixtures.py YEAR FOLDER`` writes, for three eval machines of ``YEAR``:

- ``FOLDER/teams/asdlib/fixture/anomaly_score_<machine>_section_00_test.csv`` and
  ``decision_result_<machine>_section_00_test.csv`` (rows ``name,value``, no header);
- ``FOLDER/ground_truth_data/``, ``ground_truth_domain/`` and ``ground_truth_attributes/`` files
  ``ground_truth_<machine>_section_00_test.csv`` as the evaluators ship them (rows
  ``section_00_0000.wav,0|1`` and ``section_00_0000.wav,<full name without .wav>``).

Twenty clips a machine (unequal cells: 6 source and 5 target normal, 4 source and 5 target
anomalous), scores rounded to one decimal so that ties occur, anonymised names numbered from 0000
(2024: from 0001, as its eval set). The last machine's score file lists the full names, which the
evaluators map back through ``ground_truth_attributes``. A machine whose attributes the year hides
gets ``noAttribute`` full names. The reference outputs in ``tests/data/evaluators/<year>/`` were made by
running the year's evaluator once on these files (see the README there); the tests rewrite the
same files and compare.
"""
from __future__ import annotations

import csv
import sys
from pathlib import Path

import numpy as np

from asdlib.names import HIDDEN_ATTRIBUTES, machines

FIXTURE_MACHINES = {2023: ("ToyDrone", "Vacuum", "bandsaw"),
                    2024: ("3DPrinter", "AirCompressor", "ToothBrush"),
                    2025: ("AutoTrash", "Polisher", "ToyRCCar")}
CELLS = (("source", "normal", 6), ("target", "normal", 5), ("source", "anomaly", 4), ("target", "anomaly", 5))
SYSTEM = ("asdlib", "fixture")


def _write(path: Path, rows) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as handle:
        csv.writer(handle, lineterminator="\n").writerows(rows)


def write_inputs(year: int, folder: Path, seed: int = 0) -> dict[str, Path]:
    """Write the score, decision and ground-truth files of ``year`` under ``folder``.

    Returns ``{"scores": folder of the score files, "truth": folder (holding ground_truth_*/)}``.
    """
    folder = Path(folder)
    scores_dir = folder / "teams" / SYSTEM[0] / SYSTEM[1]
    rng = np.random.default_rng(seed + year)
    start = 1 if year == 2024 else 0
    chosen = FIXTURE_MACHINES[year]
    assert set(chosen) <= set(machines(year, "eval_data"))
    for m_index, machine in enumerate(chosen):
        cells = [(d, lab) for d, lab, n in CELLS for _ in range(n)]
        order = rng.permutation(len(cells))
        hidden = machine in HIDDEN_ATTRIBUTES.get(year, {}).get("eval_data", ())
        truth, domain, attributes, scores, decisions = [], [], [], [], []
        for position, k in enumerate(order):
            d, lab = cells[k]
            anonymised = f"section_00_{position + start:04d}.wav"
            attrs = "noAttribute" if hidden else f"spd_{rng.integers(1, 4)}_mic_{1 + (d == 'target')}"
            full = f"section_00_{d}_test_{lab}_{k:04d}_{attrs}"
            score = round(float(rng.normal(1.0 if lab == "anomaly" else 0.0, 1.0)), 1)  # ties
            listed = full + ".wav" if m_index == len(chosen) - 1 else anonymised
            truth.append((anonymised, int(lab == "anomaly")))
            domain.append((anonymised, int(d == "target")))
            attributes.append((anonymised, full))
            scores.append((listed, score))
            decisions.append((listed, int(score > 0.5)))
        stem = f"{machine}_section_00_test.csv"
        _write(folder / "ground_truth_data" / f"ground_truth_{stem}", truth)
        _write(folder / "ground_truth_domain" / f"ground_truth_{stem}", domain)
        _write(folder / "ground_truth_attributes" / f"ground_truth_{stem}", attributes)
        _write(scores_dir / f"anomaly_score_{stem}", scores)
        _write(scores_dir / f"decision_result_{stem}", decisions)
    return {"scores": scores_dir, "truth": folder}


def read_evaluator_result(path: Path) -> tuple[dict[str, dict[str, float]], float]:
    """``({machine: {"AUC (source)": x, "AUC (target)": x, "pAUC": x}}, official score)`` from an
    evaluator's ``<system>_result.csv`` (section 00 only, as the 2023-2025 sets have)."""
    rows = list(csv.reader(open(path, newline="")))
    per_machine, official = {}, None
    for i, row in enumerate(rows):
        if len(row) == 1 and i + 2 < len(rows) and rows[i + 1][:1] == ["section"]:
            header, values = rows[i + 1], rows[i + 2]
            per_machine[row[0]] = {k: float(values[header.index(k)]) for k in ("AUC (source)", "AUC (target)", "pAUC")}
        if row[:1] == ["official score"]:
            official = float(row[2])
    if not per_machine or official is None:
        raise ValueError(f"{path}: not an evaluator result file")
    return per_machine, official


if __name__ == "__main__":
    print(write_inputs(int(sys.argv[1]), Path(sys.argv[2])))
