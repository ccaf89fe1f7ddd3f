"""Anomaly types per machine, their severity, and the difficulty table (:data:`MULTIPLIER`).

An anomalous clip carries one fault, drawn per clip: a type of its machine and a severity. The source
model of the machine (``asdlib.synth.sources``) reads the fault as a knob named after the type. Every
fault changes something the quick scale's features resolve (energy moved by more than a 62.5 Hz bin,
or a pattern at the 8 ms frame rate: bursts, clicks, chatter), mostly in time rather than in the
average spectrum, and its size is set by calibration (:mod:`asdlib.synth.ladder`), not by the physics
knob alone: :data:`MULTIPLIER` was raised or lowered per machine until the supervised ceiling reached
0.85 on every machine while the average-spectrum floor stayed at most 0.60 over all machines, on the
calibration set (seed 7, 200 test clips per section), never looking at any system of the paper.

Knob = ``strength * MULTIPLIER[machine] * severity``. ``strength`` 0 gives anomalous clips that are
statistically normal clips; raise it (or a machine's multiplier) to make detection easier.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Anomaly types of the real sets, as the source models implement them.
ANOMALY_TYPES: dict[str, tuple[str, ...]] = {
    "fan": ("wing_damage", "unbalance", "clogging", "over_voltage"),
    "gearbox": ("gear_damage", "overload", "over_voltage"),
    "bearing": ("outer_race_damage", "inner_race_damage", "ball_damage"),
    "slider": ("rail_damage", "loose_belt", "no_grease"),
    "valve": ("contamination_bounce", "contamination_sticking", "contamination_leak"),
    "ToyCar": ("bent_shaft", "deformed_gear", "melted_gear", "damaged_wheel"),
    "ToyTrain": ("flat_tyre", "broken_shaft", "disjointed_rail", "obstructing_stone"),
}

# Per-machine difficulty: multiplies every knob of the machine (set by the ladder's calibration).
MULTIPLIER: dict[str, float] = {
    "ToyCar": 1.5,
    "ToyTrain": 1.3,
    "bearing": 2.4,
    "fan": 1.5,
    "gearbox": 1.3,
    "slider": 1.3,
    "valve": 1.2,
}

SEVERITY_RANGE = (0.5, 1.5)   # severity ~ uniform on this range, mean 1


@dataclass(frozen=True)
class Fault:
    """One clip's anomaly: its type, its drawn severity, and the knob the source model reads."""

    kind: str
    severity: float
    knob: float


def draw_fault(machine: str, rng: np.random.Generator, strength: float) -> Fault:
    """Draw the fault of an anomalous clip of ``machine`` from its anomaly stream ``rng``.

    Args:
        machine: machine name (a key of :data:`ANOMALY_TYPES`).
        rng: the clip's anomaly stream (the same draws for any ``strength``).
        strength: global anomaly strength (>= 0).
    """
    kinds = ANOMALY_TYPES[machine]
    kind = kinds[int(rng.integers(len(kinds)))]
    severity = round(float(rng.uniform(*SEVERITY_RANGE)), 3)
    return Fault(kind=kind, severity=severity, knob=strength * MULTIPLIER[machine] * severity)
