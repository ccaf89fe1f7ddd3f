"""Official DCASE 2022 Task 2 metrics, threshold and result files (asdlib.metrics)."""
import re
import warnings

import numpy as np
import pandas as pd
import pytest
import scipy.stats
from sklearn.metrics import roc_auc_score

from asdlib.metrics import (
    EPS, decision_percentile, gamma_threshold, harmonic_mean, official_score, read_score_csv, roc_area,
    section_metrics, table2_summary, write_anomaly_scores, write_decision_results,
)
from asdlib.names import MACHINES


def _balanced_section(rng, per_cell=5):
    """y, domain of a section with ``per_cell`` clips per (domain, label), shuffled."""
    y = np.tile([0, 0, 1, 1], per_cell)
    d = np.tile([0, 1, 0, 1], per_cell)
    order = rng.permutation(len(y))
    return y[order], d[order]


def _mcclish_from_roc(y, s, max_fpr):
    """Standardised partial AUC from a hand-built ROC curve (McClish 1989), ties as one step."""
    y, s = np.asarray(y), np.asarray(s, dtype=float)
    n_pos, n_neg = (y == 1).sum(), (y == 0).sum()
    points = [(0.0, 0.0)]
    for t in np.unique(s)[::-1]:
        points.append((((s >= t) & (y == 0)).sum() / n_neg, ((s >= t) & (y == 1)).sum() / n_pos))
    area = 0.0
    for (f0, t0), (f1, t1) in zip(points, points[1:]):
        if f0 >= max_fpr:
            break
        if f1 > max_fpr:
            t_cut = t0 + (t1 - t0) * (max_fpr - f0) / (f1 - f0)
            area += (max_fpr - f0) * (t0 + t_cut) / 2
            break
        area += (f1 - f0) * (t0 + t1) / 2
    min_area, max_area = max_fpr ** 2 / 2, max_fpr
    return 0.5 * (1 + (area - min_area) / (max_area - min_area))


@pytest.mark.parametrize("max_fpr", [None, 0.1, 0.3])
def test_roc_area_is_sklearn_on_the_clips_repeated_by_their_weights(max_fpr):
    rng = np.random.default_rng(0)
    for _ in range(200):
        n = int(rng.integers(6, 40))
        scores = np.round(rng.normal(size=n), int(rng.integers(0, 3)))  # with ties
        positive = rng.random(n) < 0.5
        weights = rng.integers(0, 3, size=(4, n)).astype(float)
        got = roc_area(scores, positive, weights, max_fpr)
        for row, value in zip(weights, got):
            repeat = np.repeat(np.arange(n), row.astype(int))
            if positive[repeat].all() or not positive[repeat].any():
                continue
            assert value == pytest.approx(roc_auc_score(positive[repeat], scores[repeat], max_fpr=max_fpr), abs=1e-12)
        unweighted = roc_area(scores, positive, max_fpr=max_fpr)[0]
        if positive.any() and not positive.all():
            assert unweighted == pytest.approx(roc_auc_score(positive, scores, max_fpr=max_fpr), abs=1e-12)


def test_perfect_and_inverted_ranking():
    rng = np.random.default_rng(0)
    y, d = _balanced_section(rng)
    s = y + 0.1 * rng.random(len(y))
    assert section_metrics(y, s, d) == {"auc_source": 1.0, "auc_target": 1.0, "pauc": 1.0}
    inverted = section_metrics(y, -s, d)
    assert inverted["auc_source"] == 0.0 and inverted["auc_target"] == 0.0
    # McClish standardisation: zero partial area maps to 0.5 * (1 - 0.005 / 0.095) = 9/19, not 0.
    assert inverted["pauc"] == pytest.approx(9 / 19, abs=1e-12)


def test_auc_source_counts_anomalies_of_both_domains():
    # source normals 0.1, 0.2; source anomalies 0.9, 0.8; target anomalies 0.15, 0.05 (missed);
    # target normals 0.5, 0.6.
    s = np.array([0.1, 0.2, 0.9, 0.8, 0.15, 0.05, 0.5, 0.6])
    y = np.array([0, 0, 1, 1, 1, 1, 0, 0])
    d = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    got = section_metrics(y, s, d)
    wrong_rule = roc_auc_score(y[d == 0], s[d == 0])  # source anomalies only: not the official rule
    assert wrong_rule == 1.0
    assert got["auc_source"] == pytest.approx(5 / 8, abs=1e-12)  # pairs won: 2 + 2 + 1 + 0 of 8
    assert got["auc_target"] == pytest.approx(4 / 8, abs=1e-12)  # 2 + 2 + 0 + 0 of 8
    strings = np.where(d == 0, "source", "target")
    assert section_metrics(y, s, strings) == got


def test_pauc_hand_worked_example():
    # 20 normals (FPR steps of 0.05), 4 anomalies. Descending: A, N, A, N, A, A, then 18 normals.
    # ROC: (0,.25) (.05,.25) (.05,.5) (.1,.5) (.1,1); area up to FPR .1 = .05*.25 + .05*.5 = .0375;
    # McClish: 0.5 * (1 + (.0375 - .005) / (.1 - .005)) = 51/76.
    s = np.array([10, 9, 8, 7, 6, 5] + list(range(-18, 0)), dtype=float)
    y = np.array([1, 0, 1, 0, 1, 1] + [0] * 18)
    d = np.array([0, 0, 1, 1, 0, 1] + [0, 1] * 9)
    assert section_metrics(y, s, d)["pauc"] == pytest.approx(51 / 76, abs=1e-12)
    assert _mcclish_from_roc(y, s, 0.1) == pytest.approx(51 / 76, abs=1e-12)


@pytest.mark.parametrize("seed", range(4))
def test_pauc_equals_mcclish_from_roc_curve(seed):
    rng = np.random.default_rng(seed)
    y, d = _balanced_section(rng, per_cell=25)
    s = np.round(y * rng.uniform(0, 2) + rng.normal(size=len(y)), 1)  # rounding makes ties
    assert section_metrics(y, s, d)["pauc"] == pytest.approx(_mcclish_from_roc(y, s, 0.1), abs=1e-12)


@pytest.mark.parametrize("y, s, d, message", [
    ([0, 0, 0, 0], [1, 2, 3, 4], [0, 0, 1, 1], "no anomalous"),
    ([0, 1, 0, 1], [1, 2, 3, 4], [0, 0, 0, 1], "no normal target"),
    ([0, 1, 0, 1], [1, 2, 3, 4], [1, 0, 1, 1], "no normal source"),
    ([0, 1, 0, 2], [1, 2, 3, 4], [0, 0, 1, 1], "labels"),
    ([0, 1, 0, 1], [1, 2, np.nan, 4], [0, 0, 1, 1], "not finite"),
    ([0, 1, 0, 1], [1, 2, 3], [0, 0, 1, 1], "equal length"),
    ([0, 1, 0, 1], [1, 2, 3, 4], ["source", "src", "target", "target"], "source"),
])
def test_section_metrics_refuses_undefined_input(y, s, d, message):
    with pytest.raises(ValueError, match=message):
        section_metrics(y, s, d)


def test_harmonic_mean_floors_zero_at_epsilon():
    assert harmonic_mean([0.5, 1.0]) == pytest.approx(2 / 3, abs=1e-15)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        value = harmonic_mean([0.0, 0.9, 0.8])
    assert 0 < value < 1e-14
    assert value == pytest.approx(3 / (1 / EPS + 1 / 0.9 + 1 / 0.8), rel=1e-12)
    for bad in ([], [0.5, -0.1], [0.5, np.nan]):
        with pytest.raises(ValueError):
            harmonic_mean(bad)


def _random_results(rng):
    rows = [{"machine": m, "section": s, "auc_source": rng.uniform(0.4, 1.0),
             "auc_target": rng.uniform(0.4, 1.0), "pauc": rng.uniform(0.4, 1.0)}
            for m in MACHINES for s in ("03", "04", "05")]
    return pd.DataFrame(rows)


def test_official_score_is_harmonic_mean_of_63_values():
    df = _random_results(np.random.default_rng(1))
    values = np.concatenate([df.auc_source, df.auc_target, df.pauc])
    assert values.size == 63
    expected = scipy.stats.hmean(values)
    assert official_score(df) == pytest.approx(expected, rel=1e-13)
    assert official_score(df.to_dict("records")) == pytest.approx(expected, rel=1e-13)
    # arithmetic mean is always larger (values differ): catches a mean of the wrong kind
    assert official_score(df) < values.mean()
    df.loc[3, "pauc"] = 0.0
    score = official_score(df)
    assert 0 < score < 1e-12 and score == pytest.approx(63 / (1 / EPS + (1 / values).sum() - 1 / values[42 + 3]))


def test_table2_summary_hmeans_of_9_and_21_values():
    df = _random_results(np.random.default_rng(2))
    table = table2_summary(df)
    assert list(table.index) == [*MACHINES, "all"]
    assert list(table.columns) == ["auc_source", "auc_target", "pauc", "hmean"]
    for machine in MACHINES:
        part = df[df.machine == machine]
        nine = np.concatenate([part.auc_source, part.auc_target, part.pauc])
        assert nine.size == 9
        assert table.loc[machine, "hmean"] == pytest.approx(scipy.stats.hmean(nine), rel=1e-13)
        assert table.loc[machine, "auc_source"] == pytest.approx(scipy.stats.hmean(part.auc_source), rel=1e-13)
    for metric in ("auc_source", "auc_target", "pauc"):
        assert table.loc["all", metric] == pytest.approx(scipy.stats.hmean(df[metric]), rel=1e-13)
    assert table.loc["all", "hmean"] == official_score(df)
    with pytest.raises(ValueError, match="more than once"):
        table2_summary(pd.concat([df, df.iloc[:1]]))


@pytest.mark.parametrize("percentile", [0.6, 0.9])
def test_gamma_threshold_recovers_true_percentile(percentile):
    shape, loc, scale = 3.0, 0.2, 0.1
    samples = scipy.stats.gamma.rvs(shape, loc=loc, scale=scale, size=4000, random_state=3)
    true = scipy.stats.gamma.ppf(percentile, shape, loc=loc, scale=scale)
    got = gamma_threshold(samples, percentile)
    assert got == pytest.approx(true, rel=0.03)
    assert np.mean(samples > got) == pytest.approx(1 - percentile, abs=0.03)


def test_gamma_threshold_refuses_bad_input():
    with pytest.raises(ValueError, match="distinct"):
        gamma_threshold(np.ones(10))
    with pytest.raises(ValueError, match="percentile"):
        gamma_threshold(np.arange(10.0), 1.0)
    with pytest.raises(ValueError, match="finite"):
        gamma_threshold([1.0, np.inf, 2.0])


def test_decision_percentile_follows_paper():
    assert {m: decision_percentile(m) for m in MACHINES} == {
        "ToyCar": 0.9, "ToyTrain": 0.9, "bearing": 0.6, "fan": 0.6, "gearbox": 0.9,
        "slider": 0.9, "valve": 0.9}
    assert decision_percentile("ToyDrone") == decision_percentile("3DPrinter") == 0.9  # a later year's new machine
    with pytest.raises(ValueError, match="unknown machine"):
        decision_percentile("Fan")


def test_score_files_round_trip_exactly(tmp_path):
    rng = np.random.default_rng(4)
    names = [f"section_03_{i:04d}.wav" for i in range(40)]
    rng.shuffle(names)
    scores = np.concatenate([rng.normal(size=30) * 10.0 ** rng.integers(-300, 300, size=30),
                             rng.random(5).astype(np.float32),
                             [0.1 + 0.2, 1 / 3, 5e-324, -0.0, 1.7976931348623157e308]])
    path = write_anomaly_scores(tmp_path / "out", "ToyCar", 3, names, scores)
    assert path == tmp_path / "out" / "anomaly_score_ToyCar_section_03_test.csv"
    back = read_score_csv(path)
    assert list(back) == names
    assert all(back[n] == float(v) for n, v in zip(names, scores))
    lines = path.read_text().splitlines()
    assert len(lines) == 40 and lines[0] == f"{names[0]},{float(scores[0])!r}"
    # overwrite in place; no temporary file is left behind
    path2 = write_anomaly_scores(tmp_path / "out", "ToyCar", "03", names[:2], [1.0, 2.0])
    assert path2 == path and read_score_csv(path) == {names[0]: 1.0, names[1]: 2.0}
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [path.name]


def test_decision_files_round_trip(tmp_path):
    names = ["section_05_0001.wav", "section_05_0000.wav", "section_05_0002.wav"]
    path = write_decision_results(tmp_path, "fan", "05", names, np.array([True, False, True]))
    assert path.name == "decision_result_fan_section_05_test.csv"
    assert path.read_text() == "section_05_0001.wav,1\nsection_05_0000.wav,0\nsection_05_0002.wav,1\n"
    assert read_score_csv(path) == {names[0]: 1.0, names[1]: 0.0, names[2]: 1.0}
    with pytest.raises(ValueError, match="0 or 1"):
        write_decision_results(tmp_path, "fan", "05", names, [0, 1, 2])


@pytest.mark.parametrize("names, scores, message", [
    (["a.wav", "a.wav"], [1.0, 2.0], "twice"),
    (["a,b.wav"], [1.0], "base file name"),
    (["dir/a.wav"], [1.0], "base file name"),
    (["a.wav", "b.wav"], [1.0], "2 names"),
    (["a.wav"], [np.nan], "not finite"),
])
def test_writer_refuses_bad_rows(tmp_path, names, scores, message):
    with pytest.raises(ValueError, match=message):
        write_anomaly_scores(tmp_path, "valve", "00", names, scores)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ValueError, match="two digits"):
        write_anomaly_scores(tmp_path, "valve", "0", ["a.wav"], [1.0])


@pytest.mark.parametrize("text, line, message", [
    ("a.wav,0.5\nb.wav\n", 2, "expected 2 fields"),
    ("a.wav,0.5,1\n", 1, "expected 2 fields"),
    ("a.wav,0.5\n\nb.wav,1\n", 2, "blank line between rows"),
    ("filename,score\na.wav,0.5\n", 1, "no header"),
    ("a.wav,0.5\nb.wav,high\n", 2, "not a number"),
    ("a.wav,0.5\nb.wav,nan\n", 2, "not finite"),
    ("a.wav,0.5\nb.wav,-inf\n", 2, "not finite"),
    ("a.wav,0.5\nb.wav,1\na.wav,2\n", 3, "already given on line 1"),
    (",0.5\n", 1, "empty clip name"),
])
def test_read_score_csv_names_file_and_line(tmp_path, text, line, message):
    path = tmp_path / "anomaly_score_fan_section_00_test.csv"
    path.write_text(text)
    with pytest.raises(ValueError, match=re.escape(f"{path}, line {line}: ") + ".*" + message):
        read_score_csv(path)


def test_read_score_csv_refuses_empty_file(tmp_path):
    path = tmp_path / "anomaly_score_fan_section_00_test.csv"
    path.write_text("")
    with pytest.raises(ValueError, match=re.escape(str(path)) + ": no rows"):
        read_score_csv(path)



def test_labelled_section_metrics_skips_sections_without_labels():
    import pandas as pd

    from asdlib.metrics import labelled_section_metrics

    clips = pd.DataFrame({"section": ["00"] * 4 + ["03"] * 2,
                          "label": ["normal", "anomaly", "normal", "anomaly", None, None],
                          "domain": ["source", "source", "target", "target", None, None]})
    rows = labelled_section_metrics(clips, [0.1, 0.9, 0.2, 0.8, 0.5, 0.5])
    assert [r["section"] for r in rows] == ["00"]  # the anonymised section has no truth: left out
    assert rows[0]["auc_source"] == rows[0]["auc_target"] == 1.0
