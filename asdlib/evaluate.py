"""Score a folder of official result files: ``asdlib evaluate SCORES_DIR [--truth DIR] [--year Y]``.

Reads every ``anomaly_score_<machine>_section_<SS>_test.csv`` in a folder, finds each clip's label
and domain, and computes the official per-section metrics and score (:mod:`asdlib.metrics`; the
paper's Sec. 4 and Table 2). Labels and domains come from

- the evaluator's ground truth, ``TRUTH/ground_truth_data/ground_truth_<machine>_section_<SS>_test.csv``
  and ``TRUTH/ground_truth_domain/...`` (rows ``name,0|1``), when ``truth_dir`` holds them;
- otherwise the clip names themselves (dev test names such as
  ``section_00_source_test_anomaly_0003_....wav``, read by :func:`asdlib.names.parse_clip_name`).

Anonymised eval names (``section_03_0000.wav``) therefore need ``truth_dir``. Rows are matched by
clip name, as the official evaluator does by sorting each file. ``decision_result_*`` files do not
enter the score and are ignored. No torch.

The years (the organisers' evaluators, read at nttcslab/dcase2023_task2_evaluator 3aa8a9f and
nttcslab/dcase2024_task2_evaluator b5d17f6, ``dcase202X_task2_evaluator.py``, ``output_result``; the
2025 evaluator's code was not available here, its README documents the same output and score):

- per machine and section the same three values every year: AUC (source) over the source normal
  clips and all anomalous clips of the section, AUC (target) likewise, pAUC
  (``roc_auc_score(max_fpr=0.1)``, McClish-standardised) over all the section's clips, one pAUC
  per section (not per domain; the per-domain pAUC is commented out in the 2023/2024 code);
- the official score: ``scipy.stats.hmean`` of every AUC (source), AUC (target) and pAUC of every
  machine and section, each floored at ``sys.float_info.epsilon``. 2022: 7 machines x 3 sections x 3
  = 63 values; 2023: 7 x 1 x 3 = 21; 2024: 9 x 1 x 3 = 27; 2025: 8 x 1 x 3 = 24 (eval machines). So
  one mechanism (:func:`asdlib.metrics.official_score`) serves every year; only the machines and
  sections of a complete set differ (``--year``);
- 2023-2025: a score file may list the full (de-anonymised) names of eval test clips: the
  evaluator maps them to the anonymised names through
  ``ground_truth_attributes/ground_truth_<machine>_section_00_test.csv``; so does this module.
  The evaluators' other file form (``anomaly_score_DCASE2023T2<machine>_section_00_test_seed<seed><tag>_Eval.csv``)
  is not read.

Without ``year`` a folder is read as DCASE 2022 unless its machines are a later year's eval machines
(each year has its own); a 2023-2025 dev folder (the 2022 machines, section 00 only) needs the year.
"""
from __future__ import annotations

import csv
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd

from asdlib.metrics import METRICS, official_score, read_score_csv, section_metrics, table2_summary
from asdlib import names as _names
from asdlib.names import MACHINES, YEARS, parse_clip_name

SCORE_FILE = re.compile(r"^anomaly_score_(?P<machine>.+)_section_(?P<section>\d\d)_test\.csv$")
TRUTH_FILE = re.compile(r"^ground_truth_(?P<machine>.+)_section_(?P<section>\d\d)_test\.csv$")
COLUMNS = ("machine", "section", "n_clips", *METRICS)
_SHOW = 5  # how many offending clip names an error message lists


def find_score_files(scores_dir) -> dict[tuple[str, str], Path]:
    """``{(machine, section): path}`` of the anomaly score files in ``scores_dir``, sorted.

    Raises ValueError naming the folder if it holds none (or is not a folder).
    """
    folder = Path(scores_dir)
    if not folder.is_dir():
        raise ValueError(f"{folder}: not a folder")
    found = {}
    for path in sorted(folder.iterdir()):
        match = SCORE_FILE.match(path.name)
        if match and path.is_file():
            found[(match["machine"], match["section"])] = path
    if not found:
        raise ValueError(f"{folder}: no anomaly_score_<machine>_section_<SS>_test.csv files found")
    return dict(sorted(found.items()))


def _truth_paths(truth_dir: Path, machine: str, section: str) -> tuple[Path, Path]:
    name = f"ground_truth_{machine}_section_{section}_test.csv"
    return truth_dir / "ground_truth_data" / name, truth_dir / "ground_truth_domain" / name


def _some(names) -> str:
    names = sorted(names)
    shown = ", ".join(names[:_SHOW])
    return f"{len(names)} ({shown}{', ...' if len(names) > _SHOW else ''})"


def _labels_from_truth(score_path: Path, names: set[str], data_path: Path, domain_path: Path):
    """``{name: (label, domain)}`` from the evaluator's two ground-truth files of one section."""
    labels = read_score_csv(data_path)
    domains = read_score_csv(domain_path)
    if set(labels) != set(domains):
        raise ValueError(f"{data_path} and {domain_path} list different clips: "
                         f"{_some(set(labels) ^ set(domains))}")
    for path, values in ((data_path, labels), (domain_path, domains)):
        bad = sorted(n for n, v in values.items() if v not in (0.0, 1.0))
        if bad:
            raise ValueError(f"{path}: values must be 0 or 1; not so for {_some(bad)}")
    missing, extra = set(labels) - names, names - set(labels)
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"missing {_some(missing)}")
        if extra:
            parts.append(f"not in the ground truth {_some(extra)}")
        raise ValueError(f"{score_path}: rows do not match {data_path}: {'; '.join(parts)}")
    return {n: (int(labels[n]), int(domains[n])) for n in names}


def _labels_from_names(score_path: Path, section: str, names: set[str], why_no_truth: str, year: int = 2022):
    """``{name: (label, domain)}`` read from labelled (dev test) clip names; ``why_no_truth`` says
    why the evaluator's ground truth is not used (for the error on anonymised names)."""
    out = {}
    for name in sorted(names):
        try:
            clip = parse_clip_name(name, year)
        except ValueError as err:
            raise ValueError(f"{score_path}: {err}") from None
        if clip.split != "test":
            raise ValueError(f"{score_path}: clip {name!r} is a {clip.split} clip, not a test clip")
        if clip.anonymised:
            raise ValueError(f"{score_path}: score file without ground truth: clip {name!r} has an "
                             f"anonymised name and {why_no_truth} (pass --truth DIR holding "
                             f"ground_truth_data/ and ground_truth_domain/)")
        if clip.section != section:
            raise ValueError(f"{score_path}: clip {name!r} belongs to section {clip.section}, "
                             f"not {section}")
        out[name] = (int(clip.label == "anomaly"), int(clip.domain == "target"))
    cells = Counter(out.values())  # a dev test set has as many clips in each domain and label (real: 50)
    if len(set(cells.values())) > 1:
        counts = ", ".join(f"{domain}/{label} {cells[y, d]}" for d, domain in enumerate(("source", "target"))
                           for y, label in enumerate(("normal", "anomaly")) if (y, d) in cells)
        raise ValueError(f"{score_path}: rows missing? A dev test set has as many clips in each domain and label; "
                         f"here {counts} (pass --truth DIR to check the rows against the evaluator's files)")
    return out


def _check_truth_covered(truth_dir: Path, scores_dir, files: dict[tuple[str, str], Path]) -> None:
    """Every ground-truth file of a machine that has scores must have its score file."""
    machines = {m for m, _ in files}
    data_dir = truth_dir / "ground_truth_data"
    if not data_dir.is_dir():
        raise ValueError(f"{data_dir}: not a folder (--truth must hold ground_truth_data/ and "
                         f"ground_truth_domain/)")
    for path in sorted(data_dir.iterdir()):
        match = TRUTH_FILE.match(path.name)
        if match and match["machine"] in machines and (match["machine"], match["section"]) not in files:
            raise ValueError(f"{path}: ground truth without a score file "
                             f"(no anomaly_score_{match['machine']}_section_{match['section']}_test.csv "
                             f"in {scores_dir})")


def _count(n: int) -> str:
    return {7: "seven", 8: "eight", 9: "nine"}.get(n, str(n))


def _year_of(files: dict[tuple[str, str], Path], year: int | None) -> int:
    """The given year, checked; else 2022 unless the machines are one later year's eval machines."""
    if year is not None:
        if year not in YEARS:
            raise ValueError(f"year {year!r}: asdlib evaluates DCASE {', '.join(map(str, YEARS))}")
        return int(year)
    present = {m for m, _ in files}
    later = [y for y in YEARS[1:] if present & set(_names.machines(y, "eval_data"))]
    if len(later) == 1 and present <= set(_names.machines(later[0], "eval_data")):
        return later[0]
    return 2022


def _sets(year: int) -> list[tuple[tuple[str, ...], tuple[str, ...]]]:
    """The year's complete sets: ``(machines, sections)`` of dev and of eval."""
    return [(_names.machines(year, d), _names.sections(year, d)) for d in _names.DATA_SETS]


def _select(files: dict[tuple[str, str], Path], scores_dir, machines, year: int = 2022):
    """The score files of ``machines`` and the machines an official score of them needs.

    ``machines`` None: every machine of the set the files belong to (all seven in 2022). Checks for
    unknown machine names, a mix of a later year's dev and eval machines, and sets (2022: dev 00-02,
    eval 03-05; later: 00) with a section missing.
    """
    sets = _sets(year)
    known = tuple(dict.fromkeys(m for ms, _ in sets for m in ms))
    for (machine, section), path in files.items():
        if machine not in known:
            raise ValueError(f"{path}: unknown machine {machine!r} (the DCASE {year} machines are {', '.join(known)})")
    of_files = [ms for ms, _ in sets if {m for m, _ in files} <= set(ms)]
    if not of_files:
        raise ValueError(f"{scores_dir}: holds both dev and eval machines of DCASE {year}; score each set "
                         "alone or name --machines")
    official = of_files[0]
    wanted = tuple(machines) if machines else official
    unknown = [m for m in wanted if m not in known]
    if unknown:
        raise ValueError(f"unknown machine(s) {', '.join(unknown)}; the DCASE {year} machines are {', '.join(known)}")
    files = {key: path for key, path in files.items() if key[0] in wanted}
    absent = [m for m in wanted if m not in {k[0] for k in files}]
    if absent:
        hint = ("" if machines else f"; an official score needs all {_count(len(official))} machines: to score a subset, "
                "name it with --machines")
        raise ValueError(f"{scores_dir}: no anomaly score files for {', '.join(absent)}{hint}")
    for machine in wanted:
        have = {section for m, section in files if m == machine}
        for set_machines, sections in sets:
            missing = [s for s in sections if s not in have]
            if machine in set_machines and have & set(sections) and missing:
                names = ", ".join(f"anomaly_score_{machine}_section_{s}_test.csv" for s in missing)
                later = " (a DCASE 2023-2025 dev set has section 00 only: give its year)" if year == 2022 else ""
                raise ValueError(f"{scores_dir}: {machine} lacks section(s) {', '.join(missing)} ({names}); "
                                 f"a score needs every section of the set{later}")
        odd = sorted(have - {s for ms, ss in sets if machine in ms for s in ss})
        if odd:
            raise ValueError(f"{files[(machine, odd[0])]}: section {odd[0]} is not a DCASE {year} section of {machine}")
    return files, official


def _anonymise(scores: dict[str, float], attributes_path: Path) -> dict[str, float]:
    """Score rows keyed by the anonymised names where they list full names, as the 2023-2025 evaluators map
    them through their ``ground_truth_attributes`` file (rows ``section_00_0000.wav,<full name without .wav>``)."""
    if not attributes_path.is_file():
        return scores
    full_to_anonymised = {}
    with open(attributes_path, newline="", encoding="utf-8-sig") as handle:
        for line, row in enumerate(csv.reader(handle), start=1):
            if row and len(row) != 2:
                raise ValueError(f"{attributes_path}, line {line}: expected 'anonymised name,full name'")
            if row:
                full_to_anonymised[row[1].strip() + ".wav"] = row[0].strip()
    return {full_to_anonymised.get(name, name): value for name, value in scores.items()}


def evaluate_dir(scores_dir, truth_dir=None, machines=None, year=None) -> pd.DataFrame:
    """Official per-section metrics of the anomaly score files in ``scores_dir``.

    Args:
        scores_dir: folder of ``anomaly_score_<machine>_section_<SS>_test.csv`` files.
        truth_dir: the evaluator's folder holding ``ground_truth_data/`` and
            ``ground_truth_domain/``; needed for anonymised (eval) names, optional for dev names.
            Where it holds a section's files they are used; otherwise the clip names are read.
        machines: the machines to score (others' files are ignored); None: every machine of the set
            the files belong to (2022: all seven; a later year: its dev seven or its eval machines),
            each of which must have its files (an official score). Either way every machine scored
            needs every section of each set (2022: dev 00-02, eval 03-05; later: 00) it has files for.
        year: the DCASE year (2022-2025); None: 2022 unless the machines are a later year's eval
            machines (module docstring).

    Returns:
        One row per machine and section, sorted by machine then section, with columns ``machine``,
        ``section`` (``"03"``), ``n_clips``, ``auc_source``, ``auc_target``, ``pauc``;
        ``attrs["year"]`` the year and ``attrs["official_machines"]`` the machines an official score
        of this set needs.

    Raises:
        ValueError, naming the file: no score files; a file of an unknown machine; a machine or
        section missing (above); a malformed score or truth file; a score file
        without ground truth (anonymised names and no truth files); a truth file of a scored
        machine without its score file; score rows missing from or extra to the ground truth; a
        section whose clips lack anomalies or the normal clips of a domain.
    """
    found = find_score_files(scores_dir)
    year = _year_of(found, year)
    files, official = _select(found, scores_dir, machines, year)
    truth = Path(truth_dir) if truth_dir is not None else None
    if truth is not None:
        _check_truth_covered(truth, scores_dir, files)
    rows = []
    for (machine, section), path in files.items():
        scores = read_score_csv(path)
        if truth is not None and year >= 2023:
            scores = _anonymise(scores, truth / "ground_truth_attributes" / f"ground_truth_{machine}_section_{section}_test.csv")
        names = set(scores)
        if truth is not None:
            data_path, domain_path = _truth_paths(truth, machine, section)
            if data_path.is_file() != domain_path.is_file():
                have, lack = (data_path, domain_path) if data_path.is_file() else (domain_path, data_path)
                raise ValueError(f"{path}: ground truth {have} exists but {lack} does not")
            if data_path.is_file():
                truth_of = _labels_from_truth(path, names, data_path, domain_path)
            else:
                truth_of = _labels_from_names(path, section, names, f"neither {data_path} nor "
                                              f"{domain_path} exists", year)
        else:
            truth_of = _labels_from_names(path, section, names, "no --truth DIR was given", year)
        ordered = sorted(names)
        y = np.array([truth_of[n][0] for n in ordered])
        d = np.array([truth_of[n][1] for n in ordered])
        s = np.array([scores[n] for n in ordered])
        try:
            values = section_metrics(y, s, d)
        except ValueError as err:
            raise ValueError(f"{path}: {err}") from None
        rows.append({"machine": machine, "section": section, "n_clips": len(ordered), **values})
    frame = pd.DataFrame(rows, columns=list(COLUMNS))
    frame.attrs.update(year=year, official_machines=tuple(official))
    return frame


def summary_json(results: pd.DataFrame) -> dict:
    """The summary a run leaves beside its score files (JSON-serialisable).

    Args:
        results: as :func:`evaluate_dir` returns.

    Returns:
        ``{key: x, "machines": [...], "sections": [...]}`` with plain Python floats and
        strings: ``key`` is ``"official_score"`` when the results cover every machine of their set
        (:func:`is_official`), else ``"score"``; a section is a dict of ``machine``, ``section``,
        ``auc_source``, ``auc_target`` and ``pauc``.
    """
    sections = [{"machine": str(r.machine), "section": str(r.section),
                 **{m: float(getattr(r, m)) for m in METRICS}}
                for r in results.itertuples(index=False)]
    key = "official_score" if is_official(results) else "score"
    return {key: official_score(results), "machines": sorted(set(results["machine"])), "sections": sections}


def is_official(results: pd.DataFrame) -> bool:
    """Whether ``results`` cover every machine of their set (``attrs["official_machines"]``; all seven
    2022 machines when absent), so that their harmonic mean is the official score."""
    return set(results["machine"]) == set(results.attrs.get("official_machines", MACHINES))


def format_report(results: pd.DataFrame) -> str:
    """A readable table: per machine its sections' AUC (S), AUC (T), pAUC, then a ``hmean`` row
    (per metric over its sections, and over all its values), and the official score (Table 2)."""
    summary = table2_summary(results)
    header = f"{'machine':<10} {'section':>7} {'n_clips':>7} {'AUC (S)':>8} {'AUC (T)':>8} {'pAUC':>8} {'hmean':>8}"
    lines = [header, "-" * len(header)]

    def metric_cells(row) -> str:
        return " ".join(f"{row[m]:8.4f}" for m in METRICS)

    for machine, group in results.groupby("machine", sort=False):
        for _, row in group.iterrows():
            lines.append(f"{machine:<10} {row['section']:>7} {row['n_clips']:>7d} {metric_cells(row)}")
        lines.append(f"{machine:<10} {'hmean':>7} {'':>7} {metric_cells(summary.loc[machine])} "
                     f"{summary.loc[machine, 'hmean']:8.4f}")
        lines.append("")
    lines.append(f"{'all':<10} {'hmean':>7} {'':>7} {metric_cells(summary.loc['all'])} "
                 f"{summary.loc['all', 'hmean']:8.4f}")
    n_values = len(results) * len(METRICS)
    year = results.attrs.get("year", 2022)
    needed = results.attrs.get("official_machines", MACHINES)
    if is_official(results):
        lines.append(f"DCASE {year} official score (harmonic mean of {n_values} values): {summary.loc['all', 'hmean']:.6f}")
    else:
        lines.append(f"score of {', '.join(sorted(set(results['machine'])))} (harmonic mean of {n_values} values): "
                     f"{summary.loc['all', 'hmean']:.6f}; not the official score, which needs all "
                     f"{_count(len(needed))} machines of the DCASE {year} set")
    return "\n".join(lines)
