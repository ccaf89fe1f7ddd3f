"""The departures table's own measurements: the embedding norm undone, the paper's MSL pool."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from asdlib.models.mobilefacenet import build_model
from asdlib.study.departures import undo_embedding_norm


@pytest.mark.parametrize("pooling", ["mean", "std"])
def test_the_embedding_norm_is_undone_on_pooled_embeddings(pooling):
    torch.manual_seed(0)
    model = build_model(system="disent", n_bins=65, n_sections=3, attribute_classes={"a": 2}, chunk_frames=32,
                        width=0.5)
    norm = model.embedding[1]
    with torch.no_grad():  # statistics and affine parameters far from the identity
        norm.running_mean.uniform_(-2, 2), norm.running_var.uniform_(0.2, 3)
        norm.weight.uniform_(0.5, 2).mul_(torch.randint(0, 2, norm.weight.shape) * 2 - 1), norm.bias.uniform_(-1, 1)
    model.eval()
    trunk = torch.randn(7, model.embedding[0].in_features)  # one clip's chunks, after the trunk
    with torch.no_grad():
        before, after = model.embedding[0](trunk), model.embedding(trunk)
    pool = (lambda x: x.std(0, unbiased=False)) if pooling == "std" else (lambda x: x.mean(0))
    undone = undo_embedding_norm(pool(after).numpy()[None], model.state_dict(), pooling)
    np.testing.assert_allclose(undone[0], pool(before).numpy(), rtol=1e-4, atol=1e-5)
    assert not np.allclose(pool(after).numpy(), pool(before).numpy(), atol=1e-2)


def test_the_budget_row_quotes_the_run_notebooks_wall_times():
    from asdlib.study.coverage import REGIMES, simulated_scores
    from asdlib.study.departures import departures
    from asdlib.study.evidence import Evidence

    evidence = Evidence(simulated_scores(np.random.default_rng(0), REGIMES[1], 2, ("fan",), 5), n_resamples=20)
    empty = pd.DataFrame(columns=["shift_acc", "shift_chance_acc", "section_acc"])
    durations = pd.DataFrame({"system": ["ae", "ae", "disent"], "machine": ["fan", "valve", "fan"],
                              "seconds": [100.0, 120.0, 185.0]})
    row = departures(evidence, None, empty, "last", durations=durations).set_index("departure").loc["training budget"]
    assert "ae 110 s, disent 185 s" in row["measured here"]
    without = departures(evidence, None, empty, "last").set_index("departure").loc["training budget"]
    assert without["measured here"].startswith("not in this build")
