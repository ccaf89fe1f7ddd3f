"""The contract every scoring backend follows: one model per section (:class:`SectionBackend`).

Imports numpy only.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np


DOMAINS = ("source", "target")
"""The domains a training clip may belong to (DCASE 2022: 990 source and 10 target clips a section)."""


class SectionBackend:
    """Base of the backends: one model per section; subclasses define the per-section pieces.

    A subclass implements ``_fit_section(x (n_sec, d), sec, is_target (n_sec,) bool or None) ->
    state``, ``_score_section(state, x (m_sec, d)) -> (m_sec,)`` and ``_score_train_section(state,
    x (n_sec, d), sec) -> (n_sec,)``. A backend that treats the two domains apart sets
    :attr:`needs_domains`; the others ignore the domains.

    Fitted attributes: ``n_features_in_`` (d), ``sections_`` (sorted section labels),
    ``train_embeddings_`` (n, d), ``train_sections_`` (n,) and ``train_domains_`` ((n,) or None) as
    given to :meth:`fit`, ``models_`` (section -> fitted per-section state).
    """

    needs_domains = False
    """True for a backend that keeps the source and target training clips apart: :meth:`fit` then
    refuses ``domains=None``."""

    def fit(self, embeddings: np.ndarray, sections: Sequence, domains: Sequence | None = None) -> "SectionBackend":
        """Fit one model per section on ``embeddings`` (n, d) with ``sections`` (n,) labels and the
        clips' ``domains`` (n,) ("source"/"target"; None: not known, refused by a backend that
        :attr:`needs_domains`); returns self."""
        x, s = _check_inputs(embeddings, sections)
        d = _check_domains(domains, len(x), type(self).__name__, self.needs_domains)
        self.n_features_in_ = x.shape[1]
        self.train_embeddings_, self.train_sections_, self.train_domains_ = x, s, d
        self.sections_ = np.unique(s)
        self.models_ = {sec: self._fit_section(x[s == sec], sec, None if d is None else d[s == sec] == "target")
                        for sec in self.sections_.tolist()}
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


def _check_domains(domains, n: int, backend: str, needed: bool) -> np.ndarray | None:
    if domains is None:
        if needed:
            raise ValueError(f"backend {backend} scores the source and target training clips apart: fit() needs "
                             f"their domains ({'/'.join(DOMAINS)})")
        return None
    d = np.asarray(domains).astype(str)
    if d.shape != (n,):
        raise ValueError(f"domains must be ({n},) to match the embeddings, got shape {d.shape}")
    unknown = sorted(set(d.tolist()) - set(DOMAINS))
    if unknown:
        raise ValueError(f"domains must be {' or '.join(DOMAINS)}, got {unknown}")
    return d
