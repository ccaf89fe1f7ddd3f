"""Official scores of any table cell and differences between rows, with 95 % intervals (:mod:`asdlib.bootstrap`).

:class:`Evidence` takes the clip scores of a study (:func:`asdlib.study.runs.collect_scores` plus the
tuned rows) and resamples, once for all rows, the test clips of every section (within each domain
and label). A cell is the mean over seeds of the harmonic mean of the chosen metrics over the chosen
sections; its interval adds the seeds' variance to the clips' (:func:`asdlib.bootstrap.seed_and_clip_interval`,
a t interval). A difference between two rows uses the same seeds and clip resamples for both
(paired), over the same sections.

A row that lacks a seed the others have (a run that failed) is estimated from the seeds it has, and
a difference from the seeds both rows have: :attr:`Estimate.seeds` says how many; a difference of
two rows scored on different sections is an error.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from asdlib.bootstrap import SeedClipSpread, seed_and_clip_interval, stratified_weights
from asdlib.metrics import METRICS, hmean, weighted_section_metrics
from asdlib.names import MACHINES
from asdlib.study.rows import ordered


@dataclass(frozen=True)
class Estimate:
    """A number with its 95 % interval (``low``, ``high``).

    ``draws``: the clip resamples of the seed mean (shape (n_resamples,)); ``spread``: the seed and
    clip variances behind the interval (:class:`asdlib.bootstrap.SeedClipSpread`), None for an
    estimate made otherwise (then only the interval is known)."""

    mean: float
    low: float
    high: float
    draws: np.ndarray
    spread: SeedClipSpread | None = None

    @property
    def half(self) -> float:
        """Half the interval's width: the "±" shown in the book."""
        return (self.high - self.low) / 2

    @property
    def seeds(self) -> int:
        """The training seeds behind the number (0 when it is not a seed mean)."""
        return self.spread.seeds if self.spread is not None else 0

    def text(self, scale: float = 100.0, digits: int = 1, sign: bool = False) -> str:
        """``"55.3 ± 1.8"`` (values times ``scale``; a leading sign for differences)."""
        if np.isnan(self.mean) or np.isnan(self.half):
            return "-"
        value = f"{scale * self.mean:+.{digits}f}" if sign else f"{scale * self.mean:.{digits}f}"
        return f"{value} ± {scale * self.half:.{digits}f}"

    def excludes_zero(self) -> int:
        """+1 if the whole interval is above 0, -1 if below, 0 if it holds 0."""
        return 1 if self.low > 0 else -1 if self.high < 0 else 0

    def at_level(self, level: float) -> "Estimate":
        """The same number with its two-sided interval at ``level`` (e.g. a family-adjusted one)."""
        if self.spread is None:
            raise ValueError("this estimate has no seed and clip variances to give another level")
        low, high = self.spread.bounds(level)
        return replace(self, low=low, high=high)

    def p_value(self, null: float = 0.0, alternative: str = "two-sided") -> float:
        """The p-value of ``mean == null`` (:meth:`asdlib.bootstrap.SeedClipSpread.p_value`)."""
        return self.spread.p_value(null, alternative) if self.spread is not None else np.nan


class Evidence:
    """The seed and clip spread of a study's official metrics (module docstring).

    Args:
        scores: clip scores, columns row, seed, machine, section, name, domain, label, split, score
            (training clips are ignored). Every row must have scored the same test clips of a section.
        n_resamples: clip resamples (the precision of the clips' variance; 1000 by default).
        seed: the resampling's random seed (the book is reproducible).

    Attributes:
        rows: the rows, in the paper's order; seeds: the training seeds; units: (machine, section).
    """

    def __init__(self, scores: pd.DataFrame, n_resamples: int = 1000, seed: int = 0):
        test = scores[scores["split"] == "test"].sort_values(["machine", "section", "row", "seed", "name"],
                                                             kind="stable")
        self.rows = ordered(test["row"].unique())
        self.seeds = sorted(test["seed"].unique().tolist())
        self.units = sorted(test.groupby(["machine", "section"]).groups)
        self.n_resamples = n_resamples
        rng = np.random.default_rng(seed)
        self._values = {row: np.full((len(self.seeds), 1 + n_resamples, len(self.units), 3), np.nan)
                        for row in self.rows}
        names, score = test["name"].to_numpy(), test["score"].to_numpy(float)
        anomalous, target = (test["label"] == "anomaly").to_numpy(), (test["domain"] == "target").to_numpy()
        strata = (test["domain"] + test["label"]).to_numpy()
        runs = test.groupby(["machine", "section", "row", "seed"], sort=False).indices  # each in name order
        for u, ((machine, section), unit) in enumerate(sorted(test.groupby(["machine", "section"]).indices.items())):
            reference, first = np.unique(names[unit], return_index=True)
            clip = unit[first]
            weights = stratified_weights(strata[clip], n_resamples, rng)
            for row in self.rows:
                for s, seed_value in enumerate(self.seeds):
                    rows = runs.get((machine, section, row, seed_value))
                    if rows is None:
                        continue
                    if not np.array_equal(names[rows], reference):
                        raise ValueError(f"{row}, seed {seed_value}: other test clips than the other rows in "
                                         f"{machine} section {section}")
                    self._values[row][s, :, u] = weighted_section_metrics(score[rows], anomalous[clip],
                                                                          target[clip], weights)

    # ----------------------------------------------------------------------------------------
    def _per_seed(self, row: str, which: str, machines, metrics) -> tuple[np.ndarray, tuple] | None:
        """(n_seeds, 1 + n_resamples) harmonic means of the chosen values (NaN for a seed without a
        run) and the units (machine, section) they cover, or None without values."""
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
        return hmean(chosen), tuple(self.units[u] for u in units)

    @staticmethod
    def _estimate(per_seed: np.ndarray | None) -> Estimate:
        if per_seed is None:
            return Estimate(np.nan, np.nan, np.nan, np.empty(0))
        spread = seed_and_clip_interval(per_seed)
        draws = per_seed[~np.isnan(per_seed[:, 0]), 1:].mean(axis=0)
        return Estimate(spread.mean, *spread.bounds(), draws, spread)

    def cell(self, row: str, which: str, machines=None, metrics=METRICS) -> Estimate:
        """The official score of ``row`` over ``which`` set ("dev" or "eval"), restricted to ``machines``
        (None: all) and ``metrics``, as a mean over seeds with its 95 % interval."""
        found = self._per_seed(row, which, machines, metrics)
        return self._estimate(None if found is None else found[0])

    def difference(self, row_a: str, row_b: str, which: str, machines=None, metrics=METRICS) -> Estimate:
        """``cell(row_a) - cell(row_b)``, paired: the same seeds and clip resamples for both (the seeds
        both rows have). Raises ValueError if the two rows were scored on different sections."""
        return self.contrast({row_a: 1.0, row_b: -1.0}, which, machines, metrics)

    def contrast(self, weights: dict, which: str, machines=None, metrics=METRICS) -> Estimate:
        """``sum_row weights[row] * cell(row)``, paired as :meth:`difference` (e.g. a difference of
        two gains: ``{a_new: 1, a_old: -1, b_new: -1, b_old: 1}``). Raises ValueError if the rows were
        scored on different sections."""
        found = {row: self._per_seed(row, which, machines, metrics) for row in weights}
        if any(f is None for f in found.values()):
            return self._estimate(None)
        (first, (_, units)), *others = found.items()
        for row, (_, other) in others:
            if other != units:
                only = sorted(set(units) ^ set(other))
                raise ValueError(f"{first} and {row} were scored on different {which} sections (only one of them "
                                 f"has {', '.join(f'{m} {s}' for m, s in only)}): no paired difference")
        return self._estimate(sum(w * found[row][0] for row, w in weights.items()))

    def seed_values(self, row: str, which: str, machines=None, metrics=METRICS) -> np.ndarray:
        """(n_seeds,) the cell's value for each seed alone (NaN where a seed has no run)."""
        found = self._per_seed(row, which, machines, metrics)
        return np.full(len(self.seeds), np.nan) if found is None else found[0][:, 0]

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
