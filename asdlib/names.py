"""DCASE 2022 Task 2 file names: parse and format.

Three forms exist::

    section_00_source_train_normal_0009_car_A1_spd_28V_mic_1_noise_1.wav   (train)
    section_02_target_test_anomaly_0049_vel_14_f-n_C.wav                   (dev test)
    section_03_0000.wav                                                    (eval test, anonymised)

Split on ``_``: token 1 is the section, 2 the domain, 3 the split, 4 normal/anomaly, 5 the index,
the rest are ``key_value`` attribute pairs (keys may hold ``-``, values ``.``, ``-`` and letters;
neither holds ``_``). This module imports nothing heavy.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

__all__ = ["MACHINES", "DEV_SECTIONS", "EVAL_SECTIONS", "SECTIONS", "DOMAINS", "SPLITS", "LABELS",
           "ClipNameError", "ClipName", "parse_clip_name", "format_clip_name", "format_eval_test_name"]

MACHINES = ("ToyCar", "ToyTrain", "bearing", "fan", "gearbox", "slider", "valve")
DEV_SECTIONS = ("00", "01", "02")
EVAL_SECTIONS = ("03", "04", "05")
SECTIONS = DEV_SECTIONS + EVAL_SECTIONS
DOMAINS = ("source", "target")
SPLITS = ("train", "test")
LABELS = ("normal", "anomaly")

_SECTION = re.compile(r"^\d\d$")
_INDEX = re.compile(r"^\d{4}$")
_TOKEN = re.compile(r"^[A-Za-z0-9.\-]+$")


class ClipNameError(ValueError):
    """A file name that is not a DCASE 2022 clip name; the message names the file."""


@dataclass(frozen=True)
class ClipName:
    """What a clip's name says. ``domain``/``label`` are None for anonymised eval test names."""

    section: str
    split: str
    index: int
    domain: str | None = None
    label: str | None = None
    attributes: dict[str, str] = field(default_factory=dict, hash=False)

    @property
    def anonymised(self) -> bool:
        return self.domain is None


def parse_clip_name(name: str) -> ClipName:
    """Parse a clip's base name (a path is accepted; only its last component is read).

    Raises :class:`ClipNameError` naming the file and what is wrong.
    """
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
    if domain not in DOMAINS:
        raise ClipNameError(f"{name}: domain {domain!r} is not one of {DOMAINS}")
    if split not in SPLITS:
        raise ClipNameError(f"{name}: split {split!r} is not one of {SPLITS}")
    if label not in LABELS:
        raise ClipNameError(f"{name}: label {label!r} is not one of {LABELS}")
    if not _INDEX.match(index):
        raise ClipNameError(f"{name}: index {index!r} is not four digits")
    rest = tokens[6:]
    if len(rest) % 2:
        raise ClipNameError(f"{name}: attribute tokens {rest} do not form key_value pairs")
    attributes: dict[str, str] = {}
    for key, value in zip(rest[::2], rest[1::2]):
        if not (_TOKEN.match(key) and _TOKEN.match(value)):
            raise ClipNameError(f"{name}: attribute {key}_{value} has an empty or odd token")
        if key in attributes:
            raise ClipNameError(f"{name}: attribute {key!r} given twice")
        attributes[key] = value
    return ClipName(section=section, split=split, index=int(index), domain=domain, label=label,
                    attributes=attributes)


def format_clip_name(section: str, domain: str, split: str, label: str, index: int,
                     attributes: dict[str, str]) -> str:
    """Inverse of :func:`parse_clip_name` for labelled names (train and dev test)."""
    parts = ["section", section, domain, split, label, f"{index:04d}"]
    for key, value in attributes.items():
        parts += [key, value]
    name = "_".join(parts) + ".wav"
    parse_clip_name(name)  # refuse to write a name we could not read back
    return name


def format_eval_test_name(section: str, index: int) -> str:
    """Anonymised eval test name, e.g. ``section_03_0000.wav``."""
    return f"section_{section}_{index:04d}.wav"
