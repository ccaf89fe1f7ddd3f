"""The ANP detector (system ``anp``): shape contracts, partitions, set invariance, its score, training."""
from __future__ import annotations

import json
import math
import shutil

import numpy as np
import pytest
import torch

from asdlib.models.anp import (BOOT_DEFINITION, MIN_VARIANCE, SETTINGS, AttentiveNeuralProcess, boot_frames,
                        frame_partition, gaussian_nll, patch_coordinates)
from asdlib.inference import score_run
from asdlib.scales import SynthSize, get_scale
from asdlib.synth import generate
from asdlib.systems import resolve_scale
from asdlib.train import RunConfig, train

N_BINS, FRAMES = 16, 5


def _model(**kwargs) -> AttentiveNeuralProcess:
    torch.manual_seed(0)
    return AttentiveNeuralProcess(n_bins=N_BINS, chunk_frames=FRAMES, n_sections=3, **kwargs)


def _patches(batch: int = 6, seed: int = 0) -> torch.Tensor:
    """Log-mel-like patches: a per-band level plus a slow ripple over time and some noise (dB)."""
    g = torch.Generator().manual_seed(seed)
    level = -40.0 + 20.0 * torch.rand(batch, 1, 1, N_BINS, generator=g)
    ripple = 3.0 * torch.sin(torch.arange(FRAMES, dtype=torch.float32) / 2.0)[None, None, :, None]
    return level + ripple + torch.randn(batch, 1, FRAMES, N_BINS, generator=g)


def test_outputs_give_a_mean_and_positive_variance_per_target_element():
    model = _model()
    x = _patches()
    for training in (True, False):
        model.train(training)
        out = model(x)
        assert set(out) == {"mean", "var", "target"}
        for value in out.values():
            assert value.shape == (len(x), N_BINS)
        assert bool((out["var"] >= MIN_VARIANCE).all())
        assert torch.isfinite(out["mean"]).all()
        loss, _ = model.loss(out, {})
        assert torch.allclose(loss, gaussian_nll(out["target"], out["mean"], out["var"]).mean())
    # eval mode predicts the centre frame: its target values are that frame, standardised
    centre = model.standardise(x[:, 0, FRAMES // 2])
    assert torch.allclose(model(x)["target"], centre)


def test_frame_partitions_cover_the_patch_without_overlap():
    coords = patch_coordinates(FRAMES, N_BINS)
    assert coords.shape == (FRAMES * N_BINS, 2)
    for frame in range(FRAMES):
        context, target = frame_partition(FRAMES, N_BINS, frame)
        assert len(context) == (FRAMES - 1) * N_BINS and len(target) == N_BINS
        assert torch.equal(torch.sort(torch.cat([context, target])).values, torch.arange(FRAMES * N_BINS))
        assert bool((coords[target, 0] == frame).all()) and bool((coords[context, 0] != frame).all())
        assert torch.equal(coords[target, 1], torch.arange(N_BINS))
    with pytest.raises(ValueError):
        frame_partition(FRAMES, N_BINS, FRAMES)
    # the Boot partitions: centre first, distinct frames, deterministic
    assert boot_frames(FRAMES, FRAMES)[0] == FRAMES // 2
    assert sorted(boot_frames(FRAMES, FRAMES, seed=3)) == list(range(FRAMES))
    assert boot_frames(FRAMES, 3, seed=1) == boot_frames(FRAMES, 3, seed=1)


def test_prediction_is_invariant_to_the_order_of_the_context_set():
    model = _model().eval()
    coords = model.coords
    context, target = frame_partition(FRAMES, N_BINS, 1)
    y = torch.randn(4, FRAMES * N_BINS, generator=torch.Generator().manual_seed(1))
    perm = torch.randperm(len(context), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        mean, var = model.predict(coords[context], y[:, context], coords[target])
        mean_p, var_p = model.predict(coords[context[perm]], y[:, context[perm]], coords[target])
        changed, _ = model.predict(coords[context], y[:, context].roll(1, dims=1), coords[target])
    assert torch.allclose(mean, mean_p, atol=1e-5) and torch.allclose(var, var_p, atol=1e-5)
    assert not torch.allclose(mean, changed, atol=1e-3)  # values moved to other coordinates do matter


def test_chunk_score_is_lowest_when_the_target_equals_the_predicted_mean():
    model = _model(n_boot=1).eval()
    x = _patches()
    centre = FRAMES // 2
    with torch.no_grad():
        out = model(x)
        std = model.standardise
        exact = x.clone()
        exact[:, 0, centre] = std.mean + out["mean"] * (std.var + std.eps).sqrt()
        perturbed = exact.clone()
        perturbed[:, 0, centre, ::3] += 2.0
        scores = model.chunk_scores(exact, torch.zeros(len(x), dtype=torch.long))
        worse = model.chunk_scores(perturbed, torch.zeros(len(x), dtype=torch.long))
    assert scores.shape == (len(x),) and scores.dtype == torch.float32
    # at the mean the NLL is exactly 0.5 (log 2 pi + log var), averaged over the target elements
    assert torch.allclose(scores, 0.5 * (math.log(2 * math.pi) + out["var"].log()).mean(1), atol=1e-4)
    assert bool((worse > scores).all())
    # the Boot score is the mean of the per-partition scores
    boot = _model().eval()
    with torch.no_grad():
        per_partition = boot.partition_nll(x, boot.boot)
        assert per_partition.shape == (FRAMES, len(x))
        assert torch.allclose(boot.chunk_scores(x, None), per_partition.mean(0))


def test_describe_from_config_round_trip():
    model = _model(n_boot=3, boot_seed=7)
    cfg = json.loads(json.dumps(model.describe()))
    assert cfg["system"] == "anp" and cfg["boot_definition"] == BOOT_DEFINITION
    assert cfg["boot_frames"][0] == FRAMES // 2 and len(cfg["boot_frames"]) == 3
    rebuilt = AttentiveNeuralProcess.from_config(cfg)
    rebuilt.load_state_dict(model.state_dict())
    assert rebuilt.describe() == model.describe()
    x = _patches()
    model.eval(), rebuilt.eval()
    with torch.no_grad():
        assert torch.equal(model.chunk_scores(x), rebuilt.chunk_scores(x))


def test_a_few_steps_on_a_fixed_batch_reduce_the_loss():
    model = _model()
    x = _patches(batch=16, seed=5)
    with torch.no_grad():
        model(x)  # fixes the band statistics (a repeated batch leaves them unchanged)
    model.eval()
    with torch.no_grad():
        before = model.partition_nll(x, list(range(FRAMES))).mean().item()
    optimiser = torch.optim.Adam(model.parameters(), lr=2e-2)
    model.train()
    for _ in range(30):
        loss, stats = model.loss(model(x), {})
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    assert set(stats) == {"nll", "mse"}
    model.eval()
    with torch.no_grad():
        after = model.partition_nll(x, list(range(FRAMES))).mean().item()
    assert after < before - 0.4, (before, after)


def test_settings_fit_their_clips():
    frames = {"smoke": 63, "quick": 126, "paper": 313}
    for name in SETTINGS:
        scale = resolve_scale("anp", get_scale(name))
        assert scale.features.n_mels > 0 and scale.train.chunk_frames <= frames[name]
        assert scale.features.hop == 512


def test_smoke_training_and_scoring_write_the_official_files(tmp_path):
    root = generate(tmp_path / "data", SynthSize(clip_seconds=2.0, train_source=6, train_target=2,
                                                 test_per_domain=2, eval_test=8),
                    machines=("fan",), progress=False)
    scale = resolve_scale("anp", get_scale("smoke")).replace(**{"train.epochs": 2})
    config = RunConfig(system="anp", machine="fan", data_root=str(root), scale=scale,
                       truth_dir=str(root / "eval_truth"))
    cache = tmp_path / "cache"
    train(config, tmp_path / "run", cache_dir=cache, progress=False)
    summary = score_run(tmp_path / "run", cache_dir=cache, progress=False)["last"]["score"]
    folder = tmp_path / "run" / "results" / "last" / "score"
    official = sorted(p.name for p in folder.glob("*_fan_section_*_test.csv"))
    assert official == [f"{kind}_fan_section_{s:02d}_test.csv"
                        for kind in ("anomaly_score", "decision_result") for s in range(6)]
    written = json.loads((folder / "summary.json").read_text())
    assert written["mode"] == summary["mode"] == "score" and written["system"] == "anp"
    assert written["dev"] is not None and written["eval"] is not None
    scores = np.loadtxt(folder / "anomaly_score_fan_section_00_test.csv", delimiter=",", usecols=1)
    assert np.isfinite(scores).all() and np.ptp(scores) > 0
    # resuming from the epoch-1 checkpoint gives the same weights (partitions are drawn from the step)
    resumed = tmp_path / "resumed"
    (resumed / "checkpoints").mkdir(parents=True)
    shutil.copy(tmp_path / "run" / "config.json", resumed / "config.json")
    shutil.copy(tmp_path / "run" / "checkpoints" / "epoch_0001.pt", resumed / "checkpoints")
    last = train(config, resumed, cache_dir=cache, progress=False)
    straight = torch.load(tmp_path / "run" / "checkpoints" / "epoch_0002.pt", weights_only=True)["model"]
    again = torch.load(last, weights_only=True)["model"]
    for key in straight:
        assert torch.equal(straight[key], again[key]), key
