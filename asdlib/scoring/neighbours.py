"""Nearest-neighbour backends: the paper's cosine nearest neighbour (Eq. 4) and the mean over the k nearest.

Imports numpy only.
"""
from __future__ import annotations

from asdlib.scoring.base import SectionBackend
from asdlib.scoring.distances import nn_cosine_distance


class KNNMeanCosine(SectionBackend):
    """Mean cosine distance to the ``k`` nearest training clips of the clip's section (k=1: Eq. 4).

    :meth:`score_train` is exact leave-one-out: each training clip against the others of its section.
    """

    def __init__(self, k: int = 5, chunk_size: int = 2048):
        self.k = k
        self.chunk_size = chunk_size

    def _fit_section(self, x, sec, is_target):
        if len(x) < self.k:
            raise ValueError(f"section {sec!r} has {len(x)} training clips, fewer than k={self.k}")
        return x

    def _score_section(self, train, x):
        return nn_cosine_distance(x, train, self.k, chunk_size=self.chunk_size)

    def _score_train_section(self, train, x, sec):
        if len(train) <= self.k:
            raise ValueError(f"section {sec!r} has {len(train)} training clips; leave-one-out "
                             f"with k={self.k} needs at least {self.k + 1}")
        return nn_cosine_distance(train, train, self.k, exclude_self=True, chunk_size=self.chunk_size)


class NearestNeighbourCosine(KNNMeanCosine):
    """Eq. (4): score = min over the section's training embeddings of ``1 - cos(e, e_train)``.

    :meth:`score_train` is exact leave-one-out (the paper's threshold scores).
    """

    def __init__(self, chunk_size: int = 2048):
        super().__init__(k=1, chunk_size=chunk_size)
