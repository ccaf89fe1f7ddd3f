"""Beyond the paper, part 2: the top rank's training pipeline, on three of the paper's rows.

The paper credits the challenge's top-ranked system with two steps it did not take and hypothesises
the disentangled model would gain from them: pre-training on all seven machines, and averaging the
model weights of several epochs. For Disent.Cat, Disent.Wt and Sec_ArcFace this part compares

* the row as trained in the study (from scratch per machine, the last checkpoint);
* **+ WA**: the weights of the last K checkpoints averaged, batch norm recomputed (K chosen on the
  development set among the rules the runs were scored with: 1, i.e. the last checkpoint, or more);
* **+ PT**: pre-trained on every machine, then fine-tuned per machine, at the same total budget of
  optimiser steps as training each machine from scratch (:func:`asdlib.train.pipeline_overrides`);
* **+ PT + WA**: both.

:func:`budgets` reads what each way of training cost from the runs' training logs.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from asdlib.study.rows import DISENT_WT
from asdlib.study.runs import collect_scores
from asdlib.study.tuning import mean_dev_official, tune

ROWS = ("Disent.Cat (S3)", DISENT_WT, "Sec_ArcFace")


def _rows(study_dir: Path, rule: str) -> pd.DataFrame | None:
    """The clip scores of :data:`ROWS` in one study under one rule (Disent.Wt tuned per seed), or None."""
    try:
        scores = collect_scores(study_dir, rule)
    except FileNotFoundError:
        return None
    tuned, _ = tune(study_dir, scores, rule)
    both = pd.concat([scores, tuned], ignore_index=True)
    return both[both["row"].isin(ROWS)].assign(rule=rule)


def pipeline_scores(study_dir: str | Path, pipeline_dir: str | Path | None, average_rules=("average2",)):
    """The clip scores of every (row, variant), rows named ``"<row>"``, ``"<row> + WA"``, ``"<row> + PT"``
    and ``"<row> + PT + WA"``, and the averaging rule each "+ WA" variant chose on dev (a table)."""
    frames, choices = [], []
    for variant, folder in (("", study_dir), (" + PT", pipeline_dir)):
        if not folder:
            continue
        last = _rows(Path(folder), "last")
        if last is None:
            continue
        frames.append(last.assign(row=last["row"] + variant))
        options = {rule: _rows(Path(folder), rule) for rule in average_rules}
        options = {"last": last, **{r: f for r, f in options.items() if f is not None}}
        for row in ROWS:
            dev = {rule: mean_dev_official(f[f["row"] == row]) for rule, f in options.items()
                   if (f["row"] == row).any()}
            if not dev:
                continue
            best = max(dev, key=dev.get)
            chosen = options[best]
            frames.append(chosen[chosen["row"] == row].assign(row=f"{row}{variant} + WA"))
            choices.append({"row": f"{row}{variant} + WA", "chosen on dev": best,
                            **{f"dev, {rule}": value for rule, value in dev.items()}})
    if not frames:
        raise FileNotFoundError(f"{study_dir}: no run of {', '.join(ROWS)}")
    return pd.concat(frames, ignore_index=True), pd.DataFrame(choices).set_index("row")


def _log_totals(folders) -> dict[str, float]:
    """Optimiser steps and training seconds summed over the ``train_log.csv`` of run folders, per seed."""
    logs = [pd.read_csv(f / "train_log.csv") for f in folders]
    seeds = len({f.name for f in folders}) or 1
    return {"steps": sum(log["steps"].sum() if "steps" in log else float("nan") for log in logs) / seeds,
            "seconds": sum(log["seconds"].sum() for log in logs) / seeds}


def budgets(study_dir: str | Path, pipeline_dir: str | Path | None, systems=("disent", "sec_arcface")) -> pd.DataFrame:
    """Per system and way of training, the optimiser steps and training seconds of one seed over all
    machines: "from scratch" (the study's runs), "pre-training" and "fine-tuning" (the pipeline's)."""
    records = []
    for system in systems:
        ways = {"from scratch": sorted(Path(study_dir).glob(f"{system}/*/seed*"))}
        if pipeline_dir:
            ways["pre-training"] = sorted(Path(pipeline_dir).glob(f"pretrained/{system}/seed*"))
            ways["fine-tuning"] = sorted(Path(pipeline_dir).glob(f"{system}/*/seed*"))
        for way, folders in ways.items():
            folders = [f for f in folders if (f / "train_log.csv").is_file()]
            if folders:
                records.append({"system": system, "training": way, "runs per seed": len({f.parent for f in folders}),
                                **_log_totals(folders)})
    return pd.DataFrame(records)
