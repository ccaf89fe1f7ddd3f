"""The attribute design of every machine and section: the real set's keys and their source and target values.

Each dev section 00/01/02 has a design; eval sections 03/04/05 mirror 00/01/02 with the same keys and
values (their sound differs through their own base parameters), except that the eval fan factory
noise of section 04 moves to D in the target domain, as in the real set. The domain-shift key's
source and target values are disjoint; the other keys take the same values in both domains.

Clips get the shift key's values in turn (index modulo the number of values, so every value is
equally represented) and the other keys at random from the clip's attribute stream.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from asdlib.names import DOMAINS


@dataclass(frozen=True)
class SectionDesign:
    """Keys (in file-name order) and their possible values per domain for one machine section.

    ``source`` / ``target`` map each key a clip of that domain carries to its possible values; a key
    missing from a domain is not carried by its clips (valve section 02: one valve -> two valves).
    """

    shift_key: str
    source: dict[str, tuple[str, ...]]
    target: dict[str, tuple[str, ...]]

    def values(self, domain: str) -> dict[str, tuple[str, ...]]:
        """Key -> possible values for clips of ``domain`` ('source' or 'target')."""
        if domain not in DOMAINS:
            raise ValueError(f"domain must be one of {DOMAINS}, got {domain!r}")
        return self.source if domain == "source" else self.target

    @property
    def max_pairs(self) -> int:
        """Most key/value pairs a clip of this section carries (columns of ``attributes_SS.csv``)."""
        return max(len(self.source), len(self.target))


def _shift(key: str, source: tuple[str, ...], target: tuple[str, ...],
           others: dict[str, tuple[str, ...]] | None = None, order: tuple[str, ...] | None = None
           ) -> SectionDesign:
    """A section whose ``key`` moves from ``source`` to ``target`` values; ``others`` are shared.

    ``order`` is the key order in file names (default: ``key`` first).
    """
    others = others or {}
    order = order or (key, *others)
    src, tgt = {**others, key: source}, {**others, key: target}
    return SectionDesign(shift_key=key, source={k: src[k] for k in order}, target={k: tgt[k] for k in order})


_LETTERS_SRC, _LETTERS_TGT = ("A", "B"), ("C",)
_VEL = ("6", "10", "14", "18", "22")
_TOYCAR_CARS, _TOYCAR_SPD = ("A1", "A2", "E1", "E2"), ("28V", "31V", "34V", "37V", "40V")
_TOYTRAIN_CARS, _TOYTRAIN_SPD = ("A1", "A2", "B1", "B2"), ("6", "8", "10")


def _toy(key: str, source: tuple[str, ...], target: tuple[str, ...], car: tuple[str, ...],
         spd: tuple[str, ...]) -> SectionDesign:
    """A toy section: four pairs ``car, spd, mic, noise``, ``key`` moving from ``source`` to ``target``.

    Outside the shift key the microphone is 1 and the noise one of 1, 2, 3.
    """
    others = {"car": car, "spd": spd, "mic": ("1",), "noise": ("1", "2", "3")}
    return _shift(key, source, target, others={k: v for k, v in others.items() if k != key},
                  order=("car", "spd", "mic", "noise"))


DESIGN: dict[str, tuple[SectionDesign, SectionDesign, SectionDesign]] = {
    "fan": (
        _shift("m-n", ("W", "X"), ("Y", "Z")),
        _shift("f-n", _LETTERS_SRC, _LETTERS_TGT),
        _shift("n-lv", ("L1", "L2"), ("L3", "L4")),
    ),
    "gearbox": (
        _shift("volt", ("1.0", "1.5", "2.0", "2.5", "3.0"), ("0.8", "1.3", "2.3", "3.3")),
        _shift("wt", ("0", "50", "100", "150", "200"), ("30", "80", "130", "250")),
        _shift("id", ("05", "08", "13"), ("00", "02", "11")),
    ),
    "bearing": (
        _shift("vel", _VEL, ("2", "12", "20", "26")),
        _shift("loc", ("A", "B", "C", "D"), ("E", "F", "G", "H"), others={"vel": _VEL}, order=("vel", "loc")),
        _shift("f-n", _LETTERS_SRC, _LETTERS_TGT, others={"vel": _VEL}, order=("vel", "f-n")),
    ),
    "slider": (
        _shift("vel", ("300", "500", "700", "900", "1100"), ("100", "600", "1000", "1300")),
        _shift("ac", ("0.03", "0.05", "0.07", "0.09", "0.11"), ("0.01", "0.02", "0.12", "0.14")),
        _shift("f-n", _LETTERS_SRC, _LETTERS_TGT),
    ),
    "valve": (
        _shift("pat", ("00", "01"), ("02", "03")),
        _shift("panel", ("bs-c", "open"), ("b-c", "s-c"), others={"pat": ("00", "01")}, order=("pat", "panel")),
        SectionDesign(shift_key="v1pat", source={"v1pat": ("00", "01")},
                      target={"v1pat": ("02", "03"), "v2pat": ("02", "03")}),
    ),
    "ToyCar": (
        _toy("car", ("A1", "A2", "E1", "E2"), ("C1", "C2"), car=_TOYCAR_CARS, spd=_TOYCAR_SPD),
        _toy("spd", ("28V", "40V"), ("31V", "37V"), car=("A1", "A2"), spd=_TOYCAR_SPD),
        _toy("mic", ("1",), ("2",), car=_TOYCAR_CARS, spd=("28V", "34V", "40V")),
    ),
    "ToyTrain": (
        _toy("car", ("A1", "A2", "B1", "B2"), ("C1", "C2"), car=_TOYTRAIN_CARS, spd=_TOYTRAIN_SPD),
        _toy("spd", ("6", "10"), ("7", "9"), car=("A1", "A2"), spd=_TOYTRAIN_SPD),
        _toy("mic", ("1",), ("2",), car=_TOYTRAIN_CARS, spd=_TOYTRAIN_SPD),
    ),
}

# Eval mirrors dev; where the real eval set differs, say so here.
_EVAL_OVERRIDES = {("fan", "04"): _shift("f-n", _LETTERS_SRC, ("D",))}


def section_design(machine: str, section: str) -> SectionDesign:
    """The attribute design of ``machine`` in ``section`` ('00'..'05'; 03/04/05 mirror 00/01/02)."""
    if machine not in DESIGN:
        raise ValueError(f"unknown machine {machine!r}; choose from {sorted(DESIGN)}")
    if (machine, section) in _EVAL_OVERRIDES:
        return _EVAL_OVERRIDES[(machine, section)]
    return DESIGN[machine][int(section) % 3]


def assign(design: SectionDesign, domain: str, index: int, rng: np.random.Generator) -> dict[str, str]:
    """The attributes of clip ``index`` of ``domain``: the shift key cycles, the others are drawn.

    Returns an ordered dict key -> value, in file-name order.
    """
    out = {}
    for key, values in design.values(domain).items():
        out[key] = values[index % len(values)] if key == design.shift_key else values[rng.integers(len(values))]
    return out
