"""What more test clips would buy: a cell's interval split into its seeds' and its clips' shares.

A cell's 95 % interval (:class:`asdlib.bootstrap.SeedClipSpread`) adds two variances: the seeds'
(``s^2 / n`` over the training seeds, with a t quantile) and the clips' (what a resample of the test
clips does to every seed alike, with a normal quantile). Only the clips' share shrinks with more test
clips. With ``then`` clips per section instead of ``now``, :func:`projected_half` scales the clips'
variance by ``now / then`` (one over the number of test clips, the rate of a mean of clip-pair
comparisons such as an AUC) and keeps the seeds' as it is.

The projection is generous, so a projected half-width is an upper bound of what the same seeds would
give on more clips: measured through this resampling on simulated studies of the quick scale's shape
(``tests/test_evidence.py``), four times the clips leave less than a quarter of the clips' variance
(about a sixth, at 10 to 40 clips per domain and label), and the seeds' share also holds the part of
the clips' noise that differs between seeds (each seed ranks the same clips differently), which more
clips would shrink too.
"""
from __future__ import annotations

import pandas as pd

from asdlib.bootstrap import SeedClipSpread
from asdlib.study.evidence import Estimate, Evidence


def projected_half(estimate: Estimate, now: int, then: int, level: float = 0.95) -> float:
    """Half the ``level`` interval of ``estimate`` had each section held ``then`` test clips instead
    of ``now``: the clips' variance times ``now / then``, the seeds' kept (module docstring)."""
    if now <= 0 or then <= 0:
        raise ValueError(f"test clips per section must be positive, got now={now}, then={then}")
    spread = estimate.spread
    if spread is None:
        raise ValueError("this estimate has no seed and clip variances to project")
    return SeedClipSpread(spread.mean, spread.seed_var, spread.clip_var * now / then, spread.seeds).half(level)


def precision_table(evidence: Evidence, rows, now: int, then: int, which: str = "dev") -> pd.DataFrame:
    """Per row of ``rows`` present in ``evidence``: its official score over ``which`` set as the
    book shows it (``score``), the seeds' and the clips' shares of its variance (``seeds' share (%)``,
    ``clips' share (%)``), its half-width (``± now``, points) and the half-width it would have with
    ``then`` test clips per section instead of ``now`` (``± then``, points). The last line, "median",
    is the median over the rows."""
    records = {}
    for row in rows:
        if row not in evidence.rows:
            continue
        cell = evidence.cell(row, which)
        if cell.spread is None or cell.spread.seeds == 0:
            continue
        total = cell.spread.seed_var + cell.spread.clip_var
        records[row] = {"score": cell.text(),
                        "seeds' share (%)": 100 * cell.spread.seed_var / total if total else 0.0,
                        "clips' share (%)": 100 * cell.spread.clip_var / total if total else 0.0,
                        "± now": 100 * cell.half,
                        "± then": 100 * projected_half(cell, now, then)}
    table = pd.DataFrame.from_dict(records, orient="index")
    if not table.empty:
        numbers = table.drop(columns="score")
        table.loc["median"] = {"score": "", **numbers.median().to_dict()}
    return table
