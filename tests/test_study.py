"""Tables 2-4 are built from the runs' summary files exactly as the paper defines them."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy.stats import hmean

from asdlib.study import (beside, collect, load_study, model_selection, paper_numbers, table2, table3,
                          tuning_gains)


def _summary(path, system, mode, machine, values):
    """values: section -> (auc_source, auc_target, pauc)."""
    sections = [{"section": s, "auc_source": a, "auc_target": b, "pauc": c} for s, (a, b, c) in values.items()]
    path = path / system / machine / "results" / mode / "summary.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"system": system, "mode": mode, "machine": machine, "sections": sections,
                                "checkpoint": {"rule": "last", "epoch": 4}}))


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
    assert set(results["row"]) == {"Disent.Cat", "Disent.Sec", "MTL"}
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
    assert list(t2.index) == ["Disent.Cat", "Disent.Sec", "MTL"]  # the paper's row order


def test_table3_uses_only_the_eval_sections(study):
    results = collect(study)
    t3 = table3(results)
    ev = results[(results["set"] == "eval") & (results["row"] == "Disent.Cat") & (results["machine"] == "valve")]
    assert t3.loc["Disent.Cat", "valve AUC"] == pytest.approx(hmean(np.r_[ev["auc_source"], ev["auc_target"]]))
    assert t3.loc["Disent.Cat", "valve pAUC"] == pytest.approx(hmean(ev["pauc"]))


def test_msl_picks_the_best_dev_system_per_machine_and_gains_are_against_one_system(study):
    results, choices = load_study(study)
    dev = results[results["set"] == "dev"]
    for machine in ("fan", "valve"):
        scores = {row: hmean(part[["auc_source", "auc_target", "pauc"]].to_numpy().ravel())
                  for row, part in dev[dev["machine"] == machine].groupby("row") if row != "MSL"}
        assert choices.loc[machine, "MSL"] == max(scores, key=scores.get)
    assert model_selection(collect(study)).loc["fan", "chosen"] == choices.loc["fan", "MSL"]
    gains = tuning_gains(results)
    assert gains.loc["MSL", "dev gain"] >= 0  # chosen on dev: never worse than any one system there


def test_paper_numbers_sit_beside_ours(tmp_path, study):
    csv = tmp_path / "paper.csv"
    csv.write_text("# comment\ntable,row,column,value,source\ntable2,MTL,fan,0.7,Table 2\n"
                   "table4,MSL,fan,Sec_ArcFace,Table 4\n")
    here = table2(collect(study))
    shown = beside(here, paper_numbers(csv, "table2"))
    assert shown.loc["MTL", "fan"] == f"{here.loc['MTL', 'fan']:.3f} (0.700)"
    assert shown.loc["MTL", "valve"].endswith("(-)")
    assert paper_numbers(csv, "table4").loc["MSL", "fan"] == "Sec_ArcFace"
    assert isinstance(beside(here, pd.DataFrame()).loc["MTL", "fan"], float)  # no paper numbers: ours only
