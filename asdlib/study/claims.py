"""The paper's claims, tested as one family: the paper's numbers, ours with paired intervals, a verdict.

Every claim compares two rows fixed here in advance (:data:`CLAIMS`; no row is picked from a
build's numbers) as a paired difference on one column of one set (the same seeds and test clips for
both rows, :class:`asdlib.study.evidence.Evidence`). Three kinds:

* **directional**: ``row_a`` beats (``direction`` +1) or trails (-1) ``row_b``; tested two-sided
  (the t test of "no difference" behind the interval, :meth:`Estimate.p_value`);
* **no gain**: ``row_a`` gains no more than :data:`MARGIN` over ``row_b`` (the poster: attribute
  learning does not help fan and bearing); tested one-sided, "the gain is at least the margin"
  against "it is smaller";
* **by construction**: a comparison that cannot fail, because one row was chosen on the very clips
  it is compared on (MSL chooses among systems that include the other row; Disent.Wt's grid holds
  Disent.Sec and Disent.Att). It is shown with its interval and reason, never tested or counted.

The tested claims are one family: Holm's step-down procedure at :data:`ALPHA` (family-wise error)
over their p-values. A claim's family-adjusted interval is its interval at the level Holm tests it
at, ``1 - ALPHA / (m - rank + 1)`` (the ``rank``-th smallest of ``m`` p-values; one-sided for a
no-gain claim). The verdict:

* **holds**: Holm rejects the claim's null hypothesis and the difference lies on the claimed side;
* **contradicted**: Holm rejects "no difference" and the difference lies on the other side (for a
  no-gain claim: its family-adjusted two-sided interval lies wholly above zero, a gain);
* **not resolved**: otherwise; the unadjusted interval stays visible beside it.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from asdlib.metrics import METRICS
from asdlib.names import MACHINES
from asdlib.study.evidence import Estimate, Evidence
from asdlib.study.rows import DISENT_WT, MSL, MSL_ANP, SINGLE_SYSTEMS

ALPHA = 0.05
"""The family-wise error rate of the claims."""
MARGIN = 0.02
"""A "no gain" claim holds when the gain is shown to be below 2 points of the official score."""
METRIC_COLUMNS = {"hmean": METRICS, "AUC (T)": ("auc_target",), "score": METRICS}
NO_GAIN_MACHINES = ("fan", "bearing")


@dataclass(frozen=True)
class Claim:
    """``row_a`` beats (``direction`` +1) or trails (-1) ``row_b`` on ``column`` of ``which`` set;
    ``direction`` 0: gains no more than :data:`MARGIN`. ``by_construction``: why the comparison
    cannot fail (empty: it can)."""

    claim: str
    row_a: str
    row_b: str
    which: str              # "dev" (Table 2) or "eval" (Table 3)
    column: str             # "hmean", "AUC (T)", a machine (dev), or "score" (eval)
    direction: int = 1
    by_construction: str = ""


def _attribute_claim(machine: str) -> Claim:
    if machine in NO_GAIN_MACHINES:
        return Claim(f"attribute learning does not help {machine}", "Disent.Cat (S3)", "Sec_Softmax", "dev", machine, 0)
    return Claim(f"attribute learning helps {machine}", "Disent.Cat (S3)", "Sec_Softmax", "dev", machine)


CLAIMS = (
    Claim("NN-backend systems beat the AE baseline by a wide margin", "Sec_Softmax", "AE Baseline", "dev", "hmean"),
    Claim("... and the MobileNetV2 baseline", "Sec_Softmax", "MN Baseline", "dev", "hmean"),
    Claim("ArcFace raises AUC (T) over softmax", "Sec_ArcFace", "Sec_Softmax", "dev", "AUC (T)"),
    Claim("MTL lowers the overall score against softmax", "MTL", "Sec_Softmax", "dev", "hmean", -1),
    Claim("... but raises AUC (T)", "MTL", "Sec_Softmax", "dev", "AUC (T)"),
    Claim("disentanglement beats MTL", "Disent.Cat (S3)", "MTL", "dev", "hmean"),
    Claim("Disent.Wt is the best single model on dev (against Disent.Sec)", DISENT_WT, "Disent.Sec", "dev", "hmean",
          by_construction="its weight is chosen on these clips, and w_S = 1 is Disent.Sec"),
    Claim("... (against Disent.Att)", DISENT_WT, "Disent.Att", "dev", "hmean",
          by_construction="its weight is chosen on these clips, and w_S = 0 is Disent.Att"),
    Claim("... (against Disent.Cat)", DISENT_WT, "Disent.Cat (S3)", "dev", "hmean",
          by_construction="its weight is chosen on these clips"),
    *(_attribute_claim(m) for m in MACHINES),
    Claim(f"{MSL} gains over Disent.Cat on dev", MSL, "Disent.Cat (S3)", "dev", "hmean",
          by_construction="MSL chooses on these clips among systems that include Disent.Cat"),
    Claim(f"... but on eval Disent.Cat beats {MSL}", "Disent.Cat (S3)", MSL, "eval", "score"),
    Claim(f"{MSL_ANP} gains over Disent.Cat on dev", MSL_ANP, "Disent.Cat (S3)", "dev", "hmean",
          by_construction="its ANP weight is chosen on these clips, and weight 0 is MSL (above)"),
    Claim(f"... but on eval Disent.Cat beats {MSL_ANP}", "Disent.Cat (S3)", MSL_ANP, "eval", "score"),
    Claim(f"Disent.Cat is the best on eval: it beats {DISENT_WT}", "Disent.Cat (S3)", DISENT_WT, "eval", "score"),
)
"""The claims, fixed before any build: the paper's and the poster's, in the paper's order. The
poster's "attribute learning helps every machine except fan and bearing" is tested per machine as
the paper's attribute-learning system, Disent.Cat, against the section-only Sec_Softmax; "Disent.Cat
is the best on eval" against each of the paper's other Table 3 systems that are not baselines."""


def estimate(evidence: Evidence, claim: Claim, row: str | None = None) -> Estimate:
    """The claim's paired difference (``row`` None), or one of its rows' cells."""
    machines = [claim.column] if claim.column in MACHINES else None
    metrics = METRIC_COLUMNS.get(claim.column, METRICS)
    if row is not None:
        return evidence.cell(row, claim.which, machines, metrics)
    return evidence.difference(claim.row_a, claim.row_b, claim.which, machines, metrics)


def p_value(difference: Estimate, claim: Claim) -> float:
    """The p-value of the claim's null hypothesis: "no difference" (two-sided) for a directional
    claim, "a gain of at least :data:`MARGIN`" (one-sided) for a no-gain claim."""
    if claim.direction == 0:
        return difference.p_value(MARGIN, "less")
    return difference.p_value(0.0, "two-sided")


def holm(p_values) -> tuple[np.ndarray, np.ndarray]:
    """Holm's step-down procedure: per p-value (NaN: not tested) its adjusted p-value
    ``max_{j <= rank} min(1, (m - j + 1) p_(j))`` and the level it is tested at, ``ALPHA / (m - rank + 1)``."""
    p = np.asarray(p_values, dtype=float)
    tested = np.flatnonzero(~np.isnan(p))
    adjusted, level = np.full(len(p), np.nan), np.full(len(p), np.nan)
    order = tested[np.argsort(p[tested], kind="stable")]
    m = len(order)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        adjusted[i], level[i] = running, ALPHA / (m - rank)
    return adjusted, level


def verdict(claim: Claim, difference: Estimate, adjusted_p: float, adjusted: Estimate | None) -> str:
    """The claim's verdict (module docstring) from its difference, Holm-adjusted p-value and
    family-adjusted two-sided interval."""
    if np.isnan(difference.mean) or difference.seeds == 0:
        return "not in this build"
    if claim.by_construction:
        return "by construction (not counted)"
    if claim.direction == 0:
        if adjusted_p <= ALPHA:
            return "holds"
        return "contradicted" if adjusted is not None and adjusted.low > 0 else "not resolved"
    if adjusted_p <= ALPHA:
        return "holds" if np.sign(difference.mean) == claim.direction else "contradicted"
    return "not resolved"


def claims_table(evidence: Evidence, paper_table2: pd.DataFrame, paper_table3: pd.DataFrame,
                 claims=CLAIMS) -> pd.DataFrame:
    """One row per claim: the comparison, the paper's two numbers and its difference, ours (in %), the
    paired difference with its 95 % interval, the family-adjusted interval, Holm's adjusted p-value,
    whether it is by construction, and the verdict; plus the numbers for figures ("difference mean",
    "difference half", "paper difference", points)."""
    differences, unpaired = [], set()
    for i, claim in enumerate(claims):
        try:
            differences.append(estimate(evidence, claim))
        except ValueError:  # the two rows were scored on different sections (a run missing): no paired difference
            differences.append(Estimate(np.nan, np.nan, np.nan, np.empty(0)))
            unpaired.add(i)
    tested = [np.nan if c.by_construction or np.isnan(d.mean) else p_value(d, c) for c, d in zip(claims, differences)]
    adjusted_p, levels = holm(tested)
    records = []
    for i, (claim, diff, p_adj, level) in enumerate(zip(claims, differences, adjusted_p, levels)):
        paper = paper_table2 if claim.which == "dev" else paper_table3

        def theirs(row):
            return paper.loc[row, claim.column] if row in paper.index and claim.column in paper.columns else np.nan
        a, b = estimate(evidence, claim, claim.row_a), estimate(evidence, claim, claim.row_b)
        paper_diff = theirs(claim.row_a) - theirs(claim.row_b)
        adjusted = diff.at_level(1 - level) if not np.isnan(level) else None
        records.append({
            "claim": claim.claim,
            "comparison": f"{claim.row_a} − {claim.row_b}, {claim.column} ({claim.which})",
            "paper": (f"{theirs(claim.row_a):.2f} − {theirs(claim.row_b):.2f} = {paper_diff:+.2f}"
                      if not np.isnan(paper_diff) else "-"),
            "paper says": _paper_says(claim, paper_diff),
            "here": f"{a.text()} − {b.text()}",
            "difference (95 %)": diff.text(sign=True),
            "family-adjusted": _adjusted_text(claim, diff, level),
            "Holm p": f"{p_adj:.3f}" if not np.isnan(p_adj) else "-",
            "by construction": claim.by_construction or "no",
            "verdict": ("not in this build (the two rows were scored on different sections)" if i in unpaired
                        else verdict(claim, diff, p_adj, adjusted)),
            "difference mean": 100 * diff.mean, "difference half": 100 * diff.half, "paper difference": paper_diff,
        })
    return pd.DataFrame(records)


def _paper_says(claim: Claim, paper_diff: float) -> str:
    if np.isnan(paper_diff):
        return "-"
    if claim.direction == 0:
        return "as claimed" if paper_diff < 100 * MARGIN else "not in its own table"
    return "as claimed" if np.sign(paper_diff) == claim.direction else "not in its own table"


def _adjusted_text(claim: Claim, diff: Estimate, level: float) -> str:
    """The family-adjusted interval in points: two-sided, or an upper bound for a no-gain claim."""
    if np.isnan(level) or diff.spread is None:
        return "-"
    if claim.direction == 0:
        upper = diff.at_level(1 - 2 * level).high
        return f"≤ {100 * upper:+.1f} (one-sided {100 * (1 - level):.2f} %; margin +{100 * MARGIN:.0f})"
    adjusted = diff.at_level(1 - level)
    return f"{100 * adjusted.low:+.1f} to {100 * adjusted.high:+.1f} ({100 * (1 - level):.2f} %)"


def tally(table: pd.DataFrame) -> str:
    """"**4** holds, ..." over the tested claims, how many are by construction, and Holm's first level."""
    counts = table["verdict"].value_counts()
    shown = [f"**{n}** {v}" for v, n in counts.items() if v != "by construction (not counted)"]
    built = int(counts.get("by construction (not counted)", 0))
    tested = int((table["Holm p"] != "-").sum())
    return (", ".join(shown) + f"; {built} by construction, not counted. Holm's procedure over the m = {tested} "
            f"tested claims: the first is tested at {100 * (1 - ALPHA / max(tested, 1)):.2f} %.")


def _best(evidence: Evidence, rows, which: str, machines) -> str | None:
    scored = {r: evidence.cell(r, which, machines).mean for r in rows if r in evidence.rows}
    scored = {r: v for r, v in scored.items() if not np.isnan(v)}
    return max(scored, key=scored.get) if scored else None


def tuning_gains(evidence: Evidence) -> pd.DataFrame:
    """The paper's lesson, checked: does a gain found by tuning on dev carry over to eval?

    For each tuned row, its official score on dev and on eval minus that of an untuned reference from
    the same runs (paired): Disent.Wt against Disent.Wt (0.5/0.5); MSL against the single system with
    the best overall dev score here; MSL+ANP against MSL. The dev gain is by construction (the tuned
    row was chosen on those clips, and its grid or pool holds the reference, or nearly): only the
    eval gain is evidence. Columns: reference, "dev gain (by construction)" and "eval gain" (text),
    and their means and half-widths ("dev mean", "dev half", "eval mean", "eval half").
    """
    best_single = _best(evidence, SINGLE_SYSTEMS, "dev", None)
    references = {DISENT_WT: "Disent.Wt (0.5/0.5)", MSL: best_single, MSL_ANP: MSL}
    rows = {}
    for tuned, reference in references.items():
        if reference is None or tuned not in evidence.rows or reference not in evidence.rows:
            continue
        cells = {"reference": reference}
        for which, label in (("dev", "dev gain (by construction)"), ("eval", "eval gain")):
            gain = evidence.difference(tuned, reference, which)
            cells.update({label: gain.text(sign=True), f"{which} mean": gain.mean, f"{which} half": gain.half})
        rows[tuned] = cells
    return pd.DataFrame.from_dict(rows, orient="index")


def checkpoint_table(evidence: Evidence) -> pd.DataFrame:
    """Per single system: the official score on dev and eval with the last checkpoint and with the
    one chosen on dev (rows ``X`` and ``X [best dev]`` of ``evidence``, :func:`asdlib.study.load.rules_evidence`),
    and the paired gains of the dev choice, all in %: the dev gain is by construction (the epoch
    was chosen on those clips), the eval gain is evidence."""
    out = {}
    for row in [r for r in SINGLE_SYSTEMS if r in evidence.rows and f"{r} [best dev]" in evidence.rows]:
        best = f"{row} [best dev]"
        out[row] = {"dev, last": evidence.cell(row, "dev").text(), "dev, best dev": evidence.cell(best, "dev").text(),
                    "dev gain (by construction)": evidence.difference(best, row, "dev").text(sign=True),
                    "eval, last": evidence.cell(row, "eval").text(), "eval, best dev": evidence.cell(best, "eval").text(),
                    "eval gain": evidence.difference(best, row, "eval").text(sign=True)}
    return pd.DataFrame.from_dict(out, orient="index")
