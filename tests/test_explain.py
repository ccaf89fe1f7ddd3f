"""Explanations from the two disentangled spaces, checked on a run whose anomalies are known."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

from asdlib.cli import main as cli
from asdlib.explain import UNUSUAL, carrier, clip_table
from asdlib.inference import score_run
from asdlib.scales import get_scale
from asdlib.study.explanations import (explanation_tables, false_alarms, severity_correlation, standardise,
                                       type_accuracy, type_features)
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


@pytest.fixture(scope="module")
def tables(study):
    """The study's explanation tables (:func:`explanation_tables`)."""
    return explanation_tables(*study)


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
    test = table["split"] == "test"
    dev = table["section"].isin(["00", "01", "02"])
    assert posteriors[test & dev].notna().any(axis=1).all()  # a dev name states its attributes
    # an eval test clip's attributes are known to the evaluator's ground truth only, never to the posteriors
    assert table.loc[test & ~dev, "attributes"].map(bool).all() and posteriors[test & ~dev].isna().all().all()


def test_explanations_find_the_known_anomalies(tables):
    table = tables
    disent = table[table["system"] == "disent"]
    unusual = disent[["z_section", "z_attribute"]].max(axis=1)
    anomalous = disent["label"] == "anomaly"
    assert unusual[anomalous].mean() > unusual[~anomalous].mean() + 0.5  # anomalies stand out in some space
    assert disent.loc[anomalous, "anomaly_type"].notna().all()  # every anomaly's recorded cause is joined
    assert (table["system"] == "mtl").any() and "z_mtl" in table
    assert disent["z_score"].notna().all()
    assert severity_correlation(table, n_resamples=100).loc["fan", "clips"] == anomalous.sum()
    alarms = false_alarms(table, n_resamples=100)
    flagged = disent["decision"] == 1
    assert alarms.loc["all machines", "false alarms per seed"] == str(
        int((flagged & (disent["domain"] == "target") & (disent["label"] == "normal")).sum()))
    assert alarms.loc["all machines", "detected anomalies per seed"] == str(int((flagged & anomalous).sum()))


def test_both_type_classifiers_get_the_same_features(tables):
    table = tables
    columns = type_features(table)
    assert columns[0] == "z_score" and len(columns) > 1 and all(c.startswith("p:") for c in columns[1:])
    rows = table[(table["label"] == "anomaly") & table["section"].isin(["00", "01", "02"])]
    for system in ("disent", "mtl"):  # each system really has every feature (none is a constant fill)
        assert rows.loc[rows["system"] == system, columns].notna().any().all()
    accuracy = type_accuracy(table, n_resamples=100)
    assert accuracy.loc["fan", "features"] == len(columns) and {"disent", "mtl", "chance"} <= set(accuracy.columns)


def test_severity_is_correlated_after_standardising_each_section():
    # two sections, the second on a 100 times larger score scale and holding the milder faults
    train = np.linspace(0.9, 1.1, 21)
    rows = []
    for section, scale, severities in (("00", 1, np.linspace(0.6, 1.0, 10)), ("01", 100, np.linspace(0.1, 0.5, 10))):
        rows += [{"split": "train", "section": section, "score": scale * t, "severity": np.nan} for t in train]
        rows += [{"split": "test", "section": section, "score": scale * (1 + v), "severity": v} for v in severities]
    scores = pd.DataFrame(rows)
    scores["z_score"] = standardise(scores)
    assert np.allclose(scores.groupby("section")["z_score"].apply(lambda z: z[:21].mean()), 0)
    test = scores[scores["split"] == "test"].assign(system="disent", machine="fan", seed=0, label="anomaly")
    assert spearmanr(test["score"], test["severity"]).statistic < 0  # raw pooling ranks the sections
    rho = severity_correlation(test, n_resamples=50)
    assert rho.loc["fan", "rho"] == pytest.approx(1.0) and rho.loc["fan", "clips"] == 20


def _declared(machine: str, groups) -> pd.DataFrame:
    """A hand-made explanation table of one machine's disent clips: ``count`` clips per (seed, domain,
    label, decision, carrier, count) of ``groups``."""
    return pd.DataFrame([{"system": "disent", "machine": machine, "seed": s, "domain": d, "label": l, "decision": k,
                          "carrier": c} for s, d, l, k, c, n in groups for _ in range(n)])


def test_false_alarms_are_set_against_the_detected_anomalies():
    # fan: false alarms 80 % attribute-only (10 and 5 per seed), detected anomalies 20 % (20 and 10)
    fan = []
    for s, n in ((0, 2), (1, 1)):
        fan += [(s, "target", "normal", 1, "attribute", 4 * n), (s, "target", "normal", 1, "both", n),
                (s, "source", "anomaly", 1, "attribute", n), (s, "target", "anomaly", 1, "attribute", n),
                (s, "target", "anomaly", 1, "section", 8 * n),
                # neither false alarms nor detected anomalies: a source-domain alarm, clips not declared
                (s, "source", "normal", 1, "attribute", 9), (s, "target", "normal", 0, "attribute", 9),
                (s, "target", "anomaly", 0, "attribute", 9)]
    # ToyCar: no false alarm attribute-only, every detected anomaly attribute-only (10 of each per seed)
    toycar = [(s, "target", g, 1, c, 10) for s in (0, 1) for g, c in (("normal", "neither"), ("anomaly", "attribute"))]
    # valve: half of each group attribute-only
    valve = [(s, "target", g, 1, c, 5) for s in (0, 1) for g in ("normal", "anomaly") for c in ("attribute", "both")]
    disent = pd.concat([_declared("fan", fan), _declared("ToyCar", toycar), _declared("valve", valve)],
                       ignore_index=True)
    table = pd.concat([disent, disent.assign(system="mtl", carrier="attribute")], ignore_index=True)
    alarms = false_alarms(table, n_resamples=300)
    assert list(alarms.index) == ["ToyCar", "fan", "valve", "all machines"]
    fan = alarms.loc["fan"]
    assert fan["false alarms per seed"] == "10, 5" and fan["detected anomalies per seed"] == "20, 10"
    assert fan["false alarms: attribute only (%)"].startswith("80 ± ")
    assert fan["detected anomalies: attribute only (%)"].startswith("20 ± ")
    # both seeds give the same shares, and each seed's clips were resampled apart from the other's:
    # the interval is the t interval over seeds, of no width
    assert fan["difference"] == pytest.approx(0.6) and fan["low"] == pytest.approx(0.6, abs=0.01)
    assert fan["difference (points)"].startswith("+60 ± ")
    assert alarms.loc["ToyCar", "difference"] == pytest.approx(-1.0) and alarms.loc["ToyCar", "high"] < 0
    valve = alarms.loc["valve"]
    assert valve["difference"] == pytest.approx(0.0) and valve["low"] < 0 < valve["high"]
    pooled = alarms.loc["all machines"]  # per seed over the three machines: 13/30 - 19/40 and 9/25 - 17/30
    assert pooled["false alarms per seed"] == "30, 25" and pooled["detected anomalies per seed"] == "40, 30"
    assert pooled["difference"] == pytest.approx(((13 / 30 - 19 / 40) + (9 / 25 - 17 / 30)) / 2)


def test_type_accuracy_uses_dev_clips_only():
    # dev clips: the posterior tells the type; eval clips: it tells the opposite (were they pooled,
    # the posterior would tell nothing), and mtl alone has a posterior of a second key
    rng = np.random.default_rng(0)
    rows = []
    for section, start in (("00", 0), ("03", 40)):
        for i in range(40):
            kind = "A" if i % 2 else "B"
            tells = (kind == "A") == (section == "00")
            rows.append({"machine": "fan", "seed": 0, "label": "anomaly", "section": section, "anomaly_type": kind,
                         "name": f"clip{start + i}", "z_score": rng.normal(), "p:m-n": 0.9 if tells else 0.1})
    disent = pd.DataFrame(rows).assign(system="disent")
    mtl = disent.assign(system="mtl", **{"p:f-n": rng.uniform(size=len(disent))})
    accuracy = type_accuracy(pd.concat([disent, mtl], ignore_index=True), n_resamples=100)
    assert accuracy.loc["fan", "features"] == 2  # z_score and p:m-n, not mtl's own p:f-n
    assert accuracy.loc["fan", "disent"] == "100 ± 0" and accuracy.loc["fan", "mtl"] == "100 ± 0"
    assert accuracy.loc["fan", "chance"] == "50"


def test_asdlib_explain_prints_and_draws(study, tmp_path, capsys):
    run = seed_folder(study[0] / "disent" / "fan", 0)
    table = clip_table(run)
    name = table.loc[(table["split"] == "test") & (table["label"] == "anomaly"), "name"].iloc[0]
    assert cli(["explain", str(run), "--clip", name, "--out", str(tmp_path / "card.png")]) == 0
    out = capsys.readouterr().out
    assert name in out and "section space" in out and "attribute space" in out
    assert (tmp_path / "card.png").stat().st_size > 10_000
    hidden = table.loc[(table["split"] == "test") & (table["section"] == "03"), "name"].iloc[0]
    assert cli(["explain", str(run), "--clip", hidden]) == 0
    out = capsys.readouterr().out
    assert "no posterior to check" in out and "sounds like" not in out  # its ground-truth attributes are not read
    assert cli(["explain", str(run), "--clip", "nope.wav"]) == 2
    assert "no clip named 'nope.wav'" in capsys.readouterr().err
