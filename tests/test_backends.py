"""The backends chapter's choices (asdlib.study.backends): settings and Disent.Wt weights chosen on
the development set only, Disent.Wt tuned per backend at Disent.Wt (S4)'s checkpoint.

A hand-made scores frame checks the choice of settings; a small real study (disent, two seeds, smoke
fan data), scored with the evaluator's labels and with every evaluation label flipped, checks the
rest. Nothing chosen on the development set may move with the evaluation labels.
"""
from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest
from conftest import flip_eval_labels

from asdlib.inference import CHECKPOINT_RULES, embeddings_path, score_run
from asdlib.scales import get_scale
from asdlib.study.backends import (RAW_WEIGHTED, SETTINGS, backend_scores, choose_settings, chosen_scores,
                                   chosen_weights, gain_family)
from asdlib.study.evidence import Evidence
from asdlib.study.load import load_study
from asdlib.study.rows import DISENT_WT, GRID
from asdlib.study.runs import SCORE_COLUMNS, seed_folder
from asdlib.study.tuning import dev_official, standardised
from asdlib.synth import generate
from asdlib.train import RunConfig, train

SEEDS = (0, 1)


def hand_made_scores() -> pd.DataFrame:
    """Sec_Softmax on one machine and seed, sections 00-03 of 4 clips per domain and label: knn's
    "k=2" ranks the development set's anomalies first and the evaluation set's last, "k=4" the other
    way round; nn's one setting is noise."""
    rng = np.random.default_rng(0)
    clips = pd.DataFrame([{"section": f"{s:02d}", "domain": d, "label": lab, "name": f"section_{s:02d}_{d}_{lab}_{i}"}
                          for s in range(4) for d in ("source", "target") for lab in ("normal", "anomaly")
                          for i in range(4)]).assign(split="test")
    anomalous = (clips["label"] == "anomaly").to_numpy(float)
    dev = (clips["section"].astype(int) < 3).to_numpy()
    ranked = anomalous + 0.1 * rng.random(len(clips))
    frames = [clips.assign(backend="knn", setting="k=2", score=np.where(dev, ranked, -ranked)),
              clips.assign(backend="knn", setting="k=4", score=np.where(dev, -ranked, ranked)),
              clips.assign(backend="nn", setting="-", score=rng.random(len(clips)))]
    return pd.concat(frames, ignore_index=True).assign(row="Sec_Softmax", system="sec_softmax", mode="section",
                                                       machine="fan", seed=0, epoch=4)


def test_choose_settings_takes_the_best_on_dev_and_chosen_scores_keeps_its_clips():
    scores = hand_made_scores()
    chosen = choose_settings(scores)
    assert chosen.loc[("Sec_Softmax", "knn"), "setting"] == "k=2"  # the best on dev, the worst on eval
    assert chosen.loc[("Sec_Softmax", "knn"), "dev"] == pytest.approx(1.0)
    assert chosen.loc[("Sec_Softmax", "nn"), "setting"] == "-"
    kept = chosen_scores(scores, chosen)
    assert sorted(kept["row"].unique()) == ["Sec_Softmax | knn", "Sec_Softmax | nn"]
    knn = kept[kept["row"] == "Sec_Softmax | knn"]
    assert (knn["setting"] == "k=2").all() and len(knn) == (scores["setting"] == "k=2").sum()
    expected = scores[scores["setting"] == "k=2"]
    np.testing.assert_array_equal(knn.sort_values("name")["score"], expected.sort_values("name")["score"])


def family_scores(disent_gain: float, mtl_gain: float) -> pd.DataFrame:
    """Disent.Cat (S3) and MTL scored by nn and by knn_domain, 3 seeds, fan sections 00-05 of 8 clips
    per domain and label: the anomalies' lift over the normal clips is 1 for nn, and grows by the
    row's gain with knn_domain in the target domain only (clip noise and a seed effect otherwise)."""
    rng = np.random.default_rng(5)
    clips = pd.DataFrame([{"section": f"{s:02d}", "domain": d, "label": lab, "name": f"section_{s:02d}_{d}_{lab}_{i}"}
                          for s in range(6) for d in ("source", "target") for lab in ("normal", "anomaly")
                          for i in range(8)]).assign(split="test", machine="fan", epoch=4)
    anomalous = (clips["label"] == "anomaly").to_numpy(float)
    target = (clips["domain"] == "target").to_numpy(float)
    frames = []
    for row, gain in (("Disent.Cat (S3)", disent_gain), ("MTL", mtl_gain)):
        for seed in range(3):
            noise = rng.normal(size=len(clips))
            for backend, lift in (("nn", 0.5), ("knn_domain", 0.5 + gain * target)):
                frames.append(clips.assign(row=f"{row} | {backend}", seed=seed,
                                           score=lift * anomalous + noise + 0.05 * rng.normal(size=len(clips))))
    return pd.concat(frames, ignore_index=True)


def test_the_gain_family_is_the_paired_difference_of_gains_tested_with_holm():
    evidence = Evidence(family_scores(disent_gain=3.0, mtl_gain=0.0), 200)
    family = gain_family(evidence, backends=("knn_domain", "smote_knn")).set_index(["backend", "metric"])
    for metric, columns in (("official (eval)", None), ("AUC (T) (eval)", ("auc_target",))):
        kwargs = {} if columns is None else {"metrics": columns}
        cells = {row: evidence.cell(row, "eval", **kwargs).mean for row in evidence.rows}
        expected = (cells["Disent.Cat (S3) | knn_domain"] - cells["Disent.Cat (S3) | nn"]
                    - cells["MTL | knn_domain"] + cells["MTL | nn"])
        assert family.loc[("knn_domain", metric), "mean"] == pytest.approx(100 * expected, abs=1e-9)
        assert family.loc[("knn_domain", metric), "verdict"] == "Disent.Cat (S3) gains more"
        assert family.loc[("smote_knn", metric), "verdict"] == "not in this build"  # no such rows: not counted
    assert (family["Holm p"] != "-").sum() == 2  # the family is the two tested differences
    d = evidence.difference("Disent.Cat (S3) | knn_domain", "Disent.Cat (S3) | nn", "eval")
    c = evidence.contrast({"Disent.Cat (S3) | knn_domain": 1.0, "Disent.Cat (S3) | nn": -1.0}, "eval")
    assert (d.mean, d.low, d.high) == (c.mean, c.low, c.high)
    same = gain_family(Evidence(family_scores(disent_gain=1.0, mtl_gain=1.0), 200), backends=("knn_domain",))
    assert (same["verdict"] == "not resolved").all()  # equal gains: nothing called


# --------------------------------------------------------------------------------------------
# A small real study
# --------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def studies(tmp_path_factory):
    """Study folder -> rule -> (loaded study, backend scores): with the true labels ("true") and with
    every evaluation label flipped ("flipped"); and the folders."""
    tmp = tmp_path_factory.mktemp("backends")
    root = generate(tmp / "data", get_scale("smoke").synth, seed=0, machines=("fan",), strength=2.0, progress=False)
    flipped = flip_eval_labels(root / "eval_truth", tmp / "flipped_truth")
    folders = {"true": tmp / "true", "flipped": tmp / "flipped"}
    for seed in SEEDS:
        config = RunConfig.create("disent", "fan", root, "smoke", seed=seed, truth_dir=root / "eval_truth",
                                  overrides=["train.epochs=4", "train.checkpoint_every=2"])
        run = seed_folder(folders["true"] / "disent" / "fan", seed)
        train(config, run, cache_dir=tmp / "cache", progress=False)
        shutil.copytree(run, seed_folder(folders["flipped"] / "disent" / "fan", seed))
        for name, truth in (("true", root / "eval_truth"), ("flipped", flipped)):
            score_run(seed_folder(folders[name] / "disent" / "fan", seed), truth_dir=truth, rules=CHECKPOINT_RULES,
                      cache_dir=tmp / "cache", progress=False)
    out = {}
    for name, folder in folders.items():
        for rule in CHECKPOINT_RULES:
            study = load_study(folder, rule, n_resamples=20)
            out[name, rule] = study, backend_scores(folder, rule, study.scores)
    return out, folders


@pytest.mark.parametrize("rule", CHECKPOINT_RULES)
def test_nn_disent_wt_is_disent_wt_s4(studies, rule):
    """With nn, the per-backend tuning is Disent.Wt (S4)'s: the same checkpoint, weight and scores."""
    out, _ = studies
    study, scores = out["true", rule]
    nn = scores[(scores["row"] == DISENT_WT) & (scores["backend"] == "nn")]
    for seed in SEEDS:
        s4 = study.scores[(study.scores["row"] == DISENT_WT) & (study.scores["seed"] == seed)].sort_values("name")
        mine = nn[nn["seed"] == seed].sort_values("name")
        assert mine["epoch"].iloc[0] == s4["epoch"].iloc[0]
        assert mine["w_S"].iloc[0] == study.choices.loc[(seed, "fan"), "Disent. wt. (S4) w_S"]
        np.testing.assert_allclose(mine["score"], s4["score"], atol=1e-9)
    assert list(scores.columns) == SCORE_COLUMNS + ["backend", "setting", "w_S"]
    assert scores.loc[scores["row"] != DISENT_WT, "w_S"].isna().all()


def test_disent_wt_weights_each_backends_space_scores_at_its_best_dev_weight(studies):
    """Under "last" Disent.Sec and Disent.Att are scored at Disent.Wt's checkpoint: Disent.Wt is
    w_S d_S + (1 - w_S) d_A of their scores (standardised per section by the training clips' scores
    for the density backends), with w_S the first best development-set weight of the 0.05 grid."""
    out, _ = studies
    _, scores = out["true", "last"]
    by = scores.groupby(["row", "backend", "setting", "seed"])
    for (_, backend, setting, seed), wt in scores[scores["row"] == DISENT_WT].groupby(["row", "backend", "setting",
                                                                                       "seed"]):
        wt, d_s, d_a = (part.sort_values("name").reset_index(drop=True) for part in
                        (wt, by.get_group(("Disent.Sec", backend, setting, seed)),
                         by.get_group(("Disent.Att", backend, setting, seed))))
        assert (d_s["name"] == wt["name"]).all() and (d_a["name"] == wt["name"]).all()
        assert (d_s["epoch"] == wt["epoch"]).all() and (d_a["epoch"] == wt["epoch"]).all()
        d_s, d_a = (d["score"].to_numpy() if backend in RAW_WEIGHTED else standardised(d) for d in (d_s, d_a))
        test = wt[wt["split"] == "test"].reset_index(drop=True)
        dev = [dev_official(test, (w * d_s + (1 - w) * d_a)[wt["split"] == "test"]) for w in GRID]
        w = wt["w_S"].iloc[0]
        assert w == GRID[int(np.argmax(dev))], (backend, setting, seed)
        np.testing.assert_allclose(wt["score"], w * d_s + (1 - w) * d_a, atol=1e-9)
    standardised_backends = set(scores.loc[scores["row"] == DISENT_WT, "backend"]) - set(RAW_WEIGHTED)
    assert standardised_backends == {"gmm", "mahalanobis", "knn_ldn"}


def test_disent_wt_is_scored_at_the_s4_checkpoint_else_the_wt_modes(studies):
    """Disent.Wt takes the checkpoint from Disent.Wt (S4)'s rows, not the sec mode's (epoch 2 here):
    told epoch 4, it scores epoch 4's embeddings; where that checkpoint's embeddings were not saved
    (epoch 3: no such checkpoint), it scores the 0.5/0.5 mode's checkpoint."""
    from asdlib.study.runs import epoch_scores

    out, folders = studies
    study, _ = out["true", "best_dev"]
    runs = [seed_folder(folders["true"] / "disent" / "fan", seed) for seed in SEEDS]
    for epoch in (4, 3):
        told = study.scores.assign(epoch=study.scores["epoch"].where(study.scores["row"] != DISENT_WT, epoch))
        scores = backend_scores(folders["true"], "best_dev", told, rows=(DISENT_WT,))
        for seed, run in zip(SEEDS, runs):
            mine = scores[(scores["seed"] == seed) & (scores["backend"] == "nn")]
            wt_mode = json.loads((run / "results" / "best_dev" / "wt" / "summary.json").read_text())
            assert (mine["epoch"] == (epoch if embeddings_path(run, epoch).is_file()
                                      else wt_mode["checkpoint"]["epoch"])).all()
            epochs, saved = epoch_scores(run)
            at, w = epochs.index(mine["epoch"].iloc[0]), mine["w_S"].iloc[0]
            np.testing.assert_allclose(mine["score"], w * saved["sec"][at] + (1 - w) * saved["att"][at], atol=1e-9)
    assert [json.loads((r / "results" / "best_dev" / "sec" / "summary.json").read_text())["checkpoint"]["epoch"]
            for r in runs] != [4, 4]  # epoch 4 is not what the sec mode chose: the test tells them apart


@pytest.mark.parametrize("rule", CHECKPOINT_RULES)
def test_flipping_every_eval_label_changes_no_backend_setting_or_weight(studies, rule):
    out, _ = studies
    (_, a), (_, b) = out["true", rule], out["flipped", rule]
    # the flip reached the backends' clips: evaluation labels differ, development labels do not
    ev = (a["split"] == "test") & (a["section"].astype(int) >= 3)
    assert (a.loc[ev, "label"] != b.loc[ev, "label"]).all()
    assert a.loc[~ev, "label"].equals(b.loc[~ev, "label"])
    pd.testing.assert_frame_equal(a.drop(columns="label"), b.drop(columns="label"))  # every score, epoch and w_S
    chosen_a, chosen_b = choose_settings(a), choose_settings(b)
    pd.testing.assert_frame_equal(chosen_a, chosen_b)
    pd.testing.assert_frame_equal(chosen_weights(a, chosen_a), chosen_weights(b, chosen_b))
    assert set(chosen_a.index.get_level_values("backend")) == set(SETTINGS)
    assert a["w_S"].nunique() > 1  # the weights were tuned, not one fixed value
    ea, eb = Evidence(chosen_scores(a, chosen_a), 20), Evidence(chosen_scores(b, chosen_b), 20)
    assert ea.cell(f"{DISENT_WT} | gmm", "eval").mean != eb.cell(f"{DISENT_WT} | gmm", "eval").mean
