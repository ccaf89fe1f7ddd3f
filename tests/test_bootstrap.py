"""The bootstrap resamples clips within each stratum and reads intervals off its draws."""
import numpy as np
import pytest

from asdlib.bootstrap import interval, stratified_weights
from asdlib.metrics import hmean, section_metrics, weighted_section_metrics


def test_weighted_metrics_equal_the_official_ones_on_the_clips_repeated_by_their_weights():
    """A resample with integer weights is the official section metrics of a list that holds each clip
    as often as its weight says (ties between repeated clips included)."""
    rng = np.random.default_rng(1)
    anomalous = np.repeat([0, 1, 0, 1], 10).astype(bool)
    target = np.repeat([0, 0, 1, 1], 10).astype(bool)
    scores = np.round(rng.normal(size=40) + anomalous, 1)  # rounded: tied scores too
    weights = stratified_weights(target.astype(int) * 2 + anomalous, 20, rng)
    ours = weighted_section_metrics(scores, anomalous, target, weights)
    for row, w in zip(ours, weights.astype(int)):
        repeated = np.repeat(np.arange(40), w)
        official = section_metrics(anomalous[repeated].astype(int), scores[repeated], target[repeated].astype(int))
        assert row == pytest.approx([official["auc_source"], official["auc_target"], official["pauc"]], abs=1e-12)


def test_stratified_resamples_keep_each_stratum_count():
    strata = np.array(["sn"] * 5 + ["sa"] * 3 + ["tn"] * 2)
    weights = stratified_weights(strata, 500, np.random.default_rng(2))
    assert weights.shape == (501, 10) and (weights[0] == 1).all()
    for value, count in (("sn", 5), ("sa", 3), ("tn", 2)):
        assert (weights[1:, strata == value].sum(axis=1) == count).all()
    assert weights[1:].std() > 0.5  # they do resample


def test_hmean_and_interval():
    values = np.array([[0.5, 0.8, 0.0], [0.6, 0.7, 0.9]])
    assert hmean(values)[1] == pytest.approx(3 / (1 / 0.6 + 1 / 0.7 + 1 / 0.9), rel=1e-15)
    assert 0 < hmean(values)[0] < 1e-15  # zero floored at EPS, as official
    draws = np.random.default_rng(3).normal(size=20000)
    low, high = interval(draws)
    assert low == pytest.approx(-1.96, abs=0.05) and high == pytest.approx(1.96, abs=0.05)
