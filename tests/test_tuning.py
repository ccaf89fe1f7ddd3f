"""The development-set choices of a real (smoke) study: checkpoints, MSL, Disent.Wt and MSL+ANP weights.

A small study (disent, sec_softmax, anp on smoke fan data) is trained once and scored twice: with the
evaluator's labels, and with every evaluation label flipped. Nothing chosen on the development set
may move.
"""
from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest
from conftest import flip_eval_labels

from asdlib.inference import CHECKPOINT_RULES, embeddings_path, score_run, scored_path
from asdlib.scales import get_scale
from asdlib.scoring import SpaceScorer
from asdlib.study.load import load_study
from asdlib.study.rows import DISENT_WT, MSL, MSL_ANP
from asdlib.study.runs import collect_scores, seed_folder
from asdlib.synth import generate
from asdlib.train import RunConfig, train

SYSTEMS = ("disent", "sec_softmax", "anp")


@pytest.fixture(scope="module")
def studies(tmp_path_factory):
    """(study with the true labels, the same runs scored with every eval label flipped, data root)."""
    tmp = tmp_path_factory.mktemp("tuning")
    root = generate(tmp / "data", get_scale("smoke").synth, seed=0, machines=("fan",), strength=2.0, progress=False)
    flipped = flip_eval_labels(root / "eval_truth", tmp / "flipped_truth")
    true_study, flipped_study = tmp / "true", tmp / "flipped"
    for system in SYSTEMS:
        for seed in (0, 1):
            config = RunConfig.create(system, "fan", root, "smoke", seed=seed, truth_dir=root / "eval_truth",
                                      overrides=["train.epochs=4", "train.checkpoint_every=2"])
            run = seed_folder(true_study / system / "fan", seed)
            train(config, run, cache_dir=tmp / "cache", progress=False)
            shutil.copytree(run, seed_folder(flipped_study / system / "fan", seed))
            for study, truth in ((true_study, root / "eval_truth"), (flipped_study, flipped)):
                score_run(seed_folder(study / system / "fan", seed), truth_dir=truth, rules=CHECKPOINT_RULES,
                          cache_dir=tmp / "cache", progress=False)
    return true_study, flipped_study, root


@pytest.mark.parametrize("rule", CHECKPOINT_RULES)
def test_flipping_every_eval_label_changes_no_choice(studies, rule):
    true_study, flipped_study, _ = studies
    a, b = load_study(true_study, rule, n_resamples=20), load_study(flipped_study, rule, n_resamples=20)
    # the flip reached the labels the tables use: evaluation labels differ, development labels do not
    keys = ["row", "seed", "name"]
    merged = a.scores.merge(b.scores, on=keys, suffixes=("", "_flipped"))
    test = merged[merged["split"] == "test"]
    ev = test["section"].astype(int) >= 3
    assert (test.loc[ev, "label"] != test.loc[ev, "label_flipped"]).all()
    assert (test.loc[~ev, "label"] == test.loc[~ev, "label_flipped"]).all()
    # checkpoints (each mode its own), MSL, Disent.Wt and MSL+ANP weights: all unchanged, so every score too
    assert (merged["epoch"] == merged["epoch_flipped"]).all()
    assert np.array_equal(merged["score"], merged["score_flipped"])
    pd.testing.assert_frame_equal(a.choices, b.choices)
    assert {MSL, "Disent. wt. (S4) w_S", "Ens. wt. (S2) ANP"} <= set(a.choices.columns)
    assert {MSL, DISENT_WT, MSL_ANP} <= set(a.scores["row"])  # every tuned row was built
    assert a.evidence.cell(MSL, "eval").mean != b.evidence.cell(MSL, "eval").mean


def test_disent_wt_is_eq5_on_the_saved_embeddings(studies):
    """The per-checkpoint space distances the tuner combines are Eq. 5's, computed afresh from the
    embeddings; the tuned row is w_S d_S + w_A d_A at the chosen weight."""
    true_study, _, _ = studies
    run = seed_folder(true_study / "disent" / "fan", 0)
    clips = pd.read_csv(scored_path(run) / "clips.csv", dtype={"section": str})
    train_mask = (clips["split"] == "train").to_numpy()
    emb = dict(np.load(embeddings_path(run, 4)))  # the last checkpoint's embeddings are always saved
    scorer = SpaceScorer("wt", (0.3, 0.7)).fit({k: v[train_mask] for k, v in emb.items()},
                                               clips.loc[train_mask, "section"].to_numpy())
    direct = scorer.score({k: v[~train_mask] for k, v in emb.items()}, clips.loc[~train_mask, "section"].to_numpy())
    saved = np.load(scored_path(run) / "epoch_scores.npz")
    last = list(saved["epochs"]).index(4)
    np.testing.assert_allclose(0.3 * saved["sec"][last, ~train_mask] + 0.7 * saved["att"][last, ~train_mask],
                               direct, atol=1e-12)
    study = load_study(true_study, "last", n_resamples=20)
    w = study.choices.loc[(0, "fan"), "Disent. wt. (S4) w_S"]
    assert np.isclose(w * 20, round(w * 20))  # a 0.05 step
    tuned = study.scores[(study.scores["row"] == DISENT_WT) & (study.scores["seed"] == 0)]
    np.testing.assert_allclose(tuned["score"], w * saved["sec"][last] + (1 - w) * saved["att"][last], atol=1e-12)


def test_official_files_hold_the_scores_the_tables_read(studies):
    """The tables read scored/epoch_scores.npz at the chosen checkpoint: the same numbers as the
    official anomaly score files of that rule and mode."""
    from asdlib.metrics import read_score_csv

    true_study, _, _ = studies
    scores = collect_scores(true_study, "best_dev")
    part = scores[(scores["row"] == "Disent.Sec") & (scores["seed"] == 1) & (scores["split"] == "test")]
    folder = seed_folder(true_study / "disent" / "fan", 1) / "results" / "best_dev" / "sec"
    for section, sec in part.groupby("section"):
        written = read_score_csv(folder / f"anomaly_score_fan_section_{section}_test.csv")
        assert written == pytest.approx(dict(zip(sec["name"], sec["score"])), abs=1e-12)
