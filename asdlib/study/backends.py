"""Beyond the paper, part 1: other anomaly detection backends on the same embeddings.

The poster's first next step: "explore other anomaly detection backends in addition to NN, e.g.
GMM". Every embedding system of the study is scored again from the embeddings its runs saved (at
the checkpoint the rule chose; no retraining) with

* ``nn``: the paper's nearest neighbour (Eq. 4);
* ``knn``: the mean cosine distance to the k nearest training clips of the section;
* ``gmm``: a Gaussian mixture per section on L2-normalised embeddings, score = negative log-likelihood;
* ``mahalanobis``: the Mahalanobis distance per section with a Ledoit-Wolf shrinkage covariance.

Each backend's settings (k; the mixture's components and covariance type) are chosen per system on
the development set (the official score over all machines and seeds), from :data:`SETTINGS`.
Disent.Wt combines each space's backend score with the weights Disent.Wt (S4) chose per seed.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from asdlib.inference import embeddings_path
from asdlib.scoring import SpaceScorer
from asdlib.study.rows import DISENT_WT, ROW_NAMES
from asdlib.study.runs import SCORE_COLUMNS, clips
from asdlib.study.tuning import W_S, mean_dev_official

SETTINGS = {
    "nn": [{}],
    "knn": [{"k": k} for k in (2, 4, 8)],
    "gmm": [{"n_components": 1, "covariance_type": "full"}] + [{"n_components": c, "covariance_type": "diag"}
                                                              for c in (1, 2, 4)],
    "mahalanobis": [{}],
}
ROWS = ("Sec_Softmax", "Sec_ArcFace", "MTL", "Disent.Cat (S3)", "Disent.Sec", "Disent.Att", DISENT_WT,
        "Disent.Split")
RUN_OF = {row: key for key, row in ROW_NAMES.items()}
RUN_OF[DISENT_WT] = ("disent", "wt")


def _label(settings: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in settings.items()) or "-"


def backend_scores(study_dir: str | Path, rule: str, choices: pd.DataFrame, rows=ROWS) -> pd.DataFrame:
    """Clip scores of every (row, backend, setting): columns of :func:`asdlib.study.runs.collect_scores`
    plus ``backend`` and ``setting``; ``row`` names the system only."""
    frames = []
    for row in rows:
        system, mode = RUN_OF[row]
        for summary_path in sorted(Path(study_dir).glob(f"{system}/*/seed*/results/{rule}/"
                                                        f"{'sec' if mode == 'wt' else mode}/summary.json")):
            run = summary_path.parents[3]
            summary = json.loads(summary_path.read_text())
            machine, seed, epoch = summary["machine"], int(summary["config"]["seed"]), summary["checkpoint"]["epoch"]
            path = embeddings_path(run, epoch)
            if not path.is_file():
                continue
            embeddings = dict(np.load(path))
            table = clips(run)
            train = (table["split"] == "train").to_numpy()
            kwargs = {"mode": mode}
            if mode == "wt":
                if (seed, machine) not in choices.index or W_S not in choices.columns:
                    continue
                w = float(choices.loc[(seed, machine), W_S])
                kwargs["weights"] = (w, 1 - w)
            for backend, grid in SETTINGS.items():
                for settings in grid:
                    scorer = SpaceScorer(backend=backend, **kwargs, **settings)
                    scorer.fit({k: v[train] for k, v in embeddings.items()}, table.loc[train, "section"].to_numpy())
                    score = np.empty(len(table))
                    score[~train] = scorer.score({k: v[~train] for k, v in embeddings.items()},
                                                 table.loc[~train, "section"].to_numpy())
                    score[train] = scorer.score_train()
                    frames.append(table[["split", "section", "name", "domain", "label"]].assign(
                        row=row, system=system, mode=mode, machine=machine, seed=seed, epoch=epoch, score=score,
                        backend=backend, setting=_label(settings)))
    if not frames:
        raise FileNotFoundError(f"{study_dir}: no saved embeddings of an embedding system under rule {rule!r}")
    return pd.concat(frames, ignore_index=True)[SCORE_COLUMNS + ["backend", "setting"]]


def choose_settings(scores: pd.DataFrame) -> pd.DataFrame:
    """Per (row, backend), the setting with the best development-set official score (mean over the
    machines' and seeds' runs, :func:`asdlib.study.tuning.mean_dev_official`); returns the chosen
    settings with that score."""
    records = [{"row": row, "backend": backend, "setting": setting, "dev": mean_dev_official(part)}
               for (row, backend, setting), part in scores.groupby(["row", "backend", "setting"])]
    frame = pd.DataFrame(records)
    return frame.loc[frame.groupby(["row", "backend"])["dev"].idxmax()].set_index(["row", "backend"])


def chosen_scores(scores: pd.DataFrame, chosen: pd.DataFrame) -> pd.DataFrame:
    """The clip scores of the chosen settings, each (row, backend) as one row named ``"<row> | <backend>"``."""
    keep = scores.merge(chosen.reset_index()[["row", "backend", "setting"]], on=["row", "backend", "setting"])
    return keep.assign(row=keep["row"] + " | " + keep["backend"])
