"""Anomaly scores from clip embeddings: cosine nearest neighbour (Eq. 4), its weighted multi-space
form (Eq. 5), and the disentangled model's scoring modes (Sec. 2.2).

Every backend follows one contract of its own (per section, unlike scikit-learn's or pyod's detectors)::

    backend.fit(train_embeddings (n, d), train_sections (n,)) -> backend
    backend.score(test_embeddings (m, d), test_sections (m,)) -> (m,)   # higher = more anomalous
    backend.score_train() -> (n,)   # each training clip against the OTHER training clips of its section
                                    # (nn, knn; in-sample for the density backends gmm, mahalanobis)

Scoring is per section: a clip is compared only with the training clips of its own section (the
paper's Sec. 3.3; the section is known from the file name). :meth:`score_train` gives the scores
that the decision threshold (a gamma fit, :func:`asdlib.metrics.gamma_threshold`) is fitted on.

Backends by name (:func:`make_backend`): "nn" :class:`NearestNeighbourCosine` (Eq. 4), "knn"
:class:`KNNMeanCosine`, "gmm" :class:`GaussianMixtureScorer` (optionally after a per-section PCA),
"mahalanobis" :class:`MahalanobisScorer` (a single Gaussian with a shrinkage covariance). Models
with several embedding spaces are scored by :class:`SpaceScorer` / :func:`score_spaces` /
:func:`score_spaces_train`.

Imports numpy and scikit-learn only (no torch). All arithmetic is in float64.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
from sklearn.mixture import GaussianMixture

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


class SectionBackend:
    """Base of the backends: one model per section; subclasses define the per-section pieces.

    Fitted attributes: ``n_features_in_`` (d), ``sections_`` (sorted section labels),
    ``train_embeddings_`` (n, d) and ``train_sections_`` (n,) as given to :meth:`fit`,
    ``models_`` (section -> fitted per-section state).
    """

    def fit(self, embeddings: np.ndarray, sections: Sequence) -> "SectionBackend":
        """Fit one model per section on ``embeddings`` (n, d) with ``sections`` (n,) labels; returns self."""
        x, s = _check_inputs(embeddings, sections)
        self.n_features_in_ = x.shape[1]
        self.train_embeddings_, self.train_sections_ = x, s
        self.sections_ = np.unique(s)
        self.models_ = {sec: self._fit_section(x[s == sec], sec) for sec in self.sections_.tolist()}
        return self

    def score(self, embeddings: np.ndarray, sections: Sequence) -> np.ndarray:
        """Anomaly scores ``(m,)`` of ``embeddings`` (m, d), each against its own section (``sections`` (m,))."""
        if not hasattr(self, "models_"):
            raise RuntimeError(f"{type(self).__name__} is not fitted; call fit() first")
        x, s = _check_inputs(embeddings, sections)
        if x.shape[1] != self.n_features_in_:
            raise ValueError(f"embeddings have {x.shape[1]} dimensions; fitted on {self.n_features_in_}")
        missing = sorted(set(s.tolist()) - set(self.models_))
        if missing:
            raise ValueError(f"no training clips for section(s) {missing}; "
                             f"fitted sections: {self.sections_.tolist()}")
        out = np.empty(len(x))
        for sec in np.unique(s).tolist():
            rows = np.flatnonzero(s == sec)
            out[rows] = self._score_section(self.models_[sec], x[rows])
        return out

    def score_train(self) -> np.ndarray:
        """Scores ``(n,)`` of the training clips, in fit order (for the decision threshold); see the subclass."""
        if not hasattr(self, "models_"):
            raise RuntimeError(f"{type(self).__name__} is not fitted; call fit() first")
        out = np.empty(len(self.train_sections_))
        for sec in self.sections_.tolist():
            rows = np.flatnonzero(self.train_sections_ == sec)
            out[rows] = self._score_train_section(self.models_[sec], self.train_embeddings_[rows], sec)
        return out


class KNNMeanCosine(SectionBackend):
    """Mean cosine distance to the ``k`` nearest training clips of the clip's section (k=1: Eq. 4).

    :meth:`score_train` is exact leave-one-out: each training clip against the others of its section.
    """

    def __init__(self, k: int = 5, chunk_size: int = 2048):
        self.k = k
        self.chunk_size = chunk_size

    def _fit_section(self, x, sec):
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

    def _fit_section(self, x, sec):
        from sklearn.decomposition import PCA
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

    def _fit_section(self, x, sec):
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


BACKENDS = {"nn": NearestNeighbourCosine, "knn": KNNMeanCosine, "gmm": GaussianMixtureScorer,
            "mahalanobis": MahalanobisScorer}


def make_backend(name: str, **kwargs) -> SectionBackend:
    """A backend by name: "nn" (Eq. 4), "knn" (``k=``), "gmm" (``n_components=``, ``covariance_type=``,
    ``pca_dims=``, ...), "mahalanobis" (``shrinkage=``)."""
    try:
        return BACKENDS[name](**kwargs)
    except KeyError:
        raise ValueError(f"unknown backend {name!r}; choose one of {sorted(BACKENDS)}") from None


MODE_ALIASES = {"sec": "section", "att": "attribute"}
CAT_MODES = ("cat", "cat_norm")


class SpaceScorer:
    """Scores a model with several embedding spaces (Sec. 2.2), same contract as the backends.

    Modes (``mode``):

    * ``"cat"`` - Disent.Cat, the paper's form: the raw embeddings concatenated,
      ``z_C = [z_S; z_A]`` (all spaces, in sorted name order, which a cosine does not notice), then
      the backend; with "nn" Eq. (4) on ``z_C``, so a space with larger norms weighs more.
    * ``"cat_norm"`` - not in the paper: every space L2-normalised before the concatenation, so
      each space weighs the same in the joint cosine.
    * ``"sec"`` / ``"att"`` - the "section" / "attribute" space alone.
    * ``"wt"`` - Eq. (5): ``w_S * d_S + w_A * d_A``, the weighted sum of the per-space backend scores
      (per-space nearest-neighbour distances with "nn", each space with its own nearest
      neighbour). ``weights`` is ``(w_S, w_A)`` or a dict space -> weight (for split models).
    * any space name (``"mtl"``, ``"attr:<key>"``, ...) - that space alone.

    Fitted attributes: ``weights_`` (input name -> weight; the input "cat" for the cat modes),
    ``cat_spaces_`` (the spaces concatenated; None unless a cat mode), ``backends_`` (input name ->
    fitted backend).
    """

    def __init__(self, mode: str, weights=None, backend: str = "nn", **backend_kwargs):
        self.mode = mode
        self.weights = weights
        self.backend = backend
        self.backend_kwargs = backend_kwargs

    def fit(self, spaces: Mapping[str, np.ndarray], sections: Sequence) -> "SpaceScorer":
        """Fit on ``spaces`` (space name -> (n, d_space)) with ``sections`` (n,); returns self."""
        if not spaces:
            raise ValueError("no embedding spaces given")
        mode = MODE_ALIASES.get(self.mode, self.mode)
        if self.weights is not None and mode != "wt":
            raise ValueError(f"weights are only used by mode 'wt', not {self.mode!r}")
        self.cat_spaces_ = sorted(spaces) if mode in CAT_MODES else None
        if mode in CAT_MODES:
            self.weights_ = {"cat": 1.0}
        elif mode == "wt":
            if self.weights is None:
                raise ValueError("mode 'wt' (Eq. 5) needs weights: (w_S, w_A) or {space: weight}")
            weights = self.weights if isinstance(self.weights, Mapping) else \
                dict(zip(("section", "attribute"), self.weights, strict=True))
            self.weights_ = {name: float(w) for name, w in weights.items()}
        elif mode in spaces:
            self.weights_ = {mode: 1.0}
        else:
            raise ValueError(f"unknown mode {self.mode!r}: use 'cat', 'cat_norm', 'wt', 'sec', 'att' or a space name "
                             f"of {sorted(spaces)}")
        inputs = self._inputs(spaces)
        self.backends_ = {name: make_backend(self.backend, **self.backend_kwargs).fit(inputs[name], sections)
                          for name in self.weights_}
        return self

    def score(self, spaces: Mapping[str, np.ndarray], sections: Sequence) -> np.ndarray:
        """Anomaly scores ``(m,)`` of the test clips given as ``spaces`` (space name -> (m, d_space))."""
        if not hasattr(self, "backends_"):
            raise RuntimeError("SpaceScorer is not fitted; call fit() first")
        inputs = self._inputs(spaces)
        return sum(w * self.backends_[name].score(inputs[name], sections) for name, w in self.weights_.items())

    def score_train(self) -> np.ndarray:
        """Training scores ``(n,)`` of the mode, combined as in :meth:`score` (leave-one-out for "nn"/"knn")."""
        if not hasattr(self, "backends_"):
            raise RuntimeError("SpaceScorer is not fitted; call fit() first")
        return sum(w * self.backends_[name].score_train() for name, w in self.weights_.items())

    def _inputs(self, spaces: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        needed = self.cat_spaces_ or list(self.weights_)
        missing = [name for name in needed if name not in spaces]
        if missing:
            raise ValueError(f"mode {self.mode!r} needs space(s) {missing}; got {sorted(spaces)}")
        if self.cat_spaces_:
            prepare = l2_normalise if self.mode == "cat_norm" else np.asarray
            return {"cat": np.concatenate([prepare(spaces[name]) for name in self.cat_spaces_], axis=1)}
        return {name: spaces[name] for name in self.weights_}


def score_spaces(train: Mapping[str, np.ndarray], test: Mapping[str, np.ndarray], train_sections: Sequence,
                 test_sections: Sequence, mode: str, weights=None, backend: str = "nn",
                 **backend_kwargs) -> np.ndarray:
    """Test scores ``(m,)`` of a multi-space model in ``mode`` (see :class:`SpaceScorer`; Sec. 2.2, Eq. 4-5).

    ``train``: space name -> (n, d_space) training embeddings with ``train_sections`` (n,);
    ``test``: space name -> (m, d_space) with ``test_sections`` (m,). Higher = more anomalous.
    """
    return SpaceScorer(mode, weights, backend, **backend_kwargs).fit(train, train_sections).score(test, test_sections)


def score_spaces_train(train: Mapping[str, np.ndarray], train_sections: Sequence, mode: str, weights=None,
                       backend: str = "nn", **backend_kwargs) -> np.ndarray:
    """Training scores ``(n,)`` in ``mode`` for the decision threshold (leave-one-out with "nn"/"knn")."""
    return SpaceScorer(mode, weights, backend, **backend_kwargs).fit(train, train_sections).score_train()


def _check_inputs(embeddings, sections) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(embeddings, dtype=np.float64)
    s = np.asarray(sections)
    if x.ndim != 2:
        raise ValueError(f"embeddings must be (n_clips, dim), got shape {x.shape}")
    if s.shape != (len(x),):
        raise ValueError(f"sections must be ({len(x)},) to match the embeddings, got shape {s.shape}")
    if not np.isfinite(x).all():
        raise ValueError("embeddings hold NaN or infinite values")
    return x, s
