"""Nothing half-written, nothing silently wrong: what a demanding user tried, case by case."""
from __future__ import annotations

import json
import os
import shutil
import stat

import numpy as np
import pandas as pd
import pytest
import soundfile

from asdlib import inference
from asdlib.atomic import exclusive, write_atomic
from asdlib.cli import main as cli
from asdlib.data import AudioError, load_clip
from asdlib.evaluate import evaluate_dir
from asdlib.features import load_features
from asdlib.inference import score_run
from asdlib.scales import get_scale
from asdlib.synth import generate
from asdlib.train import RunConfig, TrainingDiverged, list_checkpoints, train

from conftest import write_wav

SMOKE = get_scale("smoke")


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return generate(tmp_path_factory.mktemp("data") / "fan", SMOKE.synth, seed=0, machines=("fan",), progress=False)


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("cache")


def config(root, system="sec_softmax", seed=0, **settings):
    overrides = [f"{k.replace('__', '.')}={v}" for k, v in
                 {"train__epochs": 2, "train__checkpoint_every": 1, **settings}.items()]
    truth = root / "eval_truth"
    return RunConfig.create(system, "fan", root, "smoke", seed=seed, truth_dir=truth if truth.is_dir() else None,
                            overrides=overrides)


@pytest.fixture(scope="module")
def trained(root, cache, tmp_path_factory):
    run = tmp_path_factory.mktemp("runs") / "run"
    train(config(root), run, cache_dir=cache, progress=False)
    return run


def copy_run(trained, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(trained, run)
    return run


# --- 1. a mode's result folder is replaced as a whole -----------------------------------------
class Killed(BaseException):
    """Stands for SIGKILL in the middle of writing (a BaseException, as KeyboardInterrupt is)."""


def kill_after(monkeypatch, n_files):
    real, count = inference.write_decision_results, {"n": 0}

    def dying(*args, **kwargs):
        count["n"] += 1
        if count["n"] > n_files:
            raise Killed()
        return real(*args, **kwargs)
    monkeypatch.setattr(inference, "write_decision_results", dying)


def test_a_killed_first_score_leaves_no_result_folder(trained, tmp_path, cache, monkeypatch):
    run = copy_run(trained, tmp_path)
    kill_after(monkeypatch, 3)
    with pytest.raises(Killed):
        score_run(run, cache_dir=cache, progress=False)
    assert not (run / "results" / "last" / "section").exists()
    assert not list((run / "results").rglob("*.csv"))  # three score files were written, none is visible
    with pytest.raises(ValueError, match="no anomaly_score"):
        evaluate_dir(run / "results" / "last", machines=["fan"])
    # a SIGKILL leaves its staged folder behind: the next scoring removes it and writes a whole set
    (run / "results" / "last" / ".section.tmp-dead").mkdir()
    monkeypatch.undo()
    score_run(run, cache_dir=cache, progress=False)
    assert sorted(p.name for p in (run / "results" / "last").iterdir()) == ["section"]


def test_a_killed_rescore_keeps_the_previous_set_whole(trained, tmp_path, cache, monkeypatch):
    run = copy_run(trained, tmp_path)
    score_run(run, cache_dir=cache, progress=False)
    folder = run / "results" / "last" / "section"
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    kill_after(monkeypatch, 3)
    with pytest.raises(Killed):
        score_run(run, backend="knn", cache_dir=cache, progress=False)
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
    assert json.loads((folder / "summary.json").read_text())["backend"] == "nn"
    assert not (run / "results-knn" / "last" / "section").exists()   # nor half of the killed set


def test_backends_keep_their_results_side_by_side(trained, root, tmp_path, cache):
    run = copy_run(trained, tmp_path)
    score_run(run, cache_dir=cache, progress=False)
    nn_scores = (run / "scored" / "epoch_scores.npz").read_bytes()
    nn_summary = (run / "results" / "last" / "section" / "summary.json").read_text()
    score_run(run, backend="knn", cache_dir=cache, progress=False)
    assert (run / "results" / "last" / "section" / "summary.json").read_text() == nn_summary
    assert (run / "scored" / "epoch_scores.npz").read_bytes() == nn_scores   # the study reads these
    knn = json.loads((run / "results-knn" / "last" / "section" / "summary.json").read_text())
    assert knn["backend"] == "knn" and (run / "results-knn" / "epoch_scores.npz").is_file()
    official = evaluate_dir(run / "results-knn" / "last" / "section", root / "eval_truth", machines=["fan"])
    assert len(official) == 6   # the evaluator reads the knn backend's files like any others


@pytest.mark.parametrize("backend", ["knn_domain", "kmeans_target", "smote_knn", "knn_ldn"])
def test_asdlib_score_with_a_domain_generalisation_backend_writes_the_official_files(backend, trained, root,
                                                                                    tmp_path, cache, capsys,
                                                                                    monkeypatch):
    """Each new backend through the command line: its own results folder, the official files of every
    section (2 target against 12 source training clips a section here), read by the evaluator."""
    run = copy_run(trained, tmp_path)
    monkeypatch.setenv("ASDLIB_CACHE", str(cache))
    assert cli(["score", str(run), "--backend", backend]) == 0
    folder = run / f"results-{backend}" / "last" / "section"
    assert str(folder) in capsys.readouterr().out
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["backend"] == backend and not (run / "results").exists()
    sections = sorted(p.name.split("_")[3] for p in folder.glob("anomaly_score_fan_section_*_test.csv"))
    assert sections == sorted(p.name.split("_")[3] for p in folder.glob("decision_result_fan_section_*_test.csv"))
    assert len(sections) == 6
    official = evaluate_dir(folder, root / "eval_truth", machines=["fan"])
    assert len(official) == 6 and np.isfinite(official["auc_target"]).all()


def test_a_rescore_without_truth_keeps_the_eval_metrics_it_reproduces(trained, tmp_path, cache):
    run = copy_run(trained, tmp_path)
    first = score_run(run, cache_dir=cache, progress=False)["last"]["section"]
    assert first["eval"] is not None
    again = score_run(run, truth_dir="", cache_dir=cache, progress=False)["last"]["section"]
    assert again["eval"] == first["eval"] and again["sections"] == first["sections"]


def test_a_rescore_without_truth_drops_eval_metrics_it_cannot_reproduce(trained, tmp_path, cache, capsys):
    run = copy_run(trained, tmp_path)
    score_run(run, cache_dir=cache, progress=False)
    tampered = run / "results" / "last" / "section" / "anomaly_score_fan_section_04_test.csv"
    name, value = tampered.read_text().splitlines()[0].split(",")
    tampered.write_text(tampered.read_text().replace(f"{name},{value}", f"{name},{float(value) + 1!r}", 1))
    again = score_run(run, truth_dir="", cache_dir=cache, progress=False)["last"]["section"]
    assert again["eval"] is None and {r["section"] for r in again["sections"]} == {"00", "01", "02"}
    assert "eval metrics of the earlier scoring were dropped" in capsys.readouterr().err


def test_a_dev_only_rescore_leaves_no_old_eval_files(trained, root, tmp_path, cache):
    run = copy_run(trained, tmp_path)
    score_run(run, cache_dir=cache, progress=False)
    dev_only = tmp_path / "dev_only"
    shutil.copytree(root / "dev_data", dev_only / "dev_data")
    score_run(run, data_root=dev_only, truth_dir="", cache_dir=cache, progress=False)
    files = sorted(p.name for p in (run / "results" / "last" / "section").glob("anomaly_score_*"))
    assert files == [f"anomaly_score_fan_section_0{s}_test.csv" for s in range(3)]
    summary = json.loads((run / "results" / "last" / "section" / "summary.json").read_text())
    assert summary["eval"] is None and len(summary["sections"]) == 3
    evaluate_dir(run / "results" / "last" / "section", machines=["fan"])
    # other clips: nothing of the earlier scoring's arrays is kept beside the new clip table
    clips = pd.read_csv(run / "scored" / "clips.csv")
    assert np.load(run / "scored" / "epoch_scores.npz")["section"].shape[1] == len(clips)
    assert all(len(next(iter(np.load(f).values()))) == len(clips) for f in (run / "scored" / "embeddings").glob("*.npz"))


# --- 2. a diverged training stops, naming where ------------------------------------------------
def test_a_diverged_training_stops_at_the_first_non_finite_loss(root, cache, tmp_path, monkeypatch):
    import torch

    from asdlib import train as training

    run, batches, outputs_of = tmp_path / "run", iter(range(10**6)), training._float32

    def diverging(outputs):  # from the 9th batch (epoch 2) on, the outputs of weights that grew without bound
        out = outputs_of(outputs)
        return out if next(batches) < 8 else {k: v * float("inf") if torch.is_tensor(v) else v for k, v in out.items()}
    monkeypatch.setattr(training, "_float32", diverging)  # (train.lr is at most 1: no setting diverges at will)
    with pytest.raises(TrainingDiverged, match=r"training diverged at epoch 2, batch \d+: the loss is not finite"):
        train(config(root, **{"train__epochs": 6}), run, cache_dir=cache, progress=False)
    assert list_checkpoints(run) == [1]

    for epoch in list_checkpoints(run):  # whatever was saved before is finite
        state = torch.load(run / "checkpoints" / f"epoch_{epoch:04d}.pt", weights_only=True)["model"]
        assert all(torch.isfinite(v).all() for v in state.values() if v.is_floating_point())


def test_non_finite_audio_is_refused_naming_every_bad_file(root, tmp_path, cache):
    bad_root = tmp_path / "bad"
    shutil.copytree(root / "dev_data", bad_root / "dev_data")
    train_dir = bad_root / "dev_data" / "fan" / "train"
    bad = sorted(train_dir.glob("*.wav"))[:2]
    for path in bad:
        wave, rate = soundfile.read(path, dtype="float32")
        wave[100] = np.nan
        soundfile.write(path, wave, rate, subtype="FLOAT")
    with pytest.raises(AudioError, match=f"{bad[0]}: 1 samples are NaN or infinite"):
        load_clip(bad[0])
    with pytest.raises(AudioError) as err:
        train(config(bad_root), tmp_path / "run", cache_dir=tmp_path / "cache", progress=False)
    assert "2 clips cannot be used" in str(err.value) and all(str(p) in str(err.value) for p in bad)
    assert not (tmp_path / "run" / "config.json").exists()


# --- 3. out-of-range settings are refused before anything is written -------------------------
@pytest.mark.parametrize("setting, message", [
    ("train.epochs=0", "train.epochs = 0: must be an integer >= 1"),
    ("train.epochs=-3", "train.epochs = -3: must be an integer >= 1"),
    ("train.checkpoint_every=0", "train.checkpoint_every = 0: must be an integer >= 1"),
    ("train.batch_size=0", "train.batch_size = 0: must be an integer >= 2"),
    ("train.chunk_frames=1000", "train.chunk_frames = 1000: must be at most the frames of the shortest clip"),
    ("train.epochs=two", "train.epochs = 'two': must be an integer"),
    ("train.epoch=3", "unknown setting 'train.epoch'; the settings are: synth.clip_seconds"),
])
def test_bad_settings_are_one_line_errors_and_leave_the_folder_usable(root, tmp_path, capsys, setting, message):
    out = tmp_path / "run"
    argv = ["train", "--data", str(root), "--machine", "fan", "--system", "sec_softmax", "--scale", "smoke",
            "--out", str(out)]
    assert cli(argv + ["--set", setting]) == 2
    err = capsys.readouterr().err
    last = err.strip().splitlines()[-1]  # progress bars may come first; the error has a line of its own
    assert last.startswith("asdlib train: error: ") and message in last and "Traceback" not in err
    assert not (out / "config.json").exists()


def test_a_system_typo_lists_all_nine(root, tmp_path, capsys):
    with pytest.raises(SystemExit):
        cli(["train", "--data", str(root), "--machine", "fan", "--system", "disentt", "--out", str(tmp_path)])
    err = capsys.readouterr().err
    for name in ("sec_softmax", "sec_arcface", "mtl", "disent", "disent_split", "adversarial", "ae", "mn", "anp"):
        assert f"'{name}'" in err


# --- 6. a checkpoint of another configuration is refused ---------------------------------------
def test_resuming_or_scoring_another_configuration_is_refused(trained, root, tmp_path, cache):
    run = copy_run(trained, tmp_path)
    (run / "config.json").unlink()  # read from the checkpoints, and not overwritten (issue 21 item 7)
    with pytest.raises(ValueError, match=r"holds a run with another configuration \(run.seed is 0 there, 7 here"):
        train(config(root, seed=7), run, cache_dir=cache, progress=False)
    (run / "config.json").unlink()
    with pytest.raises(ValueError, match=r"another configuration \(.*model.system is 'sec_softmax' there, 'mtl' here"):
        train(config(root, system="mtl"), run, cache_dir=cache, progress=False)
    meta = json.loads((run / "config.json").read_text())
    assert meta["run"]["system"] == "sec_softmax"
    meta["run"]["system"] = "mtl"  # a config.json edited by hand: scoring the sec_softmax weights is refused
    (run / "config.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="made by another configuration"):
        score_run(run, cache_dir=cache, progress=False)


def test_a_refused_run_folder_says_which_setting_differs(trained, root, tmp_path, cache):
    run = copy_run(trained, tmp_path)
    with pytest.raises(ValueError, match=r"holds a run with another configuration \(run.seed is 0 there, 3 here\)"):
        train(config(root, seed=3), run, cache_dir=cache, progress=False)


# --- weak spots ------------------------------------------------------------------------------
def test_a_truncated_checkpoint_is_named_with_the_way_out(trained, root, tmp_path, cache):
    run = copy_run(trained, tmp_path)
    last = run / "checkpoints" / "epoch_0002.pt"
    last.write_bytes(last.read_bytes()[:1000])
    with pytest.raises(ValueError, match=f"{last}: cannot be read .*remove it and run again to resume from epoch 1"):
        score_run(run, cache_dir=cache, progress=False)
    last.unlink()
    first = run / "checkpoints" / "epoch_0001.pt"
    first.write_bytes(first.read_bytes()[:1000])
    with pytest.raises(ValueError, match=f"{first}: cannot be read .*remove it and run again to start afresh"):
        train(config(root), run, cache_dir=cache, progress=False)


def test_litter_of_a_killed_run_is_cleaned_at_the_next_start(trained, root, tmp_path, cache):
    run = copy_run(trained, tmp_path)
    litter = [run / "checkpoints" / ".epoch_0003.pt.tmp-abc", run / ".train_log.csv.tmp-xyz"]
    for path in litter:
        path.write_bytes(b"half")
    dead = cache / "stft_nfft128_hop64" / "fan-0123456789abcdef.tmp-999999999-xyz"
    dead.mkdir(parents=True)
    train(config(root), run, cache_dir=cache, progress=False)
    assert not any(p.exists() for p in litter) and not dead.exists()
    assert list_checkpoints(run) == [1, 2]


def test_a_second_writer_of_a_run_folder_is_refused(trained, root, tmp_path, cache):
    run = copy_run(trained, tmp_path)
    with exclusive(run):
        with pytest.raises(ValueError, match=f"{run}: in use by another asdlib process \\(pid {os.getpid()}\\)"):
            train(config(root), run, cache_dir=cache, progress=False)
        with pytest.raises(ValueError, match="in use by another asdlib process"):
            score_run(run, cache_dir=cache, progress=False)


def test_a_file_rewritten_with_the_same_size_and_mtime_is_not_read_stale(tmp_path):
    from asdlib.data import index_dataset

    path = write_wav(tmp_path / "root" / "dev_data" / "fan" / "train" / "section_00_source_train_normal_0000_m-n_W.wav",
                     seconds=1.0, seed=1)
    (tmp_path / "root" / "dev_data" / "fan" / "test").mkdir()
    spec = get_scale("smoke").features
    clips = index_dataset(tmp_path / "root", year=2022)
    first = np.array(load_features(clips, spec, cache_dir=tmp_path / "cache", progress=False)[0])
    st = os.stat(path)
    write_wav(path, seconds=1.0, seed=2)  # same size
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))  # same modification time
    assert os.stat(path).st_size == st.st_size and os.stat(path).st_mtime_ns == st.st_mtime_ns
    second = np.array(load_features(clips, spec, cache_dir=tmp_path / "cache", progress=False)[0])
    assert not np.array_equal(first, second)


@pytest.mark.parametrize("umask", [0o022, 0o002])
def test_results_respect_the_umask(tmp_path, umask):
    old = os.umask(umask)
    try:
        path = write_atomic(tmp_path / "x" / "summary.json", "{}")
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask


def test_the_thread_count_is_recorded(trained):
    import torch

    code = json.loads((trained / "config.json").read_text())["code"]
    assert code["threads"] == torch.get_num_threads() and code["torch"] == torch.__version__


def test_index_check_audio_lists_every_problem(root, tmp_path, capsys):
    bad_root = tmp_path / "bad"
    shutil.copytree(root / "dev_data", bad_root / "dev_data")
    test_dir = bad_root / "dev_data" / "fan" / "test"
    clips = sorted(test_dir.glob("*.wav"))
    write_wav(clips[0], seconds=2.0, rate=8000)
    write_wav(clips[1], seconds=2.0, channels=2)
    data = clips[2].read_bytes()
    clips[2].write_bytes(data[:len(data) // 2])  # the header still promises the whole clip
    assert cli(["index", str(bad_root), "--check-audio"]) == 1
    out = capsys.readouterr().out
    assert f"{clips[0]}: sample rate 8000 Hz" in out
    assert f"{clips[1]}: 2 channels" in out
    assert f"{clips[2]}: truncated" in out
    assert f"audio: {len(list(bad_root.rglob('*.wav'))) - 3} of" in out


def test_rescoring_the_last_checkpoint_keeps_what_best_dev_was_chosen_from(trained, tmp_path, cache):
    run = copy_run(trained, tmp_path)
    score_run(run, rules=("last", "best_dev"), cache_dir=cache, progress=False)
    best = json.loads((run / "results" / "best_dev" / "section" / "summary.json").read_text())["checkpoint"]
    before = np.load(run / "scored" / "epoch_scores.npz")
    score_run(run, rules=("last",), cache_dir=cache, progress=False)
    after = np.load(run / "scored" / "epoch_scores.npz")
    assert after["epochs"].tolist() == before["epochs"].tolist() == best["epochs"]
    assert np.array_equal(after["section"], before["section"])
    assert (run / "scored" / "embeddings" / f"epoch_{best['epoch']:04d}.npz").is_file()
