"""Disentanglement metrics: known answers, invariances, determinism and input errors.

The toy datasets below are tiny "images" (one pixel per factor) so that every test runs in
seconds with small sample sizes. ``Grid`` and ``mixed_rep`` are also what the
disentanglement_lib comparison in docs/METRICS.md ran on, and ``test_matches_dlib_*`` pins the
numbers disentanglement_lib itself produced on them.
"""

import numpy as np
import pytest

from hwkeras.data.ground_truth import GroundTruthData
from hwkeras.metrics import beta_vae, dci, factor_vae, mig, modularity, sap, utils

# ------------------------------------------------------------------------------------------
# Toy datasets and representations.
# ------------------------------------------------------------------------------------------

class Grid(GroundTruthData):
    """Independent uniform factors; observation = factors scaled to [0, 1] (+ optional noise).

    The noise is drawn from the metric's random state, so the call sequence matters.
    """

    def __init__(self, factor_sizes, noise=0.0):
        self.factor_sizes = tuple(factor_sizes)
        self.noise = noise
        self.observation_shape = (len(factor_sizes), 1, 1)

    def sample_factors(self, num, random_state):
        return np.stack([random_state.randint(s, size=num) for s in self.factor_sizes], axis=1)

    def sample_observations_from_factors(self, factors, random_state):
        x = factors / (np.array(self.factor_sizes) - 1.0)
        if self.noise:
            x = x + self.noise * random_state.randn(*x.shape)
        return x.reshape((len(factors),) + self.observation_shape).astype(np.float32)


def identity_rep(x):
    """The true factors (scaled) as the code: a perfectly disentangled representation."""
    return x.reshape(len(x), -1)


_W = np.random.RandomState(123).randn(10, 5).astype(np.float32)
_W[:5] += 3 * np.eye(5, dtype=np.float32)
_SCALE = np.array([1, 1, 1, 1, 1, 0.5, 0.3, 0.01, 0.02, 0.001], np.float32)[:, None]


def mixed_rep(x):
    """10-d float32 code of a 5-factor Grid: 5 mostly aligned dims, 2 weak, 3 collapsed."""
    x = x.reshape(len(x), -1)
    return np.tanh(x @ (_W * _SCALE).T).astype(np.float32)


def random_rep_factory(num_dims=6, seed=1):
    """Codes drawn independently of the images: any metric should score chance."""
    rng = np.random.RandomState(seed)
    return lambda x: rng.randn(len(x), num_dims)


def permuted(rep, permutation):
    return lambda x: rep(x)[:, permutation]


SMALL_FACTOR_VAE = dict(num_train=300, num_eval=300, num_variance_estimate=1000)
SMALL_BETA_VAE = dict(num_train=300, num_eval=300)
SMALL = dict(num_train=600, num_test=300)
SMALL_ALL = {
    "factor_vae": SMALL_FACTOR_VAE,
    "beta_vae": SMALL_BETA_VAE,
    "mig": {"num_train": 600},
    "dci": {"num_train": 300, "num_test": 100},
    "sap": {"num_train": 300, "num_test": 100},
    "modularity": {"num_train": 300, "num_test": 100},
}


# ------------------------------------------------------------------------------------------
# FactorVAE.
# ------------------------------------------------------------------------------------------

def test_factor_vae_true_factors_score_one():
    scores = factor_vae.compute_factor_vae(Grid([4, 5, 6, 7]), identity_rep,
                                           np.random.RandomState(0), **SMALL_FACTOR_VAE)
    assert scores["train_accuracy"] == 1.0
    assert scores["eval_accuracy"] == 1.0
    assert scores["num_active_dims"] == 4
    # Every vote went to the fixed factor's own dimension: the vote matrix is diagonal.
    votes = np.array(scores["votes"])
    assert votes.sum() == 300 and np.count_nonzero(votes - np.diag(np.diag(votes))) == 0


def test_factor_vae_random_representation_scores_chance():
    scores = factor_vae.compute_factor_vae(Grid([4, 5, 6, 7]), random_rep_factory(),
                                           np.random.RandomState(0), num_train=1000,
                                           num_eval=1000, num_variance_estimate=1000)
    # Votes are independent of the factor, so a fixed classifier is right 1/4 of the time;
    # 1000 eval votes give a standard error of 0.014.
    assert abs(scores["eval_accuracy"] - 0.25) < 0.05


def test_factor_vae_num_active_dims_counts_unpruned_dims():
    # 5 informative dims, 2 weak ones (std 0.5, 0.3 of tanh: kept), 3 with std < 0.05 (pruned).
    data = Grid([3, 6, 40, 32, 32], noise=0.05)
    scores = factor_vae.compute_factor_vae(data, mixed_rep, np.random.RandomState(0),
                                           **SMALL_FACTOR_VAE)
    stds = np.std(mixed_rep(data.sample_observations(5000, np.random.RandomState(1))), axis=0)
    assert np.sum(stds >= 0.05) == 7
    assert scores["num_active_dims"] == 7  # dlib would report 10 (the mask's length)
    votes = np.array(scores["votes"])
    assert votes[:, 7:].sum() == 0  # pruned dims never receive a vote


def test_factor_vae_everything_collapsed_scores_zero():
    scores = factor_vae.compute_factor_vae(Grid([4, 5]), lambda x: np.zeros((len(x), 3)),
                                           np.random.RandomState(0), **SMALL_FACTOR_VAE)
    assert scores["eval_accuracy"] == 0.0 and scores["num_active_dims"] == 0


def test_factor_vae_chyvae_protocol():
    assert factor_vae.PROTOCOLS["chyvae"] == {
        "batch_size": 200, "num_train": 800, "num_eval": 800,
        "num_variance_estimate": 5000, "prune_threshold": 0.0}
    assert factor_vae.PROTOCOLS["dlib"] == {
        "batch_size": 64, "num_train": 10000, "num_eval": 5000,
        "num_variance_estimate": 10000, "prune_threshold": 0.05}
    data = Grid([3, 6, 40, 32, 32], noise=0.05)
    scores = factor_vae.compute_factor_vae(data, mixed_rep, np.random.RandomState(0),
                                           protocol="chyvae", num_train=100, num_eval=100)
    # No pruning: even the three collapsed dimensions stay candidates.
    assert scores["num_active_dims"] == 10
    perfect = factor_vae.compute_factor_vae(Grid([4, 5, 6]), identity_rep, 0,
                                            protocol="chyvae", num_train=100, num_eval=100)
    assert perfect["eval_accuracy"] == 1.0
    with pytest.raises(ValueError, match="unknown FactorVAE protocol"):
        factor_vae.compute_factor_vae(data, mixed_rep, 0, protocol="paper")


# ------------------------------------------------------------------------------------------
# BetaVAE.
# ------------------------------------------------------------------------------------------

def test_beta_vae_true_factors_score_one():
    scores = beta_vae.compute_beta_vae(Grid([4, 5, 6, 7]), identity_rep,
                                       np.random.RandomState(0), **SMALL_BETA_VAE)
    assert scores["train_accuracy"] == 1.0 and scores["eval_accuracy"] == 1.0


def test_beta_vae_random_representation_scores_chance():
    scores = beta_vae.compute_beta_vae(Grid([4, 5, 6, 7]), random_rep_factory(),
                                       np.random.RandomState(0), num_train=500, num_eval=1000)
    assert abs(scores["eval_accuracy"] - 0.25) < 0.06


# ------------------------------------------------------------------------------------------
# MIG and its discretisation ceiling.
# ------------------------------------------------------------------------------------------

def test_histogram_discretize_and_mutual_information_against_hand_computation():
    # 40 equally spaced values into 20 bins: two values per bin, labels 1..20.
    bins = utils.histogram_discretize(np.arange(40.0)[:, None], 20)[:, 0]
    np.testing.assert_array_equal(bins, np.repeat(np.arange(1, 21), 2))
    # Mutual information from an explicit joint distribution.
    rng = np.random.RandomState(0)
    a = rng.randint(3, size=2000)
    b = (a + rng.randint(2, size=2000)) % 3
    joint = np.zeros((3, 3))
    np.add.at(joint, (a, b), 1)
    joint /= joint.sum()
    pa, pb = joint.sum(1), joint.sum(0)
    nz = joint > 0
    expected = np.sum(joint[nz] * np.log(joint[nz] / np.outer(pa, pb)[nz]))
    mi = utils.discrete_mutual_info(b[:, None], a[:, None])
    assert mi.shape == (1, 1) and mi[0, 0] == pytest.approx(expected, rel=1e-12)
    assert utils.discrete_entropy(a[:, None])[0] == pytest.approx(-np.sum(pa * np.log(pa)))


def test_discretisation_ceiling_known_values():
    # 32 values in 20 bins: 12 bins hold two values, 8 hold one.
    h32 = (24 / 32) * np.log(16) + (8 / 32) * np.log(32)
    assert mig.discretisation_ceiling([32]) == pytest.approx(h32 / np.log(32))
    assert mig.discretisation_ceiling([40]) == pytest.approx(np.log(20) / np.log(40))
    assert mig.discretisation_ceiling([2, 7, 20]) == pytest.approx(1.0)
    # dSprites: the "MIG tops out near 0.90" of DESIGN.md section 4.
    assert mig.discretisation_ceiling([3, 6, 40, 32, 32]) == pytest.approx(0.9024, abs=1e-4)


def test_mig_perfect_code_is_bounded_by_discretisation():
    sizes = [3, 40, 32]
    ceiling = mig.discretisation_ceiling(sizes)
    scores = mig.compute_mig(Grid(sizes), identity_rep, np.random.RandomState(0),
                             num_train=5000)
    # Below the ceiling (the finite-sample MI of the second-best dimension only lowers the gap),
    # and close to it.
    assert ceiling - 0.03 < scores["discrete_mig"] <= ceiling + 1e-3
    assert scores["mig_per_factor"][0] > 0.99  # 3 values: no bin sharing


def test_mig_random_representation_near_zero():
    scores = mig.compute_mig(Grid([4, 5, 6]), random_rep_factory(), np.random.RandomState(0),
                             num_train=3000)
    assert 0.0 <= scores["discrete_mig"] < 0.02


# ------------------------------------------------------------------------------------------
# DCI.
# ------------------------------------------------------------------------------------------

def test_dci_importance_formulas():
    assert dci.disentanglement(np.eye(3)) == pytest.approx(1.0, abs=1e-8)
    assert dci.completeness(np.eye(3)) == pytest.approx(1.0, abs=1e-8)
    assert dci.disentanglement(np.ones((4, 3))) == pytest.approx(0.0, abs=1e-8)
    assert dci.completeness(np.ones((4, 3))) == pytest.approx(0.0, abs=1e-8)
    # One code dim explaining two factors equally: disentanglement 1 - log(2)/log(2) = 0 for it.
    importance = np.array([[1.0, 1.0], [0.0, 0.0]])
    assert dci.disentanglement(importance) == pytest.approx(0.0, abs=1e-8)
    assert dci.completeness(importance) == pytest.approx(1.0, abs=1e-8)


def test_dci_weights_each_code_and_factor_by_its_share_of_the_importance():
    # Code 2 explains every factor equally but little (per-code disentanglement 0, weight 0.06 / 1.02);
    # factor 2 is spread over three codes. A plain mean of the per-code (per-factor) scores differs
    # from the weighted one by ~0.2.
    importance = np.array([[0.60, 0.00, 0.00],
                           [0.00, 0.25, 0.05],
                           [0.02, 0.02, 0.02],
                           [0.00, 0.01, 0.05]])

    def one_minus_entropy(weights, base):
        # disentanglement_lib adds 1e-11 to every importance before normalising.
        p = (np.asarray(weights) + 1e-11) / np.sum(np.asarray(weights) + 1e-11)
        return 1.0 + np.sum(p * np.log(p)) / np.log(base)

    total = importance.sum()
    per_code = [one_minus_entropy(row, 3) for row in importance]
    per_factor = [one_minus_entropy(column, 4) for column in importance.T]
    expected_d = sum(d * row.sum() / total for d, row in zip(per_code, importance))
    expected_c = sum(c * column.sum() / total for c, column in zip(per_factor, importance.T))
    np.testing.assert_allclose(dci.disentanglement_per_code(importance), per_code, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(dci.completeness_per_factor(importance), per_factor, rtol=1e-12, atol=1e-12)
    assert dci.disentanglement(importance) == pytest.approx(expected_d, rel=1e-12)
    assert dci.completeness(importance) == pytest.approx(expected_c, rel=1e-12)
    assert abs(expected_d - np.mean(per_code)) > 0.1 and abs(expected_c - np.mean(per_factor)) > 0.05


def test_dci_true_factors():
    scores = dci.compute_dci(Grid([3, 4, 5]), identity_rep, np.random.RandomState(0), **SMALL)
    assert scores["disentanglement"] > 0.95
    assert scores["completeness"] > 0.95
    assert scores["informativeness_test"] == 1.0


# ------------------------------------------------------------------------------------------
# SAP and modularity / explicitness.
# ------------------------------------------------------------------------------------------

def test_sap_known_answers():
    assert sap.avg_diff_top_two(np.array([[0.9, 0.2], [0.1, 0.7], [0.3, 0.6]])) == \
        pytest.approx((0.6 + 0.1) / 2)
    continuous = sap.compute_sap(Grid([4, 5, 6]), identity_rep, np.random.RandomState(0),
                                 continuous_factors=True, **SMALL)
    assert continuous["SAP_score"] > 0.98  # squared correlation 1 vs ~0
    discrete = sap.compute_sap(Grid([2, 2, 2]), identity_rep, np.random.RandomState(0), **SMALL)
    # Binary factors: the own dimension is classified perfectly, any other at balanced chance.
    assert abs(discrete["SAP_score"] - 0.5) < 0.06


def test_modularity_known_answers():
    assert modularity.modularity(np.eye(3)) == 1.0
    assert modularity.modularity(np.ones((2, 3))) == pytest.approx(0.0)
    assert modularity.modularity(np.zeros((2, 3))) == 0.0
    scores = modularity.compute_modularity_explicitness(
        Grid([3, 4, 5]), identity_rep, np.random.RandomState(0), **SMALL)
    assert scores["modularity_score"] > 0.99
    assert scores["explicitness_score_test"] > 0.97


# ------------------------------------------------------------------------------------------
# Invariance to the order of the code dimensions.
# ------------------------------------------------------------------------------------------

def test_permuted_representation_scores_the_same():
    data = Grid([3, 6, 40, 32, 32], noise=0.05)
    perm = np.array([3, 9, 0, 7, 1, 5, 2, 8, 4, 6])
    rep_p = permuted(mixed_rep, perm)

    def both(fn, **kw):
        return (fn(data, mixed_rep, np.random.RandomState(3), **kw),
                fn(data, rep_p, np.random.RandomState(3), **kw))

    a, b = both(factor_vae.compute_factor_vae, **SMALL_FACTOR_VAE)
    assert a["eval_accuracy"] == b["eval_accuracy"]
    assert a["num_active_dims"] == b["num_active_dims"]
    np.testing.assert_array_equal(np.array(a["votes"])[:, perm], np.array(b["votes"]))
    a, b = both(mig.compute_mig, num_train=2000)
    assert a["discrete_mig"] == b["discrete_mig"]
    a, b = both(beta_vae.compute_beta_vae, **SMALL_BETA_VAE)
    assert a["eval_accuracy"] == pytest.approx(b["eval_accuracy"], abs=0.02)
    a, b = both(modularity.compute_modularity_explicitness, **SMALL)
    assert a["modularity_score"] == pytest.approx(b["modularity_score"], abs=1e-12)
    assert a["explicitness_score_test"] == pytest.approx(b["explicitness_score_test"], abs=1e-3)


_W_SMALL = np.random.RandomState(7).randn(5, 3).astype(np.float32)
_W_SMALL[:3] += 3 * np.eye(3, dtype=np.float32)


def small_mixed_rep(x):
    """5-d code of a 3-factor Grid: 3 mostly aligned dims with leaks, 2 weak mixtures (DCI ~0.8)."""
    return np.tanh(x.reshape(len(x), -1) @ _W_SMALL.T).astype(np.float32)


def test_permuted_representation_dci_and_sap():
    """DCI's importance rows and SAP's score rows follow the dimensions they belong to, and the
    scores do not depend on the order. SAP fits one dimension at a time: exact. DCI's trees visit
    the features in a random order that the permutation changes, which moves importances by ~0.002
    here and the scores by ~0.001; the tolerances are 5 times that, far below the importances."""
    data = Grid([3, 4, 5], noise=0.05)
    perm = np.array([3, 0, 4, 2, 1])
    rep_p = permuted(small_mixed_rep, perm)
    a = dci.compute_dci(data, small_mixed_rep, np.random.RandomState(3), **SMALL)
    b = dci.compute_dci(data, rep_p, np.random.RandomState(3), **SMALL)
    np.testing.assert_allclose(np.array(a["importance_matrix"])[perm], b["importance_matrix"], atol=0.01)
    for key in ("disentanglement", "completeness"):
        assert a[key] == pytest.approx(b[key], abs=0.005)
    assert a["informativeness_test"] == pytest.approx(b["informativeness_test"], abs=0.01)
    assert 0.7 < a["disentanglement"] < 0.95  # a mixed code: neither trivial 0 nor 1
    a = sap.compute_sap(data, small_mixed_rep, np.random.RandomState(3), **SMALL)
    b = sap.compute_sap(data, rep_p, np.random.RandomState(3), **SMALL)
    np.testing.assert_array_equal(np.array(a["score_matrix"])[perm], b["score_matrix"])
    assert a["SAP_score"] == b["SAP_score"] and a["SAP_score"] > 0.05  # 0.08: not all gaps 0


# ------------------------------------------------------------------------------------------
# MIG and SAP edge cases (METRICS.md section 2).
# ------------------------------------------------------------------------------------------

def test_mig_leaves_a_constant_factor_out_and_needs_two_dims():
    rs = np.random.RandomState(0)
    f0 = rs.randint(4, size=1000)
    factors = np.stack([f0, np.zeros_like(f0)], axis=1)  # factor 1 is constant in the sample
    # dim 0 holds f0 (4 values, 4 distinct bins), dim 1 only f0 // 2, dim 2 nothing (one bin).
    codes = np.stack([f0, f0 // 2, np.ones_like(f0)], axis=1).astype(np.float64)

    def entropy(values):
        p = np.bincount(values) / len(values)
        p = p[p > 0]
        return -np.sum(p * np.log(p))

    # Best dim: I = H(f0); second: I(f0 // 2; f0) = H(f0 // 2) (a function of f0). Sample entropies.
    expected = 1.0 - entropy(f0 // 2) / entropy(f0)
    scores = mig.mig_from_codes(codes, factors)
    assert scores["mig_per_factor"][1] is None  # dlib: 0/0 = NaN
    assert scores["mig_per_factor"][0] == pytest.approx(expected, abs=1e-12)
    assert scores["discrete_mig"] == pytest.approx(expected, abs=1e-12)  # the mean over factor 0 alone
    with pytest.raises(ValueError, match="every factor is constant in the sample"):
        mig.mig_from_codes(codes, np.zeros_like(factors))
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        mig.mig_from_codes(codes[:, :1], factors)


def test_sap_constant_dimension_one_class_factor_and_needs_two_dims():
    rs = np.random.RandomState(0)
    f0 = rs.randint(2, size=400)
    codes = np.stack([f0 + 0.1 * rs.randn(400), np.full(400, 0.5)], axis=1)
    factors = np.stack([f0, rs.randint(3, size=400)], axis=1)
    # Continuous: a constant dimension predicts nothing (0, not 0/0); f0 from dim 0 is the squared
    # correlation, computed here with numpy.
    continuous = sap.sap_from_codes(codes, factors, codes, factors, continuous_factors=True)
    matrix = np.array(continuous["score_matrix"])
    np.testing.assert_array_equal(matrix[1], [0.0, 0.0])
    assert matrix[0, 0] == pytest.approx(np.corrcoef(codes[:, 0], f0)[0, 1] ** 2, rel=1e-12)
    # Discrete, with factor 1 a single class in the training half: no SVM can be fitted, and the
    # constant prediction scores the share of test points of that class, for every dimension.
    train = np.stack([f0[:200], np.full(200, 2)], axis=1)
    test = factors[200:]
    discrete = np.array(sap.sap_from_codes(codes[:200], train, codes[200:], test,
                                           random_state=np.random.RandomState(0))["score_matrix"])
    np.testing.assert_array_equal(discrete[:, 1], np.mean(test[:, 1] == 2))
    assert discrete[0, 0] == 1.0  # f0 is linearly separable from dim 0 (noise 0.1, gap 1)
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        sap.sap_from_codes(codes[:, :1], factors, codes[:, :1], factors)


# ------------------------------------------------------------------------------------------
# Identity with disentanglement_lib: numbers it produced on these exact inputs
# (google-research/disentanglement_lib@86a644d, see docs/METRICS.md for the procedure).
# Pure numpy metrics, so they do not depend on the scikit-learn version.
# ------------------------------------------------------------------------------------------

def test_matches_dlib_factor_vae():
    data = Grid([3, 6, 40, 32, 32], noise=0.05)
    scores = factor_vae.compute_factor_vae(data, mixed_rep, np.random.RandomState(0),
                                           num_train=500, num_eval=250,
                                           num_variance_estimate=500)
    assert scores["train_accuracy"] == DLIB_GOLDEN["factor_vae"]["train_accuracy"]
    assert scores["eval_accuracy"] == DLIB_GOLDEN["factor_vae"]["eval_accuracy"]


def test_matches_dlib_mig():
    data = Grid([3, 6, 40, 32, 32], noise=0.05)
    scores = mig.compute_mig(data, mixed_rep, np.random.RandomState(0), num_train=500)
    assert scores["discrete_mig"] == DLIB_GOLDEN["mig"]["discrete_mig"]


DLIB_GOLDEN = {
    "factor_vae": {"train_accuracy": 0.6, "eval_accuracy": 0.636},
    "mig": {"discrete_mig": 0.0380125556188105},
}
