"""Models with several embedding spaces (Sec. 2.2): Disent.Cat, Eq. (5)'s weighted sum, one space alone.

Imports numpy only (the backends by name from :func:`asdlib.scoring.make_backend`).
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from asdlib.scoring.distances import l2_normalise
from asdlib.scoring.registry import make_backend

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

    def fit(self, spaces: Mapping[str, np.ndarray], sections: Sequence,
            domains: Sequence | None = None) -> "SpaceScorer":
        """Fit on ``spaces`` (space name -> (n, d_space)) with ``sections`` (n,) and the clips'
        ``domains`` (n,) ("source"/"target"; None: not known, refused by a domain-aware backend);
        returns self."""
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
        self.backends_ = {name: make_backend(self.backend, **self.backend_kwargs).fit(inputs[name], sections, domains)
                          for name in self.weights_}
        return self

    def score(self, spaces: Mapping[str, np.ndarray], sections: Sequence) -> np.ndarray:
        """Anomaly scores ``(m,)`` of the test clips given as ``spaces`` (space name -> (m, d_space))."""
        if not hasattr(self, "backends_"):
            raise RuntimeError("SpaceScorer is not fitted; call fit() first")
        inputs = self._inputs(spaces)
        return sum(w * self.backends_[name].score(inputs[name], sections) for name, w in self.weights_.items())

    def score_train(self) -> np.ndarray:
        """Training scores ``(n,)`` of the mode, combined as in :meth:`score` (leave-one-out where the backend allows)."""
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
                 train_domains: Sequence | None = None, **backend_kwargs) -> np.ndarray:
    """Test scores ``(m,)`` of a multi-space model in ``mode`` (see :class:`SpaceScorer`; Sec. 2.2, Eq. 4-5).

    ``train``: space name -> (n, d_space) training embeddings with ``train_sections`` (n,) and
    ``train_domains`` (n,) (needed by a domain-aware backend);
    ``test``: space name -> (m, d_space) with ``test_sections`` (m,). Higher = more anomalous.
    """
    return SpaceScorer(mode, weights, backend, **backend_kwargs).fit(train, train_sections, train_domains).score(
        test, test_sections)


def score_spaces_train(train: Mapping[str, np.ndarray], train_sections: Sequence, mode: str, weights=None,
                       backend: str = "nn", train_domains: Sequence | None = None, **backend_kwargs) -> np.ndarray:
    """Training scores ``(n,)`` in ``mode`` for the decision threshold (leave-one-out where the backend allows)."""
    return SpaceScorer(mode, weights, backend, **backend_kwargs).fit(train, train_sections, train_domains).score_train()
