"""DCASE Task 2 file names (2022 to 2025): machines and sections per year, parse and format clip names.

The forms, split on ``_`` (token 1 the section, 2 the domain, 3 the split, 4 normal/anomaly, 5 the
four-digit index, the rest attribute ``key_value`` pairs; keys may hold ``-``, values ``.``, ``-`` and
letters, neither holds ``_``)::

    section_00_source_train_normal_0009_car_A1_spd_28V_mic_1_noise_1.wav   (train)
    section_02_target_test_anomaly_0049_vel_14_f-n_C.wav                   (dev test)
    section_03_0000.wav                                                    (eval test, anonymised)

From 2023 on (the organisers' baseline ``nttcslab/dcase2023_task2_baseline_ae``, its
``README_legacy.md``, ``datasets/machine_type_202{3,4,5}_{dev,eval}.yaml`` and ``eval_data_list_*.csv``):

- each machine type has one section, ``00``, in dev and in eval; eval test names are
  ``section_00_0000.wav`` (2024 numbers them from ``0001``), as the evaluators' ground-truth files list;
- a clip whose attributes are hidden ends in ``noAttribute`` instead of pairs
  (``section_00_source_train_normal_0001_noAttribute.wav``; 2024 and 2025, see :data:`HIDDEN_ATTRIBUTES`);
- 2025 eval machines may have a ``supplemental/`` folder (clean machine or noise-only recordings).
  Its names are read in the form ``section_00_<who>_supplemental_<what>_<index>[_attributes]``
  (``section_00_noise_supplemental_normal_0000.wav``, ``section_00_source_supplemental_machine_0000.wav``):
  this form is taken from public third-party readers of the 2025 data, not from the organisers' files,
  which were not available here; a different real form is refused with a message naming the file.

This module imports nothing heavy.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

__all__ = ["YEARS", "MACHINES", "DEV_SECTIONS", "EVAL_SECTIONS", "SECTIONS", "DOMAINS", "SPLITS", "LABELS",
           "DATA_SETS", "NO_ATTRIBUTE", "SUPPLEMENTAL", "HIDDEN_ATTRIBUTES", "ClipNameError", "ClipName", "machines", "sections",
           "parse_clip_name", "format_clip_name", "format_eval_test_name"]

YEARS = (2022, 2023, 2024, 2025)
MACHINES = ("ToyCar", "ToyTrain", "bearing", "fan", "gearbox", "slider", "valve")
DEV_SECTIONS = ("00", "01", "02")
EVAL_SECTIONS = ("03", "04", "05")
SECTIONS = DEV_SECTIONS + EVAL_SECTIONS
DOMAINS = ("source", "target")
SPLITS = ("train", "test")
LABELS = ("normal", "anomaly")
NO_ATTRIBUTE = "noAttribute"
SUPPLEMENTAL = "supplemental"

# Machine folders per year and data set (dev: the 2022 seven every year; eval: the year's own).
_EVAL_MACHINES = {
    2022: MACHINES,
    2023: ("ToyDrone", "ToyNscale", "ToyTank", "Vacuum", "bandsaw", "grinder", "shaker"),
    2024: ("3DPrinter", "AirCompressor", "Scanner", "ToyCircuit", "HoveringDrone", "HairDryer", "ToothBrush",
           "RoboticArm", "BrushlessMotor"),
    2025: ("ToyRCCar", "ToyPet", "HomeCamera", "AutoTrash", "Polisher", "ScrewFeeder", "BandSealer",
           "CoffeeGrinder"),
}
DATA_SETS = ("dev_data", "eval_data")

# Machines whose clips carry ``noAttribute`` (the organisers' baseline ships their hidden attributes in
# ``datasets/ground_truth_attributes/dcase202Xt2/<dataset>/<machine>/``).
HIDDEN_ATTRIBUTES = {
    2023: {"dev_data": (), "eval_data": ()},
    2024: {"dev_data": ("ToyTrain", "gearbox", "slider"),
           "eval_data": ("AirCompressor", "BrushlessMotor", "HoveringDrone", "ToothBrush")},
    2025: {"dev_data": ("ToyTrain", "bearing", "slider"),
           "eval_data": ("AutoTrash", "Polisher", "ScrewFeeder", "ToyPet")},
}

_SECTION = re.compile(r"^\d\d$")
_INDEX = re.compile(r"^\d{4}$")
_TOKEN = re.compile(r"^[A-Za-z0-9.\-]+$")


def _check_year(year: int) -> int:
    if year not in YEARS:
        raise ValueError(f"year {year!r} is not one asdlib reads (one of {', '.join(map(str, YEARS))})")
    return year


def _check_dataset(dataset: str) -> str:
    if dataset not in DATA_SETS:
        raise ValueError(f"data set {dataset!r} is not one of {', '.join(DATA_SETS)}")
    return dataset


def machines(year: int, dataset: str) -> tuple[str, ...]:
    """The machine folder names of ``year``'s ``dataset`` (``"dev_data"`` or ``"eval_data"``)."""
    _check_year(year)
    return MACHINES if _check_dataset(dataset) == "dev_data" else _EVAL_MACHINES[year]


def sections(year: int, dataset: str) -> tuple[str, ...]:
    """The section numbers of ``year``'s ``dataset``: 2022 dev 00-02, eval 03-05; later ('00',)."""
    _check_year(year)
    _check_dataset(dataset)
    if year == 2022:
        return DEV_SECTIONS if dataset == "dev_data" else EVAL_SECTIONS
    return ("00",)


class ClipNameError(ValueError):
    """A file name that is not a DCASE clip name of the year asked for; the message names the file."""


@dataclass(frozen=True)
class ClipName:
    """What a clip's name says. ``domain``/``label`` are None for anonymised eval test names.

    Supplemental clips (2025): ``split`` is ``"supplemental"``, ``label`` None, ``domain`` the
    name's source/target token (None for ``noise``) and ``kind`` the two tokens that say what the
    recording is (``"noise_normal"``, ``"source_machine"``); ``kind`` is None for every other clip.
    """

    section: str
    split: str
    index: int
    domain: str | None = None
    label: str | None = None
    attributes: dict[str, str] = field(default_factory=dict, hash=False)
    kind: str | None = None

    @property
    def anonymised(self) -> bool:
        return self.domain is None and self.split == "test"


def _attributes(name: str, rest: list[str], year: int) -> dict[str, str]:
    if year >= 2023 and rest == [NO_ATTRIBUTE]:
        return {}
    if len(rest) % 2:
        raise ClipNameError(f"{name}: attribute tokens {rest} do not form key_value pairs"
                            + ("" if year >= 2023 else " (noAttribute names are DCASE 2023 and later: give the year)"))
    attributes: dict[str, str] = {}
    for key, value in zip(rest[::2], rest[1::2]):
        if not (_TOKEN.match(key) and _TOKEN.match(value)):
            raise ClipNameError(f"{name}: attribute {key}_{value} has an empty or odd token")
        if key in attributes:
            raise ClipNameError(f"{name}: attribute {key!r} given twice")
        attributes[key] = value
    return attributes


def parse_clip_name(name: str, year: int = 2022) -> ClipName:
    """Parse a clip's base name (a path is accepted; only its last component is read) in ``year``'s forms.

    Raises :class:`ClipNameError` naming the file and what is wrong.
    """
    _check_year(year)
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    if not base.lower().endswith(".wav"):  # .WAV too
        raise ClipNameError(f"{name}: not a .wav file name")
    tokens = base[: -len(".wav")].split("_")
    if tokens[0] != "section" or len(tokens) < 3 or not _SECTION.match(tokens[1]):
        raise ClipNameError(f"{name}: does not start with section_SS_")
    section = tokens[1]
    if len(tokens) == 3:
        if not _INDEX.match(tokens[2]):
            raise ClipNameError(f"{name}: anonymised name needs a four-digit index, got {tokens[2]!r}")
        return ClipName(section=section, split="test", index=int(tokens[2]))
    if len(tokens) < 6:
        raise ClipNameError(f"{name}: expected section_SS_<domain>_<split>_<label>_<index>[_key_value...]")
    domain, split, label, index = tokens[2:6]
    if not _INDEX.match(index):
        raise ClipNameError(f"{name}: index {index!r} is not four digits")
    if split == SUPPLEMENTAL and year < 2025:
        raise ClipNameError(f"{name}: supplemental clips are DCASE 2025 only, not {year}")
    if split == SUPPLEMENTAL:
        if domain not in DOMAINS + ("noise",) or not _TOKEN.match(label):
            raise ClipNameError(f"{name}: a supplemental name reads section_SS_<source|target|noise>_supplemental_"
                                f"<what>_<index>; got {domain!r} and {label!r}")
        return ClipName(section=section, split=SUPPLEMENTAL, index=int(index),
                        domain=domain if domain in DOMAINS else None, label=None,
                        attributes=_attributes(name, tokens[6:], year), kind=f"{domain}_{label}")
    if domain not in DOMAINS:
        raise ClipNameError(f"{name}: domain {domain!r} is not one of {DOMAINS}")
    if split not in SPLITS:
        raise ClipNameError(f"{name}: split {split!r} is not one of {SPLITS}")
    if label not in LABELS:
        raise ClipNameError(f"{name}: label {label!r} is not one of {LABELS}")
    return ClipName(section=section, split=split, index=int(index), domain=domain, label=label,
                    attributes=_attributes(name, tokens[6:], year))


def format_clip_name(section: str, domain: str, split: str, label: str, index: int,
                     attributes: dict[str, str], year: int = 2022) -> str:
    """Inverse of :func:`parse_clip_name` for labelled names (train and dev test) of ``year``.

    From 2023 on, empty ``attributes`` write ``noAttribute``. For a 2025 supplemental clip give
    ``split="supplemental"``, ``domain`` one of source/target/noise and ``label`` the token that says
    what it holds (e.g. ``"machine"``, ``"normal"``); its name is then
    ``section_SS_<domain>_supplemental_<label>_<index>[_attributes]``.
    """
    parts = ["section", section, domain, split, label, f"{index:04d}"]
    if not attributes and year >= 2023 and split != SUPPLEMENTAL:
        parts.append(NO_ATTRIBUTE)
    for key, value in attributes.items():
        parts += [key, value]
    name = "_".join(parts) + ".wav"
    parse_clip_name(name, year)  # refuse to write a name we could not read back
    return name


def format_eval_test_name(section: str, index: int) -> str:
    """Anonymised eval test name, e.g. ``section_03_0000.wav`` (2022), ``section_00_0001.wav`` (2024)."""
    return f"section_{section}_{index:04d}.wav"
