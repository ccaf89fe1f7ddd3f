"""Uncertainty of the official metrics: training seeds and test clips, and how an interval is read.

A number in the book (a system's official score, a table cell, a difference between two systems) is
a mean over training seeds of a harmonic mean of per-section metrics. Its 95 % interval covers both
sources of chance that a rerun would meet: other training seeds, and other test clips of the same
kind. The two are measured apart and added (:func:`seed_and_clip_interval`):

* **test clips**: within each section, the test clips are resampled with replacement in each
  stratum of (domain, label), so that every resample keeps the section's counts of normal and
  anomalous clips per domain (:func:`stratified_weights`); how a resample moves every seed alike
  (the covariance between seeds over the resamples) is the clips' share;
* **seeds**: the sample variance of the per-seed values over ``n`` seeds, divided by ``n``, is the
  seeds' share. With three seeds it is known only roughly, so it takes a t quantile with ``n - 1``
  degrees of freedom, the clips' share a normal one (:class:`SeedClipSpread`). A percentile
  bootstrap over three resampled seeds covers far less than it says (73.6 % for a nominal 95 % in a
  simulation with normal seed effects); the coverage of this interval is measured by simulation
  through :class:`asdlib.study.evidence.Evidence` (:mod:`asdlib.study.coverage`).

Every system is resampled with the *same* clip weights, so a difference between two systems is a
paired comparison. Resampling with replacement is done with integer weights on the original clips,
and the metrics are computed on the weighted clips exactly as ``sklearn.metrics.roc_auc_score``
computes them on a list holding each clip as often as its weight says
(:func:`asdlib.metrics.weighted_section_metrics`, the function behind the official
:func:`asdlib.metrics.section_metrics`), vectorised over all resamples at once.

The tuned systems (MSL, Disent.Wt, MSL+ANP) are tuned once per seed on the full development set;
the intervals resample their evaluation, not their tuning. Imports numpy and scipy only.
"""
from __future__ import annotations

from dataclasses import dataclass

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


@dataclass(frozen=True)
class SeedClipSpread:
    """What :func:`seed_and_clip_interval` measured: the seed mean, each source's share of its
    variance, and the seeds it used.

    An interval gives each share its own quantile: the seeds' a t quantile with ``seeds - 1``
    degrees of freedom (their variance is estimated from three or so values), the clips' a normal
    one (estimated from many clips), added in quadrature:
    ``half(level) = sqrt((t_{n-1}(q) sd_seed)^2 + (z(q) sd_clip)^2)`` with ``q = (1 + level) / 2``.
    It is the t interval when the clips add nothing, the normal one when the seeds add nothing, and
    wider than Welch-Satterthwaite's in between (which covered 92-93 % in this study's shape).
    """

    mean: float
    seed_var: float    # s^2 / n: the seeds' share of the variance of the mean
    clip_var: float    # the clips' share: what a clip resample does to every seed alike
    seeds: int

    @property
    def se(self) -> float:
        """The standard error of the mean, both shares together."""
        return float(np.sqrt(self.seed_var + self.clip_var))

    def half(self, level: float = 0.95) -> float:
        """Half the two-sided ``level`` interval's width (class docstring)."""
        from scipy.stats import norm, t

        if self.seeds == 0:
            return np.nan
        q = 0.5 + level / 2
        seed = float(t.ppf(q, self.seeds - 1)) * np.sqrt(self.seed_var) if self.seed_var > 0 else 0.0
        return float(np.hypot(seed, norm.ppf(q) * np.sqrt(self.clip_var)))

    def bounds(self, level: float = 0.95) -> tuple[float, float]:
        """The two-sided ``level`` interval ``mean -+ half(level)``."""
        half = self.half(level)
        return self.mean - half, self.mean + half

    def p_value(self, null: float = 0.0, alternative: str = "two-sided") -> float:
        """The p-value of ``mean == null`` that this interval implies: the largest ``1 - level`` at
        which the two-sided interval (or, for ``alternative`` "less" / "greater", the one-sided
        bound: the true value is below / above ``null``) still excludes ``null``."""
        from scipy.optimize import brentq

        if self.seeds == 0:
            return np.nan
        gap = abs(self.mean - null)
        if alternative != "two-sided" and (self.mean - null) * (1 if alternative == "less" else -1) >= 0:
            return 1.0 if gap > 0 or self.se > 0 else 0.5
        if self.se == 0:
            return 0.0 if gap > 0 else 1.0
        if gap == 0:
            return 1.0
        two_sided = 1 - brentq(lambda level: self.half(level) - gap, 1e-12, 1 - 1e-15, xtol=1e-14)
        return float(two_sided if alternative == "two-sided" else two_sided / 2)


def seed_and_clip_interval(per_seed: np.ndarray) -> SeedClipSpread:
    """The seed mean of a statistic and its standard error from both sources of chance.

    Args:
        per_seed: (n_seeds, 1 + n_resamples): column 0 each seed's statistic on the test clips as
            they are, columns 1.. the same statistic under clip resamples shared by all seeds (the
            rows of :func:`stratified_weights`). Seeds whose column 0 is NaN (no run) are left out.

    Returns:
        mean: the mean over the ``n`` seeds of column 0. ``se^2 = s^2 / n + c``: ``c``, the clips'
        share, is the mean covariance over the clip resamples between two different seeds (what the
        clips do to every seed alike), floored at 0; ``s^2`` is the seeds' sample variance on these
        clips (it holds the part of the clips' noise that differs between seeds). Resamples drawn
        apart for each seed give ``c`` near 0, and so the t interval over seeds. One seed: ``c`` is
        that seed's clip variance; no seed: NaN.
    """
    per_seed = np.asarray(per_seed, dtype=float)
    per_seed = per_seed[~np.isnan(per_seed[:, 0])]
    n = len(per_seed)
    if n == 0:
        return SeedClipSpread(np.nan, np.nan, np.nan, 0)
    mean = float(per_seed[:, 0].mean())
    resampled = per_seed[:, 1:]
    if resampled.shape[1] < 2:
        own = cross = 0.0
    else:  # a seed's own clip variance, and the covariance between two seeds: (n Var(mean) - own) / (n - 1)
        own = float(resampled.var(axis=1, ddof=1).mean())
        cross = float((n * resampled.mean(axis=0).var(ddof=1) - own) / (n - 1)) if n > 1 else own
    clip_var = max(0.0, cross)
    seed_var = float(per_seed[:, 0].var(ddof=1)) / n if n > 1 else 0.0
    return SeedClipSpread(mean, seed_var, clip_var, n)
