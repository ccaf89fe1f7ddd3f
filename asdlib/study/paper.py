"""The paper's own numbers (``asdlib/paper_results.csv``, package data: every published cell of its
Tables 2-4) and how the book shows them beside ours."""
from __future__ import annotations

from importlib.resources import files
from pathlib import Path

import numpy as np
import pandas as pd

from asdlib.study.rows import MSL, MSL_CANDIDATES, TABLE4_NAMES


def default_paper_results():
    """``paper_results.csv`` of the installed package (a checkout, an editable install or a wheel), as
    an ``importlib.resources`` traversable (``.open()``, ``.read_text()``)."""
    return files("asdlib") / "paper_results.csv"


def paper_numbers(path: str | Path | None, table: str) -> pd.DataFrame:
    """The paper's cells of ``table`` ('table2', 'table3', 'table4') from ``path``, a file like
    ``asdlib/paper_results.csv`` (columns: table, row, column, value, source; empty: that file,
    :func:`default_paper_results`) as a rows x columns frame; Tables 2-3 in %, Table 4 as text (system
    names and weights)."""
    with (Path(path) if path else default_paper_results()).open(encoding="utf-8") as f:
        frame = pd.read_csv(f, comment="#", dtype=str)
    part = frame[frame["table"] == table]
    if part.empty:
        raise ValueError(f"{path or default_paper_results()}: no cell of {table}")
    if table != "table4":
        part = part.assign(value=pd.to_numeric(part["value"]))
    return part.pivot_table(index="row", columns="column", values="value", aggfunc="first")


def paper_msl_consistency(paper_table2: pd.DataFrame, paper_table4: pd.DataFrame) -> pd.DataFrame:
    """Does the paper's MSL choice (Table 4) follow from its own Table 2?

    Per machine: the paper's choice and its Table 2 value, and the best of the paper's single
    MobileFaceNet systems in Table 2 with its value. A choice the Table 2 has no row for (Adversarial,
    Disent.Split) cannot be checked.
    """
    to_ours = {v: k for k, v in TABLE4_NAMES.items()}
    singles = [r for r in MSL_CANDIDATES if r in paper_table2.index]
    rows = []
    for machine in paper_table4.columns:
        choice = paper_table4.loc[MSL, machine]
        ours = to_ours.get(choice, choice)
        best = paper_table2.loc[singles, machine].idxmax()
        value = paper_table2.loc[ours, machine] if ours in paper_table2.index else np.nan
        rows.append({"machine": machine, "paper's MSL choice": choice, "its Table 2 value": value,
                     "best single system in Table 2": best, "best value": paper_table2.loc[best, machine],
                     "follows from Table 2": ("not checkable" if np.isnan(value)
                                              else "yes" if value >= paper_table2.loc[best, machine] else "no")})
    return pd.DataFrame(rows).set_index("machine")


def setting_caption(data_root: str, scale: str, rule: str, seeds: list[int], n_resamples: int) -> str:
    """The sentence every table's caption carries: data set, scale, checkpoint rule, seeds, how to read a cell."""
    data = "the synthetic stand-in" if (Path(data_root) / "synth.json").exists() else f"the data at `{data_root}`"
    setting = "the paper's settings" if scale == "paper" else "a reduced setting, see *Reproducing*"
    text = (f"Measured on {data} at the `{scale}` scale ({setting}); checkpoint rule: {rule}; "
            f"{len(seeds)} training seed{'s' if len(seeds) != 1 else ''}. Cells read *here (paper)* in %: ours "
            f"as the mean over seeds ± half the 95 % interval over seeds and test clips (a t quantile for the "
            f"seeds, {n_resamples} clip resamples; see *Method*); the paper's from its tables, on the real data.")
    if "synthetic" in data:
        text += " Numbers on the synthetic stand-in are not comparable with the paper's in level, only in pattern."
    return text


def beside(means: pd.DataFrame, halves: pd.DataFrame, paper: pd.DataFrame, digits: int = 1) -> pd.DataFrame:
    """Cells 'mean ± half (paper)' for display, in %: ours (fractions) times 100; '-' where missing.
    Rows: ours, then the paper's rows we have no result for (e.g. "Top rank")."""
    rows = list(means.index) + [r for r in paper.index if r not in means.index]

    def cell(row, column):
        ours = means.loc[row, column] if row in means.index and column in means.columns else np.nan
        theirs = paper.loc[row, column] if row in paper.index and column in paper.columns else np.nan
        left = "-" if pd.isna(ours) else f"{100 * ours:.{digits}f} ± {100 * halves.loc[row, column]:.{digits}f}"
        return f"{left} ({'-' if pd.isna(theirs) else f'{theirs:.2f}'})"
    return pd.DataFrame({c: [cell(r, c) for r in rows] for c in means.columns}, index=rows)


def paper_against_here(here: pd.Series, paper: pd.Series) -> tuple[pd.DataFrame, float, float]:
    """The systems' overall scores, paper (%) against here (%), on the rows both have; and Kendall's
    tau of the two orderings with its p-value (``scipy.stats.kendalltau``)."""
    from scipy.stats import kendalltau

    both = pd.DataFrame({"paper": paper, "here": 100 * here}).dropna()
    if len(both) < 2:
        return both, np.nan, np.nan
    tau, p = kendalltau(both["paper"], both["here"])
    return both, float(tau), float(p)
