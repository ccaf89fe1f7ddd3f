"""``asdlib evaluate``: evaluate_dir against an independent re-derivation of the official evaluator."""
import csv
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.stats
from sklearn.metrics import roc_auc_score

from asdlib.cli import main as cli
from asdlib.evaluate import evaluate_dir, summary_json
from asdlib.metrics import write_anomaly_scores, write_decision_results
from asdlib.names import format_clip_name, format_eval_test_name

EVAL_MACHINES = ("ToyCar", "fan", "valve")
DEV_MACHINES = ("bearing", "gearbox")
PER_CELL = 6  # clips per (domain, label) and section


def _write_truth(truth_dir, machine, section, names, labels, domains, rng):
    """The evaluator's two ground-truth files, rows in a random order."""
    order = rng.permutation(len(names))
    for sub, values in (("ground_truth_data", labels), ("ground_truth_domain", domains)):
        path = Path(truth_dir) / sub / f"ground_truth_{machine}_section_{section}_test.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(f"{names[i]},{values[i]}\n" for i in order))


def _make_set(tmp_path, style, seed=0):
    """Score files (+ decision files, a stray file) and ground truth for a small eval or dev set.

    Returns (scores_dir, truth_dir). For the dev style ``truth_dir`` is only for the reference
    below: evaluate_dir reads labels from the names there.
    """
    rng = np.random.default_rng(seed)
    scores_dir, truth_dir = tmp_path / f"{style}_scores", tmp_path / f"{style}_truth"
    machines, sections = (EVAL_MACHINES, ("03", "04", "05")) if style == "eval" else (DEV_MACHINES, ("00", "01", "02"))
    for machine in machines:
        for section in sections:
            labels = np.repeat([0, 0, 1, 1], PER_CELL)
            domains = np.repeat([0, 1, 0, 1], PER_CELL)
            perm = rng.permutation(len(labels))
            labels, domains = labels[perm], domains[perm]
            if style == "eval":
                names = [format_eval_test_name(section, i) for i in range(len(labels))]
            else:
                names = [format_clip_name(section, ("source", "target")[d], "test",
                                          ("normal", "anomaly")[y], i, {"vel": str(6 + i % 3)})
                         for i, (y, d) in enumerate(zip(labels, domains))]
            scores = labels * rng.uniform(0, 2) + domains * rng.uniform(-1, 1) + rng.normal(size=len(labels))
            scores = np.round(scores, 1)  # ties, as real systems produce now and then
            _write_truth(truth_dir, machine, section, names, labels, domains, rng)
            order = rng.permutation(len(names))
            write_anomaly_scores(scores_dir, machine, section, [names[i] for i in order], scores[order])
            write_decision_results(scores_dir, machine, section, names, rng.integers(0, 2, len(names)))
    (scores_dir / "notes.txt").write_text("not a score file\n")
    return scores_dir, truth_dir


def _reference(scores_dir, truth_dir):
    """The official evaluator's procedure, re-derived from its rules: sort each file's rows (by
    name), boolean masks per domain, sklearn AUC / pAUC, hmean of the epsilon-floored values."""
    def column(path):
        with open(path) as f:
            rows = sorted(csv.reader(f))
        return [r[0] for r in rows], np.array([float(r[1]) for r in rows])

    found, all_values = {}, {"s": [], "t": [], "p": []}
    for gt in sorted((Path(truth_dir) / "ground_truth_data").glob("ground_truth_*_section_*_test.csv")):
        machine, section = re.match(r"ground_truth_(.+)_section_(\d\d)_test\.csv", gt.name).groups()
        names_p, pred = column(Path(scores_dir) / f"anomaly_score_{machine}_section_{section}_test.csv")
        names_y, y = column(gt)
        names_d, dom = column(Path(truth_dir) / "ground_truth_domain" / gt.name)
        assert names_p == names_y == names_d
        auc = {}
        for code in (0, 1):
            keep = (dom == code) | (y != 0)
            auc[code] = roc_auc_score(y[keep], pred[keep])
        pauc = roc_auc_score(y, pred, max_fpr=0.1)
        found[(machine, section)] = (auc[0], auc[1], pauc)
        all_values["s"].append(auc[0])
        all_values["t"].append(auc[1])
        all_values["p"].append(pauc)
    flat = np.array(all_values["s"] + all_values["t"] + all_values["p"])
    return found, scipy.stats.hmean(np.maximum(flat, sys.float_info.epsilon))


def _evaluate(scores_dir, truth_dir=None):
    """evaluate_dir on the machines the folder holds files of (a subset of the seven)."""
    machines = sorted({p.name.split("_section_")[0][len("anomaly_score_"):]
                       for p in Path(scores_dir).glob("anomaly_score_*")})
    return evaluate_dir(scores_dir, truth_dir, machines=machines)


@pytest.mark.parametrize("style", ["eval", "dev"])
def test_evaluate_dir_matches_official_procedure(tmp_path, style):
    scores_dir, truth_dir = _make_set(tmp_path, style)
    df = _evaluate(scores_dir, truth_dir if style == "eval" else None)
    expected, expected_score = _reference(scores_dir, truth_dir)
    assert list(df.columns) == ["machine", "section", "n_clips", "auc_source", "auc_target", "pauc"]
    assert list(zip(df.machine, df.section)) == sorted(expected)
    assert (df.n_clips == 4 * PER_CELL).all()
    for row in df.itertuples():
        want = expected[(row.machine, row.section)]
        assert (row.auc_source, row.auc_target, row.pauc) == pytest.approx(want, abs=1e-9)
    assert summary_json(df)["score"] == pytest.approx(expected_score, abs=1e-9)  # 2-3 machines: not official
    # the sets are not degenerate: the metrics vary between sections
    assert df.auc_source.nunique() > 1 and df.pauc.between(0, 1).all()


def test_dev_names_with_truth_dir_agree(tmp_path):
    scores_dir, truth_dir = _make_set(tmp_path, "dev", seed=1)
    pd.testing.assert_frame_equal(_evaluate(scores_dir), _evaluate(scores_dir, truth_dir))


def test_cli_json_and_out(tmp_path, capsys):
    scores_dir, truth_dir = _make_set(tmp_path, "eval", seed=2)
    out_csv = tmp_path / "tables" / "sections.csv"
    assert cli(["evaluate", str(scores_dir), "--truth", str(truth_dir), "--json", "--out", str(out_csv),
                     "--machines", *EVAL_MACHINES]) == 0
    summary = json.loads(capsys.readouterr().out)  # stdout holds exactly one JSON object
    expected, expected_score = _reference(scores_dir, truth_dir)
    assert set(summary) == {"score", "machines", "sections"}  # three machines: not the official score
    assert summary["score"] == pytest.approx(expected_score, abs=1e-9)
    assert len(summary["sections"]) == len(expected) == 9
    for entry in summary["sections"]:
        assert set(entry) == {"machine", "section", "auc_source", "auc_target", "pauc"}
        assert re.fullmatch(r"\d\d", entry["section"])
        want = expected[(entry["machine"], entry["section"])]
        assert (entry["auc_source"], entry["auc_target"], entry["pauc"]) == pytest.approx(want, abs=1e-9)
    table = pd.read_csv(out_csv, dtype={"section": str})
    pd.testing.assert_frame_equal(table, _evaluate(scores_dir, truth_dir))


def test_cli_text_report(tmp_path, capsys):
    scores_dir, truth_dir = _make_set(tmp_path, "eval", seed=3)
    assert cli(["evaluate", str(scores_dir), "--truth", str(truth_dir), "--machines", *EVAL_MACHINES]) == 0
    text = capsys.readouterr().out
    _, expected_score = _reference(scores_dir, truth_dir)
    assert (f"score of ToyCar, fan, valve (harmonic mean of 27 values): {expected_score:.6f}; "
            "not the official score") in text
    for machine in EVAL_MACHINES:
        assert len(re.findall(rf"^{machine} +0[345] ", text, flags=re.M)) == 3
        assert len(re.findall(rf"^{machine} +hmean ", text, flags=re.M)) == 1


def test_a_subset_of_machines_only_when_asked(tmp_path):
    scores_dir, truth_dir = _make_set(tmp_path, "eval", seed=4)
    for path in scores_dir.glob("anomaly_score_valve_*"):
        path.unlink()
    df = evaluate_dir(scores_dir, truth_dir, machines=["ToyCar", "fan"])
    assert sorted(set(df.machine)) == ["ToyCar", "fan"] and len(df) == 6
    with pytest.raises(ValueError, match="no anomaly score files for ToyTrain, bearing, gearbox, slider, valve; "
                                         "an official score needs all seven machines"):
        evaluate_dir(scores_dir, truth_dir)
    with pytest.raises(ValueError, match="no anomaly score files for valve$"):
        evaluate_dir(scores_dir, truth_dir, machines=["fan", "valve"])


def test_error_missing_section(tmp_path):
    scores_dir, _ = _make_set(tmp_path, "dev")
    (scores_dir / "anomaly_score_gearbox_section_01_test.csv").unlink()
    with pytest.raises(ValueError, match="gearbox lacks section.s. 01 .anomaly_score_gearbox_section_01_test.csv"):
        _evaluate(scores_dir)


def test_error_unknown_machine_names_the_file(tmp_path):
    scores_dir, _ = _make_set(tmp_path, "dev")
    path = scores_dir / "anomaly_score_gearbox_section_01_test.csv"
    misspelt = path.with_name("anomaly_score_gearbx_section_01_test.csv")
    path.rename(misspelt)
    with pytest.raises(ValueError, match=re.escape(str(misspelt)) + ": unknown machine 'gearbx'"):
        evaluate_dir(scores_dir, machines=["gearbox", "bearing"])


def test_byte_order_mark_and_trailing_blank_line_are_read(tmp_path):
    scores_dir, truth_dir = _make_set(tmp_path, "eval", seed=5)
    before = _evaluate(scores_dir, truth_dir)
    path = scores_dir / "anomaly_score_fan_section_03_test.csv"
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes() + b"\n")
    pd.testing.assert_frame_equal(_evaluate(scores_dir, truth_dir), before)


def test_unwritable_out_is_named(tmp_path, capsys):
    scores_dir, truth_dir = _make_set(tmp_path, "eval", seed=6)
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert cli(["evaluate", str(scores_dir), "--truth", str(truth_dir), "--machines", *EVAL_MACHINES,
                "--out", str(blocker / "table.csv")]) == 2
    assert f"asdlib evaluate: error: --out {blocker / 'table.csv'}: cannot be written" in capsys.readouterr().err


def test_error_no_score_files(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "decision_result_fan_section_00_test.csv").write_text("a.wav,1\n")
    with pytest.raises(ValueError, match=re.escape(str(tmp_path / "empty")) + ".*no anomaly_score"):
        evaluate_dir(tmp_path / "empty")


def test_error_anonymised_names_without_truth(tmp_path):
    scores_dir, _ = _make_set(tmp_path, "eval")
    path = scores_dir / "anomaly_score_ToyCar_section_03_test.csv"
    with pytest.raises(ValueError, match=re.escape(str(path)) + ".*anonymised.*--truth"):
        _evaluate(scores_dir)


def test_error_score_file_without_truth(tmp_path):
    scores_dir, truth_dir = _make_set(tmp_path, "eval")
    for sub in ("ground_truth_data", "ground_truth_domain"):
        (truth_dir / sub / "ground_truth_fan_section_04_test.csv").unlink()
    path = scores_dir / "anomaly_score_fan_section_04_test.csv"
    with pytest.raises(ValueError, match=re.escape(str(path)) + ": score file without ground truth"):
        _evaluate(scores_dir, truth_dir)


def test_error_truth_data_without_domain(tmp_path):
    scores_dir, truth_dir = _make_set(tmp_path, "eval")
    lacking = truth_dir / "ground_truth_domain" / "ground_truth_fan_section_04_test.csv"
    lacking.unlink()
    with pytest.raises(ValueError, match=re.escape(str(lacking)) + " does not"):
        _evaluate(scores_dir, truth_dir)


def test_error_truth_without_score_file(tmp_path):
    scores_dir, truth_dir = _make_set(tmp_path, "eval")
    (scores_dir / "anomaly_score_valve_section_05_test.csv").unlink()
    with pytest.raises(ValueError, match="valve lacks section.s. 05"):
        _evaluate(scores_dir, truth_dir)


def _rewrite(path, keep=None, add=()):
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(lines[:keep]) + "".join(add))


def test_error_missing_and_extra_rows(tmp_path):
    scores_dir, truth_dir = _make_set(tmp_path, "eval")
    path = scores_dir / "anomaly_score_ToyCar_section_05_test.csv"
    dropped = path.read_text().splitlines()[-1].split(",")[0]
    _rewrite(path, keep=-1)
    with pytest.raises(ValueError, match=re.escape(str(path)) + rf".*missing 1 \({dropped}\)"):
        _evaluate(scores_dir, truth_dir)
    _rewrite(path, add=[f"{dropped},0.5\n", "section_05_0999.wav,0.1\n"])
    with pytest.raises(ValueError, match=re.escape(str(path)) + r".*not in the ground truth 1 \(section_05_0999.wav\)"):
        _evaluate(scores_dir, truth_dir)


def test_error_section_lacking_a_class(tmp_path):
    scores_dir, _ = _make_set(tmp_path, "dev")
    path = scores_dir / "anomaly_score_gearbox_section_01_test.csv"
    lines = [line for line in path.read_text().splitlines(keepends=True) if "_anomaly_" not in line]
    path.write_text("".join(lines))
    with pytest.raises(ValueError, match=re.escape(str(path)) + ": no anomalous clips"):
        _evaluate(scores_dir)


def test_error_dev_name_of_other_section(tmp_path):
    scores_dir, _ = _make_set(tmp_path, "dev")
    path = scores_dir / "anomaly_score_bearing_section_00_test.csv"
    _rewrite(path, add=["section_01_source_test_normal_0000_vel_6.wav,0.3\n"])
    with pytest.raises(ValueError, match=re.escape(str(path)) + ".*belongs to section 01"):
        _evaluate(scores_dir)


def test_error_malformed_score_row_names_line(tmp_path):
    scores_dir, truth_dir = _make_set(tmp_path, "eval")
    path = scores_dir / "anomaly_score_fan_section_03_test.csv"
    _rewrite(path, keep=2, add=["section_03_0100.wav,oops\n"])
    with pytest.raises(ValueError, match=re.escape(f"{path}, line 3: ")):
        _evaluate(scores_dir, truth_dir)


def test_import_pulls_no_torch():
    code = "import sys, asdlib.evaluate, asdlib.metrics; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_all_seven_machines_make_the_official_score():
    from asdlib.names import MACHINES

    rows = pd.DataFrame([{"machine": m, "section": s, "n_clips": 8, "auc_source": 0.6, "auc_target": 0.5,
                          "pauc": 0.55} for m in MACHINES for s in ("00", "01", "02")])
    assert set(summary_json(rows)) == {"official_score", "machines", "sections"}
    assert set(summary_json(rows[rows.machine != "fan"])) == {"score", "machines", "sections"}
