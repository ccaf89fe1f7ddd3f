"""Test-time chunk embeddings (Sec. 3.3): strided chunk views and batched, pooled embeddings."""
import json

import numpy as np
import pytest
import torch

from asdlib.embed import (chunk_view, default_batch_size, default_pooling, embed_clips, fold_batch_norm, n_chunks,
                          run_embedding_settings)
from asdlib.models.mobilefacenet import build_model


class TinyModel(torch.nn.Module):
    """Stand-in with the model contract: embeddings(x (B, 1, T, F)) -> {"section": (B, 6), "attribute": (B, 4)}.

    ``TinyModel.calls`` counts forward passes of every instance (embed_clips runs a copy of the model)."""
    calls = 0

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.conv = torch.nn.Conv2d(1, 3, kernel_size=3, padding=1)
        self.norm = torch.nn.BatchNorm2d(3)
        self.section = torch.nn.Linear(3, 6)
        self.attribute = torch.nn.Linear(3, 4)

    def embeddings(self, x):
        assert x.dtype == torch.float32 and x.dim() == 4 and x.shape[1] == 1
        type(self).calls += 1
        h = torch.relu(self.norm(self.conv(x))).amax(dim=(2, 3))
        return {"section": self.section(h), "attribute": torch.tanh(self.attribute(h))}


@pytest.fixture
def specs():
    rng = np.random.default_rng(0)
    return [rng.normal(size=(n, 10)).astype(np.float16) for n in (40, 8, 23, 61)]


def reference(model, specs, chunk_frames, hop, pooling):
    """Per-chunk Python loop: each chunk alone through the model, pooled with numpy (population std)."""
    out = {}
    model.eval()
    with torch.no_grad():
        for spec in specs:
            spec = torch.from_numpy(spec.astype(np.float32))
            chunks = [model.embeddings(spec[i:i + chunk_frames][None, None]) for i in
                      range(0, spec.shape[0] - chunk_frames + 1, hop)]
            for name in chunks[0]:
                e = np.concatenate([c[name].numpy() for c in chunks]).astype(np.float64)
                out.setdefault(name, []).append(e.mean(0) if pooling == "mean" else e.std(0))
    return {name: np.stack(v) for name, v in out.items()}


def test_chunk_count_formula():
    assert n_chunks(313, 32, 1) == 282  # a 10 s clip at the paper's settings
    assert n_chunks(32, 32, 1) == 1
    assert n_chunks(100, 32, 16) == 5
    assert n_chunks(95, 32, 16) == 4
    with pytest.raises(ValueError, match="20 frames are fewer than one chunk of 32 frames"):
        n_chunks(20, 32, 1)


def test_chunk_view_is_a_strided_view_with_the_right_chunks():
    spec = torch.randn(313, 1025)
    view = chunk_view(spec)
    assert view.shape == (282, 1, 32, 1025)
    assert view.untyped_storage().data_ptr() == spec.untyped_storage().data_ptr()
    assert torch.equal(view[100, 0], spec[100:132])
    spec[131, 7] = 123.0  # a write to the spectrogram shows in every chunk holding that frame
    assert view[100, 0, 31, 7] == 123.0 and view[131, 0, 0, 7] == 123.0
    hop = chunk_view(spec, chunk_frames=8, hop=5)
    assert hop.shape == (1 + (313 - 8) // 5, 1, 8, 1025)
    assert torch.equal(hop[3, 0], spec[15:23])


def test_chunk_view_of_a_read_only_float16_memmap(tmp_path):
    path = tmp_path / "spec.npy"
    data = np.arange(50 * 6, dtype=np.float16).reshape(50, 6)
    np.save(path, data)
    mm = np.load(path, mmap_mode="r")
    view = chunk_view(mm, chunk_frames=32, hop=4)
    assert view.shape == (5, 1, 32, 6) and view.dtype == torch.float16
    assert np.array_equal(view[2, 0].numpy(), data[8:40])
    with pytest.raises(ValueError, match=r"shape \(10, 6\): 10 frames are fewer than one chunk of 32"):
        chunk_view(mm[:10])
    with pytest.raises(ValueError, match="n_frames, n_bins"):
        chunk_view(np.zeros(10))


@pytest.mark.parametrize("pooling", ["mean", "std"])
def test_embed_clips_equals_per_chunk_loop(specs, pooling):
    model = TinyModel()
    ref = reference(model, specs, chunk_frames=8, hop=3, pooling=pooling)
    got = embed_clips(model, specs, chunk_frames=8, hop=3, pooling=pooling, batch_size=7)
    assert list(got) == ["section", "attribute"]
    for name in ref:
        assert got[name].shape == (4, ref[name].shape[1]) and got[name].dtype == np.float32
        np.testing.assert_allclose(got[name], ref[name], atol=1e-5)
    if pooling == "std":
        assert np.all(got["section"][1] == 0.0)  # an 8-frame clip has one chunk: no spread


def test_embed_clips_independent_of_batch_size_and_input_type(specs, tmp_path):
    model = TinyModel()
    base = embed_clips(model, specs, chunk_frames=8, hop=2, pooling="std", batch_size=1024)
    n_total = sum(n_chunks(len(s), 8, 2) for s in specs)
    for batch_size in (1, 5, n_total - 1):
        calls = TinyModel.calls
        got = embed_clips(model, specs, chunk_frames=8, hop=2, pooling="std", batch_size=batch_size)
        assert TinyModel.calls - calls == -(-n_total // batch_size)  # batches are filled across clips
        for name in base:
            np.testing.assert_allclose(got[name], base[name], atol=1e-5)
    paths = []
    for i, spec in enumerate(specs):
        paths.append(tmp_path / f"{i}.npy")
        np.save(paths[-1], spec)
    memmaps = [np.load(p, mmap_mode="r") for p in paths]
    tensors = [torch.from_numpy(s.astype(np.float32)) for s in specs]
    for other in (memmaps, tensors):
        got = embed_clips(model, other, chunk_frames=8, hop=2, pooling="std", progress=False)
        for name in base:
            np.testing.assert_allclose(got[name], base[name], atol=1e-6)


def test_batch_norm_folded_into_the_convs_computes_the_same_embeddings():
    """MobileFaceNet with non-trivial batch-norm statistics: the folded copy has no BatchNorm2d left
    and embeds as the eval-mode model does; the model itself keeps its norms, weights and mode."""
    torch.manual_seed(1)
    model = build_model("disent", n_bins=33, n_sections=3, attribute_classes={"a": 2}, chunk_frames=16, width=0.25)
    with torch.no_grad():
        for norm in [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]:
            norm.running_mean.uniform_(-1, 1), norm.running_var.uniform_(0.2, 3)
            norm.weight.uniform_(0.5, 1.5), norm.bias.uniform_(-0.5, 0.5)
    model.train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    folded = fold_batch_norm(model)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules())
    assert model.training and sum(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules()) > 20
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())
    x = torch.randn(5, 1, 16, 33)
    with torch.no_grad():
        want, got = model.eval().embeddings(x), folded.embeddings(x)
    model.train()
    for name in want:
        torch.testing.assert_close(got[name], want[name], rtol=1e-4, atol=1e-5)
    specs = [np.random.default_rng(2).normal(size=(40, 33)).astype(np.float16)]
    ref = reference(model, specs, chunk_frames=16, hop=4, pooling="mean")  # puts the model in eval mode
    model.train()
    for name, e in embed_clips(model, specs, chunk_frames=16, hop=4).items():
        np.testing.assert_allclose(e, ref[name], rtol=1e-4, atol=1e-5)
    assert model.training


def test_embed_clips_leaves_the_model_as_it_was_and_checks_inputs(specs):
    model = TinyModel().train()
    embed_clips(model, specs, chunk_frames=8)
    assert model.training
    with pytest.raises(ValueError, match="spectrogram 1: 8 frames are fewer than one chunk of 9 frames"):
        embed_clips(model, specs, chunk_frames=9)
    with pytest.raises(ValueError, match="spectrogram 1 has shape"):
        embed_clips(model, [specs[0], specs[0][:, :5]], chunk_frames=8)
    with pytest.raises(ValueError, match="pooling 'max'"):
        embed_clips(model, specs, chunk_frames=8, pooling="max")


def test_default_pooling():
    assert default_pooling("valve") == "std"
    assert {default_pooling(m) for m in ("ToyCar", "ToyTrain", "bearing", "fan", "gearbox", "slider")} == {"mean"}
    with pytest.raises(ValueError, match="unknown machine"):
        default_pooling("pump")


def _run_folder(tmp_path, system, machine, scale):
    from asdlib.train import RunConfig

    config = RunConfig.create(system, machine, tmp_path / "data", scale)
    tmp_path.mkdir(exist_ok=True)
    (tmp_path / "config.json").write_text(json.dumps({"run": config.as_dict()}))
    return tmp_path, config.scale.train


@pytest.mark.parametrize("machine, scale, pooling", [("valve", "smoke", "std"), ("fan", "quick", "mean")])
def test_run_embedding_settings_are_the_runs_own(tmp_path, machine, scale, pooling):
    run, settings = _run_folder(tmp_path, "disent", machine, scale)
    assert settings.embed_hop > 1  # not embed_clips' default: the reason this call exists
    assert run_embedding_settings(run) == {"chunk_frames": settings.chunk_frames, "hop": settings.embed_hop,
                                           "pooling": pooling}


def test_run_embedding_settings_of_a_direct_system_and_of_a_run_on_every_machine(tmp_path):
    direct, _ = _run_folder(tmp_path / "ae", "ae", "valve", "smoke")
    assert run_embedding_settings(direct)["pooling"] == "mean"  # its chunk scores are averaged
    every, _ = _run_folder(tmp_path / "all", "disent", "all", "smoke")
    with pytest.raises(ValueError, match="pass machine="):
        run_embedding_settings(every)
    assert run_embedding_settings(every, machine="valve")["pooling"] == "std"


def test_default_batch_holds_a_fixed_number_of_input_values():
    """On CPU 24 chunks of 32 x 129 per forward pass, but only 3 of the paper's 32 x 1025: the
    activations of a batch grow with its input (1024 paper-shape chunks took 17 GB on CPU). On a GPU,
    16 times as many."""
    sizes = []

    class Recording(TinyModel):
        def embeddings(self, x):
            sizes.append(len(x))
            return super().embeddings(x)
    assert default_batch_size(32, 129, "cuda") == 1024 and default_batch_size(32, 1025, "cuda") == 128
    for n_bins, per_batch in ((129, 24), (1025, 3)):
        sizes.clear()
        spec = np.zeros((32 + 299, n_bins), dtype=np.float16)  # 300 chunks at hop 1
        embed_clips(Recording(), [spec], chunk_frames=32, hop=1)
        assert sizes == [per_batch] * (300 // per_batch) + ([300 % per_batch] if 300 % per_batch else [])
