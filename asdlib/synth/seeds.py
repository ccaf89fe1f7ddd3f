"""Named random streams: every draw of the generator comes from a stream keyed by what it is for.

A stream is ``numpy.random.Generator(PCG64(SeedSequence([seed, crc32(key1), crc32(key2), ...])))``.
Keys are hashed with ``zlib.crc32`` (stable across processes, unlike Python's ``hash``), so a clip's
audio depends only on (seed, machine, section, split, domain, label, index) and never on which other
clips or machines were generated before it.
"""
from __future__ import annotations

import zlib

import numpy as np


def stream(seed: int, *keys: str | int) -> np.random.Generator:
    """A generator for ``keys`` under the global ``seed`` (a non-negative int).

    Args:
        seed: the data set's seed.
        keys: what the stream is for, e.g. ``("clip", "fan", "00", "train", "source", "normal", 7)``.
    """
    if int(seed) < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed}")
    entropy = [int(seed)] + [zlib.crc32(str(k).encode("utf-8")) for k in keys]
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(entropy)))
