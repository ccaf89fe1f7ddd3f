"""The data layer reads the real DCASE 2022 layout and names exactly, and refuses bad input clearly."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from asdlib.data import (AttributeVocab, AudioError, domain_shift_key, domain_shift_prior, find_problems,
                         index_dataset, load_clip)
from asdlib.names import ClipNameError, format_clip_name, parse_clip_name

from conftest import DEV_TEST, DEV_TRAIN, write_wav


# ------------------------------------------------------------------ names
@pytest.mark.parametrize("name, section, domain, split, label, index, attributes", [
    ("section_00_source_train_normal_0009_car_A1_spd_28V_mic_1_noise_1.wav", "00", "source", "train", "normal", 9,
     {"car": "A1", "spd": "28V", "mic": "1", "noise": "1"}),
    ("section_02_target_test_anomaly_0049_vel_14_f-n_C.wav", "02", "target", "test", "anomaly", 49,
     {"vel": "14", "f-n": "C"}),
    ("section_00_source_train_normal_0000_m-n_W.wav", "00", "source", "train", "normal", 0, {"m-n": "W"}),
    ("section_02_target_train_normal_0004_n-lv_L3.wav", "02", "target", "train", "normal", 4, {"n-lv": "L3"}),
    ("section_00_source_train_normal_0005_volt_1.0.wav", "00", "source", "train", "normal", 5, {"volt": "1.0"}),
    ("section_01_source_train_normal_0007_ac_0.03.wav", "01", "source", "train", "normal", 7, {"ac": "0.03"}),
    ("section_01_source_train_normal_0008_pat_00_panel_bs-c.wav", "01", "source", "train", "normal", 8,
     {"pat": "00", "panel": "bs-c"}),
    ("section_02_target_train_normal_0011_v1pat_02_v2pat_03.wav", "02", "target", "train", "normal", 11,
     {"v1pat": "02", "v2pat": "03"}),
    ("section_03_0000.wav", "03", None, "test", None, 0, {}),
    ("section_05_0199.wav", "05", None, "test", None, 199, {}),
])
def test_every_name_form_parses(name, section, domain, split, label, index, attributes):
    clip = parse_clip_name("some/folder/" + name)
    assert (clip.section, clip.domain, clip.split, clip.label, clip.index) == (section, domain, split, label, index)
    assert clip.attributes == attributes
    assert list(clip.attributes) == list(attributes)  # order kept: the domain-shift factor comes first
    if domain is not None:
        assert format_clip_name(section, domain, split, label, index, attributes) == name


@pytest.mark.parametrize("name, problem", [
    ("section_00_source_train_normal_0009_car.wav", "key_value"),
    ("section_0_source_train_normal_0009.wav", "section_SS"),
    ("sec_00_source_train_normal_0009.wav", "section_SS"),
    ("section_00_middle_train_normal_0009.wav", "domain"),
    ("section_00_source_valid_normal_0009.wav", "split"),
    ("section_00_source_train_broken_0009.wav", "label"),
    ("section_00_source_train_normal_9_vel_6.wav", "four digits"),
    ("section_03_12.wav", "four-digit"),
    ("section_00_source_train_normal_0009_vel_6.flac", ".wav"),
    ("section_00_source_train_normal_0009_vel_6_vel_8.wav", "twice"),
])
def test_bad_names_raise_naming_the_file(name, problem):
    with pytest.raises(ClipNameError) as err:
        parse_clip_name(name)
    assert name in str(err.value) and problem in str(err.value)


# ------------------------------------------------------------------ index
def test_index_reads_every_clip_of_the_real_layout(real_layout, tmp_path):
    index = index_dataset(real_layout, truth=tmp_path / "truth")
    expected = sum(map(len, DEV_TRAIN.values())) + sum(map(len, DEV_TEST.values())) + 1 + 3
    assert len(index) == expected
    assert list(index.columns[:7]) == ["path", "machine", "section", "domain", "split", "label", "attributes"]
    row = index[index.name == "section_00_source_train_normal_0009_car_A1_spd_28V_mic_1_noise_1.wav"].iloc[0]
    assert (row.machine, row.section, row.domain, row.split, row.label, row.dataset) == \
        ("ToyCar", "00", "source", "train", "normal", "dev_data")
    assert row.attributes == {"car": "A1", "spd": "28V", "mic": "1", "noise": "1"}


def test_anonymised_eval_names_take_truth_from_the_evaluator_files(real_layout, tmp_path):
    index = index_dataset(real_layout, truth=tmp_path / "truth").set_index("name")
    a, b, c = (index.loc[f"section_05_{i:04d}.wav"] for i in range(3))
    assert (a.domain, a.label, a.attributes) == ("target", "anomaly", {"v1pat": "05", "v2pat": "05"})
    # a row with fewer fields than the header: the last field is the full name, and it wins
    assert (b.domain, b.label, b.attributes) == ("source", "normal", {"v2pat": "05"})
    assert (c.domain, c.label, c.attributes) == ("target", "normal", {"v1pat": "04", "v2pat": "05"})


def test_anonymised_eval_names_without_truth_have_no_label(real_layout):
    index = index_dataset(real_layout)
    anon = index[index.name.str.match(r"section_05_\d{4}\.wav")]
    assert len(anon) == 3 and anon.label.isna().all() and anon.domain.isna().all()
    assert all(a == {} for a in anon.attributes)


def test_truth_without_attribute_files_still_gives_label_and_domain(real_layout, tmp_path):
    import shutil
    shutil.rmtree(tmp_path / "truth" / "ground_truth_attributes")
    index = index_dataset(real_layout, truth=tmp_path / "truth").set_index("name")
    assert index.loc["section_05_0000.wav", "label"] == "anomaly"
    assert index.loc["section_05_0000.wav", "attributes"] == {}


def test_a_clip_missing_from_the_truth_is_named(real_layout, tmp_path):
    write_wav(real_layout / "eval_data" / "valve" / "test" / "section_05_0003.wav")
    with pytest.raises(ClipNameError, match="section_05_0003.wav"):
        index_dataset(real_layout, truth=tmp_path / "truth")


@pytest.mark.parametrize("bad_name", ["section_00_source_train_normal_0009.wave.wav", "noise.wav"])
def test_index_names_the_file_that_does_not_parse(real_layout, bad_name):
    write_wav(real_layout / "dev_data" / "fan" / "train" / bad_name)
    with pytest.raises(ClipNameError, match="fan/train/" + bad_name.replace(".", r"\.")):
        index_dataset(real_layout)


def test_index_refuses_names_that_contradict_their_folder(real_layout):
    write_wav(real_layout / "dev_data" / "fan" / "train" / "section_00_source_test_normal_0001_m-n_W.wav")
    with pytest.raises(ClipNameError, match="lies in train/"):
        index_dataset(real_layout)


def test_index_refuses_eval_sections_in_dev_data(real_layout):
    write_wav(real_layout / "dev_data" / "fan" / "train" / "section_04_source_train_normal_0001_m-n_W.wav")
    with pytest.raises(ClipNameError, match="does not belong in dev_data"):
        index_dataset(real_layout)


def test_missing_folders_are_named(tmp_path, real_layout):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        index_dataset(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="neither dev_data"):
        index_dataset(tmp_path / "empty")
    (real_layout / "dev_data" / "slider" / "test").rmdir()
    with pytest.raises(FileNotFoundError, match="slider/test"):
        index_dataset(real_layout)
    with pytest.raises(FileNotFoundError, match="truth_missing"):
        index_dataset(real_layout, truth=tmp_path / "truth_missing")


def test_index_refuses_unknown_machine_folder(real_layout):
    (real_layout / "dev_data" / "pump" / "train").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match="pump"):
        index_dataset(real_layout)


def test_find_problems_lists_missing_sections(real_layout):
    problems = find_problems(index_dataset(real_layout))
    assert any("gearbox dev_data train: missing section(s) 02" in p for p in problems)
    assert any("valve eval_data train: missing section(s) 03, 04" in p for p in problems)


def test_index_command_prints_counts_and_problems(real_layout, tmp_path):
    out = subprocess.run([sys.executable, "-m", "asdlib.cli", "index", str(real_layout), "--truth",
                          str(tmp_path / "truth")], capture_output=True, text=True, check=True).stdout
    assert "20 clips, 6 machine(s)" in out and "What looks wrong" in out
    bad = subprocess.run([sys.executable, "-m", "asdlib.cli", "index", str(tmp_path / "nope")],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "nope" in bad.stderr and "Traceback" not in bad.stderr


# ------------------------------------------------------------------ vocabularies
def test_vocabulary_handles_missing_keys_and_unseen_values(real_layout):
    index = index_dataset(real_layout)
    vocab = AttributeVocab.from_index(index, "valve")
    assert vocab.keys == ("panel", "pat", "v1pat", "v2pat")
    assert vocab.attribute_classes == {"panel": 1, "pat": 1, "v1pat": 3, "v2pat": 1}  # v1pat 01, 02 (dev), 05 (eval)
    assert vocab.encode_attributes({"pat": "00", "panel": "bs-c"}) == [0, 0, -1, -1]
    assert vocab.encode_attributes({"v1pat": "02", "v2pat": "99"}) == [-1, -1, 1, -1]  # 99 unseen
    assert vocab.encode_section("02") == vocab.sections.index("02")
    assert AttributeVocab.from_dict(vocab.as_dict()) == vocab
    assert vocab.encode_shift("valve", "01", {"pat": "00", "panel": "bs-c"}) == \
        vocab.shift_values.index(("01", "bs-c"))
    assert vocab.encode_shift("valve", "01", {"panel": "s-c"}) == -1


def test_domain_shift_keys_follow_the_attribute_table():
    assert [domain_shift_key("fan", s) for s in ("00", "01", "02", "03", "04", "05")] == \
        ["m-n", "f-n", "n-lv", "m-n", "f-n", "n-lv"]
    assert domain_shift_key("ToyCar", "04") == "spd"


# ------------------------------------------------------------------ audio checks
def test_load_clip_reads_16k_mono(tmp_path):
    wave = load_clip(write_wav(tmp_path / "ok.wav", seconds=0.5))
    assert wave.dtype.name == "float32" and wave.shape == (8000,)


@pytest.mark.parametrize("kwargs, problem", [
    (dict(rate=44_100), "sample rate 44100 Hz"),
    (dict(channels=2), "2 channels, expected mono"),
    (dict(seconds=0.01), "shorter than"),
])
def test_load_clip_names_file_and_problem(tmp_path, kwargs, problem):
    path = write_wav(tmp_path / "bad.wav", **kwargs)
    with pytest.raises(AudioError) as err:
        load_clip(path, min_samples=1000)
    assert str(path) in str(err.value) and problem in str(err.value)


def test_unreadable_clip_is_named(tmp_path):
    path = tmp_path / "broken.wav"
    path.write_bytes(b"RIFF-not-really-a-wave-file")
    with pytest.raises(AudioError, match="broken.wav: cannot read audio"):
        load_clip(path)


def test_domain_shift_prior_is_the_best_guess_from_frequencies():
    """An adversary knowing only the section: cross-entropy and accuracy of the frequency guess."""
    clips = pd.DataFrame({"split": ["train"] * 6 + ["test"], "section": ["00"] * 4 + ["01"] * 2 + ["00"],
                          "attributes": [{"m-n": "W"}] * 3 + [{"m-n": "X"}] + [{"f-n": "A"}, {"f-n": "B"}]
                          + [{"m-n": "X"}]})
    prior = domain_shift_prior(clips, "fan")
    expected = -(3 * np.log(0.75) + np.log(0.25) + 2 * np.log(0.5)) / 6
    assert prior["loss"] == pytest.approx(expected)
    assert prior["acc"] == pytest.approx((4 * 0.75 + 2 * 0.5) / 6)
