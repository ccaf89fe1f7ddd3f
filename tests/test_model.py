"""MobileFaceNet and the heads of every system (Sec. 2, 3.2-3.5), and the losses they train with."""
import json
import math

import pytest
import torch

from asdlib.losses import ArcFace, masked_cross_entropy, reverse_gradient
from asdlib.models.mobilefacenet import (BOTTLENECKS_ORIGINAL, SYSTEMS, ASDModel, MobileFaceNet, build_model,
                          count_parameters, feature_map_size)

N_BINS = 65
N_SECTIONS = 3
ATTRIBUTES = {"pat": 4, "panel": 3}
SHIFT_SECTIONS = (0, 0, 1, 1, 1, 2)   # the section of each (section, domain-shift value) class
SHIFT_CLASSES = len(SHIFT_SECTIONS)
SPACES = {
    "sec_softmax": {"section": 128},
    "sec_arcface": {"section": 128},
    "mtl": {"mtl": 256},
    "disent": {"section": 128, "attribute": 128},
    "disent_split": {"section": 128, "attr:pat": 128, "attr:panel": 128},
    "adversarial": {"section": 128},
}
LOGITS = {
    "sec_softmax": {"section": N_SECTIONS},
    "sec_arcface": {"section": N_SECTIONS},
    "mtl": {"section": N_SECTIONS, "attr:pat": 4, "attr:panel": 3},
    "disent": {"section": N_SECTIONS, "attr:pat": 4, "attr:panel": 3},
    "disent_split": {"section": N_SECTIONS, "attr:pat": 4, "attr:panel": 3},
    "adversarial": {"section": N_SECTIONS, "shift": SHIFT_CLASSES},
}


def make_model(system, n_bins=N_BINS, **kwargs):
    torch.manual_seed(0)
    return build_model(system, n_bins, N_SECTIONS, ATTRIBUTES, shift_sections=SHIFT_SECTIONS, **kwargs)


def make_batch(n=4, n_bins=N_BINS, seed=1):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 1, 32, n_bins, generator=g)
    attributes = torch.stack([torch.randint(0, 4, (n,), generator=g),
                              torch.randint(0, 3, (n,), generator=g)], dim=1)
    attributes[0, 0] = -1                     # clip 0 lacks "pat"
    section = torch.arange(n) % N_SECTIONS
    shift = torch.tensor([SHIFT_SECTIONS.index(int(s)) for s in section])  # a value of the clip's own section
    shift[1] = -1
    return x, {"section": section, "attributes": attributes, "shift": shift}


@pytest.mark.parametrize("system", SYSTEMS)
def test_output_shapes_and_embedding_names(system):
    model = make_model(system).eval()
    x, batch = make_batch()
    with torch.no_grad():
        out = model(x)
        emb = model.embeddings(x)
    assert {k: v.shape for k, v in emb.items()} == {k: (4, d) for k, d in SPACES[system].items()}
    assert list(emb) == list(SPACES[system]) == list(model.spaces)
    expected = {**{f"emb:{k}": (4, d) for k, d in SPACES[system].items()},
                **{f"logits:{k}": (4, c) for k, c in LOGITS[system].items()}}
    assert {k: v.shape for k, v in out.items()} == expected
    for name in emb:
        assert torch.equal(emb[name], out[f"emb:{name}"])
    loss, stats = model.loss(out, batch)
    assert loss.ndim == 0 and math.isfinite(loss.item())
    assert 0.0 <= stats["section_acc"] <= 1.0 and stats["loss"] == pytest.approx(loss.item())


@pytest.mark.parametrize("n_bins, fmap", [(65, (1, 3)), (129, (1, 5)), (1025, (1, 33))])
def test_any_number_of_bins(n_bins, fmap):
    model = make_model("disent", n_bins=n_bins).eval()
    assert model.trunk.map_size == fmap == feature_map_size(32, n_bins)
    with torch.no_grad():
        emb = model.embeddings(torch.rand(2, 1, 32, n_bins))
    assert emb["section"].shape == (2, 128) and emb["attribute"].shape == (2, 128)
    with pytest.raises(ValueError, match="expected input"):
        model.embeddings(torch.rand(2, 1, 32, n_bins + 1))


def test_parameter_count_at_1025_bins():
    # Counted from Table 1 (the paper gives no parameter count): trunk (up to the GDConv's batch
    # norm) 928,000; + the 256-d embedding layer of mtl/disent 1,059,584; + the 128-d one 993,792.
    # The original MobileFaceNet strides (third group s=1) would give 977,664 / 1,043,456.
    disent = make_model("disent", n_bins=1025).describe()
    assert disent["n_parameters_trunk"] == 928_000
    assert disent["n_parameters_embedding"] == 1_059_584
    assert make_model("sec_softmax", n_bins=1025).describe()["n_parameters_embedding"] == 993_792
    assert count_parameters(MobileFaceNet(32, 1025, BOTTLENECKS_ORIGINAL)) == 977_664


def test_original_mobilefacenet_size():
    # Chen et al. (2018): 112x112 input, 7x7 GDConv, 128-d output, about 0.99 M parameters.
    trunk = MobileFaceNet(112, 112, BOTTLENECKS_ORIGINAL)
    assert trunk.map_size == (7, 7)
    assert abs(count_parameters(trunk) + 512 * 128 + 2 * 128 - 0.99e6) < 0.02e6


@pytest.mark.parametrize("system", ["sec_arcface", "disent_split"])
def test_channels_last_matches_contiguous(system):
    model = make_model(system).eval()
    x, _ = make_batch()
    with torch.no_grad():
        ref = model(x)
        model = model.to(memory_format=torch.channels_last)
        assert model.trunk.layers[0][0].weight.is_contiguous(memory_format=torch.channels_last)
        got = model(x.contiguous(memory_format=torch.channels_last))
    for name in ref:
        torch.testing.assert_close(got[name], ref[name], atol=1e-5, rtol=1e-5)


def _head_grads(model, x, batch, head=0):
    model.zero_grad()
    loss, _ = model.loss(model(x), batch)
    loss.backward()
    w = model.attribute_heads[head]
    return loss, w.weight.grad.clone(), w.bias.grad.clone()


@pytest.mark.parametrize("system", ["mtl", "disent", "disent_split"])
def test_a_clip_lacking_a_key_gives_no_gradient(system):
    model = make_model(system).eval()  # eval: batch norm does not mix the clips
    x, batch = make_batch()
    assert batch["attributes"][0, 0] == -1
    _, w, b = _head_grads(model, x, batch)
    assert w.abs().sum() > 0
    # clip 0's input changes: the "pat" classifier's gradient does not move by a single bit
    x2 = x.clone()
    x2[0] = torch.rand_like(x2[0]) * 10
    _, w2, b2 = _head_grads(model, x2, batch)
    assert torch.equal(w, w2) and torch.equal(b, b2)
    # Eq. (3) is a mean over ALL clips of per-clip sums: the batch of 4 without clip 0's term is
    # the 3-clip batch without clip 0, scaled by 3/4 (a per-key mean over carriers would give 1)
    rest = {k: v[1:] for k, v in batch.items()}
    _, w3, b3 = _head_grads(model, x[1:], rest)
    torch.testing.assert_close(w, w3 * 3 / 4, atol=1e-7, rtol=1e-5)
    torch.testing.assert_close(b, b3 * 3 / 4, atol=1e-7, rtol=1e-5)


@pytest.mark.parametrize("system", ["mtl", "disent", "disent_split"])
def test_attribute_loss_is_the_batch_mean_of_per_clip_sums(system):
    """Eq. (3): per clip, sum the cross-entropies of the keys it carries; average over the batch.

    A key carried by one clip of four weighs 1/4 of that clip's cross-entropy, not all of it."""
    model = make_model(system).eval()
    x, batch = make_batch()
    batch["attributes"][:, 0] = -1
    batch["attributes"][2, 0] = 1             # "pat" carried by clip 2 alone
    out = model(x)
    loss, stats = model.loss(out, batch)
    ce = torch.nn.functional.cross_entropy
    per_clip = torch.zeros(4)
    for i in range(4):
        for k, key in enumerate(("pat", "panel")):
            label = batch["attributes"][i, k]
            if label >= 0:
                per_clip[i] += ce(out[f"logits:attr:{key}"][i:i + 1], label[None])
    torch.testing.assert_close(torch.tensor(stats["attribute_loss"]), per_clip.mean())
    torch.testing.assert_close(loss, ce(out["logits:section"], batch["section"]) + per_clip.mean())


@pytest.mark.parametrize("system", ["disent", "disent_split"])
def test_disentangled_routing(system):
    """Eq. 2 reads z_S only and Eq. 3 reads z_A only: the attribute loss gives z_S no gradient, the
    section loss gives the attribute space(s) none (and each split key's loss only its own space)."""
    model = make_model(system).eval()
    x, batch = make_batch()
    out = model(x)
    spaces = {k[len("emb:"):]: v for k, v in out.items() if k.startswith("emb:")}
    section_loss = torch.nn.functional.cross_entropy(out["logits:section"], batch["section"])
    grads = torch.autograd.grad(section_loss, list(spaces.values()), allow_unused=True, retain_graph=True)
    for name, g in zip(spaces, grads):
        assert (g is not None and g.abs().sum() > 0) == (name == "section"), name
    for k, key in enumerate(model.attribute_keys):
        loss = masked_cross_entropy(out[f"logits:attr:{key}"], batch["attributes"][:, k])
        grads = torch.autograd.grad(loss, list(spaces.values()), allow_unused=True, retain_graph=True)
        own = "attribute" if system == "disent" else f"attr:{key}"
        for name, g in zip(spaces, grads):
            assert (g is not None and g.abs().sum() > 0) == (name == own), (key, name)


def test_a_key_no_clip_carries_adds_exact_zero():
    model = make_model("disent").eval()
    x, batch = make_batch()
    batch["attributes"][:, 0] = -1
    loss, w, b = _head_grads(model, x, batch)
    assert math.isfinite(loss.item())
    assert torch.count_nonzero(w) == 0 and torch.count_nonzero(b) == 0
    out = model(x)
    alone = torch.nn.functional.cross_entropy(out["logits:section"], batch["section"]) + \
        torch.nn.functional.cross_entropy(out["logits:attr:panel"], batch["attributes"][:, 1])
    torch.testing.assert_close(loss, alone)
    batch["attributes"][:] = -1
    _, stats = model.loss(out, batch)
    assert math.isnan(stats["attribute_acc"]) and stats["attribute_loss"] == 0.0


def test_masked_cross_entropy():
    logits = torch.randn(5, 3, requires_grad=True)
    labels = torch.tensor([0, -1, 2, -1, 1])
    keep = labels >= 0
    torch.testing.assert_close(masked_cross_entropy(logits, labels),  # summed over carriers, / all 5 clips
                               torch.nn.functional.cross_entropy(logits[keep], labels[keep], reduction="sum") / 5)
    none = masked_cross_entropy(logits, torch.full((5,), -1))
    none.backward()
    assert none.item() == 0.0 and torch.count_nonzero(logits.grad) == 0


def test_arcface_margin():
    torch.manual_seed(0)
    emb, labels = torch.randn(6, 8), torch.tensor([0, 1, 2, 3, 0, -1])
    plain = ArcFace(8, 4, scale=32.0, margin=0.0)
    torch.testing.assert_close(plain(emb, labels), 32.0 * plain.cosine(emb))
    torch.testing.assert_close(plain(emb), 32.0 * plain.cosine(emb))
    arc = ArcFace(8, 4, scale=32.0, margin=0.5)
    arc.load_state_dict(plain.state_dict())
    cos, logits = arc.cosine(emb), arc(emb, labels)
    target = torch.nn.functional.one_hot(labels.clamp_min(0), 4).bool() & (labels >= 0)[:, None]
    assert torch.equal(logits[~target], 32.0 * cos[~target])          # other classes and row -1 untouched
    theta = torch.acos(cos[target])
    assert (theta < math.pi - 0.5).all()
    torch.testing.assert_close(torch.acos(logits[target] / 32.0), theta + 0.5, atol=1e-4, rtol=0)


def test_arcface_threshold_beyond_pi_minus_margin():
    arc = ArcFace(2, 2, scale=32.0, margin=0.5)
    with torch.no_grad():
        arc.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0]]))
    angles = torch.tensor([2.8, 3.0, 3.1])                          # all beyond pi - 0.5 from class 0
    emb = torch.stack([torch.cos(angles), torch.sin(angles)], dim=1)
    logits = arc(emb, torch.zeros(3, dtype=torch.long))[:, 0]
    expected = 32.0 * (torch.cos(angles) - 0.5 * math.sin(math.pi - 0.5))
    torch.testing.assert_close(logits, expected)
    assert (logits[1:] < logits[:-1]).all()                          # still decreasing in the angle
    easy = ArcFace(2, 2, scale=32.0, margin=0.5, easy_margin=True)
    easy.load_state_dict(arc.state_dict())
    torch.testing.assert_close(easy(emb, torch.zeros(3, dtype=torch.long))[:, 0], 32.0 * torch.cos(angles))


def test_gradient_reversal_flips_the_gradient_into_the_section_embedding():
    x = torch.randn(3, 4, requires_grad=True)
    y = reverse_gradient(x, 0.7)
    assert torch.equal(y, x)
    (y * torch.arange(4.0)).sum().backward()
    torch.testing.assert_close(x.grad, -0.7 * torch.arange(4.0).expand(3, 4))

    model = make_model("adversarial", grl_lambda=0.7)
    strength = model.set_training_progress(1.0)
    assert strength == pytest.approx(0.7 * (2 / (1 + math.exp(-10)) - 1))
    x, batch = make_batch()
    out = model(x)
    emb = out["emb:section"]
    through = torch.autograd.grad(masked_cross_entropy(out["logits:shift"], batch["shift"]), emb)[0]
    direct = torch.autograd.grad(masked_cross_entropy(model.shift_head[1:](emb), batch["shift"]), emb)[0]
    assert direct.abs().sum() > 0
    torch.testing.assert_close(through, -strength * direct)


def test_the_reversal_ramps_up_as_in_dann():
    model = make_model("adversarial", grl_lambda=1.0)
    strengths = [model.set_training_progress(p) for p in (0.0, 0.1, 0.3, 1.0)]
    assert strengths[0] == 0.0 and strengths == sorted(strengths) and strengths[-1] > 0.999
    assert strengths[1] == pytest.approx(2 / (1 + math.exp(-1.0)) - 1)
    assert make_model("disent").set_training_progress(0.5) == 0.0  # other systems: no adversary


def test_the_adversary_predicts_the_value_within_the_clip_section():
    """Its softmax runs over the clip's own section's classes: the other sections' logits do not
    enter its loss, and its chance level is log(number of values in the section)."""
    model = make_model("adversarial").eval()
    x, batch = make_batch()
    out = model(x)
    loss, stats = model.loss(out, batch)
    shifted = dict(out)
    other = torch.tensor(SHIFT_SECTIONS)[None, :] != batch["section"][:, None]
    shifted["logits:shift"] = out["logits:shift"] + 50.0 * other      # other sections' classes pushed far up
    loss2, stats2 = model.loss(shifted, batch)
    torch.testing.assert_close(loss, loss2)
    assert stats["shift_acc"] == stats2["shift_acc"]
    unmasked = masked_cross_entropy(out["logits:shift"], batch["shift"]).item() * 4 / 3  # per carried clip
    assert stats["shift_loss"] < unmasked  # the mask removed the other sections' classes from the softmax


@pytest.mark.parametrize("system", SYSTEMS)
def test_a_few_steps_overfit_a_fixed_batch(system):
    model = make_model(system).train()
    x, batch = make_batch(n=6)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    history = []
    for _ in range(8):
        opt.zero_grad()
        loss, stats = model.loss(model(x), batch)
        loss.backward()
        opt.step()
        history.append(stats)
    key = "section_loss" if system == "adversarial" else "loss"   # the adversary's term is maximised
    assert history[-1][key] < 0.5 * history[0][key]


@pytest.mark.parametrize("system", SYSTEMS)
def test_rebuilt_from_config(system):
    model = make_model(system).eval()
    cfg = json.loads(json.dumps(model.describe()))
    again = ASDModel.from_config(cfg).eval()
    again.load_state_dict(model.state_dict())
    x, _ = make_batch()
    with torch.no_grad():
        a, b = model.embeddings(x), again.embeddings(x)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match="unknown system"):
        make_model("vae")
    with pytest.raises(ValueError, match="domain-shift classes"):
        build_model("adversarial", N_BINS, N_SECTIONS, {}, shift_sections=())
    with pytest.raises(ValueError, match="attribute key"):
        build_model("disent", N_BINS, N_SECTIONS, {})
    model = make_model("mtl")
    x, batch = make_batch()
    batch["attributes"] = batch["attributes"][:, :1]
    with pytest.raises(ValueError, match="attributes"):
        model.loss(model(x), batch)


@pytest.mark.parametrize("system", ["sec_arcface", "disent"])
def test_loss_of_an_autocast_forward_is_float32(system):
    model = make_model(system).eval()
    x, batch = make_batch()
    with torch.no_grad():
        ref, _ = model.loss(model(x), batch)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = model(x)
        assert out["logits:section"].dtype == torch.bfloat16
        loss, _ = model.loss(out, batch)
    assert loss.dtype == torch.float32
    torch.testing.assert_close(loss, ref, atol=0.1, rtol=0.05)
