"""Tables 2-4 are built from the runs' summary files exactly as the paper defines them."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy.stats import hmean

from pathlib import Path

from asdlib.study import (MSL, beside, collect, load_study, model_selection, paper_against_here,
                          paper_msl_consistency, paper_numbers, table2, table3, tuning_gains)

REPO = Path(__file__).resolve().parents[1]


def _summary(path, system, mode, machine, values):
    """values: section -> (auc_source, auc_target, pauc)."""
    sections = [{"section": s, "auc_source": a, "auc_target": b, "pauc": c} for s, (a, b, c) in values.items()]
    path = path / system / machine / "results" / "last" / mode / "summary.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"system": system, "mode": mode, "machine": machine, "sections": sections,
                                "checkpoint": {"rule": "last", "epoch": 4}, "config": {"seed": 0}}))


@pytest.fixture
def study(tmp_path):
    rng = np.random.default_rng(0)
    for machine in ("fan", "valve"):
        for system, mode in [("disent", "cat"), ("disent", "sec"), ("mtl", "mtl"), ("disent_split", "attr:pat")]:
            values = {f"{s:02d}": tuple(rng.uniform(0.5, 0.9, 3)) for s in range(6)}
            _summary(tmp_path, system, mode, machine, values)
    return tmp_path


def test_collect_keeps_the_paper_rows(study):
    results = collect(study)
    assert set(results["row"]) == {"Disent.Cat (S3)", "Disent.Sec", "MTL"}
    assert "disent_split:attr:pat" in set(collect(study, every_mode=True)["row"])
    assert set(results["set"]) == {"dev", "eval"} and len(results) == 3 * 2 * 6


def test_table2_is_the_harmonic_mean_of_9_and_21_and_63_values(study):
    results = collect(study)
    t2 = table2(results)
    dev = results[(results["set"] == "dev") & (results["row"] == "MTL")]
    fan = dev[dev["machine"] == "fan"][["auc_source", "auc_target", "pauc"]].to_numpy().ravel()
    assert len(fan) == 9 and t2.loc["MTL", "fan"] == pytest.approx(hmean(fan), abs=1e-12)
    assert t2.loc["MTL", "AUC (T)"] == pytest.approx(hmean(dev["auc_target"]), abs=1e-12)
    every = dev[["auc_source", "auc_target", "pauc"]].to_numpy().ravel()
    assert t2.loc["MTL", "hmean"] == pytest.approx(hmean(every), abs=1e-12)
    assert list(t2.index) == ["Disent.Cat (S3)", "Disent.Sec", "MTL"]  # the paper's row order


def test_table3_uses_only_the_eval_sections(study):
    results = collect(study)
    t3 = table3(results)
    ev = results[(results["set"] == "eval") & (results["row"] == "Disent.Cat (S3)") & (results["machine"] == "valve")]
    assert t3.loc["Disent.Cat (S3)", "valve AUC"] == pytest.approx(hmean(np.r_[ev["auc_source"], ev["auc_target"]]))
    assert t3.loc["Disent.Cat (S3)", "valve pAUC"] == pytest.approx(hmean(ev["pauc"]))


def test_msl_picks_the_best_dev_system_per_machine(study):
    results, choices = load_study(study)
    dev = results[results["set"] == "dev"]
    for machine in ("fan", "valve"):
        scores = {row: hmean(part[["auc_source", "auc_target", "pauc"]].to_numpy().ravel())
                  for row, part in dev[dev["machine"] == machine].groupby("row") if row != MSL}
        assert choices.loc[machine, MSL] == max(scores, key=scores.get)
        msl = results[(results["row"] == MSL) & (results["machine"] == machine)]
        chosen = results[(results["row"] == choices.loc[machine, MSL]) & (results["machine"] == machine)]
        assert msl["auc_target"].tolist() == chosen["auc_target"].tolist()  # MSL's rows are the chosen system's
    assert model_selection(collect(study)).to_dict() == choices[MSL].to_dict()
    gains = tuning_gains(results)
    single = {row: hmean(dev[dev["row"] == row][["auc_source", "auc_target", "pauc"]].to_numpy().ravel())
              for row in ("Disent.Cat (S3)", "Disent.Sec", "MTL")}
    assert gains.loc[MSL, "reference"] == max(single, key=single.get)


def test_paper_numbers_sit_beside_ours_in_percent(tmp_path, study):
    csv = tmp_path / "paper.csv"
    csv.write_text("# comment\ntable,row,column,value,source\ntable2,MTL,fan,70.5,Table 2\n"
                   "table2,Top rank,fan,80.0,Table 3\ntable4,MSL (S1),fan,ArcFace,Table 4\n")
    here = table2(collect(study))
    shown = beside(here, paper_numbers(csv, "table2"))
    assert shown.loc["MTL", "fan"] == f"{100 * here.loc['MTL', 'fan']:.2f} (70.50)"
    assert shown.loc["MTL", "valve"].endswith("(-)")
    assert shown.loc["Top rank", "fan"] == "- (80.00)"  # a paper-only row is shown too
    assert paper_numbers(csv, "table4").loc[MSL, "fan"] == "ArcFace"


def test_the_project_holds_every_published_cell():
    """book/paper_results.csv is the shared transcription of the paper's Tables 2-4, unaltered."""
    ours = REPO / "book" / "paper_results.csv"
    shared = REPO.parent / "shared" / "paper" / "tables.csv"
    if shared.is_file():
        assert ours.read_text() == shared.read_text()
    cells = pd.read_csv(ours, comment="#")
    assert cells.groupby("table").size().to_dict() == {"table2": 132, "table3": 105, "table4": 35}
    assert paper_numbers(ours, "table2").loc["Sec_ArcFace", "AUC (S)"] == 86.50


def test_the_paper_msl_choices_are_checked_against_its_own_table2():
    paper = REPO / "book" / "paper_results.csv"
    check = paper_msl_consistency(paper_numbers(paper, "table2"), paper_numbers(paper, "table4"))
    assert check["follows from Table 2"].to_dict() == {
        "ToyCar": "no", "ToyTrain": "no", "slider": "no", "bearing": "yes", "fan": "yes",
        "gearbox": "not checkable", "valve": "not checkable"}
    assert check.loc["ToyCar", "best single system in Table 2"] == "Disent.Sec"
    assert check.loc["ToyCar", "best value"] == 76.84 and check.loc["ToyCar", "its Table 2 value"] == 76.43
    assert check.loc["ToyTrain", "best single system in Table 2"] == "Disent.Att"
    assert check.loc["slider", "best single system in Table 2"] == "Sec_Softmax"


def test_kendall_tau_of_the_overall_scores():
    here = pd.Series({"A": 0.6, "B": 0.5, "C": 0.7, "D": 0.55})
    paper = pd.Series({"A": 70.0, "B": 60.0, "C": 80.0, "E": 50.0})
    both, tau, _ = paper_against_here(here, paper)
    assert list(both.index) == ["A", "B", "C"] and tau == pytest.approx(1.0)
    both, tau, _ = paper_against_here(-here, paper)
    assert tau == pytest.approx(-1.0)
