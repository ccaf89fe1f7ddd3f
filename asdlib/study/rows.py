"""The rows of the paper's tables: their names (the paper's spelling), order, and where each comes from."""
from __future__ import annotations

import numpy as np

# (system, inference mode) of a run -> the row name of the paper's tables.
ROW_NAMES = {
    ("disent", "wt"): "Disent.Wt (0.5/0.5)",
    ("disent", "cat"): "Disent.Cat (S3)",
    ("disent", "cat_norm"): "Disent.Cat (norm.)",
    ("disent", "sec"): "Disent.Sec",
    ("disent", "att"): "Disent.Att",
    ("disent_split", "cat"): "Disent.Split",
    ("mtl", "mtl"): "MTL",
    ("adversarial", "section"): "Adversarial",
    ("sec_arcface", "section"): "Sec_ArcFace",
    ("sec_softmax", "section"): "Sec_Softmax",
    ("anp", "score"): "ANP-Boot",
    ("ae", "score"): "AE Baseline",
    ("mn", "score"): "MN Baseline",
}
RUN_OF = {row: key for key, row in ROW_NAMES.items()}
MSL, MSL_ANP, DISENT_WT = "MSL (S1)", "MSL+ANP (S2)", "Disent.Wt (S4)"
TUNED = (MSL_ANP, MSL, DISENT_WT)  # rows chosen or weighted on the development set (Table 4)
# the systems MSL chooses from: the paper's own MobileFaceNet systems (not ANP or the baselines)
MSL_CANDIDATES = ("Disent.Cat (S3)", "Disent.Sec", "Disent.Att", "Disent.Split", "MTL", "Adversarial",
                  "Sec_ArcFace", "Sec_Softmax")
SINGLE_SYSTEMS = MSL_CANDIDATES  # the paper's single MobileFaceNet systems
ROW_ORDER = [MSL_ANP, MSL, DISENT_WT, "Disent.Wt (0.5/0.5)", "Disent.Cat (S3)", "Disent.Cat (norm.)",
             "Disent.Sec", "Disent.Att", "Disent.Split", "MTL", "Adversarial", "Sec_ArcFace", "Sec_Softmax",
             "ANP-Boot", "AE Baseline", "MN Baseline"]
# Table 4 names the MSL choice in its own words; the numbers of Tables 2 and 4 identify them
# (e.g. bearing: MSL (S1) = Sec_Softmax = 73.93).
TABLE4_NAMES = {"Disent.Cat (S3)": "Disent.Cat", "Sec_Softmax": "Sections only", "Sec_ArcFace": "ArcFace"}
GRID = np.round(np.arange(0, 21) * 0.05, 2)
"""Weights tried by the tuned systems: steps of 0.05, as the paper's Table 4 values imply."""


def ordered(rows) -> list[str]:
    """``rows`` in the paper's order, unknown ones last (alphabetically)."""
    rows = list(dict.fromkeys(rows))
    return [r for r in ROW_ORDER if r in rows] + sorted(r for r in rows if r not in ROW_ORDER)
