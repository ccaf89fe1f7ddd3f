"""Uncertainty of the official metrics: a bootstrap over training seeds and test clips.

A number in the book (a system's official score, a table cell, a difference between two systems) is
a mean over training seeds of a harmonic mean of per-section metrics. Its 95 % interval here covers
both sources of chance that a rerun would meet:

* **seeds**: the seeds are resampled with replacement (a rerun trains other seeds);
* **test clips**: within each section, the test clips are resampled with replacement in each
  stratum of (domain, label), so that every resample keeps the section's counts of normal and
  anomalous clips per domain (a rerun meets other clips of the same kind).

Every system is resampled with the *same* clip weights and the same seed draws, so a difference
between two systems is a paired comparison (its interval is usually much narrower than either
system's own). Resampling with replacement is done with integer weights on the original clips, and
the metrics are computed on the weighted clips exactly as ``sklearn.metrics.roc_auc_score`` computes
them on a list holding each clip as often as its weight says (:func:`asdlib.metrics.weighted_section_metrics`,
the function behind the official :func:`asdlib.metrics.section_metrics`; its areas are tested against
sklearn), vectorised over all resamples at once. This module draws the weights and reads the intervals.

The tuned systems (MSL, Disent.Wt, MSL+ANP) are tuned once per seed on the full development set;
the bootstrap then resamples their evaluation, not their tuning. Imports numpy only.
"""
from __future__ import annotations

import numpy as np


def stratified_weights(strata: np.ndarray, n_resamples: int, rng: np.random.Generator) -> np.ndarray:
    """(1 + n_resamples, n) integer clip weights: a first row of ones (the data as it is), then
    resamples with replacement within each stratum (the counts per stratum are kept).

    ``strata``: (n,) labels, e.g. ``domain + label`` of each test clip of one section.
    """
    strata = np.asarray(strata)
    out = np.zeros((1 + n_resamples, len(strata)))
    out[0] = 1.0
    for value in np.unique(strata):
        members = np.flatnonzero(strata == value)
        picks = rng.integers(0, len(members), size=(n_resamples, len(members)))
        counts = np.zeros((n_resamples, len(members)))
        np.add.at(counts, (np.arange(n_resamples)[:, None], picks), 1.0)
        out[1:, members] = counts
    return out


def interval(draws: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """The central ``level`` percentile interval of bootstrap ``draws`` (1-D)."""
    tail = 100 * (1 - level) / 2
    low, high = np.percentile(draws, [tail, 100 - tail])
    return float(low), float(high)
