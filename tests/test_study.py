"""Tables 2-4, intervals and claims are built from the runs' files exactly as the paper and the book define them."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import study_clips, write_scored_run
from scipy.stats import hmean

from asdlib.metrics import section_metrics
from asdlib.study.evidence import Evidence, table2, table3
from asdlib.study.load import load_study
from asdlib.study.paper import beside, paper_against_here, paper_msl_consistency, paper_numbers
from asdlib.study.rows import MSL
from asdlib.study.runs import collect_scores

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def study(tmp_path):
    """fan and valve, two seeds; Disent.Cat separates anomalies better than MTL, Disent.Sec in between."""
    rng = np.random.default_rng(0)
    for machine in ("fan", "valve"):
        clips = study_clips(machine)
        anomalous = (clips["label"] == "anomaly").to_numpy()
        for seed in (0, 1):
            def noisy(strength):
                return strength * anomalous + rng.normal(size=len(clips))
            write_scored_run(tmp_path, "disent", machine, seed, {"last": {"cat": noisy(2.0), "sec": noisy(1.0)}}, clips)
            write_scored_run(tmp_path, "mtl", machine, seed, {"last": {"mtl": noisy(0.5)}}, clips)
    return tmp_path


def test_collect_scores_reads_every_clip_of_every_row_and_seed(study):
    scores = collect_scores(study)
    assert set(scores["row"]) == {"Disent.Cat (S3)", "Disent.Sec", "MTL"}
    assert len(scores) == 3 * 2 * 2 * 6 * 12 and set(scores["seed"]) == {0, 1}


def _official(frame):
    values = []
    for _, part in frame.groupby(["machine", "section"]):
        m = section_metrics((part["label"] == "anomaly").astype(int), part["score"], part["domain"])
        values += list(m.values())
    return hmean(values)


def test_table_cells_are_means_over_seeds_of_harmonic_means(study):
    scores = collect_scores(study)
    means, halves = table2(Evidence(scores, n_resamples=50))
    test = scores[(scores["split"] == "test") & (scores["row"] == "MTL")]
    dev = test[test["section"].astype(int) < 3]
    fan = np.mean([_official(dev[(dev["seed"] == s) & (dev["machine"] == "fan")]) for s in (0, 1)])
    assert means.loc["MTL", "fan"] == pytest.approx(fan, abs=1e-12)
    overall = np.mean([_official(dev[dev["seed"] == s]) for s in (0, 1)])
    assert means.loc["MTL", "hmean"] == pytest.approx(overall, abs=1e-12)
    assert list(means.index) == ["Disent.Cat (S3)", "Disent.Sec", "MTL"]  # the paper's row order
    assert (halves > 0).all().all()
    ev_means, _ = table3(Evidence(scores, n_resamples=50))
    ev = test[(test["section"].astype(int) >= 3) & (test["machine"] == "valve")]
    per_seed = []
    for s in (0, 1):
        part = ev[ev["seed"] == s]
        aucs = []
        for _, sec in part.groupby("section"):
            m = section_metrics((sec["label"] == "anomaly").astype(int), sec["score"], sec["domain"])
            aucs += [m["auc_source"], m["auc_target"]]
        per_seed.append(hmean(aucs))
    assert ev_means.loc["MTL", "valve AUC"] == pytest.approx(np.mean(per_seed), abs=1e-12)


def test_paired_differences_and_intervals(study):
    evidence = Evidence(collect_scores(study), n_resamples=300)
    better = evidence.difference("Disent.Cat (S3)", "MTL", "dev")
    assert better.mean > 0 and better.low < better.mean < better.high and better.seeds == 2
    assert better.mean == pytest.approx(evidence.cell("Disent.Cat (S3)", "dev").mean - evidence.cell("MTL", "dev").mean)
    # the difference's seed spread is that of the per-seed differences
    per_seed = evidence.seed_values("Disent.Cat (S3)", "dev") - evidence.seed_values("MTL", "dev")
    assert better.spread.seed_var == pytest.approx(per_seed.var(ddof=1) / 2)


def test_msl_is_chosen_per_seed_on_dev(study):
    loaded = load_study(study, n_resamples=20)
    test = loaded.scores[(loaded.scores["split"] == "test")]
    for (seed, machine), choice in loaded.choices[MSL].items():
        part = test[(test["seed"] == seed) & (test["machine"] == machine) & (test["section"].astype(int) < 3)]
        dev = {row: _official(p) for row, p in part.groupby("row") if row != MSL}
        assert choice == max(dev, key=dev.get)
        msl = part[part["row"] == MSL].sort_values("name")["score"].to_numpy()
        assert np.array_equal(msl, part[part["row"] == choice].sort_values("name")["score"].to_numpy())


def test_paper_numbers_sit_beside_ours_in_percent(tmp_path):
    csv = tmp_path / "paper.csv"
    csv.write_text("# comment\ntable,row,column,value,source\ntable2,MTL,fan,70.5,Table 2\n"
                   "table2,Top rank,fan,80.0,Table 3\ntable4,MSL (S1),fan,ArcFace,Table 4\n")
    means = pd.DataFrame({"fan": [0.61234], "valve": [0.5]}, index=["MTL"])
    halves = pd.DataFrame({"fan": [0.0123], "valve": [0.02]}, index=["MTL"])
    shown = beside(means, halves, paper_numbers(csv, "table2"))
    assert shown.loc["MTL", "fan"] == "61.2 ± 1.2 (70.50)"
    assert shown.loc["MTL", "valve"] == "50.0 ± 2.0 (-)"
    assert shown.loc["Top rank", "fan"] == "- (80.00)"  # a paper-only row is shown too
    assert paper_numbers(csv, "table4").loc[MSL, "fan"] == "ArcFace"


def test_the_project_holds_every_published_cell():
    """asdlib/paper_results.csv is the shared transcription of the paper's Tables 2-4, unaltered."""
    ours = REPO / "asdlib" / "paper_results.csv"
    shared = REPO.parent / "shared" / "paper" / "tables.csv"
    if shared.is_file():
        assert ours.read_text() == shared.read_text()
    cells = pd.read_csv(ours, comment="#")
    assert cells.groupby("table").size().to_dict() == {"table2": 132, "table3": 105, "table4": 35}
    assert paper_numbers(ours, "table2").loc["Sec_ArcFace", "AUC (S)"] == 86.50


def test_the_paper_msl_choices_are_checked_against_its_own_table2():
    paper = REPO / "asdlib" / "paper_results.csv"
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


def test_training_curves_read_the_logs_and_score_every_checkpoint_on_dev(tmp_path):
    from asdlib.metrics import official_score
    from asdlib.study.curves import dev_score_by_checkpoint, section_accuracy, summary

    clips = study_clips("fan")
    anomalous = (clips["label"] == "anomaly").to_numpy()
    rng = np.random.default_rng(1)
    for seed in (0, 1):
        run = write_scored_run(tmp_path, "disent", "fan", seed, {"last": {"cat": anomalous + 0.0}}, clips)
        pd.DataFrame({"epoch": [1, 2, 3, 4], "loss": 1.0, "section_acc": [0.2, 0.4, 0.6, 0.8 + 0.1 * seed]}).to_csv(
            run / "train_log.csv", index=False)
        early, late = rng.normal(size=len(clips)), anomalous + 0.1 * rng.normal(size=len(clips))
        np.savez(run / "scored" / "epoch_scores.npz", epochs=np.array([2, 4]), cat=np.stack([early, late]),
                 **{"att:x": np.stack([early, late])})   # a mode no row of the tables has: left out
    accuracy, scores = section_accuracy(tmp_path), dev_score_by_checkpoint(tmp_path)
    assert len(accuracy) == 8 and set(scores["row"]) == {"Disent.Cat (S3)"} and len(scores) == 4
    dev = clips[(clips["split"] == "test") & (clips["section"].astype(int) < 3)]
    late_seed1 = np.load(tmp_path / "disent/fan/seed1/scored/epoch_scores.npz")["cat"][1]
    expected = official_score([section_metrics((p["label"] == "anomaly").astype(int), late_seed1[p.index], p["domain"])
                               for _, p in dev.groupby("section")])
    got = scores[(scores["seed"] == 1) & (scores["epoch"] == 4)]["official"].item()
    assert got == pytest.approx(expected) and got > 0.9   # the late checkpoint separates the anomalies
    acc, by_checkpoint = summary(accuracy, scores)
    assert acc.loc["disent", 4] == pytest.approx(0.85) and list(by_checkpoint.columns) == [2, 4]
    assert by_checkpoint.loc["Disent.Cat (S3)", 4] > by_checkpoint.loc["Disent.Cat (S3)", 2]
