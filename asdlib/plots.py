"""Figures of the book's chapters that more than one chapter draws (matplotlib only; no torch)."""
from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd

from asdlib.study import paper_against_here


def paper_against_here_figure(here: pd.Series, paper: pd.Series, what: str):
    """One point per system: the paper's ``what`` (x, %) against ours (y, ``here`` as fractions),
    titled with Kendall's tau of the two orderings (:func:`asdlib.study.paper_against_here`)."""
    both, tau, p = paper_against_here(here, paper)
    fig, ax = plt.subplots(figsize=(5.2, 4.2))
    ax.scatter(both["paper"], both["here"], color="tab:blue")
    for name, row in both.iterrows():
        ax.annotate(name, (row["paper"], row["here"]), fontsize=7, xytext=(3, 3), textcoords="offset points")
    ax.set(xlabel=f"paper: {what} (%)", ylabel=f"here: {what} (%)",
           title=f"Kendall's tau = {tau:.2f} (p = {p:.3f}, {len(both)} systems)")
    fig.tight_layout()
    return fig
