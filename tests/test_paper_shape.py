"""The paper's shapes on CPU: 10 s clips, window 2048, hop 512 (1025 bins), 32-frame chunks, the
full-width MobileFaceNet, and the hop-1 embedding of 282 chunks per clip, through train, score and
the evaluator's files. Only the number of clips and of epochs is small (one scored checkpoint:
10,152 hop-1 chunks, some three minutes on two CPU threads). ``ASDLIB_TEST_DEVICE=cuda`` (or ``cpu``)
runs it there and nowhere else (``scripts/gpu-check.sh``); unset, on CUDA where torch sees a GPU."""
from __future__ import annotations

import dataclasses
import json
import os

import numpy as np
import pytest
import torch

from asdlib.data import index_dataset, load_clip
from asdlib.embed import chunk_view
from asdlib.evaluate import evaluate_dir
from asdlib.features import log_spectrogram
from asdlib.inference import score_run
from asdlib.metrics import anomaly_score_file_name, read_score_csv
from asdlib.scales import get_scale
from asdlib.study.runs import clips
from asdlib.synth import generate
from asdlib.train import RunConfig, load_model, train

PAPER = get_scale("paper")
DEVICE = os.environ.get("ASDLIB_TEST_DEVICE")  # None: asdlib.train.pick_device's choice
SMALL = dataclasses.replace(PAPER.synth, train_source=2, train_target=1, test_per_domain=1, eval_test=4)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = generate(tmp_path_factory.mktemp("paper") / "data", SMALL, machines=("fan",), progress=False)
    folder = tmp_path_factory.mktemp("runs") / "disent"
    config = RunConfig.create("disent", "fan", root, "paper", truth_dir=root / "eval_truth",
                              overrides=["train.epochs=2", "train.checkpoint_every=1"])
    train(config, folder, device=DEVICE, progress=False)
    return folder, root, score_run(folder, rules=["last"], device=DEVICE, progress=False)


def test_paper_shapes_reach_the_network(run):
    folder, _, _ = run
    _, meta = load_model(folder)
    assert meta["model"]["n_bins"] == 1025  # trained on the paper's 1025 STFT bins (Sec. 3.1)
    embeddings = np.load(folder / "scored" / "embeddings" / "epoch_0002.npz")
    n_clips = len(clips(folder))
    assert all(v.shape[0] == n_clips and np.isfinite(v).all() for v in embeddings.values())


def test_a_10_s_clip_gives_the_papers_282_chunks_of_32_frames_by_1025_bins(run):
    """Sec. 3.1 and 3.3: a 10 s clip is 313 frames of 1025 bins, cut at a hop of one frame into 282
    chunks of 32 frames, which the trained network takes (the first and the last embedded here)."""
    folder, root, _ = run
    wave = load_clip(index_dataset(root, machines=("fan",))["path"].iloc[0])
    spec = log_spectrogram(wave, PAPER.features)
    assert wave.shape == (160_000,) and tuple(spec.shape) == (313, 1025)
    chunks = chunk_view(spec, PAPER.train.chunk_frames, PAPER.train.embed_hop)
    assert tuple(chunks.shape) == (282, 1, 32, 1025)
    model, _ = load_model(folder)
    with torch.no_grad():
        embedded = model.eval().embeddings(chunks[[0, -1]].contiguous())
    assert all(v.shape[0] == 2 and torch.isfinite(v).all() for v in embedded.values())


def test_paper_shape_run_writes_the_evaluators_files(run):
    folder, root, results = run
    assert set(results) == {"last"} and "cat" in results["last"]
    out = folder / "results" / "last" / "cat"
    for section in ("00", "01", "02", "03", "04", "05"):
        scores = read_score_csv(out / anomaly_score_file_name("fan", section))
        assert len(scores) == 4 and all(np.isfinite(list(scores.values())))
    # the evaluator, reading only those files and the ground truth, agrees with the run's own summary
    official = evaluate_dir(out, root / "eval_truth", machines=("fan",))
    summary = json.loads((out / "summary.json").read_text())
    assert len(official) == 6
    for row, mine in zip(official.itertuples(index=False), summary["sections"]):
        assert row.section == mine["section"]
        for metric in ("auc_source", "auc_target", "pauc"):
            assert getattr(row, metric) == pytest.approx(mine[metric], abs=1e-6)
