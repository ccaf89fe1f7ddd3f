"""Every trainable system of the study by name: its model, its settings per scale, how it scores.

Two kinds of system share one training loop (:func:`asdlib.train.train`) and one scoring command
(:func:`asdlib.inference.score_run`):

* embedding systems (:data:`asdlib.models.mobilefacenet.SYSTEMS`: the paper's MobileFaceNet variants) learn
  surrogate tasks; clips are scored by a backend on their embeddings (Eq. 4, 5);
* direct systems (the DCASE 2022 AE and MobileNetV2 baselines, ANP) score each chunk themselves.
  Their model class provides ``chunk_scores(x (B,1,T,F), section (B,)) -> (B,)`` (higher = more
  anomalous); a clip's score is the mean over its chunks.

A direct system's module holds ``SETTINGS[scale_name] = {"features": FeatureSpec, "train": {...}}``:
its own input features and training settings at each scale (e.g. the baselines' log-mel input).
"""
from __future__ import annotations

import dataclasses
import importlib

from asdlib.scales import Scale

# the paper's MobileFaceNet systems (asdlib.models.mobilefacenet builds them)
EMBEDDING_SYSTEMS = ("sec_softmax", "sec_arcface", "mtl", "disent", "disent_split", "adversarial")
# system name -> (module, class) of the direct systems
DIRECT = {
    "ae": ("asdlib.models.autoencoder", "AutoEncoder"),
    "mn": ("asdlib.models.mobilenetv2", "MobileNetV2Classifier"),
    "anp": ("asdlib.models.anp", "AttentiveNeuralProcess"),
}
ALL_SYSTEMS = EMBEDDING_SYSTEMS + tuple(DIRECT)


def is_direct(system: str) -> bool:
    return system in DIRECT


def _direct_module(system: str):
    module, _ = DIRECT[system]
    return importlib.import_module(module)


def resolve_scale(system: str, scale: Scale) -> Scale:
    """The scale's settings as ``system`` uses them (a direct system brings its own features/training)."""
    if not is_direct(system):
        return scale
    own = _direct_module(system).SETTINGS[scale.name]
    return dataclasses.replace(scale, features=own["features"],
                               train=dataclasses.replace(scale.train, **own.get("train", {})))


def build(system: str, n_bins: int, n_sections: int, attribute_classes: dict[str, int],
          shift_sections, chunk_frames: int, width: float = 1.0):
    """A fresh model of ``system`` for inputs (B, 1, chunk_frames, n_bins) (arguments: see
    :func:`asdlib.models.mobilefacenet.build_model`; direct systems use only the sizes)."""
    if is_direct(system):
        module, cls = DIRECT[system]
        return getattr(importlib.import_module(module), cls)(n_bins=n_bins, chunk_frames=chunk_frames,
                                                             n_sections=n_sections)
    from asdlib.models.mobilefacenet import build_model

    return build_model(system, n_bins=n_bins, n_sections=n_sections, attribute_classes=attribute_classes,
                       shift_sections=shift_sections, chunk_frames=chunk_frames, width=width)


def from_config(cfg: dict):
    """Rebuild a model from its ``describe()`` dictionary (saved in a run's ``config.json``)."""
    system = cfg["system"]
    if is_direct(system):
        module, cls = DIRECT[system]
        return getattr(importlib.import_module(module), cls).from_config(cfg)
    from asdlib.models.mobilefacenet import ASDModel

    return ASDModel.from_config(cfg)
