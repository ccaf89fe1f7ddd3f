"""What a hostile new user tried (issue 21): nothing runs from a run folder, nothing is read or scored
wrongly without a word, no argument is refused only after the slow work."""
from __future__ import annotations

import errno
import io
import json
import os
import re
import shutil
from types import SimpleNamespace

import numpy as np
import pytest
import soundfile
import torch

from asdlib import features, inference
from asdlib.atomic import write_atomic
from asdlib.cli import main as cli
from asdlib.data import index_dataset
from asdlib.features import load_features
from asdlib.inference import score_run
from asdlib.metrics import read_score_csv
from asdlib.scales import get_scale
from asdlib.study.runs import summaries
from asdlib.synth import generate
from asdlib.train import RunConfig, TrainingDiverged, train
from conftest import write_wav

SMOKE = get_scale("smoke")


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return generate(tmp_path_factory.mktemp("data") / "fan", SMOKE.synth, seed=0, machines=("fan",), progress=False)


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="module")
def trained(root, cache, tmp_path_factory):
    """A sec_softmax run of 2 epochs with a checkpoint after each, not scored."""
    run = tmp_path_factory.mktemp("runs") / "run"
    config = RunConfig.create("sec_softmax", "fan", root, "smoke", truth_dir=root / "eval_truth",
                              overrides=["train.epochs=2", "train.checkpoint_every=1"])
    train(config, run, cache_dir=cache, progress=False)
    return run


@pytest.fixture
def run(trained, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(trained, copy)
    return copy


def last_error_line(capsys, command):
    err = capsys.readouterr().err
    assert "Traceback" not in err
    line = err.strip().splitlines()[-1]  # progress bars may come first; the error has a line of its own
    assert line.startswith(f"asdlib {command}: error: ")
    return line


# --- 1. loading a run folder runs no code from it ---------------------------------------------
class Planted:
    """Unpickles into a call of ``os.system``: what a hostile checkpoint would hold."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch '{self.marker}'",)


def test_the_real_checkpoints_hold_only_tensors_and_plain_values(trained):
    state = torch.load(trained / "checkpoints" / "epoch_0002.pt", weights_only=True)
    assert sorted(state) == ["epoch", "identity", "log", "model", "optimiser"] and state["epoch"] == 2


@pytest.mark.parametrize("command", ["score", "train --init"])
def test_a_planted_checkpoint_is_refused_and_runs_nothing(run, root, cache, tmp_path, capsys, monkeypatch, command):
    marker = tmp_path / "PWNED"
    planted = run / "checkpoints" / "epoch_0002.pt"
    state = torch.load(planted, weights_only=True)
    torch.save({**state, "model": Planted(marker)}, planted)
    monkeypatch.setenv("ASDLIB_CACHE", str(cache))
    if command == "score":
        argv = ["score", str(run)]
    else:
        argv = ["train", "--data", str(root), "--machine", "fan", "--system", "sec_softmax", "--scale", "smoke",
                "--out", str(tmp_path / "fine"), "--init", str(run), "--set", "train.epochs=1"]
    assert cli(argv) == 2
    line = last_error_line(capsys, argv[0])
    assert f"{planted}: refused: it holds posix.system, not only tensors and plain values" in line
    assert not marker.exists()


# --- 4. every argument is checked before the run folder is written ----------------------------
@pytest.mark.parametrize("arguments, message", [
    (["--init", "RUN", "--set", "model.width=0.5"], r"--init .*run: its network does not fit this run's \(trunk\."),
    (["--seed", "-1"], r"--seed -1: must be an integer from 0 to 4294967295$"),
    (["--device", "cuda"], r"--device cuda: this torch \(.*\) sees 0 CUDA device\(s\); choose cpu$"),
    (["--device", "bogus"], r"--device 'bogus': not a device; choose cpu, cuda or cuda:N$"),
])
def test_train_arguments_are_refused_before_the_run_folder_is_written(run, root, cache, tmp_path, capsys,
                                                                      monkeypatch, arguments, message):
    monkeypatch.setenv("ASDLIB_CACHE", str(cache))
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)  # a CPU build of torch, on any machine
    out = tmp_path / "fine"
    argv = ["train", "--data", str(root), "--machine", "fan", "--system", "sec_softmax", "--scale", "smoke",
            "--out", str(out), "--set", "train.epochs=1", *[str(run) if a == "RUN" else a for a in arguments]]
    assert cli(argv) == 2
    assert re.search(message, last_error_line(capsys, "train"))
    assert not out.exists()  # so the corrected command is not refused as "another configuration"


# --- 2. a full disk is one line naming the folder ---------------------------------------------
class FullDisk(io.FileIO):
    """A file on a full disk: every write fails with ENOSPC, naming no file (as the system's does)."""

    def write(self, data):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_too_little_space_for_the_feature_cache_is_refused_naming_it(root, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("ASDLIB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(shutil, "disk_usage", lambda folder: SimpleNamespace(free=300_000))
    argv = ["train", "--data", str(root), "--machine", "fan", "--system", "sec_softmax", "--scale", "smoke",
            "--out", str(tmp_path / "run"), "--set", "train.epochs=1"]
    assert cli(argv) == 2
    line = last_error_line(capsys, "train")
    assert re.search(rf"{tmp_path / 'cache'}/stft_\S+: no space for the feature cache \(5.5 MB needed, 0.3 MB free\)", line)
    assert not any((tmp_path / "cache").rglob("*.npy"))


def test_a_disk_filling_while_the_cache_is_written_is_an_error_naming_it(root, tmp_path, capsys, monkeypatch):
    """The cache is written through a file, not a memory map (where a full disk is a SIGBUS: no message)."""
    monkeypatch.setenv("ASDLIB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(features, "open", lambda path, mode: FullDisk(path, mode), raising=False)
    argv = ["train", "--data", str(root), "--machine", "fan", "--system", "sec_softmax", "--scale", "smoke",
            "--out", str(tmp_path / "run"), "--set", "train.epochs=1"]
    assert cli(argv) == 2
    assert re.search(rf"\[Errno 28\] No space left on device: '{tmp_path / 'cache'}/stft_\S+'$",
                     last_error_line(capsys, "train"))
    assert not any((tmp_path / "cache").rglob("*.npy"))


def test_a_full_disk_under_write_atomic_names_the_file(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "fdopen", lambda fd, mode: FullDisk(fd, mode))
    with pytest.raises(OSError, match=rf"No space left on device: '{tmp_path / 'summary.json'}'$"):
        write_atomic(tmp_path / "summary.json", "{}")
    assert not list(tmp_path.iterdir())


def test_synth_on_a_full_disk_names_the_folder_or_the_clip(tmp_path, capsys, monkeypatch):
    out = tmp_path / "data"
    real = shutil.disk_usage
    monkeypatch.setattr(shutil, "disk_usage", lambda folder: SimpleNamespace(free=200_000))
    assert cli(["synth", str(out), "--scale", "smoke", "--machines", "fan", "--workers", "1"]) == 2
    assert last_error_line(capsys, "synth") == (f"asdlib synth: error: [Errno 28] {tmp_path}: no space for the data "
                                                "set's clips (11.5 MB needed, 0.2 MB free); free some")
    monkeypatch.setattr(shutil, "disk_usage", real)

    def full(path, *args, **kwargs):
        raise soundfile.LibsndfileError(2)  # what libsndfile raises for a full disk ("System error")
    monkeypatch.setattr(soundfile, "write", full)
    assert cli(["synth", str(out), "--scale", "smoke", "--machines", "fan", "--workers", "1"]) == 2
    assert re.search(r"\.partial/dev_data/fan/train/section_00_\S+\.wav: cannot be written \(.*\); is the disk full\?$",
                     last_error_line(capsys, "synth"))
    assert not list(tmp_path.iterdir())


# --- 3. clips too short for the window or the chunk are named --------------------------------
@pytest.fixture
def short_root(root, tmp_path):
    """A copy of the data set whose first three fan training clips hold 0, 30 and 1,000 samples."""
    copy = tmp_path / "short"
    shutil.copytree(root / "dev_data", copy / "dev_data")
    clips = sorted((copy / "dev_data" / "fan" / "train").glob("*.wav"))[:3]
    for path, n in zip(clips, (0, 30, 1000)):
        write_wav(path, seconds=n / 16_000)
    return copy, clips


def test_training_names_every_clip_too_short_for_the_window_or_the_chunk(short_root, tmp_path, capsys):
    copy, (empty, tiny, short) = short_root
    argv = ["train", "--data", str(copy), "--machine", "fan", "--system", "sec_softmax", "--scale", "smoke",
            "--out", str(tmp_path / "run"), "--set", "train.epochs=1"]
    assert cli(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and f"{empty}: 0 samples" in err and f"{tiny}: 30 samples" in err
    empty.unlink(), tiny.unlink()  # the 1,000 samples fill the window, not a chunk of 32 frames
    assert cli(argv) == 2
    assert f"1 training clip(s) hold fewer: {short} (16)" in last_error_line(capsys, "train")


def test_index_check_audio_lists_clips_shorter_than_their_machines(short_root, capsys):
    copy, clips = short_root
    assert cli(["index", str(copy), "--check-audio"]) == 1
    out = capsys.readouterr().out
    for path, n in zip(clips, (0, 30, 1000)):
        assert f"{path}: {n} samples" in out
    assert "shorter than fan's clips (32000 samples, 2.000 s)" in out


# --- 10. every setting has an upper bound too --------------------------------------------------
@pytest.mark.parametrize("setting, message", [
    ("model.width=inf", "model.width = inf: must be a number >= 0.125 and <= 4 (paper: 1)"),
    ("model.width=1e9", "model.width = 1000000000.0: must be a number >= 0.125 and <= 4 (paper: 1)"),
    ("features.n_fft=70000", "features.n_fft = 70000: must be an integer >= 4 and <= 16384 (paper: 2048)"),
    ("features.n_mels=100000", "features.n_mels = 100000: must be an integer >= 0 and <= 512"),
    ("train.lr=inf", "train.lr = inf: must be a number > 0 and <= 1 (paper: 1e-4)"),
    ("train.lr=nan", "train.lr = nan: must be a number > 0 and <= 1"),
])
def test_settings_beyond_their_upper_bound_are_one_line_errors(root, tmp_path, capsys, setting, message):
    out = tmp_path / "run"
    argv = ["train", "--data", str(root), "--machine", "fan", "--system", "sec_softmax", "--scale", "smoke",
            "--out", str(out), "--set", setting]
    assert cli(argv) == 2
    assert last_error_line(capsys, "train").startswith(f"asdlib train: error: {message}")
    assert not out.exists()


def test_every_scale_lies_within_the_bounds():
    from asdlib.scales import SCALES
    for scale in SCALES.values():
        scale.validate()


# --- 11. a damaged cache entry is rebuilt, never blamed on the audio; every error names its file --
def fan_train_clips(root):
    index = index_dataset(root, machines=("fan",))
    return index[index["split"] == "train"].reset_index(drop=True)


@pytest.mark.parametrize("damage", ["truncated frames.npy", "corrupt clips.json"])
def test_a_damaged_cache_entry_is_computed_again_with_a_note(root, tmp_path, capsys, damage):
    clips = fan_train_clips(root)
    before = np.array(load_features(clips, SMOKE.features, cache_dir=tmp_path, progress=False).frames)
    (entry,) = (tmp_path / SMOKE.features.key()).iterdir()
    if damage == "truncated frames.npy":
        data = (entry / "frames.npy").read_bytes()
        (entry / "frames.npy").write_bytes(data[:len(data) // 2])
    else:
        (entry / "clips.json").write_text('{"paths": [\n')
    store = load_features(clips, SMOKE.features, cache_dir=tmp_path, progress=False)
    assert np.array_equal(np.array(store.frames), before)
    assert capsys.readouterr().err.startswith(f"asdlib: note: {entry}: a damaged feature cache entry (")


def test_nan_in_the_cache_is_blamed_on_the_cache_not_the_audio(root, cache, tmp_path):
    config = RunConfig.create("sec_softmax", "fan", root, "smoke", overrides=["train.epochs=1"])
    load_features(fan_train_clips(root), SMOKE.features, cache_dir=tmp_path, chunk_frames=1, progress=False)
    (entry,) = (tmp_path / SMOKE.features.key()).iterdir()
    frames = np.load(entry / "frames.npy", mmap_mode="r+")
    frames[:] = np.nan  # a disk that went bad under the cache
    frames.flush()
    with pytest.raises(TrainingDiverged) as err:
        train(config, tmp_path / "run", cache_dir=tmp_path, progress=False)
    assert "the cached features of these input clips are NaN or infinite" in str(err.value)
    assert f"remove the damaged cache entry {entry} and run again" in str(err.value)


def test_a_utf16_score_file_is_named(tmp_path):
    path = tmp_path / "anomaly_score_fan_section_00_test.csv"
    path.write_text("section_00_source_test_normal_0000_m-n_W.wav,0.5\n", encoding="utf-16")
    with pytest.raises(ValueError, match=rf"^{path}: not UTF-8 text \(it holds byte 0xff; UTF-16\?\)"):
        read_score_csv(path)


def test_a_malformed_ground_truth_attribute_row_names_its_csv(root, tmp_path):
    truth = tmp_path / "truth"
    shutil.copytree(root / "eval_truth", truth)
    csv = truth / "ground_truth_attributes" / "fan" / "attributes_03.csv"
    lines = csv.read_text().splitlines()
    csv.write_text("\n".join([lines[0], lines[1].rsplit(",", 1)[0] + ",not_a_clip_name.wav", *lines[2:]]) + "\n")
    with pytest.raises(ValueError, match=rf"^{csv}, line 2: "):
        index_dataset(root, truth=truth, machines=("fan",))


# --- 12. hidden and archive litter is skipped with a note; .WAV is taken ----------------------
def test_hidden_and_archive_litter_is_skipped_with_a_note_and_upper_case_wav_taken(root, tmp_path, capsys):
    copy = tmp_path / "messy"
    shutil.copytree(root / "dev_data", copy / "dev_data")
    train_dir = copy / "dev_data" / "fan" / "train"
    clips = sorted(train_dir.glob("*.wav"))
    (copy / "dev_data" / ".ipynb_checkpoints").mkdir()
    (copy / "dev_data" / "__MACOSX" / "fan" / "train").mkdir(parents=True)
    (train_dir / f"._{clips[0].name}").write_bytes(b"\x00\x05\x16\x07 AppleDouble")  # macOS's resource fork
    upper = clips[1].rename(clips[1].with_suffix(".WAV"))
    assert cli(["index", str(copy)]) == 0
    captured = capsys.readouterr()
    assert captured.err.startswith(f"asdlib: note: skipped 3 hidden or archive entries under {copy} (e.g. "
                                   "dev_data/.ipynb_checkpoints, dev_data/__MACOSX, dev_data/fan/train/._section_00")
    assert f"\n{len(clips) + 4 * 3 * 4} clips, 1 machine(s)" in captured.out  # the .WAV clip counted
    index = index_dataset(copy)
    assert str(upper) in set(index["path"])


# --- 6. staging folders are never read as results, and the next scoring removes them --------
def test_a_killed_scorings_staging_folder_is_not_read_as_a_result(run, cache, tmp_path):
    study = tmp_path / "study"
    seed0 = study / "sec_softmax" / "fan" / "seed0"
    shutil.move(run, seed0)
    score_run(seed0, cache_dir=cache, progress=False)
    staged = seed0 / "results" / "last" / ".section.tmp-dead"  # what a kill -9 during scoring leaves
    shutil.copytree(seed0 / "results" / "last" / "section", staged)
    assert [(path, s["mode"]) for path, s in summaries(study, "last")] == [(seed0, "section")]


def test_the_next_scoring_of_any_rule_removes_staging_folders(run, cache):
    staged = [run / "results" / "last" / ".section.tmp-dead", run / "results" / "average2" / ".section.tmp-x",
              run / "results" / ".last.tmp-y"]
    for folder in staged:
        folder.mkdir(parents=True)
        (folder / "summary.json").write_text("{}")
    score_run(run, rules=("best_dev",), cache_dir=cache, progress=False)
    assert not any(folder.exists() for folder in staged)
    assert (run / "results" / "best_dev" / "section" / "summary.json").is_file()


# --- 7. a lost config.json is read from the checkpoints, never overwritten by a contradicting one --
def test_a_lost_config_is_restored_from_the_checkpoints_and_a_different_command_refused(run, root, cache, capsys,
                                                                                       monkeypatch):
    monkeypatch.setenv("ASDLIB_CACHE", str(cache))
    original = json.loads((run / "config.json").read_text())
    (run / "config.json").unlink()
    argv = ["train", "--data", str(root), "--machine", "fan", "--system", "sec_softmax", "--scale", "smoke",
            "--out", str(run), "--truth", str(root / "eval_truth"), "--set", "train.epochs=2",
            "--set", "train.checkpoint_every=1"]
    assert cli(argv + ["--seed", "1"]) == 2
    line = last_error_line(capsys, "train")
    assert "holds a run with another configuration (run.seed is 0 there, 1 here)" in line
    restored = json.loads((run / "config.json").read_text())
    assert {k: v for k, v in restored.items() if k != "code"} == {k: v for k, v in original.items() if k != "code"}
    assert cli(argv) == 0  # the original command still finds its run
    (run / "config.json").unlink()
    assert cli(["score", str(run)]) == 0
    assert f"asdlib: note: {run / 'config.json'} was missing: restored from checkpoints/epoch_0002.pt" in \
        capsys.readouterr().err


# --- 8. a half-trained run is scored, but says so ---------------------------------------------
def test_a_half_trained_run_is_scored_with_a_warning_and_recorded_as_incomplete(run, cache, capsys):
    summary = run / "results" / "last" / "section" / "summary.json"
    score_run(run, cache_dir=cache, progress=False)
    assert "warning" not in capsys.readouterr().err
    assert json.loads(summary.read_text())["checkpoint"]["complete"] is True
    (run / "checkpoints" / "epoch_0002.pt").unlink()  # as an interrupted training leaves it
    score_run(run, cache_dir=cache, progress=False)
    warning = capsys.readouterr().err.strip().splitlines()
    assert warning == [f"asdlib score: warning: {run}: no checkpoint of epoch(s) [2] (1 of the 2 planned); scored "
                       "as it is, 'last' is epoch 1 of 2 (summary.json: \"complete\": false)"]
    checkpoint = json.loads(summary.read_text())["checkpoint"]
    assert checkpoint["complete"] is False and checkpoint["epoch"] == 1
    assert checkpoint["epochs"] == [1] and checkpoint["planned_epochs"] == [1, 2]


# --- 9. arguments are checked before anything is embedded ------------------------------------
@pytest.mark.parametrize("arguments, message", [
    (["--checkpoint", "average9"], r"checkpoint rule average9: .* has only 2 checkpoint\(s\) \(\[1, 2\]\)"),
    (["--checkpoint", "last", "average0"], r"checkpoint rule\(s\) \['average0'\]: choose from"),
    (["--weights", "0", "0"], r"weights \[0.0, 0.0\]: the wt mode's \(W_S, W_A\) \(Eq. 5\) must be two finite"),
    (["--weights", "-1", "5"], r"weights \[-1.0, 5.0\]: "),
    (["--weights", "nan", "1"], r"weights \[nan, 1.0\]: "),
])
def test_score_arguments_are_refused_before_anything_is_embedded(run, capsys, monkeypatch, arguments, message):
    def slow_work(*args, **kwargs):
        raise AssertionError("features loaded before the arguments were checked")
    monkeypatch.setattr(inference, "load_features", slow_work)
    assert cli(["score", str(run), *arguments]) == 2
    assert re.search(message, last_error_line(capsys, "score"))
    assert not (run / "scored").exists() and not (run / "results").exists()


# --- 13. smaller ones ------------------------------------------------------------------------
def test_scoring_a_mistyped_folder_creates_nothing(tmp_path, capsys):
    typo = tmp_path / "typo_dir"
    assert cli(["score", str(typo)]) == 2
    assert last_error_line(capsys, "score") == f"asdlib score: error: {typo}: not a run folder (no config.json)"
    assert not typo.exists()


def test_ctrl_c_prints_one_line(run, capsys, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt
    monkeypatch.setattr(inference, "score_run", interrupted)
    try:
        rc = cli(["score", str(run)])
    except KeyboardInterrupt:
        pytest.fail("Ctrl-C reached the user as a traceback")
    assert rc == 130 and capsys.readouterr().err == "asdlib score: interrupted\n"


def test_explain_refuses_a_run_of_another_system_naming_it(run, capsys):
    assert cli(["explain", str(run), "--clip", "section_00_0000.wav"]) == 2
    assert last_error_line(capsys, "explain") == (f"asdlib explain: error: {run}: explanations need a disent run "
                                                  "(or mtl, for comparison), not sec_softmax")


@pytest.fixture(scope="module")
def disent_scored(root, cache, tmp_path_factory):
    """A disent run of 1 epoch, scored."""
    run = tmp_path_factory.mktemp("runs") / "disent"
    config = RunConfig.create("disent", "fan", root, "smoke", truth_dir=root / "eval_truth",
                              overrides=["train.epochs=1"])
    train(config, run, cache_dir=cache, progress=False)
    score_run(run, cache_dir=cache, progress=False)
    return run


def test_explain_draws_its_card_into_a_missing_folder(disent_scored, cache, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("ASDLIB_CACHE", str(cache))
    assert cli(["explain", str(disent_scored), "--checkpoint", "best_dev", "--clip", "x.wav"]) == 2
    assert last_error_line(capsys, "explain").endswith("results/best_dev/cat/summary.json: missing; score the run "
                                                       f"first (asdlib score {disent_scored} --checkpoint best_dev)")
    scores = sorted((disent_scored / "results" / "last" / "cat").glob("anomaly_score_*"))[0]
    clip = scores.read_text().split(",")[0]
    card = tmp_path / "new" / "folder" / "card.png"
    assert cli(["explain", str(disent_scored), "--clip", clip, "--out", str(card)]) == 0
    assert card.stat().st_size > 0


def test_synth_removes_what_a_killed_synth_left(tmp_path):
    dead = tmp_path / ".data.999999999-x1.partial"  # kill -9 during synth: its writer is gone
    busy = tmp_path / f".data.{os.getpid()}-x2.partial"  # a synth at work
    for folder in (dead, busy):
        (folder / "dev_data").mkdir(parents=True)
    generate(tmp_path / "data", SMOKE.synth, machines=("fan",), progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == [busy.name, "data"]


def test_evaluating_dev_scores_without_truth_refuses_a_file_missing_a_row(run, cache, capsys):
    score_run(run, cache_dir=cache, progress=False)
    folder = run / "results" / "last" / "section"
    path = folder / "anomaly_score_fan_section_01_test.csv"
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(line for line in lines if "_target_test_anomaly_0002_" not in line))
    for name in ["anomaly_score_fan_section_03_test.csv", "anomaly_score_fan_section_04_test.csv",
                 "anomaly_score_fan_section_05_test.csv"]:
        (folder / name).unlink()  # dev files only
    assert cli(["evaluate", str(folder), "--machines", "fan"]) == 2
    assert last_error_line(capsys, "evaluate") == (
        f"asdlib evaluate: error: {path}: rows missing? A dev test set has as many clips in each domain and label; "
        "here source/normal 4, source/anomaly 4, target/normal 4, target/anomaly 3 (pass --truth DIR to check the "
        "rows against the evaluator's files)")


def test_index_refuses_a_ground_truth_row_given_twice(root, tmp_path, capsys):
    truth = tmp_path / "truth"
    shutil.copytree(root / "eval_truth", truth)
    path = truth / "ground_truth_data" / "ground_truth_fan_section_04_test.csv"
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(lines + lines[:1]))
    assert cli(["index", str(root), "--truth", str(truth)]) == 2
    assert last_error_line(capsys, "index") == (f"asdlib index: error: {path}: line {len(lines) + 1}: clip "
                                                f"{lines[0].split(',')[0]!r} already given on line 1")


def test_init_from_a_run_of_another_machine_is_said(trained, tmp_path, capsys):
    gearbox = generate(tmp_path / "gearbox", SMOKE.synth, machines=("gearbox",), progress=False)
    config = RunConfig.create("sec_softmax", "gearbox", gearbox, "smoke", init=trained, overrides=["train.epochs=1"])
    train(config, tmp_path / "fine", cache_dir=tmp_path / "cache", progress=False)
    assert capsys.readouterr().err.strip().splitlines() == [
        f"asdlib train: warning: --init {trained} was trained on fan only, not on every machine (--machine all); "
        "its trunk starts this gearbox run"]
