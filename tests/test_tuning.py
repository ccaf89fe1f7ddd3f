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

from asdlib.inference import CHECKPOINT_RULES, embeddings_path, score_run, scored_path
from asdlib.scales import get_scale
from asdlib.scoring import SpaceScorer
from asdlib.study import DISENT_WT, MSL, MSL_ANP, collect, load_study, tune_disent_weights
from asdlib.synth import generate
from asdlib.train import RunConfig, train

SYSTEMS = ("disent", "sec_softmax", "anp")


def _flip_eval_labels(truth, out):
    shutil.copytree(truth, out)
    for path in (out / "ground_truth_data").glob("*.csv"):
        rows = [line.rsplit(",", 1) for line in path.read_text().splitlines()]
        path.write_text("".join(f"{name},{1 - int(flag)}\n" for name, flag in rows))
    return out


@pytest.fixture(scope="module")
def studies(tmp_path_factory):
    """(study with the true labels, the same runs scored with every eval label flipped, data root)."""
    tmp = tmp_path_factory.mktemp("tuning")
    root = generate(tmp / "data", get_scale("smoke").synth, seed=0, machines=("fan",), strength=2.0, progress=False)
    flipped = _flip_eval_labels(root / "eval_truth", tmp / "flipped_truth")
    true_study, flipped_study = tmp / "true", tmp / "flipped"
    for system in SYSTEMS:
        config = RunConfig.create(system, "fan", root, "smoke", truth_dir=root / "eval_truth",
                                  overrides=["train.epochs=4", "train.checkpoint_every=2"])
        train(config, true_study / system / "fan", cache_dir=tmp / "cache", progress=False)
        shutil.copytree(true_study / system / "fan", flipped_study / system / "fan")
        for study, truth in ((true_study, root / "eval_truth"), (flipped_study, flipped)):
            score_run(study / system / "fan", truth_dir=truth, rules=CHECKPOINT_RULES, cache_dir=tmp / "cache",
                      progress=False)
    return true_study, flipped_study, root


@pytest.mark.parametrize("rule", CHECKPOINT_RULES)
def test_flipping_every_eval_label_changes_no_choice(studies, rule):
    true_study, flipped_study, _ = studies
    a, b = collect(true_study, rule), collect(flipped_study, rule)
    # the flip reached the metrics: evaluation numbers move, development numbers do not
    merged = a.merge(b, on=["row", "machine", "section"], suffixes=("", "_flipped"))
    ev, dev = merged[merged["set"] == "eval"], merged[merged["set"] == "dev"]
    assert (ev["auc_source"] - ev["auc_source_flipped"]).abs().max() > 0.1
    assert (dev["auc_source"] == dev["auc_source_flipped"]).all()
    # checkpoints (each mode its own), MSL, Disent.Wt and MSL+ANP weights: all unchanged
    assert (merged["epoch"] == merged["epoch_flipped"]).all()
    (results_a, choices_a), (results_b, choices_b) = load_study(true_study, rule), load_study(flipped_study, rule)
    pd.testing.assert_frame_equal(choices_a, choices_b)
    assert {MSL, "Disent. wt. (S4) w_S", "Ens. wt. (S2) ANP"} <= set(choices_a.columns)
    assert {MSL, DISENT_WT, MSL_ANP} <= set(results_a["row"])  # every tuned row was built


def test_disent_wt_is_eq5_on_the_saved_embeddings(studies):
    """The per-checkpoint space distances the tuner combines are Eq. 5's, computed afresh from the
    embeddings; the tuner tries every checkpoint (best_dev) and every weight on the 0.05 grid."""
    true_study, _, _ = studies
    run = true_study / "disent" / "fan"
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
    epoch, w, records = tune_disent_weights(run, "best_dev")
    assert epoch in (2, 4) and np.isclose(w * 20, round(w * 20))
    assert records.groupby(["epoch", "w_S"]).ngroups == 2 * 21  # two checkpoints x weights 0, 0.05, ..., 1
