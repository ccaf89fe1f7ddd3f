"""The stand-in's machines in the DCASE 2023, 2024 and 2025 Task 2 layouts: which DCASE 2022 physics
renders each machine, which machines are written ``noAttribute``, and each machine's clip length.

In these years every machine type has one section, ``00``, in dev_data (the 2022 seven) and in
eval_data (the year's new machines). The stand-in renders each with the source model, faults and
difficulty of a 2022 machine type (:data:`PHYSICS`) and that type's section-00 attribute design
(:func:`year_design`), as units of their own (their random streams are named ``<year>/<machine>``).

=============  ===============================================================
2022 physics   machines rendered with it
=============  ===============================================================
ToyCar         ToyDrone (2023), HoveringDrone (2024), ToyRCCar (2025)
ToyTrain       ToyNscale, ToyTank (2023), ToyCircuit (2024), ToyPet (2025)
fan            Vacuum (2023), AirCompressor, HairDryer (2024), CoffeeGrinder (2025)
gearbox        bandsaw (2023), ToothBrush, RoboticArm (2024), BandSealer (2025)
bearing        grinder (2023), BrushlessMotor (2024), Polisher (2025)
slider         shaker (2023), 3DPrinter (2024), ScrewFeeder (2025)
valve          Scanner (2024), HomeCamera, AutoTrash (2025)
=============  ===============================================================

The machines written ``noAttribute`` are those the real year hides
(:data:`asdlib.names.HIDDEN_ATTRIBUTES`; e.g. the public nttcslab/dcase2024_task2_evaluator lists the
hidden names of 2024's dev gearbox, slider and ToyTrain and eval AirCompressor, BrushlessMotor,
HoveringDrone and ToothBrush). Clip lengths (:data:`SECONDS`, real seconds; the stand-in scales them
by the scale's ``clip_seconds`` / 10) are the real sets' as public baseline configurations list them.
This module imports nothing heavy.
"""
from __future__ import annotations

from asdlib.names import HIDDEN_ATTRIBUTES, machines

__all__ = ["PHYSICS", "SECONDS", "YEARS", "physics_of", "hidden", "seconds_factor", "year_design"]

YEARS = (2023, 2024, 2025)

PHYSICS = {
    "ToyDrone": "ToyCar", "HoveringDrone": "ToyCar", "ToyRCCar": "ToyCar",
    "ToyNscale": "ToyTrain", "ToyTank": "ToyTrain", "ToyCircuit": "ToyTrain", "ToyPet": "ToyTrain",
    "Vacuum": "fan", "AirCompressor": "fan", "HairDryer": "fan", "CoffeeGrinder": "fan",
    "bandsaw": "gearbox", "ToothBrush": "gearbox", "RoboticArm": "gearbox", "BandSealer": "gearbox",
    "grinder": "bearing", "BrushlessMotor": "bearing", "Polisher": "bearing",
    "shaker": "slider", "3DPrinter": "slider", "ScrewFeeder": "slider",
    "Scanner": "valve", "HomeCamera": "valve", "AutoTrash": "valve",
}

_TOYS_12S = {"ToyCar": 12.0, "ToyTrain": 12.0}
SECONDS = {
    2023: {**_TOYS_12S, "ToyDrone": 18.0, "ToyNscale": 6.0, "ToyTank": 8.0, "Vacuum": 15.0},
    2024: {**_TOYS_12S, "BrushlessMotor": 6.5, "HairDryer": 7.0, "HoveringDrone": 8.0, "RoboticArm": 8.0,
           "ToothBrush": 6.0, "ToyCircuit": 8.0},
    2025: {**_TOYS_12S, "AutoTrash": 6.0, "CoffeeGrinder": 5.0, "HomeCamera": 6.0, "ToyRCCar": 7.0},
}
"""Real clip lengths in seconds where they are not 10 s (RoboticArm's 7.9 s rounded to 8)."""


def _check(year: int, machine: str) -> None:
    if year not in YEARS:
        raise ValueError(f"year {year}: the stand-in's later layouts are {', '.join(map(str, YEARS))}")
    known = machines(year, "dev_data") + machines(year, "eval_data")
    if machine not in known:
        raise ValueError(f"{machine}: not a machine of DCASE {year} (its machines: {', '.join(known)})")


def physics_of(year: int, machine: str) -> str:
    """The DCASE 2022 machine type that renders ``machine`` of ``year`` (itself for the dev seven)."""
    _check(year, machine)
    return PHYSICS.get(machine, machine)


def hidden(year: int, machine: str) -> bool:
    """Whether ``machine``'s clips are named ``noAttribute`` in ``year``."""
    _check(year, machine)
    return any(machine in of_set for of_set in HIDDEN_ATTRIBUTES[year].values())


def seconds_factor(year: int, machine: str) -> float:
    """``machine``'s clip length in ``year`` relative to the 10 s of DCASE 2022."""
    _check(year, machine)
    return SECONDS[year].get(machine, 10.0) / 10.0


def year_design(physics: str):
    """The attribute design of a later year's machine rendered with ``physics``: that type's section-00
    design (:func:`asdlib.synth.attributes.section_design`) without the keys that take one value in
    both domains (a toy's ``mic`` 1 there: with one section it would be a task of one class)."""
    from asdlib.synth.attributes import SectionDesign, section_design

    design = section_design(physics, "00")
    keep = [k for k in design.source if len(set(design.source[k]) | set(design.target.get(k, ()))) > 1]
    return SectionDesign(shift_key=design.shift_key, source={k: design.source[k] for k in keep},
                         target={k: design.target[k] for k in design.target if k in keep})
