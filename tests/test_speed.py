"""The training path's switches (asdlib.speed): what each turns on, that a compiled trunk keeps the
checkpoints' keys, that bfloat16 autocast keeps the loss, and that a run records its path."""
from __future__ import annotations

import copy
import json

import pytest
import torch

from asdlib.models.mobilefacenet import build_model
from asdlib.scales import get_scale
from asdlib.speed import TrainingPath, bf16_supported, training_path
from asdlib.synth import generate
from asdlib.train import RunConfig, _float32, train


def test_the_switches_are_off_unless_set_and_bfloat16_only_where_the_cpu_has_it():
    assert training_path("cpu", {}) == TrainingPath(compiled=False, precision="float32")
    assert training_path("cpu", {"ASDLIB_COMPILE": "1"}).compiled
    fast = training_path("cpu", {"ASDLIB_COMPILE": "1", "ASDLIB_BF16": "1"})
    assert fast.precision == ("bfloat16" if bf16_supported("cpu") else "float32")
    assert training_path("cuda", {"ASDLIB_COMPILE": "1"}) == TrainingPath(compiled=False, precision="bfloat16")
    with pytest.raises(ValueError, match="ASDLIB_BF16='yes': must be 0 or 1"):
        training_path("cpu", {"ASDLIB_BF16": "yes"})


def _model():
    torch.manual_seed(0)
    return build_model("disent", 65, 6, {"a": 4, "b": 3}, width=0.25)


def test_a_compiled_trunk_keeps_the_state_dict_of_the_eager_model():
    model = _model()
    keys = list(model.state_dict())
    TrainingPath(compiled=True).prepare(model)   # lazy: nothing is compiled before the first call
    assert list(model.state_dict()) == keys and not any("_orig_mod" in k for k in keys)
    assert model.trunk._compiled_call_impl is not None
    eager = _model()
    TrainingPath(compiled=False).prepare(eager)
    assert eager.trunk._compiled_call_impl is None


def test_bfloat16_autocast_keeps_the_loss_of_a_step_within_two_percent():
    model = _model().train()
    x = torch.randn(16, 1, 32, 65)
    labels = {"section": torch.arange(16) % 6, "attributes": torch.stack([torch.arange(16) % 4, torch.arange(16) % 3], 1)}
    losses = {}
    for path in (TrainingPath(), TrainingPath(precision="bfloat16")):
        with path.autocast("cpu"):
            outputs = copy.deepcopy(model)(x)
        losses[path.precision] = float(model.loss(_float32(outputs), labels)[0].detach())
    assert losses["bfloat16"] == pytest.approx(losses["float32"], rel=0.02), losses
    assert losses["bfloat16"] != losses["float32"]   # the autocast did run in bfloat16


def test_a_run_records_its_training_path(tmp_path, monkeypatch):
    smoke = get_scale("smoke").replace(**{"train.epochs": 1, "train.checkpoint_every": 1})
    root = generate(tmp_path / "data", smoke.synth, machines=("fan",), progress=False)
    monkeypatch.setenv("ASDLIB_BF16", "1")
    monkeypatch.setenv("ASDLIB_COMPILE", "0")
    run = tmp_path / "run"
    train(RunConfig(system="sec_softmax", machine="fan", data_root=str(root), scale=smoke), run,
          cache_dir=tmp_path / "cache", device="cpu", progress=False)
    recorded = json.loads((run / "config.json").read_text())["code"]["training"]
    assert recorded == {"compiled": False, "precision": "bfloat16" if bf16_supported("cpu") else "float32"}
