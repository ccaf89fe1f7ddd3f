"""Scoring backends (Eq. 4, Eq. 5, Sec. 2.2): exact identities on seeded random embeddings."""
import math

import numpy as np
import pytest

from asdlib.scoring import (GaussianMixtureScorer, KNNMeanCosine, MahalanobisScorer, NearestNeighbourCosine,
                            SpaceScorer, l2_normalise, make_backend, nn_cosine_distance, score_spaces,
                            score_spaces_train)


@pytest.fixture
def data():
    """Two sections of 30 training and 12 test clips, two 8-d spaces."""
    rng = np.random.default_rng(0)
    sections_train = np.repeat(["00", "01"], 30)
    sections_test = np.repeat(["01", "00"], 12)
    train = {"section": rng.normal(size=(60, 8)), "attribute": rng.normal(size=(60, 8))}
    test = {"section": rng.normal(size=(24, 8)), "attribute": rng.normal(size=(24, 8))}
    return train, test, sections_train, sections_test


def brute_force_nn(test, test_sections, train, train_sections, leave_one_out=False):
    """Eq. (4) by a Python double loop: min over same-section training clips of 1 - cos."""
    out = []
    for i, (e, sec) in enumerate(zip(test, test_sections)):
        best = math.inf
        for j, (t, sec_t) in enumerate(zip(train, train_sections)):
            if sec_t != sec or (leave_one_out and i == j):
                continue
            cos = sum(a * b for a, b in zip(e, t)) / math.sqrt(sum(a * a for a in e) * sum(b * b for b in t))
            best = min(best, 1.0 - cos)
        out.append(best)
    return np.array(out)


def test_nn_equals_brute_force(data):
    train, test, s_train, s_test = data
    nn = NearestNeighbourCosine(chunk_size=5).fit(train["section"], s_train)  # several chunks
    np.testing.assert_allclose(nn.score(test["section"], s_test),
                               brute_force_nn(test["section"], s_test, train["section"], s_train), atol=1e-6)
    np.testing.assert_allclose(nn.score_train(),
                               brute_force_nn(train["section"], s_train, train["section"], s_train,
                                              leave_one_out=True), atol=1e-6)


def test_nn_training_clip_scores_zero_and_duplicate_pair_leave_one_out_zero(data):
    train, _, s_train, _ = data
    x = train["section"]
    nn = NearestNeighbourCosine().fit(x, s_train)
    np.testing.assert_allclose(nn.score(x, s_train), 0.0, atol=1e-12)
    loo = nn.score_train()
    assert loo.min() > 1e-3  # random clips: leave-one-out really leaves the clip out
    x_dup = np.vstack([x, x[3:4]])
    loo_dup = NearestNeighbourCosine().fit(x_dup, np.append(s_train, s_train[3])).score_train()
    assert loo_dup[3] == pytest.approx(0.0, abs=1e-12) and loo_dup[-1] == pytest.approx(0.0, abs=1e-12)
    np.testing.assert_allclose(np.delete(loo_dup, [3, 60]), np.delete(loo, 3))


def test_nn_is_restricted_to_the_section(data):
    train, _, s_train, _ = data
    x = train["section"]
    nn = NearestNeighbourCosine().fit(x, s_train)
    # training clip 0 belongs to section 00; as a section-01 clip it must not find itself.
    other = nn.score(x[:1], ["01"])[0]
    assert other > 1e-3
    assert other == pytest.approx(brute_force_nn(x[:1], ["01"], x, s_train)[0], abs=1e-9)


def test_unknown_section_is_a_clear_error(data):
    train, test, s_train, _ = data
    nn = NearestNeighbourCosine().fit(train["section"], s_train)
    with pytest.raises(ValueError, match=r"no training clips for section\(s\) \['02'\]"):
        nn.score(test["section"][:2], ["00", "02"])


def test_cosine_invariant_to_positive_scaling(data):
    train, test, s_train, s_test = data
    rng = np.random.default_rng(1)
    scale_train = rng.uniform(0.1, 10, size=(60, 1))
    scale_test = rng.uniform(0.1, 10, size=(24, 1))
    a = NearestNeighbourCosine().fit(train["section"], s_train)
    b = NearestNeighbourCosine().fit(train["section"] * scale_train, s_train)
    np.testing.assert_allclose(b.score(test["section"] * scale_test, s_test), a.score(test["section"], s_test),
                               atol=1e-12)
    np.testing.assert_allclose(b.score_train(), a.score_train(), atol=1e-12)


def test_knn_with_k1_equals_nn_and_k_is_the_mean_of_sorted_distances(data):
    train, test, s_train, s_test = data
    nn = NearestNeighbourCosine().fit(train["section"], s_train)
    k1 = KNNMeanCosine(k=1).fit(train["section"], s_train)
    np.testing.assert_array_equal(k1.score(test["section"], s_test), nn.score(test["section"], s_test))
    np.testing.assert_array_equal(k1.score_train(), nn.score_train())
    # k=3 by sorting all distances of one section
    ref = train["section"][s_train == "00"]
    q = test["section"][:4]
    full = 1 - (q / np.linalg.norm(q, axis=1, keepdims=True)) @ (ref / np.linalg.norm(ref, axis=1, keepdims=True)).T
    np.testing.assert_allclose(nn_cosine_distance(q, ref, k=3), np.sort(full, axis=1)[:, :3].mean(1), atol=1e-12)
    k3 = KNNMeanCosine(k=3).fit(train["section"], s_train)
    assert np.all(k3.score(test["section"], s_test) >= nn.score(test["section"], s_test))


def test_knn_needs_enough_clips():
    x = np.random.default_rng(0).normal(size=(3, 4))
    with pytest.raises(ValueError, match="fewer than k=4"):
        KNNMeanCosine(k=4).fit(x, ["00"] * 3)
    with pytest.raises(ValueError, match="leave-one-out"):
        KNNMeanCosine(k=3).fit(x, ["00"] * 3).score_train()


def test_gmm_scores_far_points_higher_and_is_seeded():
    rng = np.random.default_rng(0)
    train = rng.normal(size=(200, 4))
    near, far = rng.normal(size=(50, 4)), rng.normal(size=(50, 4)) * 0.5 + 6.0
    gmm = GaussianMixtureScorer(n_components=2, normalize=False).fit(train, ["00"] * 200)
    s_near, s_far = gmm.score(near, ["00"] * 50), gmm.score(far, ["00"] * 50)
    assert s_far.min() > s_near.max()
    assert gmm.score_train().shape == (200,)
    again = GaussianMixtureScorer(n_components=2, normalize=False).fit(train, ["00"] * 200)
    np.testing.assert_array_equal(again.score(far, ["00"] * 50), s_far)


def test_mahalanobis_is_the_shrunk_covariance_distance_per_section():
    from sklearn.covariance import LedoitWolf

    rng = np.random.default_rng(1)
    train = np.vstack([rng.normal(size=(40, 3)) * [1, 1, 0.1], rng.normal(size=(40, 3)) + 5])
    sections = ["00"] * 40 + ["01"] * 40
    scorer = MahalanobisScorer(normalize=False).fit(train, sections)
    probe = np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]])  # as far in units, but along a tight axis first
    scores = scorer.score(probe, ["00", "00"])
    assert scores[0] > scores[1]
    reference = LedoitWolf().fit(train[:40])
    np.testing.assert_allclose(scores, reference.mahalanobis(probe), rtol=1e-10)
    assert scorer.score_train().shape == (80,)
    assert isinstance(make_backend("mahalanobis"), MahalanobisScorer)


def planted_outlier(n: int = 20, d: int = 64, seed: int = 2):
    """n training clips of one section in d > n dimensions (a 2-d spread about a common direction,
    plus small noise) and 10 test clips like them, the 8th far along the spread (planted outlier)."""
    rng = np.random.default_rng(seed)
    offset, spread = rng.normal(size=d) * 10, rng.normal(size=(2, d))
    latent = rng.normal(size=(n + 10, 2))
    latent[n + 7] = [4.0, -4.0]
    x = offset + latent @ spread + 0.05 * rng.normal(size=(n + 10, d))
    return x[:n], x[n:], 7


@pytest.mark.parametrize("kwargs", [{"backend": "mahalanobis", "shrinkage": "ledoit_wolf"},
                                    {"backend": "mahalanobis", "shrinkage": "oas"},
                                    {"backend": "gmm", "pca_dims": 2}, {"backend": "gmm", "pca_dims": 4}],
                         ids=lambda k: "-".join(map(str, k.values())))
def test_forms_for_few_clips_rank_a_planted_outlier_first(kwargs):
    train, test, outlier = planted_outlier()
    kwargs = dict(kwargs)
    scorer = make_backend(kwargs.pop("backend"), **kwargs).fit(train, ["00"] * len(train))
    scores, train_scores = scorer.score(test, ["00"] * len(test)), scorer.score_train()
    assert np.isfinite(scores).all() and np.isfinite(train_scores).all()
    assert np.argmax(scores) == outlier and scores[outlier] > train_scores.max()


def test_oas_mahalanobis_is_sklearns():
    from sklearn.covariance import OAS

    train, test, _ = planted_outlier()
    scores = MahalanobisScorer("oas", normalize=False).fit(train, ["00"] * 20).score(test, ["00"] * 10)
    np.testing.assert_allclose(scores, OAS().fit(train).mahalanobis(test), rtol=1e-8)
    with pytest.raises(ValueError, match="unknown shrinkage 'lw'"):
        MahalanobisScorer("lw").fit(train, ["00"] * 20)


def test_pca_gmm_is_a_gaussian_on_the_sections_principal_components():
    """One component after a PCA to p dimensions: the NLL of the projection under the projected
    training clips' mean and (maximum-likelihood) covariance plus reg_covar, per section."""
    from scipy.stats import multivariate_normal

    train, test, _ = planted_outlier()
    other = planted_outlier(seed=3)[0]  # a second section, fitted apart
    scorer = GaussianMixtureScorer(pca_dims=3, reg_covar=1e-4).fit(np.vstack([train, other]),
                                                                   ["00"] * 20 + ["01"] * 20)
    x, q = l2_normalise(train), l2_normalise(test)
    mean = x.mean(axis=0)
    basis = np.linalg.svd(x - mean, full_matrices=False)[2][:3]  # (3, d): the top principal directions
    z, zq = (x - mean) @ basis.T, (q - mean) @ basis.T
    covariance = np.cov(z.T, bias=True) + 1e-4 * np.eye(3)
    expected = -multivariate_normal(z.mean(axis=0), covariance).logpdf(zq)
    np.testing.assert_allclose(scorer.score(test, ["00"] * 10), expected, rtol=1e-6)
    np.testing.assert_allclose(scorer.score_train()[:20], -multivariate_normal(z.mean(axis=0), covariance).logpdf(z),
                               rtol=1e-6)


def test_make_backend_by_name():
    assert isinstance(make_backend("nn"), NearestNeighbourCosine)
    assert make_backend("knn", k=7).k == 7
    assert make_backend("gmm", n_components=3).n_components == 3
    with pytest.raises(ValueError, match="unknown backend 'svm'"):
        make_backend("svm")


def test_weighted_mode_reduces_to_single_spaces(data):
    train, test, s_train, s_test = data
    for weights, mode in (((1, 0), "sec"), ((0, 1), "att")):
        np.testing.assert_array_equal(score_spaces(train, test, s_train, s_test, "wt", weights),
                                      score_spaces(train, test, s_train, s_test, mode))
        np.testing.assert_array_equal(score_spaces_train(train, s_train, "wt", weights),
                                      score_spaces_train(train, s_train, mode))


def test_weighted_mode_is_eq5(data):
    train, test, s_train, s_test = data
    d_s = NearestNeighbourCosine().fit(train["section"], s_train).score(test["section"], s_test)
    d_a = NearestNeighbourCosine().fit(train["attribute"], s_train).score(test["attribute"], s_test)
    np.testing.assert_allclose(score_spaces(train, test, s_train, s_test, "wt", (0.3, 0.7)),
                               0.3 * d_s + 0.7 * d_a, atol=1e-12)
    np.testing.assert_allclose(score_spaces(train, test, s_train, s_test, "wt", {"section": 2.0}), 2 * d_s,
                               atol=1e-12)


def test_single_space_modes_equal_nn_on_that_space(data):
    train, test, s_train, s_test = data
    nn = NearestNeighbourCosine().fit(train["section"], s_train)
    one = {"section": train["section"]}
    np.testing.assert_allclose(score_spaces(one, {"section": test["section"]}, s_train, s_test, "cat"),
                               nn.score(test["section"], s_test), atol=1e-12)
    np.testing.assert_allclose(score_spaces_train(one, s_train, "cat"), nn.score_train(), atol=1e-12)
    split = {"section": train["section"], "attr:spd": train["attribute"]}
    split_test = {"section": test["section"], "attr:spd": test["attribute"]}
    np.testing.assert_array_equal(
        score_spaces(split, split_test, s_train, s_test, "attr:spd"),
        NearestNeighbourCosine().fit(train["attribute"], s_train).score(test["attribute"], s_test))


def test_cat_mode_is_the_paper_raw_concatenation(data):
    """Disent.Cat (Eq. 4 on z_C = [z_S; z_A]): the raw spaces joined, no per-space normalisation."""
    train, test, s_train, s_test = data
    train = {"section": 5.0 * train["section"], "attribute": train["attribute"]}  # unequal norms
    test = {"section": 5.0 * test["section"], "attribute": test["attribute"]}
    joined = lambda d: np.hstack([d["section"], d["attribute"]])  # noqa: E731
    cat = score_spaces(train, test, s_train, s_test, "cat")
    np.testing.assert_allclose(cat, brute_force_nn(joined(test), s_test, joined(train), s_train), atol=1e-6)
    unit = lambda d: {k: v / np.linalg.norm(v, axis=1, keepdims=True) for k, v in d.items()}  # noqa: E731
    cat_norm = score_spaces(train, test, s_train, s_test, "cat_norm")
    np.testing.assert_allclose(cat_norm, brute_force_nn(joined(unit(test)), s_test, joined(unit(train)), s_train),
                               atol=1e-6)
    assert np.abs(cat - cat_norm).max() > 1e-3  # the two forms differ when the spaces' norms differ
    # the normalised form differs from the sum of the per-space minima (Eq. 5 picks a neighbour per space)
    wt = score_spaces(train, test, s_train, s_test, "wt", (0.5, 0.5))
    assert np.all(cat_norm >= wt - 1e-12) and np.any(cat_norm > wt + 1e-6)


def test_space_scorer_errors(data):
    train, test, s_train, _ = data
    with pytest.raises(ValueError, match="needs weights"):
        SpaceScorer("wt").fit(train, s_train)
    with pytest.raises(ValueError, match="unknown mode 'mtl'"):
        SpaceScorer("mtl").fit(train, s_train)
    scorer = SpaceScorer("att").fit(train, s_train)
    with pytest.raises(ValueError, match=r"needs space\(s\) \['attribute'\]"):
        scorer.score({"section": test["section"]}, ["00"] * 24)


def test_the_scoring_package_exports_resolve_lazily_and_every_backend_name_makes_its_class():
    import importlib
    import subprocess
    import sys

    import asdlib.scoring as scoring
    from asdlib.scoring import BACKENDS, SectionBackend, backend_class

    code = "import sys, asdlib.scoring; print(sorted(m for m in ('numpy', 'sklearn', 'torch') if m in sys.modules))"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stdout.strip() == "[]"
    for name in scoring.__all__:
        assert getattr(scoring, name) is getattr(importlib.import_module(f"asdlib.scoring.{scoring._EXPORTS[name]}"),
                                                 name)
    for name in BACKENDS:
        assert issubclass(backend_class(name), SectionBackend) and isinstance(make_backend(name), backend_class(name))
    with pytest.raises(ValueError, match="unknown backend 'nope'"):
        make_backend("nope")
