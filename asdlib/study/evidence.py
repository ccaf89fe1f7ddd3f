"""Official scores of any table cell and differences between rows, with 95 % intervals (:mod:`asdlib.bootstrap`).

:class:`Evidence` takes the clip scores of a study (:func:`asdlib.study.runs.collect_scores` plus the
tuned rows) and resamples, once for all rows, the training seeds and the test clips of every section
(within each domain and label). A cell is the mean over seeds of the harmonic mean of the chosen
metrics over the chosen sections; its interval is the central 95 % of the same statistic over the
resamples. A difference between two rows uses the same resamples for both (paired).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from asdlib.bootstrap import interval, stratified_weights
from asdlib.metrics import METRICS, hmean, weighted_section_metrics
from asdlib.names import MACHINES
from asdlib.study.rows import ordered


@dataclass(frozen=True)
class Estimate:
    """A number with its 95 % interval (``low``, ``high``); ``draws`` are the bootstrap resamples."""

    mean: float
    low: float
    high: float
    draws: np.ndarray

    @property
    def half(self) -> float:
        """Half the interval's width: the "±" shown in the book."""
        return (self.high - self.low) / 2

    def text(self, scale: float = 100.0, digits: int = 1, sign: bool = False) -> str:
        """``"55.3 ± 1.8"`` (values times ``scale``; a leading sign for differences)."""
        if np.isnan(self.mean):
            return "-"
        value = f"{scale * self.mean:+.{digits}f}" if sign else f"{scale * self.mean:.{digits}f}"
        return f"{value} ± {scale * self.half:.{digits}f}"

    def excludes_zero(self) -> int:
        """+1 if the whole interval is above 0, -1 if below, 0 if it holds 0."""
        return 1 if self.low > 0 else -1 if self.high < 0 else 0


class Evidence:
    """The bootstrap of a study's official metrics (module docstring).

    Args:
        scores: clip scores, columns row, seed, machine, section, name, domain, label, split, score
            (training clips are ignored). Every row must have scored the same test clips of a section.
        n_resamples: bootstrap resamples (the interval's precision; 1000 by default).
        seed: the resampling's random seed (the book is reproducible).

    Attributes:
        rows: the rows, in the paper's order; seeds: the training seeds; units: (machine, section).
    """

    def __init__(self, scores: pd.DataFrame, n_resamples: int = 1000, seed: int = 0):
        test = scores[scores["split"] == "test"]
        self.rows = ordered(test["row"].unique())
        self.seeds = sorted(test["seed"].unique().tolist())
        self.units = sorted(test.groupby(["machine", "section"]).groups)
        self.n_resamples = n_resamples
        rng = np.random.default_rng(seed)
        self.seed_draws = rng.integers(0, len(self.seeds), size=(n_resamples, len(self.seeds)))
        self._values = {row: np.full((len(self.seeds), 1 + n_resamples, len(self.units), 3), np.nan)
                        for row in self.rows}
        for u, ((machine, section), part) in enumerate(test.groupby(["machine", "section"], sort=True)):
            reference = part.drop_duplicates("name").sort_values("name")
            names = reference["name"].to_numpy()
            anomalous = (reference["label"] == "anomaly").to_numpy()
            target = (reference["domain"] == "target").to_numpy()
            weights = stratified_weights(reference["domain"] + reference["label"], n_resamples, rng)
            for (row, seed_value), clip_scores in part.groupby(["row", "seed"]):
                clip_scores = clip_scores.sort_values("name")
                if not np.array_equal(clip_scores["name"].to_numpy(), names):
                    raise ValueError(f"{row}, seed {seed_value}: other test clips than the other rows in "
                                     f"{machine} section {section}")
                self._values[row][self.seeds.index(seed_value), :, u] = weighted_section_metrics(
                    clip_scores["score"].to_numpy(), anomalous, target, weights)

    # ----------------------------------------------------------------------------------------
    def _per_seed(self, row: str, which: str, machines, metrics) -> np.ndarray | None:
        """(n_seeds, 1 + n_resamples) harmonic means of the chosen values, or None without values."""
        if row not in self._values:
            return None
        values = self._values[row]
        units = [u for u, (machine, section) in enumerate(self.units)
                 if (int(section) < 3) == (which == "dev") and (machines is None or machine in machines)
                 and not np.isnan(values[:, 0, u, 0]).all()]
        if not units:
            return None
        columns = [METRICS.index(m) for m in metrics]
        chosen = values[:, :, units][..., columns].reshape(len(self.seeds), 1 + self.n_resamples, -1)
        return hmean(chosen)

    def _estimate(self, per_seed: np.ndarray | None) -> Estimate:
        if per_seed is None:
            return Estimate(np.nan, np.nan, np.nan, np.empty(0))
        point = float(np.nanmean(per_seed[:, 0]))
        draws = per_seed[self.seed_draws, 1 + np.arange(self.n_resamples)[:, None]].mean(axis=1)
        return Estimate(point, *interval(draws), draws)

    def cell(self, row: str, which: str, machines=None, metrics=METRICS) -> Estimate:
        """The official score of ``row`` over ``which`` set ("dev" or "eval"), restricted to ``machines``
        (None: all) and ``metrics``, as a mean over seeds with its 95 % interval."""
        return self._estimate(self._per_seed(row, which, machines, metrics))

    def difference(self, row_a: str, row_b: str, which: str, machines=None, metrics=METRICS) -> Estimate:
        """``cell(row_a) - cell(row_b)``, paired: the same seeds and clips resampled for both."""
        a, b = self._per_seed(row_a, which, machines, metrics), self._per_seed(row_b, which, machines, metrics)
        return self._estimate(None if a is None or b is None else a - b)

    def point_metrics(self) -> pd.DataFrame:
        """The official per-section metrics of every row and seed (no resampling)."""
        records = []
        for row, values in self._values.items():
            for s, seed in enumerate(self.seeds):
                for u, (machine, section) in enumerate(self.units):
                    if not np.isnan(values[s, 0, u, 0]):
                        records.append({"row": row, "seed": seed, "machine": machine, "section": section,
                                        "set": "dev" if int(section) < 3 else "eval",
                                        **dict(zip(METRICS, values[s, 0, u]))})
        return pd.DataFrame(records)

    @property
    def machines(self) -> list[str]:
        present = {machine for machine, _ in self.units}
        return [m for m in MACHINES if m in present]


def table2(evidence: Evidence) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Table 2 (development set), as (means, ± half-widths): per machine the harmonic mean of its 9
    values, per metric of its 21 values, and ``hmean`` of all 63 (the official score)."""
    columns = {m: ([m], METRICS) for m in evidence.machines}
    columns.update({"AUC (S)": (None, ("auc_source",)), "AUC (T)": (None, ("auc_target",)),
                    "pAUC": (None, ("pauc",)), "hmean": (None, METRICS)})
    return _table(evidence, "dev", columns)


def table3(evidence: Evidence) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Table 3 (evaluation set), as (means, ± half-widths): per machine "<machine> AUC" (its 6 AUC (S)
    and AUC (T) values) and "<machine> pAUC" (its 3 values), and "score", the official score."""
    columns = {}
    for m in evidence.machines:
        columns[f"{m} AUC"] = ([m], ("auc_source", "auc_target"))
        columns[f"{m} pAUC"] = ([m], ("pauc",))
    columns["score"] = (None, METRICS)
    return _table(evidence, "eval", columns)


def _table(evidence: Evidence, which: str, columns: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    means, halves = {}, {}
    for row in evidence.rows:
        cells = {name: evidence.cell(row, which, machines, metrics) for name, (machines, metrics) in columns.items()}
        if all(np.isnan(c.mean) for c in cells.values()):
            continue
        means[row] = {k: c.mean for k, c in cells.items()}
        halves[row] = {k: c.half for k, c in cells.items()}
    return (pd.DataFrame.from_dict(means, orient="index")[list(columns)],
            pd.DataFrame.from_dict(halves, orient="index")[list(columns)])
