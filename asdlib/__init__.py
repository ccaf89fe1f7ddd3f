"""asdlib: a reproducible companion to Venkatesh et al., DCASE 2022 Task 2 (disentangled MTL for ASD).

The entry points of a study are importable from the package itself; each loads its module on first
use, so ``import asdlib`` imports nothing heavy (no torch, numpy or pandas). A study on a small
synthetic data set, from data to the official metrics::

    import asdlib

    root = asdlib.generate("data", asdlib.get_scale("smoke").synth, machines=("fan",))
    config = asdlib.RunConfig.create("disent", "fan", root, "smoke")
    asdlib.train_run(config, "run")
    summaries = asdlib.score_run("run", truth_dir=root / "eval_truth")
    print(summaries["last"]["cat"]["dev"])   # harmonic means over the dev sections
    print(asdlib.evaluate_dir("run/results/last/cat", truth_dir=root / "eval_truth", machines=["fan"]))

``train_run`` is :func:`asdlib.train.train` (the name ``asdlib.train`` is its module). To embed
clips as a run does, pass the run's settings: ``embed_clips(model, specs,
**run_embedding_settings(run_dir))``.
"""
from __future__ import annotations

import importlib

__version__ = "0.1.0"

# exported name -> "module.attribute", in the order of a study
_EXPORTS = {
    "get_scale": "asdlib.scales.get_scale",
    "generate": "asdlib.synth.generate",
    "index_dataset": "asdlib.data.index_dataset",
    "load_features": "asdlib.features.load_features",
    "RunConfig": "asdlib.train.RunConfig",
    "train_run": "asdlib.train.train",
    "load_model": "asdlib.train.load_model",
    "embed_clips": "asdlib.embed.embed_clips",
    "run_embedding_settings": "asdlib.embed.run_embedding_settings",
    "score_run": "asdlib.inference.score_run",
    "SpaceScorer": "asdlib.scoring.SpaceScorer",
    "make_backend": "asdlib.scoring.make_backend",
    "section_metrics": "asdlib.metrics.section_metrics",
    "official_score": "asdlib.metrics.official_score",
    "gamma_threshold": "asdlib.metrics.gamma_threshold",
    "evaluate_dir": "asdlib.evaluate.evaluate_dir",
}

__all__ = list(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'asdlib' has no attribute {name!r}")
    module, _, attribute = _EXPORTS[name].rpartition(".")
    value = getattr(importlib.import_module(module), attribute)
    globals()[name] = value  # the next lookup does not come here
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
