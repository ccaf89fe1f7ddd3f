"""The top rank's training pipeline: pre-training on every machine, fine-tuning, averaged weights."""
from __future__ import annotations

import dataclasses
import json
import shutil

import numpy as np
import pandas as pd
import pytest
import torch

from asdlib.inference import score_run
from asdlib.scales import get_scale
from asdlib.study.pipeline import budgets
from asdlib.synth import generate
from asdlib.train import (RunConfig, TrainingSet, list_checkpoints, load_averaged_model, load_model,
                          checkpoint_epochs, pipeline_overrides, start_from_pretrained, train)
from asdlib.data import index_dataset

SETTINGS = ["train.epochs=2", "train.checkpoint_every=1"]


@pytest.mark.parametrize("scale", ["smoke", "quick", "paper"])
def test_fine_tuning_saves_two_checkpoints_the_last_at_its_end(scale):
    """At every scale a fine-tuning saves exactly two checkpoints (so that "+ PT + WA" can average two)."""
    pairs = (s.split("=") for s in pipeline_overrides(get_scale(scale), "finetune"))
    fine = dataclasses.replace(get_scale(scale).train, **{k.split(".")[1]: int(v) for k, v in pairs})
    assert len(checkpoint_epochs(fine)) == 2 and checkpoint_epochs(fine)[-1] == fine.epochs


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return generate(tmp_path_factory.mktemp("data") / "two", get_scale("smoke").synth, seed=0,
                    machines=("fan", "valve"), progress=False)


@pytest.fixture(scope="module")
def pretrained(root, tmp_path_factory):
    run = tmp_path_factory.mktemp("runs") / "pretrained"
    train(RunConfig.create("disent", "all", root, "smoke", overrides=SETTINGS), run, progress=False)
    return run


def test_the_pipeline_takes_the_optimiser_steps_of_training_from_scratch(root, tmp_path):
    """Pre-training on both machines, then fine-tuning each (the stages' settings as ``make pipeline``
    passes them), against each machine trained from scratch, at the smoke scale: the optimiser steps
    of the training logs, as the chapter's cost table sums them, agree up to the part-filled last
    batch of an epoch (pre-training batches both machines' clips together: one such batch per epoch
    where the two runs from scratch have two)."""
    scale, study, pipeline = get_scale("smoke"), tmp_path / "study", tmp_path / "pipeline"
    pre = pipeline / "pretrained" / "disent" / "seed0"
    train(RunConfig.create("disent", "all", root, "smoke", overrides=pipeline_overrides(scale, "pretrain")), pre,
          progress=False)
    for machine in ("fan", "valve"):
        train(RunConfig.create("disent", machine, root, "smoke"), study / "disent" / machine / "seed0", progress=False)
        fine = pipeline / "disent" / machine / "seed0"
        train(RunConfig.create("disent", machine, root, "smoke", overrides=pipeline_overrides(scale, "finetune"),
                               init=pre), fine, progress=False)
        assert len(list_checkpoints(fine)) == 2
    cost = budgets(study, pipeline, systems=("disent",)).set_index("training")
    assert cost["runs per seed"].to_dict() == {"from scratch": 2, "pre-training": 1, "fine-tuning": 2}
    scratch = cost.loc["from scratch", "steps"]
    steps = cost.loc["pre-training", "steps"] + cost.loc["fine-tuning", "steps"]
    pre_epochs = len(pd.read_csv(pre / "train_log.csv"))
    assert 1 <= pre_epochs < scale.train.epochs
    assert scratch - pre_epochs <= steps <= scratch, (steps, scratch)


def test_pretraining_sees_every_machine_as_its_own_classes(root, pretrained):
    data = TrainingSet.merge({m: TrainingSet.build(index_dataset(root), m, get_scale("smoke"), progress=False)
                              for m in ("fan", "valve")})
    assert len(data.vocab.sections) == 12 and data.vocab.sections[0] == "fan/00"
    assert set(data.section) == set(range(12))
    fan = (data.clips["machine"] == "fan").to_numpy()
    valve_keys = [i for i, k in enumerate(data.vocab.keys) if k.startswith("valve/")]
    assert (data.attributes[np.ix_(fan, valve_keys)] == -1).all()  # a fan clip carries no valve attribute
    x, labels = next(data.epoch_batches(0, 1, 16, 32))
    assert x.shape == (16, 1, 32, 65) and np.isfinite(x).all()
    model, meta = load_model(pretrained)
    assert meta["model"]["n_sections"] == 12 and meta["run"]["machine"] == "all"


def test_fine_tuning_starts_from_the_pretrained_trunk(root, pretrained, tmp_path):
    config = RunConfig.create("disent", "fan", root, "smoke", overrides=SETTINGS, init=pretrained)
    run = tmp_path / "fine"
    train(config, run, progress=False)
    meta = json.loads((run / "config.json").read_text())
    assert meta["run"]["init"] == str(pretrained)
    state = torch.load(run / "checkpoints" / "epoch_0001.pt", weights_only=True)
    assert state["identity"]["init"]["epoch"] == 2 and len(state["identity"]["init"]["sha256"]) == 64
    # what start_from_pretrained copies is exactly the pre-trained trunk and embedding layer
    fresh = load_model(run, epoch=1)[0]
    copied = start_from_pretrained(fresh, pretrained, "cpu")
    source = load_model(pretrained)[0].state_dict()
    assert copied and all(k.startswith(("trunk.", "embedding.")) for k in copied)
    assert all(torch.equal(fresh.state_dict()[k], source[k]) for k in copied)
    assert fresh.section_head.weight.shape[0] == 6  # the fine-tuned run's own sections
    # a changed pre-training is a changed configuration: resuming is refused
    later = tmp_path / "fine2"
    shutil.copytree(run, later)
    shutil.rmtree(later / "checkpoints")
    (later / "checkpoints").mkdir()
    shutil.copy(run / "checkpoints" / "epoch_0001.pt", later / "checkpoints")
    other = tmp_path / "other_pretrained"
    shutil.copytree(pretrained, other)
    with pytest.raises(ValueError, match="another configuration"):
        train(RunConfig.create("disent", "fan", root, "smoke", overrides=SETTINGS, init=other), later, progress=False)


def test_averaging_identical_checkpoints_gives_that_checkpoint_with_batch_norm_recomputed(root, tmp_path):
    run = tmp_path / "run"
    train(RunConfig.create("sec_softmax", "fan", root, "smoke", overrides=SETTINGS), run, progress=False)
    shutil.copy(run / "checkpoints" / "epoch_0002.pt", run / "checkpoints" / "epoch_0001.pt")
    data = TrainingSet.build(index_dataset(root, machines=("fan",)), "fan", get_scale("smoke"), progress=False)
    batches = [torch.from_numpy(x).contiguous(memory_format=torch.channels_last)
               for x, _ in data.epoch_batches(0, 1, 16, 32)]
    two, _, epochs = load_averaged_model(run, 2, batches, "cpu")
    one, _, _ = load_averaged_model(run, 1, batches, "cpu")
    stored, _ = load_model(run)
    assert epochs == [1, 2]
    for name, value in stored.state_dict().items():
        if "running" in name:
            assert torch.allclose(two.state_dict()[name], one.state_dict()[name], atol=1e-6)
            if name.endswith("running_var"):  # recomputed on the training chunks, not the stored statistics
                assert not torch.allclose(two.state_dict()[name], value)
        elif value.is_floating_point():
            assert torch.equal(two.state_dict()[name], value), name
    with pytest.raises(ValueError, match="cannot average the last 3 checkpoints"):
        load_averaged_model(run, 3, batches, "cpu")


def test_an_averaged_rule_is_scored_like_a_checkpoint(root, tmp_path):
    run = tmp_path / "run"
    train(RunConfig.create("disent", "fan", root, "smoke", truth_dir=root / "eval_truth", overrides=SETTINGS), run,
          progress=False)
    summaries = score_run(run, rules=("last", "average2"), progress=False)
    averaged = summaries["average2"]["cat"]["checkpoint"]
    assert averaged["averaged"] == [1, 2] and "update_bn" in averaged["batch_norm"]
    assert (run / "results" / "average2" / "cat" / "summary.json").is_file()
    assert (run / "scored" / "embeddings" / "average2.npz").is_file()
    with pytest.raises(ValueError, match="checkpoint rule"):
        score_run(run, rules=("average",), progress=False)
    assert list_checkpoints(run) == [1, 2]
