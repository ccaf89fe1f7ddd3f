"""The official DCASE 2022 Task 2 metrics, decision threshold and result files.

Everything here follows the challenge's official evaluator and baseline systems; the paper reports
these numbers in Sec. 4 and Table 2. Per machine and section, with the section's test clips:

- AUC (source / target): ROC AUC over the normal clips of that domain plus ALL anomalous clips of
  the section (both domains);
- pAUC: ``roc_auc_score(y, score, max_fpr=0.1)`` over all clips of the section, i.e. sklearn's
  McClish-standardised partial AUC;
- official score: harmonic mean of every AUC (source), AUC (target) and pAUC value (63 on the full
  set: 7 machines x 3 sections x 3), each floored at ``sys.float_info.epsilon``;
- result files, one pair per machine and section, comma-separated without a header:
  ``anomaly_score_<machine>_section_<SS>_test.csv`` (rows ``name,score``, higher = more anomalous)
  and ``decision_result_<machine>_section_<SS>_test.csv`` (rows ``name,0|1``).

Two faults of public code are deliberately not reproduced: AUC (source) computed with source
anomalies only, and the evaluator's per-machine "source harmonic mean" row (wrong columns).

The areas come from :func:`roc_area`, which gives ``sklearn.metrics.roc_auc_score``'s values (ties
included; the tests compare the two) without its input checks, which cost ~10 ms a call (measured:
450 calls, 4.4 s): tuning a study's weights on the development set calls it some 75,000 times. It
also takes clip weights, for the bootstrap (:mod:`asdlib.bootstrap`, through
:func:`weighted_section_metrics` and :func:`hmean`). Imports numpy and scipy only (no torch, no
scikit-learn).
"""
from __future__ import annotations

import csv
import math
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.stats

from asdlib.atomic import write_atomic
from asdlib.names import DATA_SETS, MACHINES, YEARS, machines

__all__ = ["EPS", "MAX_FPR", "METRICS", "DEFAULT_PERCENTILE", "PAPER_PERCENTILES", "roc_area",
           "weighted_section_metrics", "section_metrics", "labelled_section_metrics", "harmonic_mean",
           "hmean", "official_score", "table2_summary", "gamma_threshold", "decision_percentile",
           "anomaly_score_file_name", "decision_result_file_name", "write_anomaly_scores",
           "write_decision_results", "read_score_csv"]

EPS = sys.float_info.epsilon
"""Floor applied to every value before a harmonic mean (as the official evaluator)."""
MAX_FPR = 0.1
"""Upper false-positive rate of the pAUC (official setting)."""
METRICS = ("auc_source", "auc_target", "pauc")
"""Per-section metric names, in the order the official score concatenates them."""
DEFAULT_PERCENTILE = 0.9
"""Gamma percentile of the decision threshold (official baseline)."""
PAPER_PERCENTILES = {"fan": 0.6, "bearing": 0.6}
"""Machines for which the paper used another percentile (Sec. 3.2)."""

_SECTION = re.compile(r"^\d\d$")
_BAD_NAME_CHARS = (",", "\n", "\r", '"', "/", "\\")


def roc_area(scores: np.ndarray, positive: np.ndarray, weights: np.ndarray | None = None,
             max_fpr: float | None = None) -> np.ndarray:
    """ROC AUC (or McClish-standardised partial AUC up to ``max_fpr``) of weighted clips, per weight row.

    Args:
        scores: (n,) anomaly scores (higher = more anomalous).
        positive: (n,) bool, True for anomalous clips.
        weights: (R, n) non-negative weights; row r counts clip i ``weights[r, i]`` times (0: left out);
            None: one row of ones (the clips as they are).
        max_fpr: None for the full AUC, else the pAUC's upper false-positive rate (official: 0.1).

    Returns:
        (R,) values equal to ``roc_auc_score(y, s, max_fpr=max_fpr)`` on the clips repeated by their
        weights (ties handled as sklearn does: trapezoids through tied groups); NaN for a row whose
        weights leave no positive or no negative clip (stratified resamples never do).
    """
    scores = np.asarray(scores, dtype=float)
    positive = np.asarray(positive, dtype=bool)
    weights = np.ones((1, len(scores))) if weights is None else np.atleast_2d(np.asarray(weights, dtype=float))
    order = np.argsort(-scores, kind="stable")
    ordered = scores[order]
    ends = np.r_[np.flatnonzero(np.diff(ordered)), len(ordered) - 1]  # last index of each tied group
    w = weights[:, order]
    tps = np.cumsum(w * positive[order], axis=1)[:, ends]
    fps = np.cumsum(w * ~positive[order], axis=1)[:, ends]
    zero = np.zeros((len(w), 1))
    with np.errstate(invalid="ignore", divide="ignore"):  # a row without positives or negatives: NaN
        tpr = np.hstack([zero, tps]) / tps[:, -1:]
        fpr = np.hstack([zero, fps]) / fps[:, -1:]
    lo, hi_full = fpr[:, :-1], fpr[:, 1:]
    limit = 1.0 if max_fpr is None else max_fpr
    hi = np.minimum(hi_full, limit)
    width = np.clip(hi - lo, 0.0, None)
    span = hi_full - lo
    frac = np.divide(width, span, out=np.zeros_like(width), where=span > 0)
    tpr_hi = tpr[:, :-1] + frac * (tpr[:, 1:] - tpr[:, :-1])
    area = np.sum(width * (tpr[:, :-1] + tpr_hi) / 2.0, axis=1)
    if max_fpr is None:
        return area
    min_area, max_area = 0.5 * max_fpr ** 2, max_fpr
    return 0.5 * (1.0 + (area - min_area) / (max_area - min_area))


def _as_domain_codes(domain) -> np.ndarray:
    """``domain`` (shape (n,), 0/1 or "source"/"target") as an int array, 0 source and 1 target."""
    arr = np.asarray(domain)
    if arr.dtype.kind in "USO":
        codes = {"source": 0, "target": 1}
        bad = sorted({str(d) for d in arr.tolist() if d not in codes})
        if bad:
            raise ValueError(f"domain values must be 'source' or 'target', got {bad[:5]}")
        return np.array([codes[d] for d in arr.tolist()], dtype=int)
    if arr.size and not np.isin(arr, (0, 1)).all():
        raise ValueError(f"domain values must be 0 (source) or 1 (target), got {np.unique(arr)[:5]}")
    return arr.astype(int)


def weighted_section_metrics(scores: np.ndarray, anomalous: np.ndarray, target: np.ndarray,
                             weights: np.ndarray | None = None) -> np.ndarray:
    """AUC (source), AUC (target) and pAUC of one section under each row of clip weights.

    Args:
        scores, anomalous, target: (n,) of the section's test clips (bool ``anomalous``; ``target``
            True for the target domain).
        weights: (R, n) clip weights (:func:`roc_area`); None: one row of ones, the official numbers.

    Returns:
        (R, 3) in :data:`METRICS` order: AUC (S) over the source normals and all anomalies, AUC (T)
        likewise, pAUC over all clips. Unchecked: :func:`section_metrics` validates its input first.
    """
    weights = np.ones((1, len(scores))) if weights is None else np.atleast_2d(weights)
    out = np.empty((len(weights), 3))
    for column, domain_mask in enumerate((~target, target)):
        keep = domain_mask | anomalous
        out[:, column] = roc_area(scores[keep], anomalous[keep], weights[:, keep])
    out[:, 2] = roc_area(scores, anomalous, weights, max_fpr=MAX_FPR)
    return out


def section_metrics(y_true, y_score, domain) -> dict[str, float]:
    """AUC (source), AUC (target) and pAUC of one machine section (official rules, Sec. 4).

    Args:
        y_true: shape (n_clips,), 1 for anomalous and 0 for normal clips.
        y_score: shape (n_clips,), anomaly scores (higher = more anomalous), finite.
        domain: shape (n_clips,), 0 / "source" or 1 / "target".

    Returns:
        ``{"auc_source", "auc_target", "pauc"}`` as floats. AUC (d) is the ROC AUC over the normal
        clips of domain d plus all anomalous clips of both domains; pAUC is sklearn's
        McClish-standardised partial AUC up to FPR 0.1 over all clips.

    Raises:
        ValueError: mismatched shapes, labels other than 0/1, non-finite scores, or a section that
            lacks anomalous clips or normal clips of either domain (the AUC would be undefined).
    """
    y = np.asarray(y_true)
    s = np.asarray(y_score, dtype=float)
    d = _as_domain_codes(domain)
    if not (y.ndim == s.ndim == d.ndim == 1 and len(y) == len(s) == len(d)):
        raise ValueError(f"y_true, y_score and domain must be 1-D of equal length, "
                         f"got shapes {y.shape}, {s.shape}, {d.shape}")
    if y.size and not np.isin(y, (0, 1)).all():
        raise ValueError(f"labels must be 0 (normal) or 1 (anomaly), got {np.unique(y)[:5]}")
    y = y.astype(int)
    if not np.isfinite(s).all():
        raise ValueError(f"{int((~np.isfinite(s)).sum())} anomaly scores are not finite")
    if not (y == 1).any():
        raise ValueError("no anomalous clips: AUC is undefined")
    for code, name in ((0, "source"), (1, "target")):
        if not ((y == 0) & (d == code)).any():
            raise ValueError(f"no normal {name}-domain clips: AUC ({name}) is undefined")
    return dict(zip(METRICS, map(float, weighted_section_metrics(s, y == 1, d == 1)[0])))


def labelled_section_metrics(clips: pd.DataFrame, scores) -> list[dict]:
    """AUC (S), AUC (T) and pAUC per section, for the sections whose clips all have label and domain.

    ``clips``: test clips with columns section, label ('normal'/'anomaly'), domain, indexed 0..m-1;
    ``scores``: (m,) aligned with them. Returns ``[{"section": ..., "auc_source": ..., ...}, ...]``.
    """
    scores = np.asarray(scores)
    rows = []
    for section, part in clips.groupby("section"):
        if part["label"].isna().any() or part["domain"].isna().any():
            continue
        values = section_metrics((part["label"] == "anomaly").to_numpy().astype(int),
                                 scores[part.index.to_numpy()], part["domain"].to_numpy())
        rows.append({"section": section, **values})
    return rows


def harmonic_mean(values) -> float:
    """Harmonic mean with every value floored at ``EPS`` (as the official evaluator).

    Args:
        values: shape (n,), n >= 1, finite and >= 0 (AUCs and pAUCs). A zero counts as ``EPS``, so
            the mean is tiny but defined.
    """
    v = np.asarray(values, dtype=float).ravel()
    if v.size == 0:
        raise ValueError("harmonic mean of no values")
    if not np.isfinite(v).all() or (v < 0).any():
        raise ValueError(f"harmonic mean needs finite values >= 0, got {v[~np.isfinite(v) | (v < 0)][:5]}")
    return float(hmean(v))


def hmean(values: np.ndarray, axis: int = -1) -> np.ndarray:
    """Harmonic mean along ``axis`` with every value floored at ``EPS`` (as the official evaluator:
    ``scipy.stats.hmean`` of the floored values), unchecked and vectorised (the bootstrap's many
    resamples); :func:`harmonic_mean` checks its input first."""
    values = np.maximum(values, EPS)
    return values.shape[axis] / np.sum(1.0 / values, axis=axis)


def _metric_frame(rows) -> pd.DataFrame:
    """``rows`` (a DataFrame or an iterable of mappings) as a DataFrame holding ``METRICS``."""
    frame = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(list(rows))
    missing = [c for c in METRICS if c not in frame.columns]
    if missing:
        raise ValueError(f"per-section results lack the columns {missing}")
    if frame.empty:
        raise ValueError("no per-section results")
    return frame


def official_score(rows: pd.DataFrame | Iterable[Mapping[str, float]]) -> float:
    """The official DCASE 2022 Task 2 score (Sec. 4, Table 2 "hmean" of all).

    Args:
        rows: one row per machine and section with ``auc_source``, ``auc_target`` and ``pauc``
            (a DataFrame or an iterable of mappings); 21 rows for 7 machines x 3 sections.

    Returns:
        The harmonic mean of [all AUC (source)..., all AUC (target)..., all pAUC...] (63 values for
        the full set), each floored at ``EPS``.
    """
    frame = _metric_frame(rows)
    return harmonic_mean(np.concatenate([frame[c].to_numpy(dtype=float) for c in METRICS]))


def table2_summary(results: pd.DataFrame) -> pd.DataFrame:
    """The paper's Table 2 layout from per-section results.

    Args:
        results: columns ``machine``, ``section``, ``auc_source``, ``auc_target``, ``pauc``; one row
            per machine and section (as :func:`asdlib.evaluate.evaluate_dir` returns).

    Returns:
        A DataFrame indexed by machine (order of first appearance) plus a last row ``"all"``, with
        columns ``auc_source``, ``auc_target``, ``pauc`` and ``hmean``. A machine's metric column is
        the harmonic mean of that metric over its sections and its ``hmean`` the harmonic mean of
        all its values (9 for 3 sections); row ``"all"`` holds each metric's harmonic mean over all
        machines and sections (21 values) and, under ``hmean``, the official score. All with the
        ``EPS`` floor.
    """
    frame = _metric_frame(results)
    if "machine" not in frame.columns or "section" not in frame.columns:
        raise ValueError("per-section results need 'machine' and 'section' columns")
    dup = frame.duplicated(["machine", "section"])
    if dup.any():
        first = frame.loc[dup, ["machine", "section"]].iloc[0].tolist()
        raise ValueError(f"machine/section {first} appears more than once")
    out = {}
    for machine, group in frame.groupby("machine", sort=False):
        out[machine] = {c: harmonic_mean(group[c]) for c in METRICS}
        out[machine]["hmean"] = official_score(group)
    out["all"] = {c: harmonic_mean(frame[c]) for c in METRICS}
    out["all"]["hmean"] = official_score(frame)
    table = pd.DataFrame.from_dict(out, orient="index", columns=[*METRICS, "hmean"])
    table.index.name = "machine"
    return table


def gamma_threshold(train_scores, percentile: float = DEFAULT_PERCENTILE) -> float:
    """Decision threshold: a percentile of a gamma fitted to the training clips' scores.

    Follows the official baselines, which write their decision files with it: shape, location
    and scale from ``scipy.stats.gamma.fit``, threshold ``gamma.ppf(percentile)``; a test clip is
    declared anomalous when its score exceeds the threshold. The paper (Sec. 3.2) fits it to the
    nearest-neighbour scores of each training clip against the other training clips of its section.

    Args:
        train_scores: shape (n_train,), finite, at least two distinct values.
        percentile: in (0, 1); 0.9 by default (see :func:`decision_percentile`).
    """
    s = np.asarray(train_scores, dtype=float).ravel()
    if not 0.0 < percentile < 1.0:
        raise ValueError(f"percentile must lie in (0, 1), got {percentile}")
    if not np.isfinite(s).all():
        raise ValueError("training scores must be finite")
    if np.unique(s).size < 2:
        raise ValueError(f"a gamma fit needs at least two distinct training scores, got {s.size} "
                         f"values with {np.unique(s).size} distinct")
    shape, loc, scale = scipy.stats.gamma.fit(s)
    threshold = float(scipy.stats.gamma.ppf(percentile, shape, loc=loc, scale=scale))
    if not math.isfinite(threshold):
        raise ValueError(f"gamma fit to {s.size} training scores gave no finite threshold")
    return threshold


def decision_percentile(machine: str) -> float:
    """The gamma percentile the paper used for ``machine`` (Sec. 3.2): 0.6 for fan and bearing,
    otherwise the official 0.9 (every other DCASE 2022 machine type, and the later years' new ones)."""
    known = {m for year in YEARS for dataset in DATA_SETS for m in machines(year, dataset)}
    if machine not in known:
        raise ValueError(f"unknown machine {machine!r}; expected a DCASE 2022-2025 machine type such as "
                         f"{', '.join(MACHINES)}")
    return PAPER_PERCENTILES.get(machine, DEFAULT_PERCENTILE)


def _section_id(section) -> str:
    """``3`` or ``"03"`` -> ``"03"``; refuses anything else."""
    text = f"{section:02d}" if isinstance(section, (int, np.integer)) else str(section)
    if not _SECTION.match(text):
        raise ValueError(f"section must be two digits like '03', got {section!r}")
    return text


def anomaly_score_file_name(machine: str, section) -> str:
    """``anomaly_score_<machine>_section_<SS>_test.csv`` (the name the evaluator reads)."""
    return f"anomaly_score_{machine}_section_{_section_id(section)}_test.csv"


def decision_result_file_name(machine: str, section) -> str:
    """``decision_result_<machine>_section_<SS>_test.csv``."""
    return f"decision_result_{machine}_section_{_section_id(section)}_test.csv"


def _check_names(names: Sequence[str]) -> list[str]:
    names = [str(n) for n in names]
    for name in names:
        if not name or any(c in name for c in _BAD_NAME_CHARS):
            raise ValueError(f"clip name {name!r} must be a non-empty base file name without "
                             f"{', '.join(map(repr, _BAD_NAME_CHARS))}")
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise ValueError(f"clip name {name!r} given twice")
        seen.add(name)
    return names


def write_anomaly_scores(path_dir, machine: str, section, names: Sequence[str], scores) -> Path:
    """Write ``anomaly_score_<machine>_section_<SS>_test.csv`` in ``path_dir``, atomically.

    Args:
        path_dir: output folder (created if missing).
        machine: machine folder name, e.g. ``"ToyCar"``.
        section: ``"03"`` or ``3``.
        names: shape (n_clips,), base file names of the test clips, unique.
        scores: shape (n_clips,), finite anomaly scores (higher = more anomalous), written with
            ``repr`` precision so that :func:`read_score_csv` gives back the same floats.

    Returns:
        The path written. Rows are ``name,score`` in the given order, no header.
    """
    names = _check_names(names)
    values = np.asarray(scores, dtype=float).ravel()
    if values.shape != (len(names),):
        raise ValueError(f"{len(names)} names but scores of shape {np.shape(scores)}")
    if not np.isfinite(values).all():
        raise ValueError(f"{int((~np.isfinite(values)).sum())} anomaly scores are not finite")
    path = Path(path_dir) / anomaly_score_file_name(machine, section)
    write_atomic(path, "".join(f"{n},{float(v)!r}\n" for n, v in zip(names, values)))
    return path


def write_decision_results(path_dir, machine: str, section, names: Sequence[str], decisions) -> Path:
    """Write ``decision_result_<machine>_section_<SS>_test.csv`` in ``path_dir``, atomically.

    Args:
        path_dir, machine, section, names: as :func:`write_anomaly_scores`.
        decisions: shape (n_clips,), 1 (anomalous: score > :func:`gamma_threshold`) or 0, or bools.

    Returns:
        The path written. Rows are ``name,0|1`` in the given order, no header.
    """
    names = _check_names(names)
    values = np.asarray(decisions).ravel()
    if values.shape != (len(names),):
        raise ValueError(f"{len(names)} names but decisions of shape {np.shape(decisions)}")
    if values.size and not np.isin(values, (0, 1)).all():
        raise ValueError(f"decisions must be 0 or 1, got {np.unique(values)[:5]}")
    path = Path(path_dir) / decision_result_file_name(machine, section)
    write_atomic(path, "".join(f"{n},{int(v)}\n" for n, v in zip(names, values)))
    return path


def _utf8_rows(reader, path):
    """The rows of ``reader``; text that is not UTF-8 (e.g. a file saved as UTF-16) raises ValueError naming
    ``path``."""
    try:
        yield from reader
    except UnicodeDecodeError as err:
        raise ValueError(f"{path}: not UTF-8 text (it holds byte 0x{err.object[err.start]:02x}; UTF-16?); "
                         "save it as UTF-8 (the official files are ASCII)") from None


def read_score_csv(path) -> dict[str, float]:
    """Read a ``name,value`` file without header (anomaly scores, decisions or ground truth).

    Args:
        path: the CSV file.

    Returns:
        ``{name: value}`` in file order.

    Raises:
        ValueError: naming the file and line, for a blank line between rows (trailing blank lines are
            fine, and so is a UTF-8 byte-order mark), a row without exactly two fields, an empty name,
            a value that is not a number or not finite, a name that repeats, or a file without rows.
    """
    path = Path(path)
    out: dict[str, float] = {}
    first_line: dict[str, int] = {}
    blank_at = 0
    with open(path, newline="", encoding="utf-8-sig") as f:  # a byte-order mark is not part of the first name
        reader = csv.reader(f)
        for row in _utf8_rows(reader, path):
            where = f"{path}, line {reader.line_num}"
            if not row:  # blank lines may close the file (editors add them), nowhere else
                blank_at = blank_at or reader.line_num
                continue
            if blank_at:
                raise ValueError(f"{path}, line {blank_at}: blank line between rows")
            if len(row) != 2:
                raise ValueError(f"{where}: expected 2 fields 'name,value', got {len(row)}: {row!r}")
            name, text = row
            if not name:
                raise ValueError(f"{where}: empty clip name")
            try:
                value = float(text)
            except ValueError:
                hint = " (these files have no header row)" if reader.line_num == 1 else ""
                raise ValueError(f"{where}: value {text!r} is not a number{hint}") from None
            if not math.isfinite(value):
                raise ValueError(f"{where}: value {text!r} is not finite")
            if name in out:
                raise ValueError(f"{where}: clip {name!r} already given on line {first_line[name]}")
            out[name] = value
            first_line[name] = reader.line_num
    if not out:
        raise ValueError(f"{path}: no rows")
    return out
