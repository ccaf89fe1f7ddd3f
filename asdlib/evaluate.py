"""Score a folder of official result files: ``asdlib evaluate SCORES_DIR [--truth DIR]``.

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
"""
from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd

from asdlib.metrics import METRICS, official_score, read_score_csv, section_metrics, table2_summary
from asdlib.names import DEV_SECTIONS, EVAL_SECTIONS, MACHINES, parse_clip_name

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


def _labels_from_names(score_path: Path, section: str, names: set[str], why_no_truth: str):
    """``{name: (label, domain)}`` read from labelled (dev test) clip names; ``why_no_truth`` says
    why the evaluator's ground truth is not used (for the error on anonymised names)."""
    out = {}
    for name in sorted(names):
        try:
            clip = parse_clip_name(name)
        except ValueError as err:
            raise ValueError(f"{score_path}: {err}") from None
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


def _select(files: dict[tuple[str, str], Path], scores_dir, machines) -> dict[tuple[str, str], Path]:
    """The score files of ``machines`` (None: all seven, as an official score needs), checked for
    unknown machine names and for sets (dev 00-02, eval 03-05) with a section missing."""
    for (machine, _), path in files.items():
        if machine not in MACHINES:
            raise ValueError(f"{path}: unknown machine {machine!r} (the machines are {', '.join(MACHINES)})")
    wanted = tuple(machines) if machines else MACHINES
    unknown = [m for m in wanted if m not in MACHINES]
    if unknown:
        raise ValueError(f"unknown machine(s) {', '.join(unknown)}; the machines are {', '.join(MACHINES)}")
    files = {key: path for key, path in files.items() if key[0] in wanted}
    absent = [m for m in wanted if m not in {k[0] for k in files}]
    if absent:
        hint = ("" if machines else "; an official score needs all seven machines: to score a subset, "
                "name it with --machines")
        raise ValueError(f"{scores_dir}: no anomaly score files for {', '.join(absent)}{hint}")
    for machine in wanted:
        have = {section for m, section in files if m == machine}
        for sections in (DEV_SECTIONS, EVAL_SECTIONS):
            missing = [s for s in sections if s not in have]
            if have & set(sections) and missing:
                names = ", ".join(f"anomaly_score_{machine}_section_{s}_test.csv" for s in missing)
                raise ValueError(f"{scores_dir}: {machine} lacks section(s) {', '.join(missing)} ({names}); "
                                 "a score needs every section of the set")
    return files


def evaluate_dir(scores_dir, truth_dir=None, machines=None) -> pd.DataFrame:
    """Official per-section metrics of the anomaly score files in ``scores_dir``.

    Args:
        scores_dir: folder of ``anomaly_score_<machine>_section_<SS>_test.csv`` files.
        truth_dir: the evaluator's folder holding ``ground_truth_data/`` and
            ``ground_truth_domain/``; needed for anonymised (eval) names, optional for dev names.
            Where it holds a section's files they are used; otherwise the clip names are read.
        machines: the machines to score (others' files are ignored); None: all seven, each of
            which must have its files (an official score). Either way every machine scored needs
            every section of each set (dev 00-02, eval 03-05) it has files for.

    Returns:
        One row per machine and section, sorted by machine then section, with columns ``machine``,
        ``section`` (``"03"``), ``n_clips``, ``auc_source``, ``auc_target``, ``pauc``.

    Raises:
        ValueError, naming the file: no score files; a file of an unknown machine; a machine or
        section missing (above); a malformed score or truth file; a score file
        without ground truth (anonymised names and no truth files); a truth file of a scored
        machine without its score file; score rows missing from or extra to the ground truth; a
        section whose clips lack anomalies or the normal clips of a domain.
    """
    files = _select(find_score_files(scores_dir), scores_dir, machines)
    truth = Path(truth_dir) if truth_dir is not None else None
    if truth is not None:
        _check_truth_covered(truth, scores_dir, files)
    rows = []
    for (machine, section), path in files.items():
        scores = read_score_csv(path)
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
                                              f"{domain_path} exists")
        else:
            truth_of = _labels_from_names(path, section, names, "no --truth DIR was given")
        ordered = sorted(names)
        y = np.array([truth_of[n][0] for n in ordered])
        d = np.array([truth_of[n][1] for n in ordered])
        s = np.array([scores[n] for n in ordered])
        try:
            values = section_metrics(y, s, d)
        except ValueError as err:
            raise ValueError(f"{path}: {err}") from None
        rows.append({"machine": machine, "section": section, "n_clips": len(ordered), **values})
    return pd.DataFrame(rows, columns=list(COLUMNS))


def summary_json(results: pd.DataFrame) -> dict:
    """The summary a run leaves beside its score files (JSON-serialisable).

    Args:
        results: as :func:`evaluate_dir` returns.

    Returns:
        ``{key: x, "machines": [...], "sections": [...]}`` with plain Python floats and strings:
        ``key`` is ``"official_score"`` when the results cover all seven machines
        (:func:`is_official`), else ``"score"``; a section is a dict of ``machine``, ``section``,
        ``auc_source``, ``auc_target`` and ``pauc``.
    """
    sections = [{"machine": str(r.machine), "section": str(r.section),
                 **{m: float(getattr(r, m)) for m in METRICS}}
                for r in results.itertuples(index=False)]
    key = "official_score" if is_official(results) else "score"
    return {key: official_score(results), "machines": sorted(set(results["machine"])), "sections": sections}


def is_official(results: pd.DataFrame) -> bool:
    """Whether ``results`` cover all seven machines, so that their harmonic mean is the official score."""
    return set(results["machine"]) == set(MACHINES)


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
    if is_official(results):
        lines.append(f"official score (harmonic mean of {n_values} values): {summary.loc['all', 'hmean']:.6f}")
    else:
        lines.append(f"score of {', '.join(sorted(set(results['machine'])))} (harmonic mean of {n_values} values): "
                     f"{summary.loc['all', 'hmean']:.6f}; not the official score, which needs all seven machines")
    return "\n".join(lines)
