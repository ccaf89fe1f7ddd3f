"""The DCASE 2022 baselines (systems ``ae`` and ``mn``): layout, score identities, round trips, a smoke run."""
from __future__ import annotations

import dataclasses
import json
import math

import pytest
import torch
from torch import nn

from asdlib import systems
from asdlib.features import n_frames
from asdlib.inference import score_run
from asdlib.models import autoencoder, mobilenetv2
from asdlib.models.autoencoder import AutoEncoder
from asdlib.models.mobilenetv2 import InvertedResidual, MobileNetV2Classifier
from asdlib.scales import SynthSize, get_scale
from asdlib.synth import generate
from asdlib.train import RunConfig, train

MODULES = {"ae": autoencoder, "mn": mobilenetv2}


def _eval_copy(model: nn.Module) -> nn.Module:
    """A fresh model from ``describe()`` holding the same weights, in eval mode."""
    twin = systems.from_config(json.loads(json.dumps(model.describe())))
    twin.load_state_dict(model.state_dict())
    return twin.eval()


# ---------------------------------------------------------------------------------------------
# Layout
# ---------------------------------------------------------------------------------------------
def test_autoencoder_has_the_baseline_layer_sizes():
    model = AutoEncoder(n_bins=128, chunk_frames=5, n_sections=6)
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    sizes = [linears[0].in_features] + [m.out_features for m in linears]
    assert sizes == [640, 128, 128, 128, 128, 8, 128, 128, 128, 128, 640]
    # every layer but the output: Linear + BatchNorm1d + ReLU
    norms = [m.num_features for m in model.modules() if isinstance(m, nn.BatchNorm1d)]
    assert norms == sizes[1:-1]
    assert sum(isinstance(m, nn.ReLU) for m in model.modules()) == 9
    assert model.describe()["layer_widths"] == sizes
    out = model(torch.randn(7, 1, 5, 128))
    assert out["input"].shape == out["reconstruction"].shape == (7, 640)
    with pytest.raises(ValueError):
        model(torch.randn(7, 1, 6, 128))


def test_autoencoder_flattens_frame_major():
    x = torch.arange(2 * 5 * 128, dtype=torch.float32).reshape(2, 1, 5, 128)
    flat = AutoEncoder()(x.contiguous(memory_format=torch.channels_last))["input"]
    assert torch.equal(flat[1, 128 * 3:128 * 4], x[1, 0, 3])


def test_mobilenetv2_has_inverted_residual_blocks_at_the_baseline_width():
    model = MobileNetV2Classifier(n_bins=128, chunk_frames=64, n_sections=6)
    assert model.width == 0.5  # the baseline's alpha at its input size
    blocks = [m for m in model.modules() if isinstance(m, InvertedResidual)]
    assert len(blocks) == sum(n for _, _, n, _ in mobilenetv2.BLOCKS) == 17
    for block in blocks[1:]:  # every block after the first expands by 6, then a 3x3 depthwise conv
        convs = [m for m in block.modules() if isinstance(m, nn.Conv2d)]
        expand, depthwise, project = convs
        assert expand.kernel_size == (1, 1) and expand.out_channels == 6 * expand.in_channels
        assert depthwise.kernel_size == (3, 3)
        assert depthwise.groups == depthwise.in_channels == depthwise.out_channels == expand.out_channels
        assert project.kernel_size == (1, 1) and project.in_channels == expand.out_channels
    # residual connections exactly where the stride is 1 and the width unchanged: 10 of 17
    assert sum(b.residual for b in blocks) == 10
    stem = model.features[0][0]
    assert (stem.in_channels, stem.out_channels, stem.stride) == (1, 16, (2, 2))  # 32 x 0.5
    assert [b.body[-1][0].out_channels for b in blocks][-1] == 160                   # 320 x 0.5
    assert model.classifier.in_features == 1280 and model.classifier.out_features == 6
    assert model(torch.randn(3, 1, 64, 128))["logits"].shape == (3, 6)


CLIP_FRAMES = {"smoke": 63, "quick": 63, "paper": 313}  # 2 s, 2 s, 10 s at hop 512


@pytest.mark.parametrize("scale", ["smoke", "quick", "paper"])
def test_settings_fit_the_clips_of_each_scale(scale):
    base = get_scale(scale)
    for name, module in MODULES.items():
        resolved = systems.resolve_scale(name, base)
        spec = module.SETTINGS[scale]["features"]
        assert resolved.features == spec and spec.n_mels > 0 and (spec.n_fft, spec.hop) == (1024, 512)
        clip = n_frames(int(base.synth.clip_seconds * 16_000), spec)
        assert clip == CLIP_FRAMES[scale] and resolved.train.chunk_frames <= clip
        model = systems.build(name, n_bins=spec.n_bins, n_sections=6, attribute_classes={}, shift_sections=(),
                              chunk_frames=resolved.train.chunk_frames)
        assert model.describe()["system"] == name


def test_paper_settings_follow_the_baselines():
    ae = systems.resolve_scale("ae", get_scale("paper"))
    assert ae.features.n_mels == 128 and ae.train.chunk_frames == 5 and ae.train.embed_hop == 1
    assert (ae.train.epochs, ae.train.batch_size, ae.train.lr, ae.train.lr_toycar) == (100, 512, 1e-3, 1e-3)
    mn = systems.resolve_scale("mn", get_scale("paper"))
    assert mn.features.n_mels == 128 and mn.train.chunk_frames == 64 and mn.train.embed_hop == 8
    assert n_frames(160_000, mn.features) == 313


# ---------------------------------------------------------------------------------------------
# Scores
# ---------------------------------------------------------------------------------------------
def test_autoencoder_scores_reconstruction_error_exactly():
    torch.manual_seed(0)
    model = AutoEncoder(n_bins=16, chunk_frames=5).eval()
    output = model.decoder[-1]
    target = torch.randn(80)
    with torch.no_grad():  # the output layer ignores its input: every chunk is reconstructed as ``target``
        output.weight.zero_()
        output.bias.copy_(target)
    fixed = target.reshape(1, 1, 5, 16)
    delta = 0.3 * torch.randn(3, 1, 5, 16)
    scores = model.chunk_scores(torch.cat([fixed, fixed + delta]), torch.tensor([0, 0, 1, 2]))
    assert scores.shape == (4,)
    assert scores[0].item() == pytest.approx(0.0, abs=1e-12)
    assert torch.allclose(scores[1:], delta.square().mean(dim=(1, 2, 3)), rtol=1e-5)
    assert (scores[1:] > 0).all()


def test_autoencoder_score_ignores_the_section():
    model = AutoEncoder(n_bins=16, chunk_frames=5, n_sections=3).eval()
    x = torch.randn(4, 1, 5, 16)
    assert torch.equal(model.chunk_scores(x, torch.zeros(4, dtype=torch.long)),
                       model.chunk_scores(x, torch.tensor([2, 1, 0, 2])))


def test_mobilenetv2_score_is_log_odds_against_the_section():
    model = MobileNetV2Classifier(n_bins=32, chunk_frames=16, n_sections=2).eval()
    x = torch.randn(2, 1, 16, 32)
    with torch.no_grad():
        model.classifier.weight.zero_()
        model.classifier.bias.zero_()  # p = 0.5 for both sections
    assert torch.allclose(model.chunk_scores(x, torch.tensor([0, 1])), torch.zeros(2), atol=1e-6)
    with torch.no_grad():
        model.classifier.bias.copy_(torch.tensor([math.log(3.0), 0.0]))  # p = 0.75, 0.25
    scores = model.chunk_scores(x, torch.tensor([0, 1]))
    assert torch.allclose(scores, torch.tensor([-math.log(3.0), math.log(3.0)]), atol=1e-5)
    with torch.no_grad():  # p rounds to 1 and 0 (float64 too): still finite, exact and ordered
        model.classifier.bias.copy_(torch.tensor([100.0, -100.0]))
    assert torch.equal(model.chunk_scores(x, torch.tensor([0, 1])), torch.tensor([-200.0, 200.0]))
    model.classifier.bias.data[0] = 90.0
    assert model.chunk_scores(x, torch.tensor([0]))[0] == -190.0
    with pytest.raises(ValueError, match="sections"):
        model.chunk_scores(x, torch.tensor([0, 2]))
    with pytest.raises(ValueError, match="two sections"):
        MobileNetV2Classifier(n_bins=32, chunk_frames=16, n_sections=1)


@pytest.mark.parametrize("name", ["ae", "mn"])
def test_describe_round_trip_gives_identical_outputs(name):
    torch.manual_seed(1)
    model = systems.build(name, n_bins=64, n_sections=6, attribute_classes={}, shift_sections=(),
                          chunk_frames=5 if name == "ae" else 32)
    x = torch.randn(8, 1, model.chunk_frames, 64)
    model.train()
    model(x)  # move the batch-norm running statistics away from their initial values
    model.eval()
    twin = _eval_copy(model)
    assert twin.describe() == model.describe() and type(twin) is type(model)
    section = torch.arange(8) % 6
    with torch.inference_mode():
        assert torch.equal(model.chunk_scores(x, section), twin.chunk_scores(x, section))
    if name == "mn":
        assert twin.width == 0.25  # the reduced scales' width, restored from describe()


# ---------------------------------------------------------------------------------------------
# Training
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["ae", "mn"])
def test_a_few_steps_on_a_fixed_batch_reduce_the_loss(name):
    torch.manual_seed(0)
    frames = 5 if name == "ae" else 32
    model = systems.build(name, n_bins=64, n_sections=3, attribute_classes={}, shift_sections=(),
                          chunk_frames=frames).train()
    x = torch.randn(16, 1, frames, 64)
    batch = {"section": torch.arange(16) % 3, "attributes": torch.zeros(16, 1, dtype=torch.long),
             "shift": torch.zeros(16, dtype=torch.long)}
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-3)
    losses = []
    for _ in range(25):
        loss, stats = model.loss(model(x), batch)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0], losses
    if name == "mn":
        assert stats["section_acc"] == 1.0  # 16 chunks memorised


@pytest.fixture(scope="module")
def tiny_fan(tmp_path_factory):
    root = tmp_path_factory.mktemp("data") / "fan"
    size = SynthSize(clip_seconds=2.0, train_source=4, train_target=1, test_per_domain=2, eval_test=8)
    generate(root, size, seed=0, machines=("fan",), progress=False)
    return root


@pytest.mark.parametrize("name", ["ae", "mn"])
def test_smoke_training_and_scoring_write_the_official_files(name, tiny_fan, tmp_path):
    scale = systems.resolve_scale(name, get_scale("smoke"))
    scale = dataclasses.replace(scale, train=dataclasses.replace(scale.train, epochs=2, checkpoint_every=1))
    config = RunConfig(system=name, machine="fan", data_root=str(tiny_fan), scale=scale)
    run = tmp_path / "run"
    train(config, run, cache_dir=tmp_path / "cache", progress=False)
    saved = json.loads((run / "config.json").read_text())["model"]
    assert saved["system"] == name and saved["n_sections"] == 6
    summaries = score_run(run, truth_dir=tiny_fan / "eval_truth", cache_dir=tmp_path / "cache", progress=False)
    assert set(summaries) == {"last"} and set(summaries["last"]) == {"score"}
    folder = run / "results" / "last" / "score"
    files = sorted(p.name for p in folder.glob("*_test.csv"))
    assert len(files) == 12
    assert files[0] == "anomaly_score_fan_section_00_test.csv"
    assert files[-1] == "decision_result_fan_section_05_test.csv"
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["mode"] == "score" and summary["backend"] == "direct" and summary["system"] == name
    assert summary["checkpoint"]["epoch"] == 2 and len(summary["sections"]) == 6
    rows = (folder / "anomaly_score_fan_section_03_test.csv").read_text().splitlines()
    assert len(rows) == 8 and all(math.isfinite(float(r.split(",")[1])) for r in rows)
