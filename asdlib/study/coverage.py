"""Do the book's 95 % intervals cover 95 %? Measured by simulation through the real :class:`Evidence`.

Each trial draws a study of two rows, ``A`` and ``B``, at the shape of a scale: ``n_seeds`` training
seeds, the scale's development test clips per section (``test_per_domain`` normal and as many
anomalous clips in each domain), three sections per machine. A clip's score is

    score = label * separation(row, seed, section, domain) + shared * c + sqrt(1 - shared^2) * e,

with ``c`` (n,) drawn once per clip (the clip's own difficulty, common to both rows and every seed:
what makes the comparison paired), ``e`` fresh noise per row and seed, and the separation
``base[row][domain] + seed_sd * (g_machine + g_section) / sqrt(2)``, where ``g`` are standard normal
draws per row and seed (a training seed moves a whole machine and each section). The truth of each
quantity (row A's official score, the difference A - B overall and on one machine) is its expected
value over reruns: the mean of its point estimate over ``truth_trials`` independent studies. A trial
covers a quantity when its interval holds that truth.

:func:`coverage` returns, per quantity, the share of trials covered by the book's interval (t, seeds
and clips: :func:`asdlib.bootstrap.seed_and_clip_interval`) and, for comparison, by a percentile
bootstrap that resamples the seeds with replacement together with the clips (the book's method
before), with the standard error of each share.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from tqdm import tqdm

from asdlib.bootstrap import interval
from asdlib.metrics import METRICS
from asdlib.scales import get_scale
from asdlib.study.evidence import Evidence

BASE = {"A": {"source": 0.60, "target": 0.30}, "B": {"source": 0.45, "target": 0.25}}
"""The rows' mean separation of anomalous from normal scores, per domain (in noise sds)."""


@dataclass(frozen=True)
class Regime:
    """How much a training seed moves a row (``seed_sd``, in noise sds) and how much of a clip's
    score is the clip itself (``shared``, common to every row and seed)."""

    name: str
    seed_sd: float
    shared: float = 0.5


REGIMES = (Regime("clips only", 0.0, shared=1.0), Regime("seeds and clips", 0.15),
           Regime("seeds dominate", 0.5))
"""Clips only: every seed scores every clip alike; seeds and clips: the seed spread of one
machine's score near this project's quick builds (an sd of about 0.04); seeds dominate: three
times that."""


def simulated_scores(rng: np.random.Generator, regime: Regime, n_seeds: int, machines, per_stratum: int) -> pd.DataFrame:
    """One simulated study's test clip scores (columns as :func:`asdlib.study.runs.collect_scores`):
    rows A and B, seeds 0..n_seeds-1, sections 00-02 of each machine, ``per_stratum`` clips in each
    (domain, label)."""
    strata = [(d, y) for d in ("source", "target") for y in ("normal", "anomaly")]
    domain = np.repeat([d for d, _ in strata], per_stratum)
    label = np.repeat([y for _, y in strata], per_stratum)
    anomalous, target = label == "anomaly", domain == "target"
    n = len(label)
    columns = {key: [] for key in ("row", "seed", "machine", "section", "score")}
    for machine in machines:
        g_machine = rng.standard_normal((2, n_seeds))
        for section in ("00", "01", "02"):
            clip = rng.standard_normal(n)
            g_section = rng.standard_normal((2, n_seeds))
            for r, row in enumerate(("A", "B")):
                for seed in range(n_seeds):
                    shift = regime.seed_sd * (g_machine[r, seed] + g_section[r, seed]) / np.sqrt(2)
                    separation = np.where(target, BASE[row]["target"], BASE[row]["source"]) + shift
                    columns["score"].append(anomalous * separation + regime.shared * clip
                                            + np.sqrt(1 - regime.shared ** 2) * rng.standard_normal(n))
                    for key, value in (("row", row), ("seed", seed), ("machine", machine), ("section", section)):
                        columns[key].append(np.repeat(value, n))
    runs = len(columns["score"])
    return pd.DataFrame({**{key: np.concatenate(v) for key, v in columns.items()},
                         "name": np.tile([f"clip_{i:04d}.wav" for i in range(n)], runs),
                         "domain": np.tile(domain, runs), "label": np.tile(label, runs), "split": "test"})


def _quantities(evidence: Evidence, machine: str) -> dict:
    return {"A, official score": evidence.cell("A", "dev"),
            "A - B, official score": evidence.difference("A", "B", "dev"),
            f"A - B, {machine} only": evidence.difference("A", "B", "dev", [machine])}


def _percentile(evidence: Evidence, machine: str, rng: np.random.Generator) -> dict:
    """The earlier method's intervals: seeds resampled with replacement with each clip resample."""
    out = {}
    for name, (a, b, machines) in {"A, official score": ("A", None, None),
                                   "A - B, official score": ("A", "B", None),
                                   f"A - B, {machine} only": ("A", "B", [machine])}.items():
        per_seed = evidence._per_seed(a, "dev", machines, METRICS)[0]
        if b is not None:
            per_seed = per_seed - evidence._per_seed(b, "dev", machines, METRICS)[0]
        picks = rng.integers(0, len(per_seed), size=(evidence.n_resamples, len(per_seed)))
        out[name] = interval(per_seed[picks, 1 + np.arange(evidence.n_resamples)[:, None]].mean(axis=1))
    return out


def seed_spread(evidence: Evidence, rows) -> float:
    """A real study's seed spread, to set beside the regimes': the median over ``rows`` and machines
    of the sd over seeds of one machine's development-set official score."""
    sds = [np.nanstd(evidence.seed_values(row, "dev", [machine]), ddof=1)
           for row in rows if row in evidence.rows for machine in evidence.machines]
    sds = [v for v in sds if np.isfinite(v)]
    return float(np.median(sds)) if sds else np.nan


def coverage(scale: str = "quick", regimes=REGIMES, trials: int = 400, truth_trials: int = 400, n_seeds: int = 3,
             machines=("fan",), n_resamples: int = 200, seed: int = 0, progress: bool = True) -> pd.DataFrame:
    """Per regime and quantity: the share of ``trials`` simulated studies whose nominal 95 % interval
    holds the truth, for the book's interval ("covered") and the percentile bootstrap over seeds
    ("percentile covered"), each with its standard error ("se"), the mean half-width, the truth,
    and the simulated seeds' spread (the sd over seeds of row A's score on one machine)."""
    per_stratum = get_scale(scale).synth.test_per_domain
    machine = machines[0]
    records = []
    rng = np.random.default_rng(seed)
    for regime in regimes:
        truth = {}
        spread = []
        for _ in tqdm(range(truth_trials), desc=f"truth, {regime.name}", disable=not progress, leave=False):
            evidence = Evidence(simulated_scores(rng, regime, n_seeds, machines, per_stratum), n_resamples=2,
                                seed=int(rng.integers(2**31)))
            for name, estimate in _quantities(evidence, machine).items():
                truth.setdefault(name, []).append(estimate.mean)
            spread.append(np.nanstd(evidence.seed_values("A", "dev", [machine]), ddof=1))
        truth = {name: float(np.mean(v)) for name, v in truth.items()}
        hits = {name: [] for name in truth}
        old_hits = {name: [] for name in truth}
        halves = {name: [] for name in truth}
        for _ in tqdm(range(trials), desc=f"coverage, {regime.name}", disable=not progress, leave=False):
            evidence = Evidence(simulated_scores(rng, regime, n_seeds, machines, per_stratum), n_resamples=n_resamples,
                                seed=int(rng.integers(2**31)))
            old = _percentile(evidence, machine, rng)
            for name, estimate in _quantities(evidence, machine).items():
                hits[name].append(estimate.low <= truth[name] <= estimate.high)
                old_hits[name].append(old[name][0] <= truth[name] <= old[name][1])
                halves[name].append(estimate.half)
        for name in truth:
            covered, old_covered = np.mean(hits[name]), np.mean(old_hits[name])
            records.append({"regime": regime.name, "quantity": name, "trials": trials,
                            "covered": covered, "se": np.sqrt(covered * (1 - covered) / trials),
                            "percentile covered": old_covered,
                            "percentile se": np.sqrt(old_covered * (1 - old_covered) / trials),
                            "half-width": float(np.mean(halves[name])), "truth": truth[name],
                            "seed sd, one machine": float(np.mean(spread))})
    return pd.DataFrame(records)
