"""The synthetic stand-in for the DCASE 2022 Task 2 data (``shared/DATASET.md``, "A synthetic stand-in").

``generate(out, size, seed, machines, strength)`` writes the real layout, names, attribute files and
evaluator-style ground truth; ``register`` adds the ``asdlib synth`` command. Modules:
``attributes`` (attribute design per machine/section), ``sources`` (machine sound models),
``noise`` and ``channel`` (background and transfer functions), ``anomalies`` (fault types and the
difficulty table), ``clip`` (one clip's audio), ``writer`` (layout, names, CSV files), ``signals``
(vectorised primitives), ``seeds`` (named random streams), ``command`` (the CLI).
"""
from asdlib.synth.command import register
from asdlib.synth.writer import generate

__all__ = ["generate", "register"]
