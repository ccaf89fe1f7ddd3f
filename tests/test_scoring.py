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


# --------------------------------------------------------------------------------------------
# Domain-generalisation backends (asdlib.scoring.domain, asdlib.scoring.local_density)
# --------------------------------------------------------------------------------------------
@pytest.fixture
def domains_data():
    """Two sections of 24 source and 6 target training clips (8-d), 10 test clips."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(60, 8))
    sections = np.repeat(["00", "01"], 30)
    domains = np.tile(np.r_[["source"] * 24, ["target"] * 6], 2)
    rng.shuffle(domains[:30])  # the domains interleaved in fit order
    return x, sections, domains, rng.normal(size=(10, 8)), np.repeat(["01", "00"], 5)


def refit_leave_one_out(name, x, sections, domains, **kwargs) -> np.ndarray:
    """Each training clip scored by the backend fitted on all the other clips."""
    out = np.empty(len(x))
    for i in range(len(x)):
        keep = np.arange(len(x)) != i
        backend = make_backend(name, **kwargs).fit(x[keep], sections[keep], None if domains is None else domains[keep])
        out[i] = backend.score(x[i:i + 1], sections[i:i + 1])[0]
    return out


@pytest.mark.parametrize("name", ["knn_domain", "kmeans_target", "smote_knn"])
def test_domain_aware_backends_refuse_missing_or_unknown_domains(name, domains_data):
    x, sections, domains, _, _ = domains_data
    with pytest.raises(ValueError, match=f"backend .* scores the source and target training clips apart"):
        make_backend(name).fit(x, sections)
    with pytest.raises(ValueError, match=r"domains must be source or target, got \['Target'\]"):
        make_backend(name).fit(x, sections, np.where(domains == "target", "Target", domains))
    with pytest.raises(ValueError, match="needs their domains"):
        SpaceScorer("section", backend=name).fit({"section": x}, sections)
    SpaceScorer("section", backend=name).fit({"section": x}, sections, domains)  # given: accepted


def test_the_other_backends_ignore_the_domains(domains_data):
    x, sections, domains, q, q_sections = domains_data
    for name in ("nn", "knn", "gmm", "mahalanobis", "knn_ldn"):
        with_domains = make_backend(name).fit(x, sections, domains)
        np.testing.assert_array_equal(with_domains.score(q, q_sections), make_backend(name).fit(x, sections).score(
            q, q_sections))


def test_knn_domain_with_one_neighbour_is_nn_and_its_training_scores_are_leave_one_out(domains_data):
    x, sections, domains, q, q_sections = domains_data
    nn = NearestNeighbourCosine().fit(x, sections)
    one = make_backend("knn_domain", k=1).fit(x, sections, domains)
    np.testing.assert_allclose(one.score(q, q_sections), nn.score(q, q_sections), atol=1e-12)
    np.testing.assert_allclose(one.score_train(), nn.score_train(), atol=1e-12)
    three = make_backend("knn_domain", k=3).fit(x, sections, domains)
    np.testing.assert_allclose(three.score_train(), refit_leave_one_out("knn_domain", x, sections, domains, k=3),
                               atol=1e-12)


def test_knn_domain_judges_a_target_clip_by_its_own_few_references():
    """40 source clips round one direction, 3 target clips round another; a target normal clip
    among the 3: knn (k=4, pooled) averages in a far source clip, knn_domain averages its own bank
    (all 3, fewer than k) and scores it below a clip between the domains."""
    rng = np.random.default_rng(2)
    source = np.eye(6)[0] + 0.1 * rng.normal(size=(40, 6))
    target = np.eye(6)[1] + 0.1 * rng.normal(size=(3, 6))
    x, sections = np.vstack([source, target]), np.repeat("00", 43)
    domains = np.r_[["source"] * 40, ["target"] * 3]
    normal = np.eye(6)[1:2] + 0.05 * rng.normal(size=(1, 6))
    between = (np.eye(6)[0:1] + np.eye(6)[1:2]) / 2 + np.eye(6)[2:3] * 0.3
    domain = make_backend("knn_domain", k=4).fit(x, sections, domains)
    pooled = KNNMeanCosine(k=4).fit(x, sections)
    expected = np.mean([1 - l2_normalise(normal)[0] @ l2_normalise(t[None])[0] for t in target])
    assert domain.score(normal, ["00"])[0] == pytest.approx(expected, abs=1e-12)
    assert pooled.score(normal, ["00"])[0] > 2 * domain.score(normal, ["00"])[0]
    assert domain.score(normal, ["00"])[0] < domain.score(between, ["00"])[0]
    assert pooled.score(normal, ["00"])[0] > pooled.score(between, ["00"])[0]  # the failure it mends


def test_kmeans_target_with_a_centre_per_clip_is_nn_and_with_one_centre_its_mean_direction(domains_data):
    x, sections, domains, q, q_sections = domains_data
    every = make_backend("kmeans_target", n_clusters=100).fit(x, sections, domains)  # capped at 30 a section
    nn = NearestNeighbourCosine().fit(x, sections)
    np.testing.assert_allclose(every.score(q, q_sections), nn.score(q, q_sections), atol=1e-9)
    np.testing.assert_allclose(every.score_train(), nn.score_train(), atol=1e-9)  # leave-one-out as nn's
    one = make_backend("kmeans_target", n_clusters=1).fit(x, sections, domains)
    for sec in ("00", "01"):
        mine = sections == sec
        centre = l2_normalise(x[mine]).mean(axis=0, keepdims=True)  # Wilkinghoff: all the clips, both domains
        references = np.vstack([centre, x[mine & (domains == "target")]])
        np.testing.assert_allclose(one.score(q[q_sections == sec], q_sections[q_sections == sec]),
                                   nn_cosine_distance(q[q_sections == sec], references), atol=1e-9)
    train = one.score_train()  # each clip left out of the centre, and a target clip of the target references
    for sec in ("00", "01"):
        mine, targets = np.flatnonzero(sections == sec), np.flatnonzero((sections == sec) & (domains == "target"))
        for i in mine:
            centre = l2_normalise(x[np.setdiff1d(mine, i)]).mean(axis=0, keepdims=True)
            references = np.vstack([centre, x[np.setdiff1d(targets, i)]])
            assert train[i] == pytest.approx(nn_cosine_distance(x[i:i + 1], references)[0], abs=1e-9)


def test_smote_references_lie_on_segments_between_target_references(domains_data):
    x, sections, domains, q, q_sections = domains_data
    smote = make_backend("smote_knn", k=2, k_neighbors=2, ratio=1.0, seed=3).fit(x, sections, domains)
    for sec in ("00", "01"):
        banks = smote.models_[sec]
        target = l2_normalise(x[(sections == sec) & (domains == "target")])
        assert len(banks.target) + len(banks.added) == 24  # ratio 1: as many as the source bank
        for new in banks.added:
            # on the segment a -> b for some pair of target references: new - a = t (b - a), 0 <= t <= 1
            fits = []
            for i, a in enumerate(target):
                for b in np.delete(target, i, axis=0):
                    t = (new - a) @ (b - a) / ((b - a) @ (b - a))
                    fits.append(0 <= t <= 1 and np.allclose(a + t * (b - a), new, atol=1e-9))
            assert any(fits)
        assert not any(np.allclose(new, t) for new in banks.added for t in target)  # new references
    again = make_backend("smote_knn", k=2, k_neighbors=2, ratio=1.0, seed=3).fit(x, sections, domains)
    other = make_backend("smote_knn", k=2, k_neighbors=2, ratio=1.0, seed=4).fit(x, sections, domains)
    np.testing.assert_array_equal(again.score(q, q_sections), smote.score(q, q_sections))  # seeded
    assert not np.array_equal(other.models_["00"].added, smote.models_["00"].added)
    # training scores: a target clip left out of its bank, SMOTE's references kept; a source clip
    # exactly leave-one-out
    train = smote.score_train()
    for sec in ("00", "01"):
        rows = np.flatnonzero((sections == sec) & (domains == "target"))
        source, added = l2_normalise(x[(sections == sec) & (domains == "source")]), smote.models_[sec].added
        for i in rows:
            bank = np.vstack([x[np.setdiff1d(rows, i)], added])
            expected = min(KNNMeanCosine(k=2).fit(source, np.repeat(sec, 24)).score(x[i:i + 1], [sec])[0],
                           KNNMeanCosine(k=2).fit(bank, np.repeat(sec, len(bank))).score(x[i:i + 1], [sec])[0])
            assert train[i] == pytest.approx(expected, abs=1e-12)
    source_rows = domains == "source"
    np.testing.assert_allclose(train[source_rows], refit_leave_one_out(
        "smote_knn", x, sections, domains, k=2, k_neighbors=2, ratio=24 / 23, seed=3)[source_rows], atol=1e-12)
    small = make_backend("smote_knn", k=2, ratio=0.1).fit(x, sections, domains)  # 6 target >= 0.1 x 24: none added
    np.testing.assert_array_equal(small.score(q, q_sections), make_backend("knn_domain", k=2).fit(
        x, sections, domains).score(q, q_sections))


def ldn_by_hand(queries, reference, k, density_k, form, leave_out=None):
    """Local-density normalised k-NN by Python loops: rho(r) = mean cosine distance from r to its
    density_k nearest other references; score = mean of the k smallest d(q, r) / rho(r) (or minus)."""
    def cos_dist(a, b):
        return 1 - sum(u * v for u, v in zip(a, b)) / math.sqrt(sum(u * u for u in a) * sum(v * v for v in b))

    refs = [r for j, r in enumerate(reference) if j != leave_out]
    rho = [sum(sorted(cos_dist(r, o) for o in refs if o is not r)[:density_k]) / density_k for r in refs]
    out = []
    for q in queries:
        values = [cos_dist(q, r) / p if form == "divide" else cos_dist(q, r) - p for r, p in zip(refs, rho)]
        out.append(sum(sorted(values)[:k]) / k)
    return np.array(out)


@pytest.mark.parametrize("form", ["divide", "subtract"])
def test_knn_ldn_rescales_each_distance_by_the_references_mean_distance_to_their_neighbours(form):
    """Five 2-d references: four in a tight cluster, one alone; a query as near the lone one as the
    cluster's spread: plain nn scores it as far as any, the rescaled distance near zero."""
    angles = np.radians([0.0, 2.0, 4.0, 6.0, 90.0])
    reference = np.c_[np.cos(angles), np.sin(angles)]
    queries = np.c_[np.cos(np.radians([88.0, 30.0, 3.0])), np.sin(np.radians([88.0, 30.0, 3.0]))]
    sections = np.repeat("00", 5)
    ldn = make_backend("knn_ldn", k=1, density_k=2, form=form).fit(reference, sections)
    np.testing.assert_allclose(ldn.score(queries, np.repeat("00", 3)), ldn_by_hand(queries, reference, 1, 2, form),
                               atol=1e-9)
    # rho of the lone reference (90 deg): mean of 1 - cos 84 and 1 - cos 86 (its two nearest, 6 and 4 deg)
    rho = ldn.models_["00"].rho
    assert rho[4] == pytest.approx(np.mean([1 - np.cos(np.radians(84)), 1 - np.cos(np.radians(86))]), abs=1e-12)
    assert rho[0] == pytest.approx(np.mean([1 - np.cos(np.radians(2)), 1 - np.cos(np.radians(4))]), abs=1e-12)
    loo = [ldn_by_hand(reference[i:i + 1], reference, 1, 2, form, leave_out=i)[0] for i in range(5)]
    np.testing.assert_allclose(ldn.score_train(), loo, atol=1e-9)
    if form == "divide":  # 2 deg from the lone reference: rescaled, nearer than 3 deg inside the cluster's
        near_lone, inside = ldn.score(queries[[0, 2]], ["00", "00"])
        assert near_lone < 1.0 and near_lone < 2 * inside


def test_knn_ldn_training_scores_are_exact_leave_one_out(domains_data):
    x, sections, domains, _, _ = domains_data
    for form in ("divide", "subtract"):
        ldn = make_backend("knn_ldn", k=3, density_k=4, form=form).fit(x, sections)
        np.testing.assert_allclose(ldn.score_train(), refit_leave_one_out("knn_ldn", x, sections, None, k=3,
                                                                          density_k=4, form=form), atol=1e-9)
    with pytest.raises(ValueError, match="unknown form 'ratio'"):
        make_backend("knn_ldn", form="ratio").fit(x, sections)
    with pytest.raises(ValueError, match="section '00' has 5 training clips"):
        make_backend("knn_ldn", density_k=4).fit(x[:5], sections[:5])
