"""The paper's claims, one by one: the paper's numbers, ours with paired intervals, and a verdict.

Each claim is tested as a paired difference between two rows (the same seeds and test clips
resampled for both, :class:`asdlib.study.evidence.Evidence`). The verdict:

* **holds**: the 95 % interval of the difference lies wholly on the side the paper claims;
* **contradicted**: it lies wholly on the other side;
* **not resolved at this scale**: it holds zero.

Where a claim names "the best" system, the best row is picked by its point estimate on the same
set (as MSL picks), and the interval does not include that choice's own uncertainty.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from asdlib.metrics import METRICS
from asdlib.names import MACHINES
from asdlib.study.evidence import Estimate, Evidence
from asdlib.study.rows import DISENT_WT, MSL, MSL_ANP, SINGLE_SYSTEMS

ATTRIBUTE_SYSTEMS = ("MTL", "Disent.Cat (S3)", "Disent.Sec", "Disent.Att", "Disent.Split")
SECTION_ONLY_SYSTEMS = ("Sec_Softmax", "Sec_ArcFace")
METRIC_COLUMNS = {"hmean": METRICS, "AUC (T)": ("auc_target",), "score": METRICS}


@dataclass(frozen=True)
class Claim:
    """``row_a`` beats (``direction`` +1) or trails (-1) ``row_b`` on ``column`` of ``which`` set."""

    claim: str
    row_a: str
    row_b: str
    which: str              # "dev" (Table 2) or "eval" (Table 3)
    column: str             # "hmean", "AUC (T)", a machine (dev), or "score" (eval)
    direction: int = 1


def claims(evidence: Evidence) -> list[Claim]:
    """The claims tested in the book (rows chosen "as the best" are picked on this build's numbers)."""
    out = [
        Claim("NN-backend systems beat the AE baseline by a wide margin", "Sec_Softmax", "AE Baseline", "dev", "hmean"),
        Claim("... and the MobileNetV2 baseline", "Sec_Softmax", "MN Baseline", "dev", "hmean"),
        Claim("ArcFace raises AUC (T) over softmax", "Sec_ArcFace", "Sec_Softmax", "dev", "AUC (T)"),
        Claim("MTL lowers the overall score against softmax", "MTL", "Sec_Softmax", "dev", "hmean", -1),
        Claim("... but raises AUC (T)", "MTL", "Sec_Softmax", "dev", "AUC (T)"),
        Claim("disentanglement beats MTL", "Disent.Cat (S3)", "MTL", "dev", "hmean"),
    ]
    others = [r for r in SINGLE_SYSTEMS if r in evidence.rows]
    runner_up = _best(evidence, others, "dev", None)
    if runner_up:
        out.append(Claim("Disent.Wt is the best single model on dev (against the best other single system here)",
                         DISENT_WT, runner_up, "dev", "hmean"))
    for machine in evidence.machines:
        attribute = _best(evidence, ATTRIBUTE_SYSTEMS, "dev", [machine])
        section = _best(evidence, SECTION_ONLY_SYSTEMS, "dev", [machine])
        if attribute and section:
            direction = -1 if machine in ("fan", "bearing") else 1
            out.append(Claim(f"attribute learning {'does not help' if direction < 0 else 'helps'} {machine} "
                             "(best attribute system against best section-only system)",
                             attribute, section, "dev", machine, direction))
    for tuned in (MSL, MSL_ANP):
        out.append(Claim(f"{tuned} gains over Disent.Cat on dev", tuned, "Disent.Cat (S3)", "dev", "hmean"))
        out.append(Claim(f"... but on eval Disent.Cat beats {tuned}", "Disent.Cat (S3)", tuned, "eval", "score"))
    best_other = _best(evidence, [r for r in evidence.rows if r != "Disent.Cat (S3)"], "eval", None)
    if best_other:
        out.append(Claim("Disent.Cat is the best on eval (against the best other row here)", "Disent.Cat (S3)",
                         best_other, "eval", "score"))
    return out


def _best(evidence: Evidence, rows, which: str, machines) -> str | None:
    scored = {r: evidence.cell(r, which, machines).mean for r in rows if r in evidence.rows}
    scored = {r: v for r, v in scored.items() if not np.isnan(v)}
    return max(scored, key=scored.get) if scored else None


def _estimate(evidence: Evidence, claim: Claim, row: str | None = None) -> Estimate:
    machines = [claim.column] if claim.column in MACHINES else None
    metrics = METRIC_COLUMNS.get(claim.column, METRICS)
    if row is not None:
        return evidence.cell(row, claim.which, machines, metrics)
    return evidence.difference(claim.row_a, claim.row_b, claim.which, machines, metrics)


def verdict(difference: Estimate, direction: int) -> str:
    side = difference.excludes_zero()
    if np.isnan(difference.mean):
        return "not in this build"
    return "holds" if side == direction else "contradicted" if side == -direction else "not resolved at this scale"


def claims_table(evidence: Evidence, paper_table2: pd.DataFrame, paper_table3: pd.DataFrame) -> pd.DataFrame:
    """One row per claim: the comparison, the paper's two numbers and its difference, ours (in %), the
    paired difference with its interval, and the verdict; plus the differences as numbers (points,
    columns "difference mean", "difference half", "paper difference") for figures."""
    records = []
    for claim in claims(evidence):
        paper = paper_table2 if claim.which == "dev" else paper_table3

        def theirs(row):
            return paper.loc[row, claim.column] if row in paper.index and claim.column in paper.columns else np.nan
        a, b = _estimate(evidence, claim, claim.row_a), _estimate(evidence, claim, claim.row_b)
        diff = _estimate(evidence, claim)
        paper_diff = theirs(claim.row_a) - theirs(claim.row_b)
        records.append({
            "claim": claim.claim,
            "comparison": f"{claim.row_a} − {claim.row_b}, {claim.column} ({claim.which})",
            "paper": (f"{theirs(claim.row_a):.2f} − {theirs(claim.row_b):.2f} = {paper_diff:+.2f}"
                      if not np.isnan(paper_diff) else "-"),
            "paper says": ("as claimed" if np.sign(paper_diff) == claim.direction else "not in its own table")
            if not np.isnan(paper_diff) else "-",
            "here": f"{a.text()} − {b.text()}",
            "difference here": diff.text(sign=True),
            "verdict": verdict(diff, claim.direction),
            "difference mean": 100 * diff.mean, "difference half": 100 * diff.half, "paper difference": paper_diff,
        })
    return pd.DataFrame(records)


def tuning_gains(evidence: Evidence) -> pd.DataFrame:
    """The paper's lesson, checked: does a gain found by tuning on dev carry over to eval?

    For each tuned row, its official score on dev and on eval minus that of an untuned reference from
    the same runs (paired): Disent.Wt against Disent.Wt (0.5/0.5); MSL against the single system with
    the best overall dev score here; MSL+ANP against MSL. Columns: reference, "dev gain" and "eval gain"
    (text), and their means and half-widths.
    """
    best_single = _best(evidence, SINGLE_SYSTEMS, "dev", None)
    references = {DISENT_WT: "Disent.Wt (0.5/0.5)", MSL: best_single, MSL_ANP: MSL}
    rows = {}
    for tuned, reference in references.items():
        if reference is None or tuned not in evidence.rows or reference not in evidence.rows:
            continue
        cells = {"reference": reference}
        for which in ("dev", "eval"):
            gain = evidence.difference(tuned, reference, which)
            cells.update({f"{which} gain": gain.text(sign=True), f"{which} mean": gain.mean, f"{which} half": gain.half})
        rows[tuned] = cells
    return pd.DataFrame.from_dict(rows, orient="index")


def checkpoint_table(evidence: Evidence) -> pd.DataFrame:
    """Per single system: the official score on dev and eval with the last checkpoint and with the
    one chosen on dev (rows ``X`` and ``X [best dev]`` of ``evidence``, :func:`asdlib.study.load.rules_evidence`),
    and the paired gains of the dev choice, all in %."""
    out = {}
    for row in [r for r in SINGLE_SYSTEMS if r in evidence.rows and f"{r} [best dev]" in evidence.rows]:
        best = f"{row} [best dev]"
        out[row] = {"dev, last": evidence.cell(row, "dev").text(), "dev, best dev": evidence.cell(best, "dev").text(),
                    "dev gain": evidence.difference(best, row, "dev").text(sign=True),
                    "eval, last": evidence.cell(row, "eval").text(), "eval, best dev": evidence.cell(best, "eval").text(),
                    "eval gain": evidence.difference(best, row, "eval").text(sign=True)}
    return pd.DataFrame.from_dict(out, orient="index")
