"""DCASE 2023, 2024 and 2025 data: names, layouts, year detection and the official score as each
year's evaluator computes it (reference outputs in tests/data/evaluators/, made once by the evaluators)."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from asdlib.cli import main as cli
from asdlib.data import audio_problems, detect_year, find_problems, index_dataset
from asdlib.evaluate import evaluate_dir, is_official
from asdlib.metrics import official_score
from asdlib.names import (ClipNameError, format_clip_name, format_eval_test_name, machines, parse_clip_name,
                          sections)

from conftest import write_wav
from evaluator_fixtures import FIXTURE_MACHINES, read_evaluator_result, write_inputs

REFERENCE = Path(__file__).parent / "data" / "evaluators"


# ------------------------------------------------------------------ names
def test_machines_and_sections_per_year():
    assert machines(2022, "eval_data") == machines(2023, "dev_data") == machines(2025, "dev_data")
    assert "ToyDrone" in machines(2023, "eval_data") and "ToyDrone" not in machines(2024, "eval_data")
    assert len(machines(2024, "eval_data")) == 9 and len(machines(2025, "eval_data")) == 8
    assert sections(2022, "eval_data") == ("03", "04", "05") and sections(2024, "eval_data") == ("00",)
    with pytest.raises(ValueError, match="2021"):
        machines(2021, "dev_data")
    with pytest.raises(ValueError, match="test_data"):
        sections(2023, "test_data")


def test_no_attribute_names_are_later_years_only():
    name = "section_00_source_train_normal_0001_noAttribute.wav"
    clip = parse_clip_name(name, year=2024)
    assert (clip.section, clip.domain, clip.split, clip.label, clip.index, clip.attributes) == (
        "00", "source", "train", "normal", 1, {})
    with pytest.raises(ClipNameError, match=r"\['noAttribute'\] do not form key_value pairs.*give the year"):
        parse_clip_name(name)  # 2022 has no such name
    assert format_clip_name("00", "target", "test", "anomaly", 7, {}, year=2023) == \
        "section_00_target_test_anomaly_0007_noAttribute.wav"
    assert format_clip_name("00", "target", "test", "anomaly", 7, {"vel": "4"}, year=2023) == \
        "section_00_target_test_anomaly_0007_vel_4.wav"
    assert format_clip_name("00", "source", "train", "normal", 7, {}) == "section_00_source_train_normal_0007.wav"


def test_supplemental_names_round_trip_in_2025_only():
    noise = format_clip_name("00", "noise", "supplemental", "normal", 3, {}, year=2025)
    machine = format_clip_name("00", "source", "supplemental", "machine", 4, {"id": "A1"}, year=2025)
    assert noise == "section_00_noise_supplemental_normal_0003.wav"
    a, b = parse_clip_name(noise, 2025), parse_clip_name(machine, 2025)
    assert (a.split, a.domain, a.label, a.kind, a.anonymised) == ("supplemental", None, None, "noise_normal", False)
    assert (b.domain, b.kind, b.attributes) == ("source", "source_machine", {"id": "A1"})
    with pytest.raises(ClipNameError, match="supplemental clips are DCASE 2025 only, not 2024"):
        parse_clip_name(noise, 2024)
    with pytest.raises(ClipNameError, match="supplemental name reads"):
        parse_clip_name("section_00_pump_supplemental_normal_0003.wav", 2025)


# ------------------------------------------------------------------ layouts
def _write_year(root: Path, year: int, *, dev=True, evaluation=True, raw=False) -> Path:
    """A miniature root of ``year``: dev fan (1 s clips) and gearbox (1.5 s, its attributes hidden in
    2024), eval two machines (2 s, anonymised test names), the 2025 supplemental folder (0.5 s), and the
    evaluator's files (2023+ form) in ``root.parent / "truth"``."""
    level = ("raw",) if raw else ()
    if dev:
        for machine, seconds in (("fan", 1.0), ("gearbox", 1.5)):
            base = root.joinpath("dev_data", *level, machine)
            hidden = year == 2024 and machine == "gearbox"
            attrs = {} if hidden else {"m-n": "W"}
            for i, (domain, split, label) in enumerate([("source", "train", "normal"), ("target", "train", "normal"),
                                                        ("source", "test", "normal"), ("target", "test", "anomaly")]):
                write_wav(base / split / format_clip_name("00", domain, split, label, i, attrs, year=year),
                          seconds=seconds, seed=i)
    if evaluation:
        truth = root.parent / "truth"
        for machine in machines(year, "eval_data")[:2]:
            base = root.joinpath("eval_data", *level, machine)
            write_wav(base / "train" / format_clip_name("00", "source", "train", "normal", 0, {}, year=year),
                      seconds=2.0)
            rows = []
            for i, (domain, label) in enumerate([("source", "normal"), ("target", "anomaly")]):
                name = format_eval_test_name("00", i + (year == 2024))
                write_wav(base / "test" / name, seconds=2.0, seed=10 + i)
                rows.append((name, label, domain, f"section_00_{domain}_test_{label}_{i:04d}_spd_{i + 1}"))
            stem = f"ground_truth_{machine}_section_00_test.csv"
            for folder, column in (("ground_truth_data", 1), ("ground_truth_domain", 2), ("ground_truth_attributes", 3)):
                (truth / folder).mkdir(parents=True, exist_ok=True)
                code = {"normal": "0", "anomaly": "1", "source": "0", "target": "1"}
                (truth / folder / stem).write_text("".join(f"{r[0]},{code.get(r[column], r[column])}\n" for r in rows))
            if year == 2025:
                write_wav(base / "supplemental" / format_clip_name("00", "noise", "supplemental", "normal", 0, {},
                                                                   year=2025), seconds=0.5)
    return root


@pytest.mark.parametrize("year", [2023, 2024, 2025])
def test_each_year_is_indexed_with_its_year(tmp_path, year):
    root = _write_year(tmp_path / "root", year)
    assert detect_year(root) == year
    index = index_dataset(root, truth=tmp_path / "truth")
    assert index.attrs["year"] == year
    assert set(index["section"]) == {"00"}
    assert set(index["machine"]) == {"fan", "gearbox", *machines(year, "eval_data")[:2]}
    assert len(index) == 8 + 2 * 3 + 2 * (year == 2025)
    test = index[(index["dataset"] == "eval_data") & (index["split"] == "test")]
    assert sorted(zip(test["domain"], test["label"])) == [("source", "normal")] * 2 + [("target", "anomaly")] * 2
    assert {n: a for n, a in zip(test["name"], test["attributes"])}[format_eval_test_name("00", year == 2024)] == \
        {"spd": "1"}
    gearbox = index[index["machine"] == "gearbox"]
    assert all(a == ({} if year == 2024 else {"m-n": "W"}) for a in gearbox["attributes"])
    supplemental = index[index["split"] == "supplemental"]
    assert len(supplemental) == 2 * (year == 2025) and supplemental["label"].isna().all()
    assert not [p for p in find_problems(index) if "missing section" in p]
    assert audio_problems(index) == []  # 0.5 s supplemental clips are not measured against 2 s eval clips


def test_clip_lengths_vary_by_machine(tmp_path):
    index = index_dataset(_write_year(tmp_path / "root", 2023, evaluation=False), year=2023)
    assert audio_problems(index) == []  # fan 1 s, gearbox 1.5 s: each machine's own length
    short = index.loc[index["machine"] == "gearbox", "path"].iloc[0]
    write_wav(Path(short), seconds=1.0)
    assert [p.split(":")[0] for p in audio_problems(index)] == [short]


def test_the_baselines_raw_level_is_read(tmp_path):
    root = _write_year(tmp_path / "root", 2025, raw=True)
    index = index_dataset(root, truth=tmp_path / "truth")
    assert index.attrs["year"] == 2025 and all("/raw/" in p for p in index["path"])


def test_dev_data_alone_names_its_year_only_when_it_can(tmp_path):
    hidden = _write_year(tmp_path / "a", 2024, evaluation=False)  # gearbox's attributes hidden: 2024
    assert detect_year(hidden) == 2024
    plain = _write_year(tmp_path / "b", 2023, evaluation=False)  # nothing hidden, and none of 2025's hiding machines present
    with pytest.raises(ValueError, match=rf"{plain}: the data fit DCASE 2022, 2023, 2025; give the year"):
        detect_year(plain)
    assert index_dataset(plain, year=2023).attrs["year"] == 2023


def test_mixed_or_unknown_layouts_are_refused(tmp_path, real_layout):
    assert detect_year(real_layout) == 2022 and index_dataset(real_layout).attrs["year"] == 2022
    mixed = _write_year(tmp_path / "mixed", 2023, dev=False)
    for name in ("section_00_source_train_normal_0000_m-n_W.wav", "section_01_source_train_normal_0000_f-n_A.wav"):
        write_wav(mixed / "dev_data" / "fan" / "train" / name)
    with pytest.raises(ValueError, match=rf"{mixed}: dev_data/ and eval_data/ belong to different DCASE years"):
        detect_year(mixed)
    unknown = _write_year(tmp_path / "unknown", 2024, dev=False)
    (unknown / "eval_data" / "pump" / "train").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match="pump is no DCASE 2022-2025 eval_data machine"):
        detect_year(unknown)
    years = _write_year(tmp_path / "years", 2024, dev=False)
    write_wav(years / "eval_data" / "ToyDrone" / "train" / "section_00_source_train_normal_0000_noAttribute.wav")
    with pytest.raises(ValueError, match="mixes machines of different years"):
        detect_year(years)
    with pytest.raises(FileNotFoundError, match="ToyDrone: not a DCASE 2024 eval_data machine"):
        index_dataset(years, year=2024)


# ------------------------------------------------------------------ the official evaluators
@pytest.mark.parametrize("year", [2023, 2024])
def test_evaluate_equals_the_years_evaluator(tmp_path, year):
    files = write_inputs(year, tmp_path)
    expected, expected_score = read_evaluator_result(REFERENCE / str(year) / "fixture_result.csv")
    for given in (year, None):  # the eval machines name the year
        results = evaluate_dir(files["scores"], files["truth"], machines=FIXTURE_MACHINES[year], year=given)
        assert results.attrs["year"] == year and not is_official(results)
        assert sorted(results["machine"]) == sorted(expected) and set(results["section"]) == {"00"}
        for row in results.itertuples():
            want = expected[row.machine]
            assert (row.auc_source, row.auc_target, row.pauc) == pytest.approx(
                (want["AUC (source)"], want["AUC (target)"], want["pAUC"]), abs=1e-12)
        assert official_score(results) == pytest.approx(expected_score, abs=1e-12)


def test_2025_official_score_equals_its_evaluators_published_numbers():
    """The 2025 evaluator's code was not available here: its README's baseline results are the reference."""
    table = pd.read_csv(REFERENCE / "2025" / "readme_baselines.csv")
    eval_machines = machines(2025, "eval_data")
    for system, rows in table.groupby("System"):
        rows = rows.set_index("metric")
        values = [{"auc_source": rows.loc["AUC (source)", m], "auc_target": rows.loc["AUC (target)", m],
                   "pauc": rows.loc["pAUC (source, target)", m]} for m in eval_machines]
        assert official_score(values) == pytest.approx(rows.loc["TOTAL score", "h-mean"], abs=1e-15), system


def test_cli_evaluates_a_later_years_dev_set_given_its_year(tmp_path, capsys):
    scores = tmp_path / "scores"
    scores.mkdir()
    for m_index, machine in enumerate(machines(2024, "dev_data")):
        rows = [(format_clip_name("00", d, "test", lab, i, {}, year=2024), (i + m_index) % 5 + 3 * (lab == "anomaly"))
                for d in ("source", "target") for lab in ("normal", "anomaly") for i in range(4)]
        (scores / f"anomaly_score_{machine}_section_00_test.csv").write_text("".join(f"{n},{s}\n" for n, s in rows))
    with pytest.raises(ValueError, match="lacks section.s. 01, 02 .*section 00 only: give its year"):
        evaluate_dir(scores)
    assert cli(["evaluate", str(scores), "--year", "2024", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert len(summary["sections"]) == 7 and 0.5 < summary["official_score"] <= 1.0
    assert cli(["evaluate", str(scores), "--year", "2024"]) == 0
    assert "DCASE 2024 official score (harmonic mean of 21 values)" in capsys.readouterr().out


def test_cli_index_reports_the_year(tmp_path, capsys):
    root = _write_year(tmp_path / "root", 2024)
    assert cli(["index", str(root), "--truth", str(tmp_path / "truth")]) == 0
    assert "DCASE 2024 Task 2 data (year read from the data)" in capsys.readouterr().out
