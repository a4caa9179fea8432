"""UDR (hwkeras.metrics.udr): known answers, invariances, the numbers disentanglement_lib's own
UDR code produced on the same inputs, input errors, and the model adapter."""

import functools

import numpy as np
import pytest
import scipy.stats

from hwkeras.metrics import udr
from tests.metrics.test_metrics import Grid

# ------------------------------------------------------------------------------------------
# Fixed synthetic models of a 5-factor Grid (the inputs of the dlib comparison, METRICS.md).
# Each returns dlib's (codes (n, 7), mean KL per latent (7,)); the last 2 latents (and the
# 5th of rep_mixed) are collapsed: tiny codes with KL ~ 0.001, below the 0.01 filter.
# ------------------------------------------------------------------------------------------

SIZES = (3, 6, 40, 32, 32)
_ROT = np.linalg.qr(np.random.RandomState(5).randn(5, 5))[0]
_PERM = np.array([2, 4, 0, 1, 3])
_SIGN = np.array([1.0, -1.0, -1.0, 1.0, 1.0])
_W = np.random.RandomState(123).randn(5, 5) + 2 * np.eye(5)


def _with_kl(codes, active):
    kl_scale = np.array([1.0] * active + [1e-3] * (7 - active))
    return codes, np.mean(np.square(codes), axis=0) * kl_scale + kl_scale


def _pad(x, z):
    return np.concatenate([z, 1e-3 * x[:, :2]], axis=1)


def _x(obs):
    return obs.reshape(len(obs), -1).astype(np.float64)


def rep_disentangled(obs):
    return _with_kl(_pad(_x(obs), _x(obs) - 0.5), 5)


def rep_permuted(obs):
    """rep_disentangled's latents permuted, sign-flipped and bent monotonically."""
    return _with_kl(_pad(_x(obs), np.tanh(2 * (_x(obs) - 0.5))[:, _PERM] * _SIGN), 5)


def rep_rotated(obs):
    """An orthogonal mix of the factors: entangled."""
    return _with_kl(_pad(_x(obs), (_x(obs) - 0.5) @ _ROT), 5)


def rep_mixed(obs):
    return _with_kl(_pad(_x(obs), np.tanh((_x(obs) - 0.5) @ _W.T)), 4)


REPS = [rep_disentangled, rep_permuted, rep_rotated, rep_mixed]
DATA = Grid(SIZES, noise=0.05)


# ------------------------------------------------------------------------------------------
# Identity with disentanglement_lib: numbers its evaluation/udr/metrics/udr.py produced on these
# exact inputs (google-research/disentanglement_lib@86a644d, run outside this repository with
# numpy 2.4.6, scipy 1.17.1, scikit-learn 1.9.1; docs/METRICS.md section 6). Lasso is
# scikit-learn's solver: a release that changes it changes dlib's numbers too; rerun the
# comparison then.
# ------------------------------------------------------------------------------------------

DLIB_GOLDEN = {
    ("lasso", True): {
        "model_scores": [0.3471809354130181, 0.35134750932575276, 0.2838960304595725,
                         0.33630589760455476],
        "pairwise_row0": [0.0, 0.8969586030112648, 0.2838960304595725, 0.3333166278453959],
        "raw_0_1_row0": [0.0, 0.0, 0.8988681261096367, 0.0, 0.0, 0.0, 0.0],
    },
    ("lasso", False): {
        "model_scores": [0.22227950081535824, 0.22489304974950416, 0.20278287889969465,
                         0.2131914069791177],
        "pairwise_row0": [0.0, 0.6406847164366177, 0.20278287889969465, 0.2112781339795648],
    },
    ("spearman", True): {
        "model_scores": [0.320586380154828, 0.320586380154828, 0.27826835048820253,
                         0.320586380154828],
        "pairwise_row0": [0.0, 0.9268390227992794, 0.27826835048820253, 0.320586380154828],
    },
    # dlib's quirk, kept: zeroed latents give NaN rank correlations, every column and row of R
    # then has a NaN maximum, which counts as 0.
    ("spearman", False): {"model_scores": [0.0, 0.0, 0.0, 0.0]},
}


@pytest.mark.parametrize("correlation, filter_low_kl", list(DLIB_GOLDEN))
def test_matches_dlib(correlation, filter_low_kl):
    scores = udr.compute_udr(DATA, REPS, np.random.RandomState(0),
                             correlation_matrix=correlation, filter_low_kl=filter_low_kl)
    golden = DLIB_GOLDEN[(correlation, filter_low_kl)]
    # Equal to the last bit on the machine that ran dlib; scikit-learn's Lasso sums in the order of
    # the machine's BLAS kernels (AVX2 or AVX-512), which moves the last bit: rel 1e-12 allows that
    # and nothing a changed definition would give.
    same = functools.partial(pytest.approx, rel=1e-12, abs=1e-15)
    assert scores["model_scores"] == same(golden["model_scores"])
    if "pairwise_row0" in golden:
        assert scores["pairwise_disentanglement_scores"][0] == same(golden["pairwise_row0"])
    if "raw_0_1_row0" in golden:
        assert scores["raw_correlations"][0][1][0] == same(golden["raw_0_1_row0"])


def threshold_inputs():
    """Three models' codes (200, 4) and mean KLs where kl_filter_threshold = 0.1 differs from dlib's
    fixed 0.01: latent 2 of each model has 0.01 < KL <= 0.1 and carries information the active
    latents lack (model 0's latent 0 is f0 + 0.7 g0, its latent 2 is g0), so Lasso uses it when it
    is kept; latent 3 is collapsed (KL 0.001)."""
    rng = np.random.RandomState(7)
    n = 200
    f, g = rng.randn(n, 2), rng.randn(n, 2)

    def noise():
        return 0.1 * rng.randn(n)

    a = np.stack([f[:, 0] + 0.7 * g[:, 0], f[:, 1] + noise(), g[:, 0], noise() / 100], 1)
    b = np.stack([-f[:, 1] + noise(), f[:, 0] + noise(), g[:, 1], noise() / 100], 1)
    c = np.stack([f[:, 0] + noise(), np.tanh(f[:, 1]) + 0.8 * g[:, 1], g[:, 1] + noise(), noise() / 100], 1)
    kl = [np.array([2.0, 1.5, 0.05, 0.001]), np.array([1.8, 2.2, 0.03, 0.001]),
          np.array([2.1, 1.2, 0.08, 0.001])]
    return [a, b, c], kl


# disentanglement_lib's compute_udr_sklearn (evaluation/udr/metrics/udr.py at 86a644d, run outside
# this repository with gin stubbed, numpy 2.4.6, scipy 1.17.1, scikit-learn 1.9.1) on
# threshold_inputs(): a dataset whose sample_observations returns the row indices in order,
# representation functions returning (codes[i][rows], kl[i]), batch_size = num_data_points = 200,
# correlation_matrix="lasso", kl_filter_threshold=0.1, random_state np.random.RandomState(0).
# dlib zeroes latents with KL <= 0.01 (hard-coded) and scores the rows and columns with
# KL > 0.1; zeroing at 0.1 too would drop latent 2 from the regressions: model scores
# [0.737, 0.773, 0.693] instead.
DLIB_THRESHOLD_0_1 = {
    "model_scores": [0.8682400038295723, 0.9583171152411902, 0.7254012286473972],
    "pairwise": [[0.0, 0.9268312358332333, 0.7665957235727345],
                 [0.8169354759094363, 0.0, 0.6842067337220599],
                 [0.9195445317497083, 0.989802994649147, 0.0]],
}


def test_a_non_default_kl_filter_threshold_zeroes_latents_at_dlibs_fixed_0_01():
    codes, kl = threshold_inputs()
    scores = udr.udr_from_codes(codes, kl, np.random.RandomState(0), correlation_matrix="lasso",
                                kl_filter_threshold=0.1)
    assert scores["model_scores"] == pytest.approx(DLIB_THRESHOLD_0_1["model_scores"], rel=1e-9)
    np.testing.assert_allclose(scores["pairwise_disentanglement_scores"], DLIB_THRESHOLD_0_1["pairwise"],
                               rtol=1e-9, atol=1e-12)
    # The latents between the two thresholds are regressed on (R has non-zero entries for them)...
    raw = np.array(scores["raw_correlations"][0][1])
    assert raw[2].max() > 0.1
    # ... but not scored: R restricted to the latents above 0.1 (0 and 1 of both models).
    assert scores["pairwise_disentanglement_scores"][0][1] == pytest.approx(
        udr.relative_strength_disentanglement(raw[:2, :2]), rel=1e-12)


def test_defaults_are_dlibs():
    assert udr.DEFAULTS == {"batch_size": 10, "num_data_points": 1000,
                            "correlation_matrix": "lasso", "filter_low_kl": True,
                            "kl_filter_threshold": 0.01}


# ------------------------------------------------------------------------------------------
# Known answers.
# ------------------------------------------------------------------------------------------

def test_relative_strength_known_values():
    assert udr.relative_strength_disentanglement(np.eye(3)) == 1.0
    # Columns and rows: max^2/sum = 1/2, 1/2, 1 -> mean 2/3 each.
    block = np.array([[1.0, 1.0, 0.0], [1.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    assert udr.relative_strength_disentanglement(block) == pytest.approx(2 / 3, abs=1e-15)
    assert udr.relative_strength_disentanglement(np.ones((3, 3))) == pytest.approx(1 / 3)
    assert udr.relative_strength_disentanglement(np.zeros((3, 3))) == 0.0
    assert udr.relative_strength_disentanglement(np.zeros((0, 3))) == 0.0
    # Not scale-invariant: a one-to-one match of strength 0.3 scores 0.3 (max^2 / sum = max).
    assert udr.relative_strength_disentanglement(0.3 * np.eye(4)[[2, 0, 3, 1]]) == \
        pytest.approx(0.3)


def test_similarity_matrices_of_a_permuted_copy():
    rng = np.random.RandomState(0)
    codes = rng.randn(2000, 3)
    copy = codes[:, [2, 0, 1]] * np.array([1.0, -1.0, 1.0])
    # Spearman against scipy on each pair: |rho| = 1 on the permutation, ~0 elsewhere.
    spearman = udr.spearman_correlation_matrix(codes, copy)
    assert spearman[0, 1] == pytest.approx(abs(scipy.stats.spearmanr(codes[:, 0], copy[:, 1])[0]))
    np.testing.assert_allclose(spearman, np.eye(3)[[1, 2, 0]], atol=0.06)
    # Lasso with alpha 0.1 on unit-variance inputs shrinks each coefficient by 0.1.
    lasso = udr.lasso_correlation_matrix(codes / codes.std(0), copy / copy.std(0))
    np.testing.assert_allclose(lasso, 0.9 * np.eye(3)[[1, 2, 0]], atol=0.02)


@pytest.mark.parametrize("correlation", ["lasso", "spearman"])
def test_identical_models_score_high_and_entangled_lower(correlation):
    scores = udr.compute_udr(DATA, [rep_disentangled, rep_permuted], np.random.RandomState(1),
                             correlation_matrix=correlation)
    assert min(scores["model_scores"]) > 0.85
    mixed = udr.compute_udr(DATA, [rep_disentangled, rep_rotated], np.random.RandomState(1),
                            correlation_matrix=correlation)
    assert max(mixed["model_scores"]) < 0.5


@pytest.mark.parametrize("correlation", ["lasso", "spearman"])
def test_random_codes_score_low(correlation):
    def random_model(seed):
        weights = np.random.RandomState(seed).randn(5, 6)

        # A fixed but meaningless function of the image (a hash), independent across models.
        def rep(obs):
            codes = np.sin(1e4 * _x(obs) @ weights)
            return codes, np.ones(6)
        return rep

    scores = udr.compute_udr(DATA, [random_model(1), random_model(2), random_model(3)],
                             np.random.RandomState(0), correlation_matrix=correlation)
    assert max(scores["model_scores"]) < 0.25


def test_invariant_to_permutation_and_sign_of_latents():
    rng = np.random.RandomState(0)
    codes = [rep(DATA.sample_observations(1000, rng))[0] for rep in REPS]
    kl = [rep(DATA.sample_observations(100, np.random.RandomState(1)))[1] for rep in REPS]
    perm, sign = np.array([6, 3, 0, 5, 1, 2, 4]), np.array([1, -1, 1, -1, -1, 1, 1.0])
    shuffled = list(codes)
    shuffled[1] = codes[1][:, perm] * sign
    shuffled_kl = list(kl)
    shuffled_kl[1] = kl[1][perm]
    for correlation, tolerance in (("spearman", 0.0), ("lasso", 1e-4)):
        a = udr.udr_from_codes(codes, kl, correlation_matrix=correlation)
        b = udr.udr_from_codes(shuffled, shuffled_kl, correlation_matrix=correlation)
        # Spearman's pairs are computed one by one: exact; Lasso's coordinate descent visits
        # the latents in another order: equal to its tolerance.
        np.testing.assert_allclose(a["model_scores"], b["model_scores"], rtol=0, atol=tolerance)


def test_kl_filter_like_dlib():
    # dlib's udr_test.test_metric_kl: only the first latent is informative (the others are
    # noise of the model's own), and the KL says so.
    noise = np.random.RandomState(3)

    def rep(obs):
        codes = np.concatenate([_x(obs)[:, :1], noise.random_sample((len(obs), 4))], axis=1)
        return codes, np.array([1.0, 0, 0, 0, 0])

    unfiltered = udr.compute_udr(DATA, [rep, rep], np.random.RandomState(0), filter_low_kl=False)
    filtered = udr.compute_udr(DATA, [rep, rep], np.random.RandomState(0), filter_low_kl=True)
    assert max(unfiltered["model_scores"]) < 0.25
    # One active latent, predicted from itself: Lasso (alpha 0.1) shrinks the standardised
    # coefficient 1 to 0.9, and a 1 x 1 matrix scores its entry.
    assert filtered["model_scores"] == pytest.approx([0.9, 0.9], abs=1e-6)


def test_models_with_different_latent_sizes():
    observations = DATA.sample_observations(500, np.random.RandomState(0))
    small, small_kl = rep_disentangled(observations)
    large, large_kl = rep_permuted(observations)
    large = np.concatenate([large, large[:, :2] ** 3], axis=1)
    scores = udr.udr_from_codes([small[:, :5], large], [small_kl[:5], np.ones(9)])
    assert np.array(scores["raw_correlations"][0][1]).shape == (5, 9)
    assert np.array(scores["raw_correlations"][1][0]).shape == (9, 5)


# ------------------------------------------------------------------------------------------
# Errors: one line naming the problem and the fix.
# ------------------------------------------------------------------------------------------

def test_bad_inputs():
    rs = np.random.RandomState(0)
    with pytest.raises(ValueError, match="at least 2 representation functions"):
        udr.compute_udr(DATA, [rep_disentangled], rs)
    with pytest.raises(ValueError, match=r"num_data_points \(1005\) must be a multiple"):
        udr.compute_udr(DATA, REPS, rs, num_data_points=1005)
    with pytest.raises(ValueError, match="unknown correlation_matrix 'pearson'"):
        udr.compute_udr(DATA, REPS, rs, correlation_matrix="pearson")
    with pytest.raises(ValueError, match="unknown parameter"):
        udr.compute_udr(DATA, REPS, rs, alpha=0.2)
    with pytest.raises(ValueError, match="cannot sample observations"):
        udr.compute_udr(object(), REPS, rs)
    codes = np.zeros((10, 3))
    with pytest.raises(ValueError, match="same inputs"):
        udr.udr_from_codes([codes, codes[:5]], [np.ones(3), np.ones(3)])
    with pytest.raises(ValueError, match=r"kl \(num_latents,\)"):
        udr.udr_from_codes([codes, codes], [np.ones(3), np.ones(4)])
    with pytest.raises(ValueError, match="NaN or inf"):
        udr.udr_from_codes([codes, codes + np.nan], [np.ones(3), np.ones(3)])


# ------------------------------------------------------------------------------------------
# The model adapter.
# ------------------------------------------------------------------------------------------

def test_gaussian_kl_per_latent_against_scipy():
    mean, variance = np.array([[0.3, -1.2]]), np.array([[0.5, 2.0]])
    # KL(q || p) = -H(q) - E_q[log p], p = N(0, 1).
    expected = [-scipy.stats.norm(m, np.sqrt(v)).entropy()
                + 0.5 * np.log(2 * np.pi) + 0.5 * (m ** 2 + v)
                for m, v in zip(mean[0], variance[0])]
    np.testing.assert_allclose(udr.gaussian_kl_per_latent(mean, variance)[0], expected,
                               rtol=1e-12)


def test_representation_with_kl_reads_log_variance_and_scale_tril():
    rng = np.random.RandomState(0)
    mean, log_variance = rng.randn(4, 3), rng.randn(4, 3)
    scale_tril = np.tril(rng.randn(4, 3, 3))

    class Diagonal:
        def encode(self, x):
            return mean, log_variance

    class FullCovariance:
        def encode(self, x):
            return mean, scale_tril

    images = np.zeros((4, 2, 2, 1))
    codes, kl = udr.representation_with_kl(Diagonal())(images)
    np.testing.assert_array_equal(codes, mean)
    np.testing.assert_allclose(kl, np.mean(udr.gaussian_kl_per_latent(mean, np.exp(log_variance)),
                                           axis=0))
    _, kl = udr.representation_with_kl(FullCovariance())(images)
    marginal = np.einsum("bij,bij->bi", scale_tril, scale_tril)  # diag(L L^T)
    np.testing.assert_allclose(kl, np.mean(udr.gaussian_kl_per_latent(mean, marginal), axis=0))


def test_representation_with_kl_of_a_keras_vae_matches_its_own_kl_term():
    import keras

    from hwkeras.baselines.vae import VAE, diagonal_gaussian_kl

    model = VAE(latent_dim=3, image_shape=(16, 16, 1), hidden_units=8, seed=0)
    for weight in model.head.weights:  # an untrained head gives KLs too small to compare
        weight.assign(weight * 200.0)
    images = np.random.RandomState(0).rand(5, 16, 16, 1).astype(np.float32)
    codes, kl = udr.representation_with_kl(model)(images)
    mean, log_variance = model.encode(images)
    expected = keras.ops.convert_to_numpy(diagonal_gaussian_kl(mean, log_variance))
    assert codes.shape == (5, 3) and np.sum(kl) > 0.1
    assert np.sum(kl) == pytest.approx(float(np.mean(expected)), rel=1e-5)
