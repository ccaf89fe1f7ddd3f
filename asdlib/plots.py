"""Figures the book's chapters share (matplotlib only; no torch). Every figure of a number shows its
95 % interval (``halves``: half the interval's width, as :func:`asdlib.study.evidence.table2` gives)."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from asdlib.study.paper import paper_against_here


def paper_against_here_figure(here: pd.Series, halves: pd.Series, paper: pd.Series, what: str):
    """One point per system: the paper's ``what`` (x, %) against ours (y, %, with its interval),
    titled with Kendall's tau of the two orderings (:func:`asdlib.study.paper.paper_against_here`)."""
    both, tau, p = paper_against_here(here, paper)
    fig, ax = plt.subplots(figsize=(5.4, 4.4))
    ax.errorbar(both["paper"], both["here"], yerr=100 * halves.reindex(both.index), fmt="o", color="tab:blue",
                ecolor="tab:blue", elinewidth=0.8, capsize=2)
    for name, row in both.iterrows():
        ax.annotate(name, (row["paper"], row["here"]), fontsize=7, xytext=(4, 3), textcoords="offset points")
    ax.set(xlabel=f"paper: {what} (%)", ylabel=f"here: {what} (%)",
           title=f"Kendall's tau = {tau:.2f} (p = {p:.3f}, {len(both)} systems)")
    fig.tight_layout()
    return fig


def machine_bars(means: pd.DataFrame, halves: pd.DataFrame, columns: list[str], ylabel: str):
    """Grouped bars: one group per column (machine), one bar per row (system), with interval whiskers."""
    fig, ax = plt.subplots(figsize=(10, 3.4))
    rows = list(means.index)
    width = 0.85 / max(len(rows), 1)
    colours = plt.cm.tab20(np.linspace(0, 1, max(len(rows), 2)))
    x = np.arange(len(columns))
    for i, row in enumerate(rows):
        ax.bar(x + (i - (len(rows) - 1) / 2) * width, means.loc[row, columns], width,
               yerr=halves.loc[row, columns], label=row, color=colours[i], error_kw={"elinewidth": 0.6})
    ax.set_xticks(x, columns)
    ax.set(ylabel=ylabel, ylim=(0.3, 1.0))
    ax.axhline(0.5, color="grey", lw=0.8, ls="--")
    ax.legend(ncol=1, fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    return fig


def dev_against_eval(dev: pd.Series, dev_halves: pd.Series, ev: pd.Series, ev_halves: pd.Series):
    """Each system's official score on the development set (x) against the evaluation set (y)."""
    rows = dev.index.intersection(ev.index)
    fig, ax = plt.subplots(figsize=(4.8, 4.4))
    ax.errorbar(dev[rows], ev[rows], xerr=dev_halves[rows], yerr=ev_halves[rows], fmt="o", color="tab:blue",
                elinewidth=0.6, capsize=2)
    for name in rows:
        ax.annotate(name, (dev[name], ev[name]), fontsize=7, xytext=(4, 3), textcoords="offset points")
    values = np.r_[dev[rows], ev[rows]]
    low, high = min(values.min(), 0.45) - 0.03, max(values.max(), 0.75) + 0.03
    ax.plot([low, high], [low, high], color="grey", lw=0.8, ls="--")
    ax.set(xlim=(low, high), ylim=(low, high), xlabel="official score, dev (00-02)",
           ylabel="official score, eval (03-05)")
    fig.tight_layout()
    return fig
