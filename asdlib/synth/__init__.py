"""The synthetic stand-in for the DCASE 2022 Task 2 data: the real layout and file names (:mod:`asdlib.data`,
:mod:`asdlib.names`), every machine, section, domain and attribute key, and every attribute audible,
so that the surrogate tasks are learnable and the domain shift really hurts.

The design rules that were found to matter: the sections of a machine type are units of one
product, sharing the type's base physics and differing by a unit-to-unit perturbation and by their
own domain-shift attribute (with every section drawn apart, the average spectrum alone named the
section, and learned embeddings did no better than a probe without learning); attributes drive
physical parameters (speeds and voltages scale rotation, mesh and motor frequencies; noise letters
pick coloured factory noise; ``mic``, ``loc`` and ``panel`` pick transfer functions); anomalies
perturb the physics with a severity drawn per clip, at a size the scale's features resolve; every
clip carries nuisance (speed and gain jitter of 1-2 %, harmonic amplitude jitter, random phases),
without which speed-type anomalies are trivially detected.

``generate(out, size, seed, machines, strength)`` writes the real layout, names, attribute files and
evaluator-style ground truth (the ``asdlib synth`` command, :mod:`asdlib.cli`). Modules:
``attributes`` (attribute design per machine/section), ``sources`` (machine sound models),
``noise`` and ``channel`` (background and transfer functions), ``anomalies`` (fault types and the
difficulty table), ``clip`` (one clip's audio), ``writer`` (layout, names, CSV files), ``signals``
(vectorised primitives), ``seeds`` (named random streams).
"""
from asdlib.synth.writer import generate

__all__ = ["generate"]
