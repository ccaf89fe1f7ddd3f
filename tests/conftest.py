"""Shared fixtures: clips written in the real DCASE 2022 layout (only under pytest's tmp_path)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile


def write_wav(path: Path, seconds: float = 1.0, rate: int = 16_000, channels: int = 1, seed: int = 0,
              subtype: str = "PCM_16") -> Path:
    """A short noise clip; ``channels`` > 1 writes a multi-channel file."""
    rng = np.random.default_rng(seed)
    n = int(seconds * rate)
    data = 0.1 * rng.standard_normal((n, channels) if channels > 1 else n)
    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(str(path), data, rate, subtype=subtype)
    return path


# Real names of every form, one or more per machine.
DEV_TRAIN = {
    "ToyCar": ["section_00_source_train_normal_0009_car_A1_spd_28V_mic_1_noise_1.wav",
               "section_00_target_train_normal_0000_car_C1_spd_28V_mic_1_noise_1.wav",
               "section_01_source_train_normal_0001_car_A2_spd_40V_mic_1_noise_1.wav",
               "section_02_target_train_normal_0003_car_E1_spd_31V_mic_2_noise_1.wav"],
    "fan": ["section_00_source_train_normal_0000_m-n_W.wav", "section_01_source_train_normal_0002_f-n_A.wav",
            "section_02_target_train_normal_0004_n-lv_L3.wav"],
    "gearbox": ["section_00_source_train_normal_0005_volt_1.0.wav", "section_01_target_train_normal_0006_wt_250.wav"],
    "slider": ["section_01_source_train_normal_0007_ac_0.03.wav"],
    "valve": ["section_01_source_train_normal_0008_pat_00_panel_bs-c.wav",
              "section_02_source_train_normal_0010_v1pat_01.wav",
              "section_02_target_train_normal_0011_v1pat_02_v2pat_03.wav"],
}
DEV_TEST = {
    "bearing": ["section_02_target_test_anomaly_0049_vel_14_f-n_C.wav",
                "section_01_source_test_normal_0000_vel_6_loc_A.wav"],
    "fan": ["section_00_target_test_normal_0012_m-n_Y.wav"],
}


@pytest.fixture
def real_layout(tmp_path: Path) -> Path:
    """A miniature DCASE 2022 root with every name form, plus an evaluator folder in ``truth/``."""
    root = tmp_path / "dcase2022"
    for machine, names in DEV_TRAIN.items():
        for i, name in enumerate(names):
            write_wav(root / "dev_data" / machine / "train" / name, seed=i)
        (root / "dev_data" / machine / "test").mkdir(parents=True, exist_ok=True)
    for machine, names in DEV_TEST.items():
        for i, name in enumerate(names):
            write_wav(root / "dev_data" / machine / "test" / name, seed=100 + i)
        (root / "dev_data" / machine / "train").mkdir(parents=True, exist_ok=True)
    # eval: valve section 05, anonymised test names and the evaluator's files (short rows included)
    write_wav(root / "eval_data" / "valve" / "train" / "section_05_source_train_normal_0000_v1pat_05.wav")
    for i in range(3):
        write_wav(root / "eval_data" / "valve" / "test" / f"section_05_{i:04d}.wav", seed=200 + i)
    truth = tmp_path / "truth"
    (truth / "ground_truth_data").mkdir(parents=True)
    (truth / "ground_truth_domain").mkdir(parents=True)
    (truth / "ground_truth_attributes" / "valve").mkdir(parents=True)
    (truth / "ground_truth_data" / "ground_truth_valve_section_05_test.csv").write_text(
        "section_05_0000.wav,1\nsection_05_0001.wav,0\nsection_05_0002.wav,0\n")
    (truth / "ground_truth_domain" / "ground_truth_valve_section_05_test.csv").write_text(
        "section_05_0000.wav,1\nsection_05_0001.wav,0\nsection_05_0002.wav,1\n")
    (truth / "ground_truth_attributes" / "valve" / "attributes_05.csv").write_text(
        "file_name,d1p,d1v,d2p,d2v,file_name_with_full_attributes\n"
        "valve/test/section_05_0000.wav,v1pat,05,v2pat,05,valve/test/section_05_target_test_anomaly_0000_v1pat_05_v2pat_05.wav\n"
        "valve/test/section_05_0001.wav,v1pat,05,valve/test/section_05_source_test_normal_0001_v2pat_05.wav\n"
        "valve/test/section_05_0002.wav,v1pat,04,v2pat,05,valve/test/section_05_target_test_normal_0002_v1pat_04_v2pat_05.wav\n")
    return root


def study_clips(machine: str) -> pd.DataFrame:
    """A hand-written run's clip table: 4 train + 8 test clips per section 00-05, 2 per (domain, label)."""
    from asdlib.names import format_clip_name

    rows = []
    for section in ("00", "01", "02", "03", "04", "05"):
        for i in range(4):
            rows.append({"split": "train", "section": section, "domain": "source", "label": "normal",
                         "name": format_clip_name(section, "source", "train", "normal", i, {"x": "1"})})
        for i, (domain, label) in enumerate([(d, y) for d in ("source", "target") for y in ("normal", "anomaly")] * 2):
            rows.append({"split": "test", "section": section, "domain": domain, "label": label,
                         "name": format_clip_name(section, domain, "test", label, 10 + i, {"x": "1"})})
    return pd.DataFrame(rows).assign(machine=machine, dataset="dev_data", attributes="{}")


def write_scored_run(study: Path, system: str, machine: str, seed: int, rules: dict, clips: pd.DataFrame) -> Path:
    """A run folder as score_run leaves it: scored/clips.csv, and per rule and mode the official score
    files, train_scores.csv and summary.json (``rules``: rule -> mode -> clip scores in ``clips``' order)."""
    import json

    from asdlib.metrics import write_anomaly_scores

    run = study / system / machine / f"seed{seed}"
    (run / "scored").mkdir(parents=True)
    clips.to_csv(run / "scored" / "clips.csv", index=False)
    for rule, modes in rules.items():
        for mode, scores in modes.items():
            folder = run / "results" / rule / mode
            folder.mkdir(parents=True)
            scored = clips.assign(score=np.asarray(scores))
            scored[scored["split"] == "train"][["name", "section", "score"]].to_csv(
                folder / "train_scores.csv", index=False)
            for section, part in scored[scored["split"] == "test"].groupby("section"):
                write_anomaly_scores(folder, machine, section, part["name"].tolist(), part["score"].to_numpy())
            folder.joinpath("summary.json").write_text(json.dumps(
                {"system": system, "mode": mode, "machine": machine, "config": {"seed": seed},
                 "checkpoint": {"rule": rule, "epoch": 4}}))
    return run


def flip_eval_labels(truth: Path, out: Path) -> Path:
    """A copy at ``out`` of the evaluator's folder ``truth`` with every evaluation label flipped (normal
    <-> anomaly): what a choice made on the development set only must not notice."""
    import shutil

    shutil.copytree(truth, out)
    for path in (out / "ground_truth_data").glob("*.csv"):
        rows = [line.rsplit(",", 1) for line in path.read_text().splitlines()]
        path.write_text("".join(f"{name},{1 - int(flag)}\n" for name, flag in rows))
    return out
