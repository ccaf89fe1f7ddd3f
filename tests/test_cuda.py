"""The GPU path (issue 19, item 4): training under bfloat16 autocast, float32 embeddings, batches
pinned on their way to the GPU, and a checkpoint written on the GPU read on the CPU.

They run on CUDA and skip where torch sees none. ``ASDLIB_TEST_DEVICE=cpu`` runs the same tests on
the CPU, where the study trains in float32 and pins nothing (``scripts/gpu-check.sh --cpu``)."""
from __future__ import annotations

import dataclasses
import os

import numpy as np
import pandas as pd
import pytest
import torch

from asdlib.embed import embed_clips
from asdlib.scales import get_scale
from asdlib.synth import generate
from asdlib.train import RunConfig, batch_to_device, checkpoint_path, list_checkpoints, load_model, train

DEVICE = os.environ.get("ASDLIB_TEST_DEVICE", "cuda")
pytestmark = pytest.mark.skipif(DEVICE == "cuda" and not torch.cuda.is_available(),
                                reason="torch sees no CUDA device (ASDLIB_TEST_DEVICE=cpu runs these on the CPU)")
SMOKE = get_scale("smoke")
TINY = dataclasses.replace(SMOKE.synth, train_source=4, train_target=1, test_per_domain=1, eval_test=4)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A two-epoch smoke run trained on DEVICE, and the dtypes its convolutions computed in."""
    root = generate(tmp_path_factory.mktemp("data") / "fan", TINY, machines=("fan",), progress=False)
    scale = SMOKE.replace(**{"train.epochs": 2, "train.checkpoint_every": 1})
    folder = tmp_path_factory.mktemp("runs") / "disent"
    dtypes = set()

    def record(module, inputs, output):
        if isinstance(module, torch.nn.Conv2d):
            dtypes.add(output.dtype)
    hook = torch.nn.modules.module.register_module_forward_hook(record)
    try:
        train(RunConfig(system="disent", machine="fan", data_root=str(root), scale=scale), folder,
              device=DEVICE, progress=False)
    finally:
        hook.remove()
    return folder, dtypes


def test_training_runs_under_bfloat16_autocast_on_cuda(run):
    folder, dtypes = run
    assert dtypes == ({torch.bfloat16} if DEVICE == "cuda" else {torch.float32})
    assert list_checkpoints(folder) == [1, 2]
    log = pd.read_csv(folder / "train_log.csv")
    assert np.isfinite(log["loss"]).all() and len(log) == 2


def test_a_checkpoint_written_on_the_device_loads_on_the_cpu(run):
    folder, _ = run
    on_device, _ = load_model(folder, device=DEVICE)
    on_cpu, _ = load_model(folder, device="cpu")
    assert {p.device.type for p in on_device.parameters()} == {DEVICE}
    assert {p.device.type for p in on_cpu.parameters()} == {"cpu"}
    saved = torch.load(checkpoint_path(folder, 2), map_location="cpu", weights_only=False)["model"]
    assert all(torch.equal(saved[k], v) for k, v in on_cpu.state_dict().items())
    assert all(torch.equal(on_device.state_dict()[k].cpu(), v) for k, v in on_cpu.state_dict().items())


def test_embeddings_are_float32_and_agree_with_the_cpus(run):
    """Float32 without TF32 on the GPU: only the summation order differs from the CPU (TF32's 10-bit
    mantissa would differ by ~1e-3)."""
    folder, _ = run
    rng = np.random.default_rng(0)
    specs = [rng.normal(size=(frames, SMOKE.features.n_bins)).astype(np.float16) for frames in (40, 63, 32)]
    flags = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    on_device = embed_clips(load_model(folder, device=DEVICE)[0], specs, hop=1, device=DEVICE)
    on_cpu = embed_clips(load_model(folder, device="cpu")[0], specs, hop=1, device="cpu")
    assert (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32) == flags  # restored
    assert set(on_device) == set(on_cpu) == {"section", "attribute"}
    for space, expected in on_cpu.items():
        assert on_device[space].shape == (3, 128)
        np.testing.assert_allclose(on_device[space], expected, rtol=1e-4, atol=1e-4)


def test_batches_are_pinned_on_their_way_to_cuda(monkeypatch):
    pinned = []
    pin = torch.Tensor.pin_memory

    def spy(tensor, *args, **kwargs):
        out = pin(tensor, *args, **kwargs)
        pinned.append(out.is_pinned())
        return out
    monkeypatch.setattr(torch.Tensor, "pin_memory", spy)
    x = np.random.default_rng(0).normal(size=(4, 1, 32, 65)).astype(np.float32)
    labels = {"section": np.arange(4), "attributes": np.zeros((4, 2), dtype=np.int64)}
    moved, moved_labels = batch_to_device(x, labels, DEVICE)
    assert pinned == ([True] * 3 if DEVICE == "cuda" else [])
    assert moved.device.type == DEVICE and moved.is_contiguous(memory_format=torch.channels_last)
    assert np.array_equal(moved.cpu().numpy(), x)  # the asynchronous copy arrived whole
    assert all(np.array_equal(moved_labels[k].cpu().numpy(), v) for k, v in labels.items())
