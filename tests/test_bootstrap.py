"""The bootstrap's metrics are the official ones, on resampled clips, and keep each stratum's counts."""
import numpy as np
import pytest

from asdlib.bootstrap import hmean, interval, section_metrics, stratified_weights
from asdlib.metrics import harmonic_mean
from asdlib.metrics import section_metrics as official_section_metrics


def test_unit_weights_give_the_official_section_metrics():
    rng = np.random.default_rng(1)
    anomalous = np.repeat([0, 1, 0, 1], 10).astype(bool)
    target = np.repeat([0, 0, 1, 1], 10).astype(bool)
    scores = rng.normal(size=40) + anomalous
    ours = section_metrics(scores, anomalous, target, np.ones((1, 40)))[0]
    official = official_section_metrics(anomalous.astype(int), scores, target.astype(int))
    assert ours == pytest.approx([official["auc_source"], official["auc_target"], official["pauc"]], abs=1e-12)


def test_stratified_resamples_keep_each_stratum_count():
    strata = np.array(["sn"] * 5 + ["sa"] * 3 + ["tn"] * 2)
    weights = stratified_weights(strata, 500, np.random.default_rng(2))
    assert weights.shape == (501, 10) and (weights[0] == 1).all()
    for value, count in (("sn", 5), ("sa", 3), ("tn", 2)):
        assert (weights[1:, strata == value].sum(axis=1) == count).all()
    assert weights[1:].std() > 0.5  # they do resample


def test_hmean_and_interval():
    values = np.array([[0.5, 0.8, 0.0], [0.6, 0.7, 0.9]])
    assert hmean(values)[1] == pytest.approx(harmonic_mean(values[1]))
    assert hmean(values)[0] == pytest.approx(harmonic_mean(values[0]))  # zero floored at EPS, as official
    draws = np.random.default_rng(3).normal(size=20000)
    low, high = interval(draws)
    assert low == pytest.approx(-1.96, abs=0.05) and high == pytest.approx(1.96, abs=0.05)
