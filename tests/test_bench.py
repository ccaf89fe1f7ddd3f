"""The bench's model-against-machine figures (asdlib.bench, issue 19): FLOPs counted per step, the
fields of the GFLOP/s report, the variants' table, and bfloat16 embeddings' scores against float32's.
No timing thresholds: timings on a shared machine say nothing about the code."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from asdlib.bench import (VARIANTS, Variant, achieved, bf16_supported, count_flops, embedding_runner,
                          machine_limit, study_variant, time_interleaved, training_runner, training_step,
                          variants_table)
from asdlib.models.mobilefacenet import build_model
from asdlib.scoring import nn_cosine_distance

N_BINS = 65
ATTRIBUTES = {"pat": 4, "panel": 3}


def make_model():
    torch.manual_seed(0)
    return build_model("disent", N_BINS, 3, ATTRIBUTES, shift_sections=(0, 0, 1, 1, 1, 2), width=0.5)


def make_batch(n, seed=0, n_bins=N_BINS):
    """``n`` chunks shaped like log spectra (a random spectral envelope per chunk, plus noise) and labels."""
    g = torch.Generator().manual_seed(seed)
    envelope = 0.3 * torch.randn(n, 1, 1, n_bins, generator=g).cumsum(-1)
    x = (envelope + 0.5 * torch.randn(n, 1, 32, n_bins, generator=g)).contiguous(memory_format=torch.channels_last)
    labels = {"section": torch.arange(n) % 3,
              "attributes": torch.stack([torch.randint(0, 4, (n,), generator=g),
                                         torch.randint(0, 3, (n,), generator=g)], dim=1),
              "shift": torch.zeros(n, dtype=torch.long)}
    return x, labels


def step_flops(model, n, seed=0):
    x, labels = make_batch(n, seed)
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-4)
    return count_flops(lambda: training_step(model, optimiser, x, labels))


def test_flops_of_one_step_are_positive_and_scale_with_the_batch():
    model = make_model().train()
    first, other_values, double = step_flops(model, 8), step_flops(model, 8, seed=1), step_flops(model, 16)
    assert first > 0
    assert other_values == first  # the count depends on the shapes only
    assert double == pytest.approx(2 * first, rel=0.01)


def test_the_gflops_report_has_its_fields():
    limit = machine_limit("cpu", n=128, repeats=1)
    assert set(limit) == {"float32", "bfloat16"} and limit["float32"] > 0
    assert (limit["bfloat16"] is None) == (not bf16_supported("cpu"))
    report = achieved(step_flops(make_model().train(), 8), 2.0, limit)
    assert set(report) == {"gflop_per_call", "gflop_per_s", "of_float32", "of_bfloat16"}
    assert report["gflop_per_s"] == pytest.approx(2 * report["gflop_per_call"])
    assert report["of_float32"] == pytest.approx(report["gflop_per_s"] / limit["float32"])


def test_the_study_variant_is_what_train_and_embed_run():
    assert study_variant("cpu") == Variant() and study_variant("cuda") == Variant(bf16=True)
    assert study_variant("cuda", embedding=True) == Variant()  # embeddings are float32 everywhere
    assert study_variant("cpu") in VARIANTS and study_variant("cuda") in VARIANTS


def test_a_training_runner_leaves_the_model_alone():
    model = make_model()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    run = training_runner(model, *make_batch(8), Variant(channels_last=False))
    run()
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_interleaved_timing_reports_every_entry():
    timed = time_interleaved({"a": lambda: None, "b": lambda: sum(range(100))}, rounds=2, repeats=2)
    assert set(timed) == {"a", "b"} and all(first >= 0 and median >= 0 for first, median in timed.values())


def test_the_variants_table_names_every_variant(monkeypatch):
    import asdlib.bench as bench

    eager = tuple(v for v in VARIANTS if not v.compiled)  # compilation takes minutes on a CPU
    monkeypatch.setattr(bench, "VARIANTS", eager)
    x, labels = make_batch(8)
    table = variants_table(make_model(), x, labels, make_batch(4)[0], "cpu", rounds=1, repeats=1)
    shown = [v for v in eager if bf16_supported("cpu") or not v.bf16]
    assert all(v.name in table for v in shown)
    assert table.count("(study)") == 2  # the training and the embedding table each mark the study's row


@pytest.mark.skipif(not bf16_supported("cpu"), reason="this CPU lacks avx512_bf16 and amx_bf16")
def test_bfloat16_embeddings_score_as_float32_does():
    """Declared precision: nearest-neighbour cosine distances (the paper's score, Sec. 3.3) from bfloat16
    autocast embeddings agree with float32's within 0.01 (absolute; the distances here span ~0.03-0.4,
    bfloat16 keeps 8 significant bits; measured: up to 0.004)."""
    model = make_model().eval()
    reference, queries = make_batch(64, seed=1)[0], make_batch(32, seed=2)[0]
    scores = {}
    for variant in (Variant(), Variant(bf16=True)):
        run = embedding_runner(model, variant)
        ref, query = run(reference), run(queries)
        assert all(e.dtype == (torch.bfloat16 if variant.bf16 else torch.float32) for e in query.values())
        scores[variant.bf16] = {k: nn_cosine_distance(query[k].float().numpy(), ref[k].float().numpy())
                                for k in ref}
    for space, float32 in scores[False].items():
        assert float32.shape == (32,) and np.ptp(float32) > 0.01  # the scores differ more than the tolerance
        np.testing.assert_allclose(scores[True][space], float32, atol=0.01, rtol=0)
