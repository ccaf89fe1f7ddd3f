"""The contract every scoring backend follows: one model per section (:class:`SectionBackend`).

Imports numpy only.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np


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
