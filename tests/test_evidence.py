"""The book's intervals, p-values and verdicts: what they are made of, and that they cover.

The coverage test simulates studies at the quick scale's shape (3 seeds, its test clips per
section) through the real :class:`asdlib.study.evidence.Evidence` (:mod:`asdlib.study.coverage`).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from asdlib.bootstrap import SeedClipSpread, seed_and_clip_interval
from asdlib.study.claims import ALPHA, CLAIMS, MARGIN, Claim, claims_table, holm, verdict
from asdlib.study.coverage import REGIMES, coverage, simulated_scores
from asdlib.study.evidence import Estimate, Evidence


def test_with_no_clip_spread_the_interval_is_the_t_interval_over_seeds():
    values = np.array([0.61, 0.58, 0.52])
    per_seed = np.repeat(values[:, None], 1 + 50, axis=1)  # the clip resamples change nothing
    spread = seed_and_clip_interval(per_seed)
    low, high = stats.t.interval(0.95, df=2, loc=values.mean(), scale=stats.sem(values))
    assert spread.clip_var == 0 and spread.bounds() == pytest.approx((low, high))
    assert spread.p_value() == pytest.approx(stats.ttest_1samp(values, 0).pvalue)


def test_the_clip_share_is_what_a_resample_does_to_every_seed_alike():
    rng = np.random.default_rng(0)
    common = rng.normal(0, 0.02, size=4000)       # a clip resample moves every seed alike
    own = rng.normal(0, 0.03, size=(3, 4000))     # ... and each seed by its own amount as well
    per_seed = np.column_stack([[0.6, 0.6, 0.6], 0.6 + common + own])
    spread = seed_and_clip_interval(per_seed)
    assert spread.seed_var == 0 and spread.half() == pytest.approx(stats.norm.ppf(0.975) * np.sqrt(spread.clip_var))
    assert spread.clip_var == pytest.approx(0.02 ** 2, rel=0.1)
    # one seed: its whole clip variance
    assert seed_and_clip_interval(per_seed[:1]).clip_var == pytest.approx(0.02 ** 2 + 0.03 ** 2, rel=0.1)


def _two_row_scores(seed=0, seeds=(0, 1, 2)):
    rng = np.random.default_rng(seed)
    frame = simulated_scores(rng, REGIMES[1], len(seeds), ("fan", "valve"), 10)
    return frame[frame["seed"].isin(seeds)]


def test_a_missing_seed_is_left_out_and_said():
    scores = _two_row_scores()
    full = Evidence(scores, n_resamples=50)
    lacking = Evidence(scores[~((scores["row"] == "B") & (scores["seed"] == 2))], n_resamples=50)
    cell = lacking.cell("B", "dev")
    assert cell.seeds == 2 and np.isfinite(cell.low) and np.isfinite(cell.high)
    per_seed = [full.cell("B", "dev").mean]  # the two seeds' mean, from a study of those seeds alone
    two = Evidence(scores[scores["seed"] < 2], n_resamples=50)
    assert cell.mean == pytest.approx(two.cell("B", "dev").mean) and cell.mean != pytest.approx(per_seed[0])
    difference = lacking.difference("A", "B", "dev")
    assert difference.seeds == 2
    assert difference.mean == pytest.approx(two.difference("A", "B", "dev").mean)


def test_a_difference_over_other_sections_is_an_error():
    scores = _two_row_scores()
    evidence = Evidence(scores[~((scores["row"] == "B") & (scores["section"] == "01") & (scores["machine"] == "fan"))],
                        n_resamples=20)
    with pytest.raises(ValueError, match="different dev sections.*fan 01"):
        evidence.difference("A", "B", "dev")


def test_holm_step_down():
    adjusted, level = holm([0.01, 0.04, 0.03, np.nan])
    assert adjusted[:3] == pytest.approx([0.03, 0.06, 0.06]) and np.isnan(adjusted[3])
    assert level[:3] == pytest.approx([ALPHA / 3, ALPHA / 1, ALPHA / 2]) and np.isnan(level[3])
    # Holm stops at the first claim it keeps: 0.04 alone would pass at ALPHA / 1, but 0.03 fails at ALPHA / 2
    adjusted, _ = holm([0.03, 0.04])
    assert adjusted == pytest.approx([0.06, 0.06])


def _estimate(mean, se):
    spread = SeedClipSpread(mean, 0.0, se ** 2, 3)
    return Estimate(mean, *spread.bounds(), np.empty(0), spread)


def test_verdicts_of_each_kind():
    gain, no_gain = Claim("x", "A", "B", "dev", "hmean"), Claim("y", "A", "B", "dev", "fan", 0)
    built = Claim("z", "A", "B", "dev", "hmean", by_construction="A was chosen on these clips")
    assert verdict(gain, _estimate(0.05, 0.01), 0.001, None) == "holds"
    assert verdict(Claim("x", "A", "B", "dev", "hmean", -1), _estimate(0.05, 0.01), 0.001, None) == "contradicted"
    assert verdict(gain, _estimate(0.05, 0.01), 0.2, None) == "not resolved"
    assert verdict(built, _estimate(0.05, 0.01), np.nan, None) == "by construction (not counted)"
    # no gain: holds only when the interval excludes a gain beyond the margin
    small = _estimate(0.0, 0.004)
    assert small.p_value(MARGIN, "less") < 0.001 and verdict(no_gain, small, 0.001, small.at_level(0.99)) == "holds"
    wide = _estimate(0.0, 0.03)
    assert verdict(no_gain, wide, wide.p_value(MARGIN, "less"), wide.at_level(0.99)) == "not resolved"
    large = _estimate(0.08, 0.01)
    assert verdict(no_gain, large, large.p_value(MARGIN, "less"), large.at_level(0.99)) == "contradicted"


def _claim_scores():
    """Every row a claim names, on fan and valve (dev and eval sections): each row a copy of simulated
    row B, the rows in ``BETTER`` with their anomalies' scores raised by far."""
    scores = _two_row_scores()
    b = scores[scores["row"] == "B"]
    b = pd.concat([b, b.assign(section=b["section"].map({"00": "03", "01": "04", "02": "05"}))], ignore_index=True)
    lift = 2.0 * (b["label"] == "anomaly")
    rows = {row for claim in CLAIMS for row in (claim.row_a, claim.row_b)}
    return pd.concat([b.assign(row=row, score=b["score"] + lift * (row in BETTER)) for row in rows], ignore_index=True)


BETTER = {"Sec_Softmax", "MSL (S1)", "Disent.Wt (S4)", "MSL+ANP (S2)"}


def test_claims_are_fixed_and_by_construction_ones_are_not_tested():
    empty = pd.DataFrame()
    scores = _claim_scores()
    table = claims_table(Evidence(scores, n_resamples=50), empty, empty)
    flipped = claims_table(Evidence(scores.assign(score=-scores["score"]), n_resamples=50), empty, empty)
    assert table["comparison"].tolist() == flipped["comparison"].tolist()  # pairs do not follow the numbers
    built = table["by construction"] != "no"
    assert set(table.loc[built, "verdict"]) == {"by construction (not counted)"}
    assert {"MSL (S1) − Disent.Cat (S3), hmean (dev)", "Disent.Wt (S4) − Disent.Sec, hmean (dev)"} <= set(
        table.loc[built, "comparison"])
    # machines absent from this study are "not in this build"; every other claim is tested
    absent = table["comparison"].str.contains("ToyCar|ToyTrain|bearing|gearbox|slider")
    assert (table.loc[absent, "verdict"] == "not in this build").all()
    assert (table.loc[built | absent, "Holm p"] == "-").all() and (table.loc[~built & ~absent, "Holm p"] != "-").all()
    verdicts = table.set_index("comparison")["verdict"]
    assert verdicts["Sec_Softmax − AE Baseline, hmean (dev)"] == "holds"             # far better, as claimed
    assert verdicts["MTL − Sec_Softmax, hmean (dev)"] == "holds"                      # far worse, as claimed
    assert verdicts["Disent.Cat (S3) − MSL (S1), score (eval)"] == "contradicted"      # far worse, claimed better
    assert verdicts["Disent.Cat (S3) − Sec_Softmax, fan (dev)"] == "holds"             # "no gain": a far loss
    assert verdicts["Disent.Cat (S3) − MTL, hmean (dev)"] == "not resolved"            # the same scores


def test_intervals_cover_at_the_quick_shape():
    """Nominal 95 %: at least 93 % of 600 simulated studies (one machine, 3 seeds, the quick scale's
    40 dev test clips per section, seeds dominating the spread) hold the truth; the estimate's
    standard error is about 0.9 points, so a method covering 95 % fails this with probability
    about 1 %. The earlier percentile bootstrap over seeds covers less in the same trials."""
    result = coverage("quick", regimes=REGIMES[2:], trials=600, truth_trials=300, machines=("fan",),
                      n_resamples=100, seed=1, progress=False)
    assert (result["covered"] >= 0.93).all(), result[["quantity", "covered", "se"]]
    assert (result["se"] < 0.011).all()
    assert (result["percentile covered"] < result["covered"]).all()


def test_tuning_gains_set_each_tuned_row_against_its_reference():
    from asdlib.study.claims import tuning_gains

    scores = _claim_scores()
    extra = scores[scores["row"] == "Disent.Cat (S3)"]
    scores = pd.concat([scores, extra.assign(row="Disent.Wt (0.5/0.5)"),
                        extra.assign(row="Adversarial", score=extra["score"] + 3.0 * (extra["label"] == "anomaly"))],
                       ignore_index=True)
    evidence = Evidence(scores, n_resamples=50)
    gains = tuning_gains(evidence)
    # MSL's reference is the single system with the best dev score: here Adversarial, by far
    assert gains.loc["MSL (S1)", "reference"] == "Adversarial"
    assert gains.loc["Disent.Wt (S4)", "reference"] == "Disent.Wt (0.5/0.5)"
    assert gains.loc["MSL+ANP (S2)", "reference"] == "MSL (S1)"
    for tuned, reference in gains["reference"].items():
        for which in ("dev", "eval"):
            assert gains.loc[tuned, f"{which} mean"] == pytest.approx(evidence.difference(tuned, reference, which).mean)
    assert gains.loc["MSL (S1)", "eval mean"] < 0 and gains.loc["Disent.Wt (S4)", "eval mean"] > 0
    assert list(gains.columns[:3]) == ["reference", "dev gain (by construction)", "dev mean"]


def test_a_claim_whose_rows_cover_other_sections_is_not_in_this_build():
    empty = pd.DataFrame()
    scores = _claim_scores()
    lacking = scores[~((scores["row"] == "AE Baseline") & (scores["machine"] == "valve"))]
    table = claims_table(Evidence(lacking, n_resamples=20), empty, empty).set_index("comparison")
    row = table.loc["Sec_Softmax − AE Baseline, hmean (dev)"]
    assert row["verdict"].startswith("not in this build (the two rows were scored on different sections")
    assert row["Holm p"] == "-"


def test_room_table_sets_the_systems_beside_the_ladder():
    from asdlib.study.room import LADDER_ROWS, room_table

    scores = _two_row_scores()
    evidence = Evidence(scores, n_resamples=50)
    steps = pd.DataFrame({"section_probe": [0.6, 0.5, 0.55], "floor": [0.52, 0.48, 0.5],
                          "frame_stats": [0.61, 0.7, 0.65], "ceiling": [0.9, 0.86, 0.88]},
                         index=pd.Index(["fan", "valve", "all"], name="machine"))
    table = room_table(evidence, steps, ["B", "A", "not run"])
    assert list(table.columns) == ["fan", "valve", "all"]
    assert list(table.index) == [*LADDER_ROWS.values(), "B", "A"]   # the rows asked for, in that order
    assert table.loc[LADDER_ROWS["ceiling"], "valve"] == "86.0"
    steps["ceiling ±"] = [0.03, 0.021, 0.02]
    assert room_table(evidence, steps, ["A"]).loc[LADDER_ROWS["ceiling"], "valve"] == "86.0 ± 2.1"
    assert table.loc["A", "fan"] == evidence.cell("A", "dev", ["fan"]).text()
    assert table.loc["A", "all"] == evidence.cell("A", "dev").text() != table.loc["A", "fan"]


def test_more_test_clips_shrink_only_the_clips_share_as_one_over_n():
    from asdlib.study.precision import precision_table, projected_half

    # the law the projection rests on, measured through the real resampling: four times the clips of
    # each section leave at most a quarter of the clips' variance (clips only: every seed scores the
    # clips alike; at these sizes it falls faster than one over n, about 6x, so the projection is generous)
    rng = np.random.default_rng(3)
    shares = {n: np.mean([Evidence(simulated_scores(rng, REGIMES[0], 3, ("fan",), n), n_resamples=200)
                          .cell("A", "dev").spread.clip_var for _ in range(6)]) for n in (10, 40)}
    assert shares[10] / shares[40] > 4.0 * 0.9

    estimate = _estimate(0.6, 0.02)
    clips_only = Estimate(0.6, 0.55, 0.65, np.empty(0), SeedClipSpread(0.6, 0.0, 0.02 ** 2, 3))
    assert projected_half(clips_only, 40, 160) == pytest.approx(clips_only.spread.half() / 2)
    seeds_only = Estimate(0.6, 0.5, 0.7, np.empty(0), SeedClipSpread(0.6, 0.02 ** 2, 0.0, 3))
    assert projected_half(seeds_only, 40, 200) == pytest.approx(seeds_only.spread.half())
    assert projected_half(estimate, 40, 40) == pytest.approx(estimate.spread.half())
    with pytest.raises(ValueError, match="positive"):
        projected_half(estimate, 0, 200)

    evidence = Evidence(_two_row_scores(), n_resamples=50)
    table = precision_table(evidence, ["A", "B", "not run"], now=10, then=200)
    assert list(table.index) == ["A", "B", "median"]
    shares = table[["seeds' share (%)", "clips' share (%)"]].loc[["A", "B"]].sum(axis=1)
    assert shares.to_numpy() == pytest.approx([100.0, 100.0])
    assert (table["± then"] <= table["± now"] + 1e-12).all()
    assert table.loc["A", "± now"] == pytest.approx(100 * evidence.cell("A", "dev").half)
    assert table.loc["A", "score"] == evidence.cell("A", "dev").text()
