"""Anomaly scores from clip embeddings: cosine nearest neighbour (Eq. 4), its weighted multi-space
form (Eq. 5), the disentangled model's scoring modes (Sec. 2.2), and other backends.

Every backend follows one contract of its own (per section, unlike scikit-learn's or pyod's detectors)::

    backend.fit(train_embeddings (n, d), train_sections (n,), train_domains (n,) | None) -> backend
    backend.score(test_embeddings (m, d), test_sections (m,)) -> (m,)   # higher = more anomalous
    backend.score_train() -> (n,)   # each training clip against the OTHER training clips of its section
                                    # (leave-one-out where the backend allows; each class says)

Scoring is per section: a clip is compared only with the training clips of its own section (the
paper's Sec. 3.3; the section is known from the file name). :meth:`score_train` gives the scores
that the decision threshold (a gamma fit, :func:`asdlib.metrics.gamma_threshold`) is fitted on. The
training clips' domains ("source"/"target", from the file names) are needed by the backends that
keep the two domains apart (``needs_domains``) and ignored by the others.

Backends by name (:func:`make_backend`, :data:`BACKENDS`): "nn" :class:`NearestNeighbourCosine`
(Eq. 4), "knn" :class:`KNNMeanCosine`, "gmm" :class:`GaussianMixtureScorer` (optionally after a
per-section PCA), "mahalanobis" :class:`MahalanobisScorer` (a single Gaussian with a shrinkage
covariance), and for domain generalisation "knn_domain" :class:`DomainKNN` (a k-NN bank per
domain), "kmeans_target" :class:`KMeansTargetReferences` (k-means centres and the target clips),
"smote_knn" :class:`SMOTEDomainKNN` (the target bank over-sampled) and "knn_ldn"
:class:`LocalDensityKNN` (distances rescaled by the references' local density). Models with several
embedding spaces are scored by :class:`SpaceScorer` / :func:`score_spaces` / :func:`score_spaces_train`.

One module per family: :mod:`~asdlib.scoring.distances` (cosine distances), :mod:`~asdlib.scoring.base`
(the contract), :mod:`~asdlib.scoring.neighbours` (nn, knn), :mod:`~asdlib.scoring.density` (gmm,
mahalanobis), :mod:`~asdlib.scoring.domain` (knn_domain, kmeans_target, smote_knn),
:mod:`~asdlib.scoring.local_density` (knn_ldn), :mod:`~asdlib.scoring.spaces` (several spaces),
:mod:`~asdlib.scoring.registry` (by name). Every name below is importable from ``asdlib.scoring``
and loads its module on first use, so ``import asdlib.scoring`` imports nothing heavy; the backends
import numpy, and scikit-learn, scipy or imbalanced-learn only when they fit. No torch. All
arithmetic is in float64.
"""
from __future__ import annotations

import importlib

# exported name -> the module holding it
_EXPORTS = {
    "l2_normalise": "distances", "nn_cosine_distance": "distances",
    "SectionBackend": "base",
    "KNNMeanCosine": "neighbours", "NearestNeighbourCosine": "neighbours",
    "GaussianMixtureScorer": "density", "MahalanobisScorer": "density", "SHRINKAGE": "density",
    "BACKENDS": "registry", "backend_class": "registry", "make_backend": "registry",
    "DOMAINS": "base",
    "DomainKNN": "domain", "KMeansTargetReferences": "domain", "SMOTEDomainKNN": "domain",
    "LocalDensityKNN": "local_density", "FORMS": "local_density",
    "SpaceScorer": "spaces", "score_spaces": "spaces", "score_spaces_train": "spaces",
    "MODE_ALIASES": "spaces", "CAT_MODES": "spaces",
}

__all__ = list(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'asdlib.scoring' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"asdlib.scoring.{_EXPORTS[name]}"), name)
    globals()[name] = value  # the next lookup does not come here
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
