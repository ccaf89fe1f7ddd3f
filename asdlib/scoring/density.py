"""Density backends, not in the paper: a Gaussian mixture per section and a single Gaussian with a
shrinkage covariance (its Mahalanobis distance).

Imports numpy at import time; scikit-learn and scipy when a model is fitted.
"""
from __future__ import annotations

import numpy as np

from asdlib.scoring.base import SectionBackend
from asdlib.scoring.distances import l2_normalise


class GaussianMixtureScorer(SectionBackend):
    """A scikit-learn ``GaussianMixture`` per section; score = negative log-likelihood.

    Not in the paper (an alternative backend, as pyod's GMM detector). Embeddings are
    L2-normalised first when ``normalize`` (cosine geometry, like Eq. 4). Seeded by ``seed``.

    With ``pca_dims`` the mixture is fitted on the first ``pca_dims`` principal components of the
    section's (normalised) training clips, a PCA fitted per section (``pca_dims <= min(n, d)``), and
    a clip is scored by the likelihood of its projection: a form that suits few clips per section
    (n << d). Without it, a full covariance on n <= d clips has rank below d and the likelihood is
    governed by ``reg_covar`` (the variance added in every direction).

    :meth:`score_train` is NOT leave-one-out: it is the in-sample NLL of each training clip under
    the mixture fitted on all clips of its section including itself, so it is biased low.
    """

    def __init__(self, n_components: int = 1, covariance_type: str = "full", normalize: bool = True,
                 reg_covar: float = 1e-6, pca_dims: int | None = None, seed: int = 0):
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.normalize = normalize
        self.reg_covar = reg_covar
        self.pca_dims = pca_dims
        self.seed = seed

    def _prepare(self, x):
        return l2_normalise(x) if self.normalize else x

    def _fit_section(self, x, sec, is_target):
        from sklearn.decomposition import PCA
        from sklearn.mixture import GaussianMixture
        from sklearn.pipeline import make_pipeline

        if len(x) < max(2, self.n_components):
            raise ValueError(f"section {sec!r} has {len(x)} training clips; a {self.n_components}-component "
                             "mixture needs at least max(2, n_components)")
        model = GaussianMixture(self.n_components, covariance_type=self.covariance_type,
                                reg_covar=self.reg_covar, random_state=self.seed)
        if self.pca_dims is not None:
            model = make_pipeline(PCA(self.pca_dims, random_state=self.seed), model)
        return model.fit(self._prepare(x))

    def _score_section(self, model, x):
        return -model.score_samples(self._prepare(x))

    def _score_train_section(self, model, x, sec):
        return self._score_section(model, x)


SHRINKAGE = ("ledoit_wolf", "oas")
"""The shrinkage covariances of :class:`MahalanobisScorer`: scikit-learn's ``ledoit_wolf`` and ``oas``."""


class MahalanobisScorer(SectionBackend):
    """A single Gaussian per section with a shrinkage covariance: score = the squared Mahalanobis
    distance to the section's training embeddings, which ranks a section's clips as the Gaussian's
    negative log-likelihood does (twice the NLL is the distance plus a per-section constant).

    ``shrinkage`` (:data:`SHRINKAGE`): the covariance is scikit-learn's ``ledoit_wolf`` or ``oas``
    (Oracle Approximating Shrinkage), the sample covariance shrunk towards a multiple of the
    identity by an amount estimated from the data, so it is positive definite however few the clips
    (n << d), as is common for anomaly detection on embeddings. The distance is computed through
    its Cholesky factor (``LedoitWolf().mahalanobis`` gives the same through a pseudo-inverse, ~5x
    slower).

    Not in the paper. Embeddings are L2-normalised first when ``normalize``. :meth:`score_train` is
    in-sample (each training clip under the mean and covariance fitted with it), so biased low.
    """

    def __init__(self, shrinkage: str = "ledoit_wolf", normalize: bool = True):
        self.shrinkage = shrinkage
        self.normalize = normalize

    def _prepare(self, x):
        return l2_normalise(x) if self.normalize else x

    def _fit_section(self, x, sec, is_target):
        from scipy.linalg import cholesky
        from sklearn.covariance import ledoit_wolf, oas

        if self.shrinkage not in SHRINKAGE:
            raise ValueError(f"unknown shrinkage {self.shrinkage!r}; choose one of {SHRINKAGE}")
        if len(x) < 2:
            raise ValueError(f"section {sec!r} has {len(x)} training clips; a covariance needs at least 2")
        x = self._prepare(x)
        covariance, _ = (ledoit_wolf if self.shrinkage == "ledoit_wolf" else oas)(x)
        return x.mean(axis=0), cholesky(covariance, lower=True)

    def _score_section(self, model, x):
        from scipy.linalg import solve_triangular

        mean, factor = model
        z = solve_triangular(factor, (self._prepare(x) - mean).T, lower=True)
        return np.sum(z ** 2, axis=0)

    def _score_train_section(self, model, x, sec):
        return self._score_section(model, x)
