"""Write a synthetic data set in the real DCASE 2022 Task 2 layout (:mod:`asdlib.data`), or in the
layout of DCASE 2023, 2024 or 2025 (``year``; :mod:`asdlib.synth.years`).

``generate`` writes, for each machine::

    out/dev_data/<machine>/{train,test}/*.wav          sections 00-02, labelled names
    out/dev_data/<machine>/attributes_0{0,1,2}.csv
    out/eval_data/<machine>/{train,test}/*.wav         sections 03-05, anonymised test names
    out/eval_data/<machine>/attributes_0{3,4,5}.csv
    out/eval_truth/ground_truth_{data,domain}/ground_truth_<machine>_section_SS_test.csv
    out/eval_truth/ground_truth_attributes/<machine>/attributes_SS.csv

In a later year's layout dev_data holds the year's dev machines and eval_data its eval machines, each
with the one section ``00`` (train, test and ``attributes_00.csv``; the names of a machine the real
year hides say ``noAttribute``), and the evaluator's attribute files are the later evaluators'
``out/eval_truth/ground_truth_attributes/ground_truth_<machine>_section_00_test.csv``, rows
``section_00_0000.wav,<labelled name without .wav>[,<name with the hidden attributes>.wav]``.
2025 adds ``<machine>/supplemental/`` to every machine: the machine alone and the background alone
(:func:`plan_supplemental`).

plus ``out/anomaly_causes.csv`` (type and severity of every anomalous test clip) and
``out/synth.json`` (provenance). Everything is written into a temporary sibling folder that is
renamed to ``out`` at the end, so an interrupted run leaves no half-written data set (the temporary
folder of a run that was killed, named after its process, is removed by the next run).
"""
from __future__ import annotations

import dataclasses
import glob
import json
import os
import shutil
import tempfile
from dataclasses import asdict
from pathlib import Path

import numpy as np
import soundfile

from asdlib import __version__
from asdlib.atomic import alive, check_space, naming
from asdlib import names
from asdlib.names import DEV_SECTIONS, DOMAINS, EVAL_SECTIONS, LABELS, MACHINES, format_eval_test_name
from asdlib.scales import SynthSize
from asdlib.synth.anomalies import MULTIPLIER
from asdlib.synth.attributes import assign, section_design
from asdlib.synth.clip import SAMPLE_RATE, ClipSpec, fault_of, render
from asdlib.synth.seeds import stream
from asdlib.synth.years import hidden, physics_of, seconds_factor, year_design

FORMAT_VERSION = 1
FOLDERS = {"dev_data": DEV_SECTIONS, "eval_data": EVAL_SECTIONS}


def _specs(seed: int, machine: str, section: str, split: str, domain: str, label: str, count: int,
           year: int = 2022) -> list[ClipSpec]:
    if year == 2022:
        design, extra = section_design(machine, section), {}
    else:
        physics = physics_of(year, machine)
        design = year_design(physics)
        extra = {"model": physics, "year": year, "hidden": hidden(year, machine)}
    out = []
    for index in range(count):
        clip = ClipSpec(machine, section, split, domain, label, index, {}, **extra)
        rng = stream(seed, "attributes", *clip.stream_keys())
        out.append(dataclasses.replace(clip, attributes=assign(design, "source" if domain == "noise" else domain,
                                                               index, rng)))
    return out


def plan_supplemental(seed: int, machine: str, size: SynthSize, year: int) -> list[ClipSpec]:
    """The supplemental clips of a DCASE 2025 machine's section 00: ``size.test_per_domain`` clean
    source-domain recordings of the machine (``section_00_source_supplemental_machine_NNNN``) and as
    many of the background alone (``section_00_noise_supplemental_normal_NNNN``); none before 2025.
    The real set has 100 a section (the form of their names: :mod:`asdlib.names`)."""
    if year < 2025:
        return []
    return (_specs(seed, machine, "00", "supplemental", "source", "machine", size.test_per_domain, year)
            + [dataclasses.replace(s, hidden=True)  # a noise recording's name states no attribute
               for s in _specs(seed, machine, "00", "supplemental", "noise", "normal", size.test_per_domain, year)])


def year_folders(year: int, machines=None) -> dict[str, dict[str, tuple[str, ...]]]:
    """Folder -> machine -> sections that :func:`generate` writes for ``year`` (``machines``: a subset;
    default every machine of the year)."""
    if year == 2022:
        wanted = MACHINES if machines is None else machines
        return {folder: {m: sections for m in MACHINES if m in wanted} for folder, sections in FOLDERS.items()}
    return {folder: {m: names.sections(year, folder) for m in names.machines(year, folder)
                     if machines is None or m in machines} for folder in FOLDERS}


def _quarters(total: int) -> list[int]:
    """Split ``total`` eval test clips over (source, target) x (normal, anomaly) as evenly as possible."""
    return [total // 4 + (i < total % 4) for i in range(4)]


def plan_section(seed: int, machine: str, section: str, size: SynthSize, year: int = 2022,
                 folder: str | None = None) -> tuple[list[ClipSpec], list[ClipSpec]]:
    """The train and test clips of one machine section, in writing order.

    Train: ``size.train_source`` source and ``size.train_target`` target normal clips. Test: dev
    sections get ``size.test_per_domain`` normal and anomalous clips per domain; eval sections
    ``size.eval_test`` clips with the same balanced mix, in a seeded shuffled order (position i is
    written as ``section_SS_{i:04d}.wav``). Indices restart at 0000 per domain and label, as in the real names.
    A later ``year``'s section 00 is a dev or an eval section by its ``folder`` ("dev_data"/"eval_data").
    """
    train = (_specs(seed, machine, section, "train", "source", "normal", size.train_source, year)
             + _specs(seed, machine, section, "train", "target", "normal", size.train_target, year))
    cells = [(d, lab) for d in DOMAINS for lab in LABELS]
    dev = section in DEV_SECTIONS if year == 2022 else folder == "dev_data"
    counts = [size.test_per_domain] * 4 if dev else _quarters(size.eval_test)
    test = [s for (d, lab), c in zip(cells, counts) for s in _specs(seed, machine, section, "test", d, lab, c, year)]
    if not dev:
        order = stream(seed, "shuffle", train[0].unit, section).permutation(len(test))
        test = [test[i] for i in order]
    return train, test


def section_clip_count(size: SynthSize, folder: str, year: int = 2022) -> int:
    """How many clips one section of ``folder`` ("dev_data" or "eval_data") of ``year`` has at ``size``."""
    test = 4 * size.test_per_domain if folder == "dev_data" else size.eval_test
    return size.train_source + size.train_target + test + (2 * size.test_per_domain if year >= 2025 else 0)


def clip_count(size: SynthSize, machines=MACHINES, year: int = 2022) -> int:
    """How many clips :func:`generate` writes for ``machines`` of ``year`` at ``size``."""
    return sum(len(sections) * section_clip_count(size, folder, year)
               for folder, of_machine in year_folders(year, machines).items() for sections in of_machine.values())


def _pairs(attributes: dict[str, str]) -> list[str]:
    return [item for pair in attributes.items() for item in pair]


def _write_rows(path: Path, rows: list[list[str]], header: list[str] | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ([",".join(header)] if header else []) + [",".join(r) for r in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _header(section_pairs: int, extra: list[str] = ()) -> list[str]:
    return ["file_name"] + [f"d{i}{c}" for i in range(1, section_pairs + 1) for c in "pv"] + list(extra)


def _write_section(tmp: Path, folder: str, machine: str, section: str, size: SynthSize, seed: int,
                   strength: float, bar=None, year: int = 2022) -> list[list[str]]:
    """Write one machine section's clips, its ``attributes_SS.csv`` and, for eval, its ground truth.
    Returns the rows of ``anomaly_causes.csv`` of its anomalous test clips; ``bar`` counts clips."""
    causes = []
    train, test = plan_section(seed, machine, section, size, year, folder)
    root = tmp / folder / machine
    seconds = size.clip_seconds * (1.0 if year == 2022 else seconds_factor(year, machine))
    if train[0].hidden:
        pairs = 0
    else:
        pairs = (section_design(machine, section) if year == 2022 else year_design(train[0].physics)).max_pairs
    attribute_rows, truth_label, truth_domain, truth_attributes = [], [], [], []
    supplemental = plan_supplemental(seed, machine, size, year)
    for split, specs in (("train", train), ("test", test), ("supplemental", supplemental)):
        if not specs:
            continue
        (root / split).mkdir(parents=True, exist_ok=True)
        for position, spec in enumerate(specs):
            anonymous = folder == "eval_data" and split == "test"
            name = format_eval_test_name(section, position) if anonymous else spec.labelled_name
            audio = render(spec, seed, strength, seconds)
            try:
                soundfile.write(str(root / split / name), audio, SAMPLE_RATE, subtype="PCM_16", format="WAV")
            except soundfile.SoundFileError as err:  # libsndfile says "System error" for a full disk
                raise OSError(f"{root / split / name}: cannot be written ({err}); is the disk full?") from None
            relative = f"{machine}/{split}/{name}"
            if split != "supplemental":
                attribute_rows.append([relative] if anonymous or spec.hidden else [relative, *_pairs(spec.attributes)])
            if anonymous:
                truth_label.append([name, str(int(spec.label == "anomaly"))])
                truth_domain.append([name, str(int(spec.domain == "target"))])
                if year == 2022:
                    truth_attributes.append([relative, *_pairs(spec.attributes),
                                             f"{machine}/test/{spec.labelled_name}"])
                else:  # the later evaluators' form: the labelled name without .wav, then the full one if hidden
                    truth_attributes.append([name, spec.labelled_name[:-len(".wav")]]
                                            + ([spec.full_name] if spec.hidden else []))
            fault = fault_of(spec, seed, strength)
            if fault is not None:
                causes.append([machine, folder, name, fault.kind, f"{fault.severity:.3f}"])
            if bar is not None:
                bar.update(1)
    _write_rows(root / f"attributes_{section}.csv", attribute_rows, _header(pairs))
    if folder == "eval_data":
        truth = tmp / "eval_truth"
        stem = f"ground_truth_{machine}_section_{section}_test.csv"
        _write_rows(truth / "ground_truth_data" / stem, truth_label)
        _write_rows(truth / "ground_truth_domain" / stem, truth_domain)
        if year == 2022:
            _write_rows(truth / "ground_truth_attributes" / machine / f"attributes_{section}.csv", truth_attributes,
                        _header(pairs, ["file_name_with_full_attributes"]))
        else:
            _write_rows(truth / "ground_truth_attributes" / stem, truth_attributes)
    return causes


def _write_in_parallel(tmp: Path, sections: list[tuple[str, str, str]], size: SynthSize, seed: int,
                       strength: float, workers: int, bar, year: int = 2022) -> list[list[list[str]]]:
    """:func:`_write_section` of every (folder, machine, section) in ``workers`` processes; the results
    in the order of ``sections``."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
        futures = {pool.submit(_write_section, tmp, folder, machine, section, size, seed, strength, None, year):
                   section_clip_count(size, folder, year) for folder, machine, section in sections}
        for future in as_completed(futures):
            future.result()
            bar.update(futures[future])
        return [future.result() for future in futures]


def year_machines(year: int) -> tuple[str, ...]:
    """Every machine :func:`generate` can write for ``year``: the 2022 seven, or the year's dev then eval machines."""
    if year == 2022:
        return MACHINES
    return tuple(dict.fromkeys(names.machines(year, "dev_data") + names.machines(year, "eval_data")))


def _clip_bytes(size: SynthSize, year: int, machines) -> int:
    """The bytes of the clips :func:`generate` writes (16-bit samples and a 44-byte header each)."""
    total = 0
    for folder, of_machine in year_folders(year, machines).items():
        for machine, secs in of_machine.items():
            factor = 1.0 if year == 2022 else seconds_factor(year, machine)
            total += len(secs) * section_clip_count(size, folder, year) * (44 + 2 * round(size.clip_seconds * factor
                                                                                    * SAMPLE_RATE))
    return total


def generate(out: Path, size: SynthSize, seed: int = 0, machines=None, strength: float = 1.0,
             progress: bool = True, workers: int = 1, year: int = 2022) -> Path:
    """Write a synthetic DCASE Task 2 stand-in to ``out`` and return ``out``.

    Args:
        out: target folder; must not exist or be empty (``ValueError`` otherwise, nothing written).
        size: clip counts and length per section (``asdlib.scales.SynthSize``).
        seed: non-negative int; the same seed and arguments give byte-identical files, and a subset of
            ``machines`` gives the same bytes for those machines.
        machines: machine names (default: every machine of ``year``, :func:`year_machines`).
        strength: global anomaly strength, >= 0 (0: anomalous clips are statistically normal).
        progress: show a tqdm bar over clips (on stderr); nothing else is printed.
        workers: processes writing sections in parallel (each clip's bytes depend only on its own
            seeded streams, so the files are the same for any number).
        year: the layout, 2022 (three sections a machine) or 2023, 2024, 2025 (one section 00 a machine
            type, dev and eval machines of their own; :mod:`asdlib.synth.years`). A later year's clip of a
            2022 machine type is not the 2022 clip: its streams are named after the year.
    """
    from tqdm import tqdm

    out = Path(out)
    if year not in names.YEARS:
        raise ValueError(f"year {year!r}: choose one of {', '.join(map(str, names.YEARS))}")
    known = year_machines(year)
    machines = known if machines is None else (machines,) if isinstance(machines, str) else tuple(machines)
    unknown = [m for m in machines if m not in known]
    if unknown or not machines:
        raise ValueError(f"unknown or no machines {unknown or list(machines)} for {year}; choose from {list(known)}")
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    if strength < 0 or not np.isfinite(strength):
        raise ValueError(f"strength must be a finite number >= 0, got {strength}")
    if not isinstance(workers, (int, np.integer)) or workers < 1:
        raise ValueError(f"workers must be an integer >= 1, got {workers!r}")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ValueError(f"{out}: exists and is not an empty folder; choose a new path or remove it")
    machines = tuple(m for m in known if m in machines)
    out.parent.mkdir(parents=True, exist_ok=True)
    check_space(out.parent, _clip_bytes(size, year, machines), "the data set's clips")
    for stale in out.parent.glob(f".{glob.escape(out.name)}.*.partial"):  # what a killed synth left
        pid = stale.name[len(out.name) + 2:].split("-", 1)[0]
        if pid.isdigit() and not alive(int(pid)):
            shutil.rmtree(stale, ignore_errors=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.{os.getpid()}-", suffix=".partial", dir=out.parent))
    tmp.chmod(0o755)  # mkdtemp makes it private; the data set is not
    try:
        folders = year_folders(year, machines)
        tasks = [(folder, machine, section) for machine in machines for folder in FOLDERS
                 for section in folders[folder].get(machine, ())]
        with tqdm(total=clip_count(size, machines, year), unit="clip", desc="synth", disable=not progress) as bar:
            if workers == 1:
                per_section = [_write_section(tmp, folder, machine, section, size, seed, strength, bar, year)
                               for folder, machine, section in tasks]
            else:
                per_section = _write_in_parallel(tmp, tasks, size, seed, strength, workers, bar, year)
        causes = [row for rows in per_section for row in rows]
        _write_rows(tmp / "anomaly_causes.csv", causes, ["machine", "split_folder", "file_name", "anomaly_type",
                                                         "severity"])
        physics = {m: m if year == 2022 else physics_of(year, m) for m in machines}
        provenance = {"format_version": FORMAT_VERSION, "asdlib_version": __version__, "seed": int(seed),
                      "strength": float(strength), "size": asdict(size), "machines": list(machines),
                      "sample_rate": SAMPLE_RATE, "machine_multipliers": {m: MULTIPLIER[physics[m]] for m in machines}}
        if year != 2022:
            provenance.update(year=year, physics=physics, no_attribute=[m for m in machines if hidden(year, m)])
        (tmp / "synth.json").write_text(json.dumps(provenance, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        if out.exists():
            out.rmdir()
        tmp.rename(out)
    except BaseException as err:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(err, OSError):
            raise naming(err, out) from None
        raise
    return out
