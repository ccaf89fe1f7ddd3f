"""Explanations from the two disentangled spaces, checked on a run whose anomalies are known."""
from __future__ import annotations

import numpy as np
import pytest

from asdlib.cli import main as cli
from asdlib.explain import UNUSUAL, carrier, clip_table
from asdlib.inference import score_run
from asdlib.scales import get_scale
from asdlib.study.explanations import explanation_tables, false_alarms, severity_correlation, type_accuracy
from asdlib.study.runs import seed_folder
from asdlib.synth import generate
from asdlib.train import RunConfig, train


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """disent and mtl on smoke fan data with clearly audible anomalies (strength 3)."""
    tmp = tmp_path_factory.mktemp("explain")
    root = generate(tmp / "data", get_scale("smoke").synth, seed=0, machines=("fan",), strength=3.0, progress=False)
    for system in ("disent", "mtl"):
        config = RunConfig.create(system, "fan", root, "smoke", truth_dir=root / "eval_truth",
                                  overrides=["train.epochs=8", "train.checkpoint_every=4"])
        run = seed_folder(tmp / "study" / system / "fan", 0)
        train(config, run, cache_dir=tmp / "cache", progress=False)
        score_run(run, cache_dir=tmp / "cache", progress=False)
    return tmp / "study", root


def test_distances_are_standardised_by_the_training_clips(study):
    table = clip_table(seed_folder(study[0] / "disent" / "fan", 0))
    train = table[table["split"] == "train"]
    for space in ("section", "attribute"):
        per_section = train.groupby("section")[f"z_{space}"]
        assert np.allclose(per_section.mean(), 0, atol=1e-9) and np.allclose(per_section.std(ddof=0), 1, atol=1e-9)
    assert set(table["carrier"]) <= {"section", "attribute", "both", "neither"}
    assert carrier(UNUSUAL + 1, 0) == "section" and carrier(0, UNUSUAL + 1) == "attribute"
    posteriors = table[[c for c in table.columns if c.startswith("p:")]]
    assert ((posteriors >= 0) & (posteriors <= 1) | posteriors.isna()).all().all()


def test_explanations_find_the_known_anomalies(study):
    study_dir, root = study
    table = explanation_tables(study_dir, root)
    disent = table[table["system"] == "disent"]
    unusual = disent[["z_section", "z_attribute"]].max(axis=1)
    anomalous = disent["label"] == "anomaly"
    assert unusual[anomalous].mean() > unusual[~anomalous].mean() + 0.5  # anomalies stand out in some space
    assert disent.loc[anomalous, "anomaly_type"].notna().all()  # every anomaly's recorded cause is joined
    assert (table["system"] == "mtl").any() and "z_mtl" in table
    rho = severity_correlation(table, n_resamples=100)
    assert rho.loc["fan", "clips"] == anomalous.sum() and -1 <= rho.loc["fan", "rho"] <= 1
    accuracy = type_accuracy(table, n_resamples=100)
    assert {"disent", "mtl", "chance"} <= set(accuracy.columns)
    alarms = false_alarms(table, n_resamples=100)
    assert "all machines" in alarms.index or alarms.empty


def test_asdlib_explain_prints_and_draws(study, tmp_path, capsys):
    run = seed_folder(study[0] / "disent" / "fan", 0)
    table = clip_table(run)
    name = table.loc[(table["split"] == "test") & (table["label"] == "anomaly"), "name"].iloc[0]
    assert cli(["explain", str(run), "--clip", name, "--out", str(tmp_path / "card.png")]) == 0
    out = capsys.readouterr().out
    assert name in out and "section space" in out and "attribute space" in out
    assert (tmp_path / "card.png").stat().st_size > 10_000
    assert cli(["explain", str(run), "--clip", "nope.wav"]) == 2
    assert "no clip named 'nope.wav'" in capsys.readouterr().err
