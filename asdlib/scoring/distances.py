"""Cosine distances between clip embeddings: the paper's Eq. (4) within one section, and its k-nearest mean.

Imports numpy only.
"""
from __future__ import annotations

import numpy as np

_EPS = 1e-12


def l2_normalise(x: np.ndarray) -> np.ndarray:
    """Rows of ``x`` (n, d) scaled to unit L2 norm, float64 (a zero row stays zero)."""
    x = np.asarray(x, dtype=np.float64)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), _EPS)


def nn_cosine_distance(queries: np.ndarray, reference: np.ndarray, k: int = 1, exclude_self: bool = False,
                       chunk_size: int = 2048) -> np.ndarray:
    """Mean cosine distance ``1 - cos(q, r)`` from each query to its ``k`` nearest reference rows.

    With ``k=1`` this is the paper's Eq. (4) within one section: ``min_r (1 - cos(q, r))``.

    Args:
        queries: ``(m, d)`` embeddings.
        reference: ``(n, d)`` embeddings (the training clips of one section).
        k: number of nearest neighbours averaged (``1 <= k <= n``, ``k <= n - 1`` with ``exclude_self``).
        exclude_self: leave-one-out: ``queries`` ARE ``reference`` (row ``i`` is reference ``i``),
            and each row is not its own neighbour.
        chunk_size: queries per matrix product (bounds memory to ``chunk_size * n`` floats).

    Returns:
        ``(m,)`` float64 distances in ``[0, 2]`` (clipped against rounding).
    """
    q, r = l2_normalise(queries), l2_normalise(reference)
    if q.shape[1] != r.shape[1]:
        raise ValueError(f"queries have {q.shape[1]} dimensions, reference {r.shape[1]}")
    if exclude_self and q.shape[0] != r.shape[0]:
        raise ValueError("exclude_self needs the queries to be the reference rows themselves")
    available = r.shape[0] - int(exclude_self)
    if not 1 <= k <= available:
        what = "other reference rows" if exclude_self else "reference rows"
        raise ValueError(f"k={k} nearest neighbours asked but only {available} {what}")
    out = np.empty(q.shape[0])
    for start in range(0, q.shape[0], chunk_size):
        stop = min(start + chunk_size, q.shape[0])
        dist = 1.0 - q[start:stop] @ r.T
        if exclude_self:
            dist[np.arange(stop - start), np.arange(start, stop)] = np.inf
        if k == 1:
            out[start:stop] = dist.min(axis=1)
        else:
            out[start:stop] = np.partition(dist, k - 1, axis=1)[:, :k].mean(axis=1)
    return np.clip(out, 0.0, 2.0)
