"""The backends by name (:data:`BACKENDS`, :func:`make_backend`): light, so the command line lists
them without importing numpy."""
from __future__ import annotations

import importlib

BACKENDS = {
    "nn": "asdlib.scoring.neighbours.NearestNeighbourCosine",
    "knn": "asdlib.scoring.neighbours.KNNMeanCosine",
    "gmm": "asdlib.scoring.density.GaussianMixtureScorer",
    "mahalanobis": "asdlib.scoring.density.MahalanobisScorer",
    "knn_domain": "asdlib.scoring.domain.DomainKNN",
    "kmeans_target": "asdlib.scoring.domain.KMeansTargetReferences",
    "smote_knn": "asdlib.scoring.domain.SMOTEDomainKNN",
    "knn_ldn": "asdlib.scoring.local_density.LocalDensityKNN",
}
"""Backend name -> its class, as "module.Class" (imported by :func:`make_backend`)."""


def backend_class(name: str) -> type:
    """The class of the backend ``name`` (a key of :data:`BACKENDS`)."""
    try:
        module, _, cls = BACKENDS[name].rpartition(".")
    except KeyError:
        raise ValueError(f"unknown backend {name!r}; choose one of {sorted(BACKENDS)}") from None
    return getattr(importlib.import_module(module), cls)


def make_backend(name: str, **kwargs):
    """A backend by name: "nn" (Eq. 4), "knn" (``k=``), "gmm" (``n_components=``, ``covariance_type=``,
    ``pca_dims=``, ...), "mahalanobis" (``shrinkage=``), and the domain-generalisation backends
    "knn_domain" (``k=``), "kmeans_target" (``n_clusters=``), "smote_knn" (``k=``, ``k_neighbors=``,
    ``ratio=``) and "knn_ldn" (``k=``, ``density_k=``, ``form=``)."""
    return backend_class(name)(**kwargs)
