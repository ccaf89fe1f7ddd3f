"""k-NN distance normalised by the local density of the references ("knn_ldn").

A section's references are all its training clips, both domains. The sparser the references round a
clip (the few target clips), the larger its distances; each distance to a reference is therefore
rescaled by that reference's own neighbourhood, the mean cosine distance ``rho(r)`` from ``r`` to its
``density_k`` nearest other references:

* ``form="divide"``: ``d(e, r) / rho(r)``, the K-NN scaled score of Wilkinghoff, Yang, Ebbers, Germain,
  Wichern, Le Roux, "Keeping the Balance: Anomaly Score Calculation for Domain Generalization",
  ICASSP 2025, and "Local Density-Based Anomaly Score Normalization for Domain Generalization",
  arXiv:2509.10951, 2025 (the ASD toolkit's ``KnnRescale``);
* ``form="subtract"``: ``d(e, r) - rho(r)``, the same neighbourhood as an offset instead of a scale.

The score is the mean of the ``k`` smallest rescaled distances. The domains are not needed (the
density, not a label, tells the domains apart). Imports numpy only.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from asdlib.scoring.base import SectionBackend
from asdlib.scoring.distances import l2_normalise

FORMS = ("divide", "subtract")
"""How :class:`LocalDensityKNN` rescales a distance by its reference's density."""
_EPS = 1e-12


class Neighbourhoods(NamedTuple):
    """A section's references ``x`` (n, d) (L2-normalised), their cosine distances ``dist`` (n, n)
    (infinite on the diagonal), ``nearest`` (n, K + 1) each reference's K + 1 nearest others in
    order, and ``rho`` (n,) the mean distance to the first K of them."""

    x: np.ndarray
    dist: np.ndarray
    nearest: np.ndarray
    rho: np.ndarray


class LocalDensityKNN(SectionBackend):
    """Mean of the ``k`` smallest ``d(e, r) / rho(r)`` (or ``d(e, r) - rho(r)``, ``form``) over the
    section's training clips ``r``; ``d`` the cosine distance, ``rho(r)`` the mean cosine distance
    from ``r`` to its ``density_k`` nearest other training clips (module docstring).

    :meth:`score_train` is exact leave-one-out: training clip ``i`` against the others, each with the
    density it has without ``i`` (``rho`` recomputed where ``i`` was one of its nearest). A section
    needs ``density_k + 2`` training clips.
    """

    def __init__(self, k: int = 1, density_k: int = 4, form: str = "divide"):
        self.k = k
        self.density_k = density_k
        self.form = form

    def _fit_section(self, x, sec, is_target):
        if self.form not in FORMS:
            raise ValueError(f"unknown form {self.form!r}; choose one of {FORMS}")
        if len(x) < self.density_k + 2 or len(x) <= self.k or min(self.k, self.density_k) < 1:
            raise ValueError(f"section {sec!r} has {len(x)} training clips; k={self.k} and density_k="
                             f"{self.density_k} need at least max(k + 1, density_k + 2) (both >= 1)")
        x = l2_normalise(x)
        dist = np.clip(1.0 - x @ x.T, 0.0, 2.0)
        np.fill_diagonal(dist, np.inf)
        nearest = np.argsort(dist, axis=1, kind="stable")[:, :self.density_k + 1]
        rho = np.take_along_axis(dist, nearest[:, :self.density_k], axis=1).mean(axis=1)
        return Neighbourhoods(x, dist, nearest, rho)

    def _rescaled(self, dist: np.ndarray, rho: np.ndarray) -> np.ndarray:
        """Distances (m, n) to the references rescaled by their densities ``rho`` ((n,) or (m, n))."""
        return dist / np.maximum(rho, _EPS) if self.form == "divide" else dist - rho

    def _mean_smallest(self, values: np.ndarray) -> np.ndarray:
        return np.partition(values, self.k - 1, axis=1)[:, :self.k].mean(axis=1)

    def _score_section(self, state, x):
        dist = np.clip(1.0 - l2_normalise(x) @ state.x.T, 0.0, 2.0)
        return self._mean_smallest(self._rescaled(dist, state.rho))

    def _score_train_section(self, state, x, sec):
        n, big_k = len(state.x), self.density_k
        # rho of reference r without clip i: where i is among r's K nearest, its distance gives way
        # to r's (K+1)-th nearest
        among = np.zeros((n, n), dtype=bool)                       # among[i, r]: i is one of r's K nearest
        among[state.nearest[:, :big_k].T, np.arange(n)] = True
        next_dist = state.dist[np.arange(n), state.nearest[:, big_k]]   # (n,) each r's (K+1)-th distance
        rho = state.rho + np.where(among, next_dist - state.dist, 0.0) / big_k  # (n_i, n_r); d(i, r) = d(r, i)
        return self._mean_smallest(self._rescaled(state.dist, rho))  # the diagonal stays infinite
