"""Domain-aware reference banks: backends that keep a section's source and target training clips apart.

A target clip has few references (DCASE 2022: 10 target against 990 source clips a section), so a
target normal clip can lie farther from its nearest training clips than a source anomaly does. These
backends give the target domain references of its own, and a clip's score is its distance to the
nearer bank:

* :class:`DomainKNN` ("knn_domain"): a k-NN distance to each domain's bank, the smaller wins;
* :class:`KMeansTargetReferences` ("kmeans_target"): k-means centres of the section's training clips
  together with every target clip as references (Wilkinghoff, ICASSP 2023);
* :class:`SMOTEDomainKNN` ("smote_knn"): :class:`DomainKNN` with the target bank over-sampled by SMOTE.

Every distance is the cosine distance of :func:`asdlib.scoring.distances.nn_cosine_distance`. Each
needs the training clips' domains. Imports numpy at import time; scikit-learn or imbalanced-learn
when a model is fitted.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from asdlib.scoring.base import SectionBackend
from asdlib.scoring.distances import l2_normalise, nn_cosine_distance


def bank_distance(queries: np.ndarray, bank: np.ndarray, k: int, exclude_self: bool = False) -> np.ndarray:
    """(m,) mean cosine distance from ``queries`` (m, d) to their ``min(k, available)`` nearest rows
    of ``bank`` (b, d): a bank with fewer than ``k`` clips is averaged over all of them; infinite
    when it has none. ``exclude_self``: leave-one-out, ``queries`` are ``bank`` (as in
    :func:`~asdlib.scoring.distances.nn_cosine_distance`)."""
    available = len(bank) - int(exclude_self)
    if available < 1:
        return np.full(len(queries), np.inf)
    return nn_cosine_distance(queries, bank, min(k, available), exclude_self=exclude_self)


class Banks(NamedTuple):
    """A section's references: its ``source`` (n_s, d) and ``target`` (n_t, d) training clips
    (L2-normalised), the references ``added`` (n_a, d) to the target bank (SMOTE's new target clips;
    empty for plain banks), and ``is_target`` (n_s + n_t,) the training clips' domains in fit order."""

    source: np.ndarray
    target: np.ndarray
    added: np.ndarray
    is_target: np.ndarray

    @classmethod
    def split(cls, x: np.ndarray, sec, is_target: np.ndarray) -> "Banks":
        if not (~is_target).any():
            raise ValueError(f"section {sec!r} has no source training clips")
        return cls(x[~is_target], x[is_target], x[:0], is_target)


class DomainKNN(SectionBackend):
    """k-NN with one reference bank per domain: score = ``min(d_k(e, source bank), d_k(e, target
    bank))``, ``d_k`` the mean cosine distance to the ``k`` nearest clips of a bank (all of them when
    it has fewer), so a clip is judged by the domain it lies nearer to.

    The ASD toolkit's ``Knn`` backend with separate source and target neighbours (Fujimura,
    Wilkinghoff, Imoto, Toda, "ASDKit", arXiv:2507.10264, 2025; TakuyaFujimura/dcase-asd-toolkit,
    ``asdkit/backends/knn.py``), here with one ``k`` for both banks and the cosine distance itself.
    With ``k=1`` it is nn (Eq. 4) exactly: the nearest clip of all is the nearer of the two banks'
    nearest. For ``k > 1`` it differs from knn on the pooled clips: a target clip's ``k`` nearest are
    not diluted by far source clips when its own domain has few references.

    :meth:`score_train` is exact leave-one-out: each training clip against the other clips of its
    bank and all of the other bank.
    """

    needs_domains = True

    def __init__(self, k: int = 2):
        self.k = k

    def _fit_section(self, x, sec, is_target):
        self._check_settings()
        banks = Banks.split(l2_normalise(x), sec, is_target)
        return banks._replace(added=self._added(banks.source, banks.target))

    def _check_settings(self):
        if self.k < 1:
            raise ValueError(f"k={self.k}: at least one neighbour")

    def _added(self, source: np.ndarray, target: np.ndarray) -> np.ndarray:
        """(n_added, d) references added to the target bank (L2-normalised ``source`` (n_s, d) and
        ``target`` (n_t, d) clips): none here (see :class:`SMOTEDomainKNN`)."""
        return target[:0]

    def _score_section(self, banks, x):
        target = np.vstack([banks.target, banks.added])
        return np.minimum(bank_distance(x, banks.source, self.k), bank_distance(x, target, self.k))

    def _score_train_section(self, banks, x, sec):
        out = np.empty(len(banks.is_target))
        out[~banks.is_target] = np.minimum(bank_distance(banks.source, banks.source, self.k, exclude_self=True),
                                           bank_distance(banks.source, np.vstack([banks.target, banks.added]), self.k))
        for i, row in enumerate(np.flatnonzero(banks.is_target)):  # the target bank without the clip
            clip, bank = banks.target[i:i + 1], np.vstack([np.delete(banks.target, i, axis=0), banks.added])
            out[row] = min(bank_distance(clip, banks.source, self.k)[0], bank_distance(clip, bank, self.k)[0])
        return out


class SMOTEDomainKNN(DomainKNN):
    """:class:`DomainKNN` with the target bank over-sampled by SMOTE (Chawla et al., JAIR 2002):
    new target references on the segments between a target clip and one of its ``k_neighbors``
    nearest target clips (Euclidean, on the L2-normalised clips), until the target bank holds
    ``ratio`` times as many clips as the source bank (imbalanced-learn's ``SMOTE``; seeded by
    ``seed``). As the ASD toolkit's kNN + SMOTE (``asdkit/backends/knn.py``, ``smote_ratio``; its
    default ``k=1``, ``k_neighbors=2``, ratio 0.2). With ``k=1`` it is nn on the training clips and
    SMOTE's new references.

    A target bank that already holds ``ratio`` times the source bank, or has fewer than 2 clips, is
    not over-sampled; ``k_neighbors`` is capped at the target clips less one.

    :meth:`score_train` is partly in-sample: a training clip is left out of its own bank, but SMOTE's
    references made from a target clip stay (over-sampling again without each target clip would cost
    a SMOTE fit per clip), so a target clip's score is biased low; a source clip's is leave-one-out
    (SMOTE's references do not depend on the source clips, only their number does).
    """

    def __init__(self, k: int = 1, k_neighbors: int = 2, ratio: float = 1.0, seed: int = 0):
        super().__init__(k)
        self.k_neighbors = k_neighbors
        self.ratio = ratio
        self.seed = seed

    def _check_settings(self):
        super()._check_settings()
        if self.k_neighbors < 1 or not self.ratio > 0:
            raise ValueError(f"SMOTE needs k_neighbors >= 1 and ratio > 0, got {self.k_neighbors} and {self.ratio}")

    def _added(self, source, target):
        from imblearn.over_sampling import SMOTE

        wanted = int(round(self.ratio * len(source)))
        if len(target) < 2 or wanted <= len(target):
            return target[:0]
        smote = SMOTE(sampling_strategy={1: wanted}, k_neighbors=min(self.k_neighbors, len(target) - 1),
                      random_state=self.seed)
        resampled, _ = smote.fit_resample(np.vstack([source, target]),
                                          np.r_[np.zeros(len(source), int), np.ones(len(target), int)])
        return resampled[len(source) + len(target):]


class Centres(NamedTuple):
    """A section's k-means references: its training ``clips`` (n, d) (L2-normalised) with their
    domains ``is_target`` (n,), the cluster of each clip ``labels`` (n,) and the clusters'
    ``centres`` (c, d), each the mean of its clips."""

    clips: np.ndarray
    is_target: np.ndarray
    labels: np.ndarray
    centres: np.ndarray


def _cosine_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(m, n) cosine distances between the rows of ``a`` (m, d) and ``b`` (n, d), in [0, 2]."""
    return np.clip(1.0 - l2_normalise(a) @ l2_normalise(b).T, 0.0, 2.0)


class KMeansTargetReferences(SectionBackend):
    """References = the ``n_clusters`` k-means centres of the section's training clips plus every
    target training clip; score = the cosine distance to the nearest reference (Eq. 4 against them).

    Wilkinghoff, "Design choices for learning embeddings from auxiliary tasks for domain
    generalization in anomalous sound detection", ICASSP 2023: this follows its code
    (wilkinghoff/icassp2023 ``main.py``), which fits the centres on ALL the training clips of a
    section, source and target; the ASD toolkit's reading (``asdkit/backends/kmeans.py``) fits them
    on the source clips only. The clips are L2-normalised before k-means (scikit-learn's ``KMeans``,
    k-means++ seeded by ``seed``, ``n_init`` starts: 1 as scikit-learn's default for k-means++, where
    that code ran with the then default 10, ten times the cost); a centre is the mean of its
    cluster's clips, compared by its direction (its cosine distance), where that code takes the dot
    product with the raw mean. ``n_clusters`` is capped at the section's clips: with a centre per
    clip, the score is nn's.

    :meth:`score_train` leaves each clip out of its own cluster's centre (the mean of the cluster's
    other clips; no centre when it was alone) and, for a target clip, out of the target references;
    the clusters themselves are those fitted with every clip (in-sample). With a centre per clip this
    is nn's leave-one-out. Needs the training clips' domains.
    """

    needs_domains = True

    def __init__(self, n_clusters: int = 16, n_init: int = 1, seed: int = 0):
        self.n_clusters = n_clusters
        self.n_init = n_init
        self.seed = seed

    def _fit_section(self, x, sec, is_target):
        from sklearn.cluster import KMeans

        if not (~is_target).any():
            raise ValueError(f"section {sec!r} has no source training clips")
        x = l2_normalise(x)
        labels = KMeans(min(self.n_clusters, len(x)), n_init=self.n_init, random_state=self.seed).fit(x).labels_
        labels = np.unique(labels, return_inverse=True)[1]  # clusters 0..c-1, none empty
        counts = np.bincount(labels)
        centres = np.stack([x[labels == c].sum(axis=0) for c in range(len(counts))]) / counts[:, None]
        return Centres(x, is_target, labels, centres)

    def _score_section(self, state, x):
        return nn_cosine_distance(x, np.vstack([state.centres, state.clips[state.is_target]]))

    def _score_train_section(self, state, x, sec):
        clips, labels, n = state.clips, state.labels, len(state.clips)
        counts = np.bincount(labels)
        dist = _cosine_matrix(clips, state.centres)                         # (n, c)
        others = state.centres[labels] * counts[labels, None] - clips        # (n, d) own cluster less the clip
        own = np.clip(1.0 - np.sum(clips * l2_normalise(others), axis=1), 0.0, 2.0)
        dist[np.arange(n), labels] = np.where(counts[labels] > 1, own, np.inf)
        out = dist.min(axis=1)
        target, t = clips[state.is_target], state.is_target
        out[~t] = np.minimum(out[~t], bank_distance(clips[~t], target, 1))
        out[t] = np.minimum(out[t], bank_distance(target, target, 1, exclude_self=True))
        return out
