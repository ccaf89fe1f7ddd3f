"""The method on the DCASE 2023-2025 layouts: the stand-in written in a later year's layout
(``asdlib synth --year``), indexed, trained on every machine (the section task over machine types,
attribute tasks only where a machine has attributes), scored per machine and officially evaluated;
a single machine of such data refused with one line. Plus the name forms of 2023 and 2025 on files
written by hand."""
from __future__ import annotations

import csv
import json
import math
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile

from asdlib import cli
from asdlib.data import index_dataset
from asdlib.names import parse_clip_name
from asdlib.scales import SynthSize
from asdlib.synth import generate
from asdlib.synth.years import physics_of, seconds_factor
from asdlib.train import RunConfig, train

SIZE = SynthSize(clip_seconds=1.0, train_source=6, train_target=2, test_per_domain=2, eval_test=8)
# 2024: dev fan (attributes) and gearbox (noAttribute); eval HairDryer (attributes, 7 s clips),
# ToothBrush (noAttribute) and ToyCircuit (a toy's three keys, 8 s clips)
MACHINES = ("fan", "gearbox", "HairDryer", "ToothBrush", "ToyCircuit")
HIDDEN = {"gearbox", "ToothBrush"}
FAST = ["train.epochs=1", "train.checkpoint_every=1", "train.embed_hop=64", "train.batch_size=8", "model.width=0.25"]


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return generate(tmp_path_factory.mktemp("y2024") / "data", SIZE, seed=1, machines=MACHINES, year=2024,
                    progress=False)


@pytest.fixture(scope="module")
def run(data, tmp_path_factory) -> Path:
    config = RunConfig.create("disent", "all", data, "smoke", truth_dir=data / "eval_truth", overrides=FAST)
    out = tmp_path_factory.mktemp("run") / "disent"
    train(config, out, cache_dir=out.parent / "cache", progress=False, device="cpu")
    return out


@pytest.fixture(scope="module")
def scored(run) -> Path:
    from asdlib.inference import score_run

    score_run(run, device="cpu", progress=False)
    return run


def _rows(path: Path) -> list[list[str]]:
    with path.open(newline="") as handle:
        return [r for r in csv.reader(handle) if r]


def test_synth_writes_the_2024_layout_with_one_section_and_hidden_attributes(data):
    dev, ev = sorted(p.name for p in (data / "dev_data").iterdir()), sorted(p.name for p in (data / "eval_data").iterdir())
    assert (dev, ev) == (["fan", "gearbox"], ["HairDryer", "ToothBrush", "ToyCircuit"])
    for folder, machine in [("dev_data", m) for m in dev] + [("eval_data", m) for m in ev]:
        train_names = sorted(p.name for p in (data / folder / machine / "train").glob("*.wav"))
        test_names = sorted(p.name for p in (data / folder / machine / "test").glob("*.wav"))
        assert len(train_names) == SIZE.train_source + SIZE.train_target
        assert {parse_clip_name(n, 2024).section for n in train_names + test_names} == {"00"}
        assert all(n.endswith("_noAttribute.wav") == (machine in HIDDEN) for n in train_names)
        if folder == "eval_data":
            assert test_names == [f"section_00_{i:04d}.wav" for i in range(SIZE.eval_test)]
            truth = _rows(data / "eval_truth" / "ground_truth_attributes" / f"ground_truth_{machine}_section_00_test.csv")
            assert [r[0] for r in truth] == test_names
            # a hidden machine's row gives the name it was written under, then the full one
            assert all(len(r) == (3 if machine in HIDDEN else 2) for r in truth)
            assert all(r[1].endswith("_noAttribute") == (machine in HIDDEN) for r in truth)
        else:
            assert len(test_names) == 4 * SIZE.test_per_domain
        seconds = soundfile.info(str(data / folder / machine / "train" / train_names[0])).duration
        assert seconds == pytest.approx(SIZE.clip_seconds * seconds_factor(2024, machine))
    assert physics_of(2024, "ToothBrush") == "gearbox" and seconds_factor(2024, "HairDryer") == 0.7
    provenance = json.loads((data / "synth.json").read_text())
    assert provenance["year"] == 2024 and sorted(provenance["no_attribute"]) == sorted(HIDDEN)


def test_the_index_reads_the_year_and_the_hidden_attributes_from_the_truth(data):
    index = index_dataset(data, truth=data / "eval_truth")
    assert index.attrs["year"] == 2024 and set(index["section"]) == {"00"}
    train_rows = index[index["split"] == "train"]
    hidden = train_rows["machine"].isin(HIDDEN)
    assert (train_rows.loc[hidden, "attributes"] == {}).all()
    assert train_rows.loc[~hidden, "attributes"].map(len).min() >= 1
    # the evaluator's files give a hidden machine's eval test clips their attributes and labels
    brush = index[(index["machine"] == "ToothBrush") & (index["split"] == "test")]
    assert brush["attributes"].map(len).min() >= 1 and set(brush["label"]) == {"normal", "anomaly"}


def test_a_run_on_every_machine_has_one_section_class_per_machine_and_no_task_for_hidden_attributes(run):
    meta = json.loads((run / "config.json").read_text())
    assert meta["vocab"]["sections"] == [f"{m}/00" for m in sorted(MACHINES)]
    owners = {key.split("/")[0] for key in meta["vocab"]["keys"]}
    assert owners == set(MACHINES) - HIDDEN
    log = _rows(run / "train_log.csv")
    columns = dict(zip(log[0], log[-1]))
    assert math.isfinite(float(columns["attribute_loss"])) and math.isfinite(float(columns["section_loss"]))


def test_scoring_the_run_writes_every_machines_official_files_and_the_year_evaluates_them(scored, data, tmp_path,
                                                                                          capsys):
    folder = scored / "results" / "last" / "cat"
    for machine in MACHINES:
        assert (folder / f"anomaly_score_{machine}_section_00_test.csv").is_file()
        decisions = _rows(folder / f"decision_result_{machine}_section_00_test.csv")
        assert {d for _, d in decisions} <= {"0", "1"}
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["machine"] == "all" and summary["pooling"] == {m: "mean" for m in sorted(MACHINES)}
    assert {(r["machine"], r["section"]) for r in summary["sections"]} == {(m, "00") for m in MACHINES}
    assert set(summary["thresholds"]) == {f"{m}/00" for m in MACHINES}
    truth = tmp_path / "truth"  # labels and domains: the stand-in's three-field attribute rows (hidden machines,
    for part in ("ground_truth_data", "ground_truth_domain"):  # as the real 2024 evaluator's) are not read there
        shutil.copytree(data / "eval_truth" / part, truth / part)
    for dataset, machines in (("eval", ["HairDryer", "ToothBrush", "ToyCircuit"]), ("dev", ["fan", "gearbox"])):
        one_set = tmp_path / dataset  # asdlib evaluate reads a later year's dev and eval sets apart
        one_set.mkdir()
        for machine in machines:
            shutil.copy(folder / f"anomaly_score_{machine}_section_00_test.csv", one_set)
        capsys.readouterr()
        assert cli.main(["evaluate", str(one_set), "--truth", str(truth), "--year", "2024", "--json",
                         "--machines", *machines]) == 0, dataset
        result = json.loads(capsys.readouterr().out)
        assert 0.0 <= result.get("official_score", result.get("score")) <= 1.0
        assert {s["machine"] for s in result["sections"]} == set(machines)
        # the evaluator's numbers are the scoring's own (summary.json), computed from the same files
        ours = {r["machine"]: r for r in summary["sections"]}
        for row in result["sections"]:
            assert row["auc_source"] == pytest.approx(ours[row["machine"]]["auc_source"])
            assert row["pauc"] == pytest.approx(ours[row["machine"]]["pauc"])


def test_each_test_clip_is_scored_against_its_own_machines_training_clips(scored):
    """Scores of a machine's test clips do not change when another machine's clips are left out: they
    are nearest-neighbour distances to that machine's training embeddings only (Eq. 4)."""
    from asdlib.scoring import SpaceScorer

    clips = pd.read_csv(scored / "scored" / "clips.csv", dtype=str)
    embeddings = np.load(scored / "scored" / "embeddings" / "epoch_0001.npz")
    scores = {r[0]: float(r[1]) for r in _rows(scored / "results" / "last" / "cat" / "anomaly_score_fan_section_00_test.csv")}
    fan = (clips["machine"] == "fan").to_numpy()
    train_rows = np.flatnonzero(fan & (clips["split"] == "train").to_numpy())
    test_rows = np.flatnonzero(fan & (clips["split"] == "test").to_numpy())
    alone = SpaceScorer(mode="cat").fit({k: embeddings[k][train_rows] for k in embeddings.files},
                                        np.array(["00"] * len(train_rows)))
    own = alone.score({k: embeddings[k][test_rows] for k in embeddings.files}, np.array(["00"] * len(test_rows)))
    np.testing.assert_allclose([scores[n] for n in clips["name"].to_numpy()[test_rows]], own, rtol=1e-5)


def test_one_machine_of_a_later_year_is_refused_with_one_line(data, tmp_path, capsys):
    assert cli.main(["train", "--data", str(data), "--machine", "fan", "--system", "disent", "--scale", "smoke",
                     "--out", str(tmp_path / "run")]) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        "asdlib train: error: fan: the section task has one class (section 00): nothing to learn; "
        "train on several machines with --machine all")
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("year, name, attributes", [
    (2023, "section_00_source_train_normal_0001_car_A1_spd_1_mic_1.wav", {"car": "A1", "spd": "1", "mic": "1"}),
    (2025, "section_00_target_train_normal_0003_noAttribute.wav", {}),
])
def test_the_later_years_name_forms_are_indexed_from_hand_written_layouts(tmp_path, year, name, attributes):
    """One dev machine of a hand-written root in the year's name forms: one section, its attributes
    (none for noAttribute), its year given."""
    root = tmp_path / f"d{year}"
    test_name = "section_00_source_test_anomaly_0000" + ("_noAttribute" if not attributes else "_car_A1_spd_1_mic_1")
    for split, clip in (("train", name), ("test", test_name + ".wav")):
        (root / "dev_data" / "ToyCar" / split).mkdir(parents=True)
        soundfile.write(str(root / "dev_data" / "ToyCar" / split / clip), np.zeros(1600, dtype=np.int16), 16_000,
                        subtype="PCM_16")
    index = index_dataset(root, year=year)
    assert index.attrs["year"] == year and set(index["section"]) == {"00"}
    assert index.loc[index["split"] == "train", "attributes"].iloc[0] == attributes


def test_the_2025_stand_in_has_supplemental_clips_of_the_machine_alone_and_of_the_noise_alone(tmp_path):
    size = SynthSize(clip_seconds=1.0, train_source=2, train_target=1, test_per_domain=2, eval_test=4)
    root = generate(tmp_path / "d2025", size, seed=2, machines=("ToyPet", "HomeCamera"), year=2025, progress=False)
    index = index_dataset(root, truth=root / "eval_truth")
    assert index.attrs["year"] == 2025
    extra = index[index["split"] == "supplemental"]
    assert extra.groupby("machine").size().to_dict() == {"HomeCamera": 4, "ToyPet": 4}
    rms = {}
    for name, path in zip(extra["name"], extra["path"]):
        wave, _ = soundfile.read(path)
        rms.setdefault(parse_clip_name(name, 2025).kind, []).append(float(np.sqrt(np.mean(wave ** 2))))
    assert set(rms) == {"source_machine", "noise_normal"} and min(rms["noise_normal"]) > 0
    # the background alone is quieter than the machine alone (it is mixed below the machine's level)
    assert max(rms["noise_normal"]) < min(rms["source_machine"])
    # a hidden machine's supplemental machine clips state no attribute; a machine with attributes states them
    machine_clips = extra[extra["name"].str.contains("_machine_")]
    assert (machine_clips.loc[machine_clips["machine"] == "ToyPet", "attributes"] == {}).all()
    assert (machine_clips.loc[machine_clips["machine"] == "HomeCamera", "attributes"].map(len) > 0).all()


def test_attribute_tasks_on_machines_that_all_hide_their_attributes_are_refused_with_one_line(tmp_path, capsys):
    size = SynthSize(clip_seconds=1.0, train_source=2, train_target=1, test_per_domain=1, eval_test=4)
    root = generate(tmp_path / "hidden", size, seed=0, machines=("gearbox", "ToothBrush"), year=2024, progress=False)
    assert cli.main(["train", "--data", str(root), "--machine", "all", "--system", "mtl", "--scale", "smoke",
                     "--out", str(tmp_path / "run")]) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        "asdlib train: error: all: no training clip carries an attribute (ToothBrush, gearbox: noAttribute): the "
        "attribute tasks have nothing to learn; choose sec_softmax or sec_arcface")
    assert not (tmp_path / "run").exists()
