"""The DCASE Task 2 data layer (2022 to 2025): index a data-set root, attribute vocabularies, checked audio.

Layout of the real data (``<machine>``: one of :func:`asdlib.names.machines` of the year)::

    ROOT/dev_data/<machine>/{train,test}/*.wav     2022: sections 00-02; 2023-2025: section 00
    ROOT/dev_data/<machine>/attributes_SS.csv
    ROOT/eval_data/<machine>/{train,test}/*.wav    2022: sections 03-05; 2023-2025: section 00
    ROOT/eval_data/<machine>/supplemental/*.wav    2025 only, some machines
    ROOT/eval_data/<machine>/attributes_SS.csv

The organisers' baselines keep each set one level deeper, ``ROOT/dev_data/raw/<machine>/``; both are
read. The year is read from the data (:func:`detect_year`) or given, never guessed.

Audio: 16 kHz, mono, 16-bit PCM. 2022: 10 s a clip; from 2023 the length varies by machine type, so
nothing here assumes 10 s (:func:`audio_problems` compares each clip with its own machine's clips). Per section: 990 source and 10 target training clips (normal only) and 200 test
clips (development: 50 normal and 50 anomalous per domain).

Supplemental clips (2025) are indexed with split ``"supplemental"``; training reads split ``"train"``
only, so they are left out of training unless a caller selects them.

Anonymised eval test clips get their label, domain and attributes from the official evaluator's
folder (``ground_truth_data/``, ``ground_truth_domain/``, ``ground_truth_attributes/``) when it is
given. This module does not import torch.
"""
from __future__ import annotations

import csv
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from asdlib import names
from asdlib.names import (DEV_SECTIONS, EVAL_SECTIONS, HIDDEN_ATTRIBUTES, NO_ATTRIBUTE, YEARS, ClipNameError,
                          parse_clip_name)

__all__ = ["SAMPLE_RATE", "DATASETS", "COLUMNS", "DOMAIN_SHIFT_KEY", "AudioError", "domain_shift_key",
           "domain_shift_prior", "detect_year", "data_folder", "index_dataset", "REAL_COUNTS", "count_table", "find_problems",
           "AttributeVocab", "load_clip", "audio_problems", "report_problems"]

SAMPLE_RATE = 16_000
DATASETS = {"dev_data": DEV_SECTIONS, "eval_data": EVAL_SECTIONS}  # 2022; names.sections gives each year's
COLUMNS = ["path", "machine", "section", "domain", "split", "label", "attributes", "dataset", "name"]

# The domain-shift factor of each section in the real set (eval 03/04/05 mirror 00/01/02).
DOMAIN_SHIFT_KEY = {
    "fan": ("m-n", "f-n", "n-lv"),
    "gearbox": ("volt", "wt", "id"),
    "bearing": ("vel", "loc", "f-n"),
    "slider": ("vel", "ac", "f-n"),
    "valve": ("pat", "panel", "v1pat"),
    "ToyCar": ("car", "spd", "mic"),
    "ToyTrain": ("car", "spd", "mic"),
}


class AudioError(ValueError):
    """A clip that cannot be used as it is; the message names the file and the problem."""


def domain_shift_key(machine: str, section: str) -> str | None:
    """The attribute key whose values change between source and target domain in ``section`` of the
    DCASE 2022 set; None for a machine of a later year, whose domain-shift key is not tabulated."""
    keys = DOMAIN_SHIFT_KEY.get(machine)
    return keys[int(section) % 3] if keys else None


def domain_shift_prior(clips: pd.DataFrame, machine: str) -> dict[str, float]:
    """What an adversary that knows only the section can do: the chance level of predicting each
    training clip's domain-shift value within its section from the values' frequencies there.

    ``clips``: rows of :func:`index_dataset` (``split``, ``section``, ``attributes``) of one machine.
    Returns ``loss``: the mean over the training clips carrying a value of ``-log`` its frequency in
    its section (the cross-entropy of the best constant guess), and ``acc``: the share of those clips
    whose value is their section's most frequent one.
    """
    train = clips[clips["split"] == "train"]
    values = pd.DataFrame({"section": train["section"].to_numpy(),
                           "value": [a.get(domain_shift_key(machine, s)) for s, a in
                                     zip(train["section"], train["attributes"])]}).dropna()
    if values.empty:
        raise ValueError(f"no training clip of {machine} carries its section's domain-shift attribute")
    freq = values.groupby("section")["value"].value_counts(normalize=True)
    p = freq.loc[list(zip(values["section"], values["value"]))].to_numpy()
    majority = values["section"].map(freq.groupby(level=0).max())
    return {"loss": float(-np.log(p).mean()), "acc": float(majority.mean())}


# --------------------------------------------------------------------------------------------
# Index
# --------------------------------------------------------------------------------------------
def data_folder(root: str | Path, dataset: str) -> Path:
    """``ROOT/<dataset>/raw`` where the organisers' baselines' extra level is there, else ``ROOT/<dataset>``."""
    folder = Path(root) / dataset
    return folder / "raw" if (folder / "raw").is_dir() else folder


def _machine_folders(root: Path, dataset: str) -> list[str]:
    folder = data_folder(root, dataset)
    return sorted(p.name for p in folder.iterdir() if p.is_dir() and not _is_litter(p)) if folder.is_dir() else []


def _sections_and_hidden(root: Path, dataset: str, machine: str) -> tuple[set[str], bool]:
    """The section numbers of a machine's clips (from names, no parsing of the rest) and whether any
    of its clips ends in ``noAttribute``."""
    found, hidden = set(), False
    for split in ("train", "test"):
        folder = data_folder(root, dataset) / machine / split
        if folder.is_dir():
            for path in folder.iterdir():
                parts = path.name.split("_")
                if path.suffix.lower() == ".wav" and len(parts) > 2 and parts[0] == "section":
                    found.add(parts[1])
                    hidden = hidden or path.stem.endswith("_" + NO_ATTRIBUTE)
    return found, hidden


def detect_year(root: str | Path) -> int:
    """The DCASE year (2022-2025) of a data-set root, read from its machine folders and section numbers.

    The eval machines name their year (each year has its own). The dev machines are the same seven
    every year: a ``dev_data/`` with sections 00-02 is 2022; with section 00 only, which machines carry
    ``noAttribute`` clips (:data:`asdlib.names.HIDDEN_ATTRIBUTES`) tells 2024 and 2025 apart, while 2023
    (no hidden attributes) and a 2022 subset holding section 00 only cannot be told apart: give the year.
    Sections that fit no year give the year holding most of them (the indexer then names each clip
    whose section does not belong).

    Raises:
        FileNotFoundError: the root or both data sets are missing.
        ValueError: one line naming the root when the data fits no year (unknown machine folders,
            sections of another year, a mix of years) or several (give the year).
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: data-set root not found")
    found = {d: _machine_folders(root, d) for d in names.DATA_SETS if (root / d).is_dir()}
    if not found:
        raise FileNotFoundError(f"{root}: holds neither dev_data/ nor eval_data/")
    candidates = set(YEARS)
    seen_hidden: dict[str, set[str]] = {}
    for dataset, folders in found.items():
        if not folders:
            continue
        fits = {y for y in YEARS if set(folders) <= set(names.machines(y, dataset))}
        if not fits:
            known = sorted({m for y in YEARS for m in names.machines(y, dataset)})
            odd = [m for m in folders if m not in known]
            if odd:  # as the indexer names a machine folder not of the year
                raise FileNotFoundError(f"{data_folder(root, dataset)}: {', '.join(odd)} is no DCASE 2022-2025 "
                                        f"{dataset} machine (known: {', '.join(known)})")
            raise ValueError(f"{root}: {dataset}/ mixes machines of different years ({', '.join(folders)})")
        have, seen_hidden[dataset] = set(), set()
        for machine in folders:
            sections, hidden = _sections_and_hidden(root, dataset, machine)
            have |= sections
            if hidden:
                seen_hidden[dataset].add(machine)
        overlap = {y: len(have & set(names.sections(y, dataset))) for y in fits}
        exact = {y for y in fits if have <= set(names.sections(y, dataset))}
        # sections that fit no year: the year holding most of them (the indexer then names the clips
        # whose section does not belong)
        fits = exact or {y for y in fits if overlap[y] and overlap[y] == max(overlap.values())}
        if not fits:
            raise ValueError(f"{root}: {dataset}/ holds section(s) {', '.join(sorted(have))}, which fit no year "
                             f"with its machines ({', '.join(folders)})")
        candidates &= fits
    if not candidates:
        raise ValueError(f"{root}: dev_data/ and eval_data/ belong to different DCASE years; index each "
                         "alone or give the year")
    if len(candidates) > 1:  # the years share the dev machines: the noAttribute machines may tell them apart
        by_hidden = {y for y in candidates if all(
            seen_hidden[d] == set(HIDDEN_ATTRIBUTES.get(y, {}).get(d, ())) & set(found[d]) for d in seen_hidden)}
        candidates = by_hidden or candidates
    if len(candidates) > 1:
        raise ValueError(f"{root}: the data fit DCASE {', '.join(map(str, sorted(candidates)))}; "
                         "give the year (--year)")
    return candidates.pop()


def index_dataset(root: str | Path, truth: str | Path | None = None,
                  machines: tuple[str, ...] | None = None, year: int | None = None) -> pd.DataFrame:
    """One row per clip under a DCASE root (2022 to 2025) holding ``dev_data/``, ``eval_data/`` or both.

    Args:
        root: the data-set root (``ROOT/dev_data/<machine>/`` or ``ROOT/dev_data/raw/<machine>/``).
        truth: the official evaluator's folder, used for anonymised eval test names.
        machines: restrict to these machine folders (default: every machine folder present).
        year: the DCASE year; None reads it from the data (:func:`detect_year`).

    Returns:
        DataFrame with columns ``path`` (str), ``machine``, ``section`` ('00'..'05'),
        ``domain`` ('source'/'target' or None), ``split`` ('train'/'test', and 'supplemental' for
        2025 supplemental clips), ``label`` ('normal'/'anomaly' or None), ``attributes`` (dict
        key -> value; empty for ``noAttribute`` clips), ``dataset`` ('dev_data'/'eval_data') and
        ``name`` (base name), sorted by machine, dataset, split, name; ``frame.attrs["year"]`` holds
        the year.

    Raises:
        FileNotFoundError: a missing root, machine or split folder.
        ValueError: a machine folder not of the year, or data that fit no single year (year None).
        ClipNameError: a name that does not parse, or disagrees with its folder.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: data-set root not found")
    present = [d for d in names.DATA_SETS if (root / d).is_dir()]
    if not present:
        raise FileNotFoundError(f"{root}: holds neither dev_data/ nor eval_data/")
    year = detect_year(root) if year is None else _given_year(year)
    truth_table = _TruthTable(Path(truth), year) if truth is not None else None
    rows, litter = [], []
    for dataset in present:
        base = data_folder(root, dataset)
        entries = sorted(base.iterdir())
        if machines is None:
            litter += [p for p in entries if _is_litter(p)]
        wanted = [p.name for p in entries if p.is_dir() and not _is_litter(p)] if machines is None else list(machines)
        of_year = names.machines(year, dataset)
        for machine in wanted:
            if machine not in of_year:
                raise FileNotFoundError(f"{base / machine}: not a DCASE {year} {dataset} machine "
                                        f"(expected one of {', '.join(of_year)})")
            folders = [("train", True), ("test", True)] + [("supplemental", False)] * (year >= 2025)
            for split, required in folders:
                folder = base / machine / split
                if not folder.is_dir():
                    if required:
                        raise FileNotFoundError(f"{folder}: missing folder")
                    continue
                for path in sorted(folder.iterdir()):
                    if _is_litter(path):
                        litter.append(path)
                    elif path.suffix.lower() == ".wav" and path.is_file():  # .WAV too
                        rows.append(_row(path, dataset, machine, split, truth_table, year))
    if litter:
        print(f"asdlib: note: skipped {len(litter)} hidden or archive entries under {root} (e.g. "
              f"{', '.join(str(p.relative_to(root)) for p in litter[:3])})", file=sys.stderr)
    if not rows:
        raise FileNotFoundError(f"{root}: no .wav clips found")
    frame = pd.DataFrame(rows, columns=COLUMNS)
    frame = frame.sort_values(["machine", "dataset", "split", "name"], kind="stable").reset_index(drop=True)
    frame.attrs["year"] = year
    return frame


def _given_year(year) -> int:
    if year not in YEARS:
        raise ValueError(f"year {year!r}: asdlib reads DCASE {', '.join(map(str, YEARS))}")
    return int(year)


def _is_litter(path: Path) -> bool:
    """Hidden files and folders (``.ipynb_checkpoints/``, macOS's ``._<name>`` and ``.DS_Store``) and a
    zip archive's ``__MACOSX/``: never part of a data set."""
    return path.name.startswith(".") or path.name == "__MACOSX"


def _row(path: Path, dataset: str, machine: str, split: str, truth: "_TruthTable | None", year: int) -> list:
    clip = parse_clip_name(str(path), year)
    if clip.split != split:
        raise ClipNameError(f"{path}: name says split {clip.split!r} but it lies in {split}/")
    expected = names.sections(year, dataset)
    if clip.section not in expected:
        raise ClipNameError(f"{path}: section {clip.section} does not belong in {dataset}/ of DCASE {year} "
                            f"(expected {', '.join(expected)})")
    domain, label, attributes = clip.domain, clip.label, dict(clip.attributes)
    if clip.anonymised and truth is not None:
        domain, label, attributes = truth.lookup(machine, clip.section, path.name)
    return [str(path), machine, clip.section, domain, split, label, attributes, dataset, path.name]


class _TruthTable:
    """The official evaluator's files: labels, domains and full attribute names of eval test clips.

    Full names come from ``ground_truth_attributes/<machine>/attributes_SS.csv`` (2022: a header, the
    full name in the last field) or ``ground_truth_attributes/ground_truth_<machine>_section_SS_test.csv``
    (2023-2025: no header, rows ``section_00_0000.wav,<full name without .wav>``).
    """

    def __init__(self, folder: Path, year: int = 2022):
        if not folder.is_dir():
            raise FileNotFoundError(f"{folder}: evaluator folder not found")
        self.folder, self.year = folder, year
        self._cache: dict[tuple[str, str], dict[str, tuple]] = {}

    def lookup(self, machine: str, section: str, name: str) -> tuple:
        key = (machine, section)
        if key not in self._cache:
            self._cache[key] = self._load(machine, section)
        try:
            return self._cache[key][name]
        except KeyError:
            raise ClipNameError(f"{name}: not listed in the evaluator's files for {machine} section "
                                f"{section} under {self.folder}") from None

    def _full_names(self, machine: str, section: str) -> tuple[Path, list[tuple[int, str, str]]]:
        """The attribute file and its rows ``(line, anonymised name, full name)``."""
        if self.year == 2022:
            path, header = self.folder / "ground_truth_attributes" / machine / f"attributes_{section}.csv", True
        else:
            path = self.folder / "ground_truth_attributes" / f"ground_truth_{machine}_section_{section}_test.csv"
            header = False
        if not path.is_file():
            return path, []
        with open(path, newline="") as handle:
            rows = [(line, f) for line, f in enumerate(csv.reader(handle), start=1) if f and not (header and line == 1)]
        # 2022 rows may have fewer fields than the header: the last one is the full name
        return path, [(line, f[0].rsplit("/", 1)[-1],
                       f[-1] if f[-1].lower().endswith(".wav") else f[-1] + ".wav") for line, f in rows]

    def _load(self, machine: str, section: str) -> dict[str, tuple]:
        stem = f"ground_truth_{machine}_section_{section}_test.csv"
        labels_file, domains_file = self.folder / "ground_truth_data" / stem, self.folder / "ground_truth_domain" / stem
        labels, domains = _read_pairs(labels_file), _read_pairs(domains_file)
        if set(labels) != set(domains):
            raise ValueError(f"{labels_file} and {domains_file} list different clips")
        attributes: dict[str, dict[str, str]] = {}
        attr_file, rows = self._full_names(machine, section)
        for line_no, anonymised, full_name in rows:
            try:
                full = parse_clip_name(full_name, self.year)
            except ClipNameError as err:
                raise ClipNameError(f"{attr_file}, line {line_no}: {err}") from None
            attributes[anonymised] = dict(full.attributes)
        table = {}
        for name, flag in labels.items():
            label = {"0": "normal", "1": "anomaly"}.get(flag)
            domain = {"0": "source", "1": "target"}.get(domains[name])
            if label is None or domain is None:
                raise ValueError(f"{labels_file if label is None else domains_file}: {name} has label {flag!r} / "
                                 f"domain {domains[name]!r}; expected 0 or 1")
            table[name] = (domain, label, attributes.get(name, {}))
        return table


def _read_pairs(path: Path) -> dict[str, str]:
    if not path.is_file():
        raise FileNotFoundError(f"{path}: evaluator file not found")
    with open(path, newline="") as handle:
        rows = [(line, r) for line, r in enumerate(csv.reader(handle), start=1) if r]
    bad = [line for line, r in rows if len(r) != 2]
    if bad:
        raise ValueError(f"{path}: line {bad[0]} is not 'name,value'")
    pairs, line_of = {}, {}
    for line, (name, value) in rows:
        name = name.strip()
        if name in pairs:
            raise ValueError(f"{path}: line {line}: clip {name!r} already given on line {line_of[name]}")
        pairs[name], line_of[name] = value.strip(), line
    return pairs


# --------------------------------------------------------------------------------------------
# Summary and sanity checks (``asdlib index``)
# --------------------------------------------------------------------------------------------
# The real set's counts per section: train 990 source + 10 target; test 50 per cell.
REAL_COUNTS = {("train", "source", "normal"): 990, ("train", "target", "normal"): 10}
REAL_COUNTS.update({("test", d, lab): 50 for d in ("source", "target") for lab in ("normal", "anomaly")})


def count_table(index: pd.DataFrame) -> pd.DataFrame:
    """Clip counts per machine, section, split, domain and label (unknown shown as '?')."""
    keyed = index.assign(domain=index["domain"].fillna("?"), label=index["label"].fillna("?"))
    return (keyed.groupby(["machine", "section", "split", "domain", "label"]).size()
            .rename("clips").reset_index())


def find_problems(index: pd.DataFrame) -> list[str]:
    """What looks wrong in an index: missing sections or domains, counts unlike the sibling sections.

    Counts that differ from the real DCASE 2022 set are reported as notes (the synthetic scales are
    smaller by design).
    """
    problems = []
    for (machine, dataset), part in index.groupby(["machine", "dataset"]):
        for split in ("train", "test"):
            have = set(part.loc[part["split"] == split, "section"])
            missing = [s for s in names.sections(index.attrs.get("year", 2022), dataset) if s not in have]
            if missing:
                problems.append(f"{machine} {dataset} {split}: missing section(s) {', '.join(missing)}")
        train = part[part["split"] == "train"]
        for section, sec in train.groupby("section"):
            for domain in ("source", "target"):
                if not (sec["domain"] == domain).any():
                    problems.append(f"{machine} section {section} train: no {domain}-domain clips")
        counts = count_table(part)
        for (split, domain, label), cell in counts.groupby(["split", "domain", "label"]):
            if cell["clips"].nunique() > 1:
                detail = ", ".join(f"{s}: {n}" for s, n in zip(cell["section"], cell["clips"]))
                problems.append(f"{machine} {split} {domain}/{label}: sections differ ({detail})")
    per_section = count_table(index)
    unlike = Counter()
    for row in per_section.itertuples():
        expected = REAL_COUNTS.get((row.split, row.domain, row.label))
        if expected is not None and row.clips != expected:
            unlike[(row.split, row.domain, row.label)] += 1
    for (split, domain, label), n in sorted(unlike.items()):
        problems.append(f"note: {n} section(s) have a {split} {domain}/{label} count unlike the real "
                        f"set's {REAL_COUNTS[(split, domain, label)]} (expected for synthetic scales)")
    return problems


# --------------------------------------------------------------------------------------------
# Attribute vocabularies
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class AttributeVocab:
    """Per machine: section classes and, per attribute key, the values seen in training clips.

    ``encode_attributes`` maps a clip's attributes to one class index per key, -1 where the clip does
    not carry the key or carries a value never seen in training (such a label is then ignored by the
    multi-attribute loss, Eq. 3, instead of crashing).
    """

    sections: tuple[str, ...]
    keys: tuple[str, ...]
    values: dict[str, tuple[str, ...]]
    shift_values: tuple[tuple[str, str], ...]   # (section, value) classes of the domain-shift attribute

    @classmethod
    def from_index(cls, index: pd.DataFrame, machine: str) -> "AttributeVocab":
        train = index[(index["machine"] == machine) & (index["split"] == "train")]
        if train.empty:
            raise ValueError(f"no training clips of {machine} to build its attribute vocabulary from")
        values: dict[str, set[str]] = {}
        shift: set[tuple[str, str]] = set()
        for section, attrs in zip(train["section"], train["attributes"]):
            for key, value in attrs.items():
                values.setdefault(key, set()).add(value)
            shift_key = domain_shift_key(machine, section)
            if shift_key in attrs:
                shift.add((section, attrs[shift_key]))
        keys = tuple(sorted(values))
        return cls(sections=tuple(sorted(train["section"].unique())), keys=keys,
                   values={k: tuple(sorted(values[k])) for k in keys}, shift_values=tuple(sorted(shift)))

    @property
    def attribute_classes(self) -> dict[str, int]:
        """Number of classes per key, in key order (the model's attribute heads)."""
        return {k: len(self.values[k]) for k in self.keys}

    @property
    def shift_sections(self) -> list[int]:
        """Section index of each (section, value) class of :attr:`shift_values` (the adversary's groups)."""
        return [self.encode_section(section) for section, _ in self.shift_values]

    def encode_section(self, section: str) -> int:
        try:
            return self.sections.index(section)
        except ValueError:
            raise ValueError(f"section {section} has no training clips (known: {self.sections})") from None

    def encode_attributes(self, attributes: dict[str, str]) -> list[int]:
        """One class index per key in ``self.keys``; -1 for a missing key or an unseen value."""
        out = []
        for key in self.keys:
            value = attributes.get(key)
            known = self.values[key]
            out.append(known.index(value) if value in known else -1)
        return out

    def encode_shift(self, machine: str, section: str, attributes: dict[str, str]) -> int:
        """Class of the clip's domain-shift attribute value (per section), -1 if missing or unseen."""
        pair = (section, attributes.get(domain_shift_key(machine, section)))
        return self.shift_values.index(pair) if pair in self.shift_values else -1

    @classmethod
    def merged(cls, vocabs: dict[str, "AttributeVocab"]) -> "AttributeVocab":
        """One vocabulary for several machines (training on all of them): every section, key and
        domain-shift class prefixed with its machine (``fan/00``, ``fan/m-n``), in the given order."""
        return cls(sections=tuple(f"{m}/{s}" for m, v in vocabs.items() for s in v.sections),
                   keys=tuple(f"{m}/{k}" for m, v in vocabs.items() for k in v.keys),
                   values={f"{m}/{k}": vals for m, v in vocabs.items() for k, vals in v.values.items()},
                   shift_values=tuple((f"{m}/{s}", value) for m, v in vocabs.items() for s, value in v.shift_values))

    def as_dict(self) -> dict:
        return {"sections": list(self.sections), "keys": list(self.keys),
                "values": {k: list(v) for k, v in self.values.items()},
                "shift_values": [list(p) for p in self.shift_values]}

    @classmethod
    def from_dict(cls, d: dict) -> "AttributeVocab":
        return cls(sections=tuple(d["sections"]), keys=tuple(d["keys"]),
                   values={k: tuple(v) for k, v in d["values"].items()},
                   shift_values=tuple(tuple(p) for p in d["shift_values"]))


# --------------------------------------------------------------------------------------------
# Audio
# --------------------------------------------------------------------------------------------
def load_clip(path: str | Path, min_samples: int = 1) -> np.ndarray:
    """Read one clip as float32 in [-1, 1], shape (n_samples,), checking what it reads.

    Raises :class:`AudioError` naming the file when it cannot be read, is not 16 kHz, is not mono,
    holds fewer than ``min_samples`` samples (e.g. shorter than one 32-frame training chunk), holds
    fewer samples than its header promises (a truncated file), or holds NaN or infinite samples.
    """
    import soundfile

    try:
        info = soundfile.info(str(path))
    except Exception as err:  # soundfile raises several types for broken or missing files
        raise AudioError(f"{path}: cannot read audio ({err})") from None
    if info.samplerate != SAMPLE_RATE:
        raise AudioError(f"{path}: sample rate {info.samplerate} Hz, expected {SAMPLE_RATE} Hz")
    if info.channels != 1:
        raise AudioError(f"{path}: {info.channels} channels, expected mono")
    if info.frames < min_samples:
        raise AudioError(f"{path}: {info.frames} samples ({info.frames / SAMPLE_RATE:.3f} s), "
                         f"shorter than the {min_samples} samples one chunk needs")
    try:
        wave, _ = soundfile.read(str(path), dtype="float32", always_2d=False)
    except Exception as err:
        raise AudioError(f"{path}: cannot read audio ({err})") from None
    promised = _wav_promised_frames(path)
    if promised is not None and promised > len(wave):
        raise AudioError(f"{path}: truncated: the header promises {promised} samples, the file holds {len(wave)}")
    if not np.isfinite(wave).all():
        raise AudioError(f"{path}: {int((~np.isfinite(wave)).sum())} samples are NaN or infinite")
    return wave


def _wav_promised_frames(path) -> int | None:
    """The sample frames a RIFF/WAVE header's ``data`` chunk promises (None if not such a file).

    libsndfile reads a truncated file without complaint, counting only the frames present, so a
    truncation shows only in the header: its data size against what the file holds."""
    with open(path, "rb") as handle:
        if handle.read(12)[8:12] != b"WAVE":
            return None
        block_align = None
        while len(header := handle.read(8)) == 8:
            kind, size = header[:4], int.from_bytes(header[4:], "little")
            if kind == b"fmt ":
                fmt = handle.read(size + size % 2)
                block_align = int.from_bytes(fmt[12:14], "little")
            elif kind == b"data":
                return size // block_align if block_align else None
            else:
                handle.seek(size + size % 2, 1)
    return None


def audio_problems(index: pd.DataFrame, progress: bool = False) -> list[str]:
    """Every problem :func:`load_clip` finds in the clips of ``index`` (rows of :func:`index_dataset`), and
    every clip shorter than its machine's own clip length (the median of that machine's clips: 10 s for
    each DCASE 2022 machine; later years vary it by machine; a machine's 2025 supplemental clips are a
    group of their own), one message per bad clip (all of them, not the first only); an empty list when
    every clip is fine."""
    from tqdm.auto import tqdm

    problems, lengths = [], {}
    # 2025 supplemental recordings are compared among themselves, not with the machine's clips
    groups = [f"{m} supplemental" if split == "supplemental" else m for m, split in zip(index["machine"], index["split"])]
    for path, machine in tqdm(list(zip(index["path"], groups)), desc="checking audio", unit="clip",
                              disable=not progress):
        try:
            lengths.setdefault(machine, {})[path] = len(load_clip(path, min_samples=0))
        except AudioError as err:
            problems.append(str(err))
    for machine, of_machine in lengths.items():
        typical = int(np.median(list(of_machine.values())))
        problems += [f"{path}: {n} samples ({n / SAMPLE_RATE:.3f} s), shorter than {machine}'s clips "
                     f"({typical} samples, {typical / SAMPLE_RATE:.3f} s)" for path, n in of_machine.items() if n < typical]
    return problems


def report_problems(problems: list[str], what: str, show: int = 20) -> str:
    """One message for many problems: how many, then the first ``show`` of them, one per line."""
    more = f"\n  ... and {len(problems) - show} more" if len(problems) > show else ""
    return f"{len(problems)} {what}:\n  " + "\n  ".join(problems[:show]) + more
