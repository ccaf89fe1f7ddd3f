"""The pipeline chapter's rows (asdlib.study.pipeline.pipeline_scores) on hand-written study folders.

"+ WA" chooses, per row, between the last checkpoint and the averaged weights on the development
set: the chosen rule's clip scores become the row's, and no evaluation label takes part in the choice.
"""
from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest
from conftest import study_clips, write_scored_run
from scipy.stats import hmean

from asdlib.metrics import section_metrics
from asdlib.study.evidence import Evidence
from asdlib.study.pipeline import ROWS, pipeline_scores
from asdlib.study.rows import DISENT_WT
from asdlib.study.runs import collect_scores

CAT, ARCFACE = "Disent.Cat (S3)", "Sec_ArcFace"


def write_study(study, averaged_helps_disent: bool):
    """fan and valve, two seeds, rules last and average2. Per system, one rule separates the
    development sections' anomalies well and the evaluation sections' barely, the other the reverse:
    averaging is the development set's choice for disent (Disent.Cat, Disent.Wt) and the last
    checkpoint for sec_arcface, or the other way round when not ``averaged_helps_disent``. A choice
    that looked at evaluation labels would choose otherwise."""
    rng = np.random.default_rng(0)
    good_dev, good_eval = (5.0, 0.0), (1.0, 5.0)  # anomaly offsets (dev, eval); noise sd 1
    for machine in ("fan", "valve"):
        clips = study_clips(machine)
        anomalous = (clips["label"] == "anomaly").to_numpy()
        dev = (clips["section"].astype(int) < 3).to_numpy()

        def scores(offsets):
            return np.where(dev, offsets[0], offsets[1]) * anomalous + rng.normal(size=len(clips))
        for seed in (0, 1):
            disent = {"last": good_eval, "average2": good_dev}
            arcface = {"last": good_dev, "average2": good_eval}
            if not averaged_helps_disent:
                disent, arcface = arcface, disent
            write_scored_run(study, "disent", machine, seed,
                      {rule: {mode: scores(o) for mode in ("cat", "sec", "att")} for rule, o in disent.items()}, clips)
            write_scored_run(study, "sec_arcface", machine, seed,
                      {rule: {"section": scores(o)} for rule, o in arcface.items()}, clips)
    return study


@pytest.fixture
def folders(tmp_path):
    return write_study(tmp_path / "study", True), write_study(tmp_path / "pipeline", False)


def _sorted(frame, row):
    return frame[frame["row"] == row].sort_values(["machine", "seed", "name"])


def _mean_dev_official(frame):
    """Mean over (machine, seed) of the official score (hmean of AUC (S), AUC (T), pAUC) of sections 00-02."""
    test = frame[(frame["split"] == "test") & (frame["section"].astype(int) < 3)]
    values = []
    for _, run in test.groupby(["machine", "seed"]):
        metrics = [section_metrics((p["label"] == "anomaly").astype(int), p["score"], p["domain"])
                   for _, p in run.groupby("section")]
        values.append(hmean([v for m in metrics for v in m.values()]))
    return np.mean(values)


def test_wa_takes_the_scores_of_the_rule_chosen_on_dev(folders):
    study, pipeline = folders
    scores, choices = pipeline_scores(study, pipeline)
    variants = ("", " + WA", " + PT", " + PT + WA")
    assert set(scores["row"]) == {row + v for row in ROWS for v in variants}
    assert choices["chosen on dev"].to_dict() == {
        f"{CAT} + WA": "average2", f"{DISENT_WT} + WA": "average2", f"{ARCFACE} + WA": "last",
        f"{CAT} + PT + WA": "last", f"{DISENT_WT} + PT + WA": "last", f"{ARCFACE} + PT + WA": "average2"}
    last, averaged = collect_scores(study, "last"), collect_scores(study, "average2")
    for row, source in ((CAT, last), (f"{CAT} + WA", averaged), (f"{ARCFACE} + WA", last)):
        base = row.removesuffix(" + WA")
        ours, theirs = _sorted(scores, row), _sorted(source, base)
        assert ours["name"].tolist() == theirs["name"].tolist(), row
        assert np.array_equal(ours["score"].to_numpy(), theirs["score"].to_numpy()), row
    # the choices table shows the development-set numbers the choice was made on
    assert choices.loc[f"{CAT} + WA", "dev, average2"] == pytest.approx(_mean_dev_official(_sorted(averaged, CAT)))
    assert choices.loc[f"{CAT} + WA", "dev, last"] == pytest.approx(_mean_dev_official(_sorted(last, CAT)))
    # without pipeline runs, only the study's rows
    alone, alone_choices = pipeline_scores(study, None)
    assert set(alone["row"]) == {row + v for row in ROWS for v in ("", " + WA")}
    assert alone_choices["chosen on dev"].to_dict() == {
        k: v for k, v in choices["chosen on dev"].items() if " + PT" not in k}
    with pytest.raises(FileNotFoundError):
        pipeline_scores(study.parent / "nothing", None)


def test_flipping_every_eval_label_changes_no_wa_choice(folders, tmp_path):
    study, _ = folders
    flipped = tmp_path / "flipped"
    shutil.copytree(study, flipped)
    for path in flipped.glob("*/*/seed*/scored/clips.csv"):
        clips = pd.read_csv(path, dtype={"section": str})
        evaluation = (clips["split"] == "test") & (clips["section"].astype(int) >= 3)
        clips.loc[evaluation, "label"] = clips.loc[evaluation, "label"].map({"normal": "anomaly", "anomaly": "normal"})
        clips.to_csv(path, index=False)
    (a, a_choices), (b, b_choices) = pipeline_scores(study, None), pipeline_scores(flipped, None)
    pd.testing.assert_frame_equal(a_choices, b_choices)
    key = ["row", "machine", "seed", "name"]
    a, b = a.sort_values(key).reset_index(drop=True), b.sort_values(key).reset_index(drop=True)
    assert np.array_equal(a["score"].to_numpy(), b["score"].to_numpy())  # Disent.Wt's weights too
    # the flip matters: on eval, last (not chosen for Disent.Cat) beats the averaged weights before the
    # flip and trails them after, so a choice that read evaluation labels would move
    before, after = Evidence(a, n_resamples=20), Evidence(b, n_resamples=20)
    assert before.cell(CAT, "eval").mean > before.cell(f"{CAT} + WA", "eval").mean
    assert after.cell(CAT, "eval").mean < after.cell(f"{CAT} + WA", "eval").mean
