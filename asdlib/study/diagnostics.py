"""Why AUC (T) is low: the target domain's normal clips against the nearest training clips they have.

The official AUC (T) ranks a section's *target-domain normal* clips against *all* its anomalous clips,
source-domain ones included. A target normal clip's nearest neighbour (Eq. 4) is usually one of the
few target-domain training clips (ten in the real set, against 990 source clips); with fewer of them
its distance grows, until it exceeds the distance of a source-domain anomaly to the many source
clips, and AUC (T) falls below 0.5 although the target clips are still well ranked among themselves.
:func:`target_reference_curve` measures this on a study's runs by scoring with 0, 1, 2, ... of each
section's target training clips as references.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from asdlib.metrics import roc_area
from asdlib.scoring import SpaceScorer
from asdlib.study.runs import run_embeddings


def target_reference_curve(study_dir: str | Path, system: str = "disent", mode: str = "cat", rule: str = "last",
                           counts=(0, 1, 2, 5, 10)) -> pd.DataFrame:
    """Mean over runs and development sections of AUC (T) (official: target normals against all
    anomalies), AUC within the target domain (target normals against target anomalies) and AUC (S),
    when only the first ``n`` target-domain training clips of each section serve as references
    (every source clip always does). Also the median distance of target normals minus that of source
    normals, against that of source anomalies minus source normals (the anomalies' own shift)."""
    records = []
    mode_kwargs = {"mode": mode}
    for run in sorted(Path(study_dir).glob(f"{system}/*/seed*")):
        found = run_embeddings(run, rule, mode)
        if found is None:
            continue
        embeddings, clips = found
        clips = clips[clips["dataset"] == "dev_data"]
        for section, part in clips.groupby("section"):
            train, test = part[part["split"] == "train"], part[part["split"] == "test"]
            anomalous = (test["label"] == "anomaly").to_numpy()
            target = (test["domain"] == "target").to_numpy()
            for n in counts:
                refs = pd.concat([train[train["domain"] == "source"], train[train["domain"] == "target"].iloc[:n]])
                scorer = SpaceScorer(**mode_kwargs).fit({k: v[refs.index] for k, v in embeddings.items()},
                                                        np.zeros(len(refs)))
                d = scorer.score({k: v[test.index] for k, v in embeddings.items()}, np.zeros(len(test)))

                def auc(keep):
                    return float(roc_area(d[keep], anomalous[keep])[0])
                records.append({
                    "target references": n, "run": f"{run.parent.name}/{run.name}", "section": section,
                    "AUC (T)": auc(target | anomalous), "AUC within target": auc(target),
                    "AUC (S)": auc(~target | anomalous),
                    "target normal shift": np.median(d[target & ~anomalous]) - np.median(d[~target & ~anomalous]),
                    "anomaly shift": np.median(d[~target & anomalous]) - np.median(d[~target & ~anomalous])})
    if not records:
        raise FileNotFoundError(f"{study_dir}: no {system} run with {rule}/{mode} embeddings")
    frame = pd.DataFrame(records)
    return frame.groupby("target references")[["AUC (T)", "AUC within target", "AUC (S)", "target normal shift",
                                               "anomaly shift"]].mean()
