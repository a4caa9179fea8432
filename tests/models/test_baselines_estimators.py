"""Baseline regularisers against independent oracles: TFP KLs, analytic total correlation, Monte Carlo."""

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp
from scipy import special, stats

from hwkeras.baselines import BFVAE0, BFVAE1, BFVAE2, VAE, FactorVAE, gamma_prior
from hwkeras.baselines import discriminator as adversary
from hwkeras.baselines.beta_tcvae import BetaTCVAE, total_correlation
from hwkeras.baselines.vae import diagonal_gaussian_kl
from tests.helpers import ellipse_batch

tfd = tfp.distributions
TINY = dict(image_shape=(32, 32, 1), hidden_units=32)
SMALL_D = dict(discriminator_units=32, discriminator_layers=2)


def gaussian_total_correlation(cov):
    """TC of N(0, cov) = sum_j H(z_j) - H(z) = -1/2 log det(corr)."""
    d = np.sqrt(np.diag(cov))
    return -0.5 * np.linalg.slogdet(cov / np.outer(d, d))[1]


def correlated_codes(rng, n, cov):
    return rng.multivariate_normal(np.zeros(len(cov)), cov, size=n).astype("float32")


# -- beta-VAE ----------------------------------------------------------------------------------
def test_diagonal_kl_matches_tfp():
    rng = np.random.default_rng(0)
    mean = rng.normal(size=(16, 5)).astype("float32")
    log_variance = rng.normal(scale=0.7, size=(16, 5)).astype("float32")
    ours = np.asarray(diagonal_gaussian_kl(mean, log_variance))
    oracle = tfd.MultivariateNormalDiag(mean, tf.exp(0.5 * log_variance)).kl_divergence(
        tfd.MultivariateNormalDiag(tf.zeros(5), tf.ones(5)))
    np.testing.assert_allclose(ours, oracle.numpy(), rtol=1e-5)


@pytest.mark.parametrize("beta", [1.0, 4.0])
def test_beta_vae_loss_is_reconstruction_plus_beta_kl(beta):
    model = VAE(latent_dim=3, beta=beta, seed=0, **TINY)
    x = ellipse_batch(4)
    terms = {k: np.asarray(v) for k, v in model.compute_terms(x, noise=np.zeros((4, 3), "float32")).items()}
    mean, log_variance = model.encode(x)
    oracle = tfd.MultivariateNormalDiag(mean, tf.exp(0.5 * log_variance)).kl_divergence(
        tfd.MultivariateNormalDiag(tf.zeros(3), tf.ones(3)))
    np.testing.assert_allclose(terms["kl"], oracle.numpy(), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(terms["loss"], terms["reconstruction"] + beta * terms["kl"], rtol=1e-6)
    np.testing.assert_allclose(terms["elbo"], -(terms["reconstruction"] + terms["kl"]), rtol=1e-6)


# -- each loss adds its regulariser with its documented weight -----------------------------------
def decoder_nll(model, x, z):
    """-log p(x | z) summed over pixels, in float64 from the decoder's logits at z."""
    logits = np.asarray(model.decode_logits(np.asarray(z, "float32")), "float64")
    x = np.asarray(x, "float64")
    return (np.maximum(logits, 0) - logits * x + np.log1p(np.exp(-np.abs(logits)))).reshape(len(x), -1).sum(1)


def diagonal_kl_oracle(mean, log_variance, prior_variance=None):
    """KL(N(mean, diag exp(log_variance)) || N(0, diag prior_variance)) by TFP, in float64."""
    p = mean.shape[-1]
    variance = np.ones(p) if prior_variance is None else np.asarray(prior_variance, "float64")
    return tfd.MultivariateNormalDiag(mean, np.exp(0.5 * log_variance)).kl_divergence(
        tfd.MultivariateNormalDiag(np.zeros(p), np.sqrt(variance))).numpy()


def sampled_codes(model, x, noise):
    mean, log_variance = (np.asarray(t, "float64") for t in model.encode(x))
    return mean, log_variance, mean + np.exp(0.5 * log_variance) * noise


def sharpened_discriminator(model, seed=0):
    """D's kernels redrawn with He scaling (logits 3x larger): a fresh D's TC estimate is then O(1)
    (BF-VAE's N(0, 0.02) kernels give ~1e-4), so its weight in the loss shows."""
    rng = np.random.default_rng(seed)
    for layer in model.discriminator.layers:
        if hasattr(layer, "kernel"):
            fan_in, fan_out = layer.kernel.shape
            gain = 3.0 if fan_out == 2 else 1.0
            layer.kernel.assign(gain * np.sqrt(2.0 / fan_in) * rng.normal(size=(fan_in, fan_out)).astype("float32"))
    return model


@pytest.mark.parametrize("cls, options", [(FactorVAE, {"gamma": 7.0}), (BFVAE0, {"gamma": 5.0, "eta": 0.3})])
def test_adversarial_losses_add_gamma_tc_and_the_variance_penalty(cls, options, monkeypatch):
    """FactorVAE: loss = reconstruction + kl + gamma tc; BF-VAE-0: + eta sum_j (v_j - 1)^2 with the KL
    to N(0, diag v); tc = D(z)_0 - D(z)_1 at the decoder's sample z. The ELBO leaves the regularisers out."""
    monkeypatch.setattr(adversary, "permute_dims", lambda codes, seed=None: codes[::-1])
    model = sharpened_discriminator(cls(latent_dim=3, seed=0, **TINY, **SMALL_D, **options))
    v = None
    if cls is BFVAE0:
        v = np.array([0.25, 1.0, 4.0])
        model.log_prior_variance.assign(np.log(v).astype("float32"))
    x = ellipse_batch(4)
    noise = np.random.default_rng(12).normal(size=(4, 3)).astype("float32")
    terms = {k: np.asarray(t, "float64") for k, t in model.compute_terms(x, noise=noise).items()}
    mean, log_variance, z = sampled_codes(model, x, noise)
    reconstruction, kl = decoder_nll(model, x, z), diagonal_kl_oracle(mean, log_variance, v)
    logits = np.asarray(model.discriminator(z.astype("float32")), "float64")
    tc = logits[:, 0] - logits[:, 1]
    assert np.abs(tc).min() > 0.1, tc  # gamma - 1 times it is far above the tolerance below
    np.testing.assert_allclose(terms["tc"], tc, rtol=1e-4, atol=1e-4)
    penalty = 0.0 if v is None else options["eta"] * ((v - 1) ** 2).sum()  # 0.3 * 9.5625
    np.testing.assert_allclose(terms["loss"], reconstruction + kl + options["gamma"] * tc + penalty, rtol=0, atol=3e-3)
    np.testing.assert_allclose(terms["elbo"], -(reconstruction + kl), rtol=0, atol=3e-3)


def test_beta_tcvae_loss_adds_beta_minus_one_tc():
    """loss = reconstruction + kl + (beta - 1) tc, tc the MWS estimate at the decoder's sample z (scipy).

    The encoder's output is replaced by strongly correlated posterior means (a fresh encoder maps
    every ellipse to nearly the same code, where the batch's TC is ~0), so that tc is O(1)."""
    model = BetaTCVAE(latent_dim=3, beta=3.0, seed=0, **TINY)
    rng = np.random.default_rng(13)
    cov = np.array([[1.0, 0.95, 0.9], [0.95, 1.0, 0.9], [0.9, 0.9, 1.0]])
    posterior = (correlated_codes(rng, 8, cov), np.full((8, 3), np.log(0.25), "float32"))
    posterior = tuple(tf.constant(t) for t in posterior)
    model.encode = lambda x, training=False: posterior
    x = ellipse_batch(8, seed=3)
    noise = rng.normal(size=(8, 3)).astype("float32")
    terms = {k: np.asarray(t, "float64") for k, t in model.compute_terms(x, noise=noise).items()}
    mean, log_variance, z = sampled_codes(model, x, noise)
    tc = scipy_mws(z, mean, log_variance)
    assert np.abs(tc).min() > 0.1, tc
    np.testing.assert_allclose(terms["tc"], tc, rtol=1e-4, atol=1e-4)
    reconstruction, kl = decoder_nll(model, x, z), diagonal_kl_oracle(mean, log_variance)
    np.testing.assert_allclose(terms["loss"], reconstruction + kl + 2.0 * tc, rtol=0, atol=3e-3)
    np.testing.assert_allclose(terms["elbo"], -(reconstruction + kl), rtol=0, atol=3e-3)


# -- FactorVAE: permutation and discriminator ----------------------------------------------------
def test_permutation_keeps_each_marginal_and_breaks_dependence():
    rng = np.random.default_rng(1)
    cov = np.array([[1.0, 0.95, 0.9], [0.95, 1.0, 0.9], [0.9, 0.9, 1.0]])
    z = correlated_codes(rng, 4000, cov)
    permuted = np.asarray(adversary.permute_dims(z, seed=3))
    # Each column keeps its values (the marginal q(z_j)) ...
    np.testing.assert_array_equal(np.sort(permuted, axis=0), np.sort(z, axis=0))
    # ... each column gets its own permutation (a shared one would keep the correlation) ...
    assert not np.array_equal(permuted[:, 0], z[:, 0])
    off_diagonal = np.corrcoef(permuted.T)[np.triu_indices(3, 1)]
    assert np.abs(off_diagonal).max() < 0.08, off_diagonal  # 1/sqrt(4000) = 0.016
    # ... and rows are not mixed across dimensions (values never leave their column).
    assert np.corrcoef(z.T)[0, 1] > 0.9


def test_discriminator_terms_follow_their_definitions(monkeypatch):
    rng = np.random.default_rng(2)
    z = rng.normal(size=(8, 3)).astype("float32")
    model = FactorVAE(latent_dim=3, seed=0, **TINY, **SMALL_D)
    monkeypatch.setattr(adversary, "permute_dims", lambda codes, seed=None: codes[::-1])
    terms = {k: np.asarray(v) for k, v in model.total_correlation_terms(z).items()}
    real = np.asarray(model.discriminator(z), "float64")
    fake = np.asarray(model.discriminator(z[::-1]), "float64")
    log_p_real, log_p_fake = special.log_softmax(real, axis=1), special.log_softmax(fake, axis=1)
    np.testing.assert_allclose(terms["tc"], real[:, 0] - real[:, 1], rtol=1e-5, atol=1e-6)
    # disentanglement_lib: -(0.5 E log D(z)_real + 0.5 E log D(z_perm)_permuted).
    dlib = -(0.5 * log_p_real[:, 0].mean() + 0.5 * log_p_fake[:, 1].mean())
    np.testing.assert_allclose(terms["discriminator_loss"].mean(), dlib, rtol=1e-5)
    accuracy = 0.5 * ((real[:, 0] > real[:, 1]).astype(float) + (fake[:, 1] > fake[:, 0]).astype(float))
    np.testing.assert_allclose(terms["discriminator_accuracy"], accuracy)


def test_discriminator_loss_labels_real_codes_0_and_permuted_codes_1(monkeypatch):
    """disentanglement_lib's D loss on a permutation that changes the joint, with a D that tells them apart.

    D is set by hand to logits (1, 1.6 |z_0 - z_1|): codes with z_1 ~ z_0 look real (class 0),
    codes whose z_0 and z_1 were permuted independently look permuted (class 1). With the labels
    swapped the mean loss would be 1.25 instead of 0.44.
    """
    import keras

    rng = np.random.default_rng(4)
    batch = 64
    z0 = rng.normal(size=batch)
    z = np.stack([z0, z0 + 0.1 * rng.normal(size=batch), rng.normal(size=batch)], axis=1).astype("float32")
    # Each dimension gets its own permutation of the batch, as permute_dims draws them.
    order = np.stack([rng.permutation(batch) for _ in range(3)], axis=1)
    permuted = np.take_along_axis(z, order, axis=0)
    assert np.corrcoef(z[:, 0], z[:, 1])[0, 1] > 0.99 and abs(np.corrcoef(permuted[:, 0], permuted[:, 1])[0, 1]) < 0.3
    order_tensor = keras.ops.convert_to_tensor(order)
    monkeypatch.setattr(adversary, "permute_dims",
                        lambda codes, seed=None: keras.ops.take_along_axis(codes, order_tensor, 0))

    model = FactorVAE(latent_dim=3, seed=0, **TINY, **SMALL_D)
    first, second, logits = (model.discriminator.get_layer(name) for name in
                             ("discriminator_dense_0", "discriminator_dense_1", "discriminator_logits"))
    kernel = np.zeros((3, 32), "float32")
    kernel[:2, 0], kernel[:2, 1] = (1.0, -1.0), (-1.0, 1.0)  # leaky(z0 - z1), leaky(z1 - z0)
    first.set_weights([kernel, np.zeros(32, "float32")])
    kernel = np.zeros((32, 32), "float32")
    kernel[0, 0] = kernel[1, 0] = 1.0  # leaky(x) + leaky(-x) = 0.8 |x|, slope 0.2
    second.set_weights([kernel, np.zeros(32, "float32")])
    kernel = np.zeros((32, 2), "float32")
    kernel[0, 1] = 2.0
    logits.set_weights([kernel, np.array([1.0, 0.0], "float32")])

    def oracle_logits(codes):
        codes = codes.astype("float64")
        return np.stack([np.ones(len(codes)), 1.6 * np.abs(codes[:, 0] - codes[:, 1])], axis=1)

    real, fake = oracle_logits(z), oracle_logits(permuted)
    np.testing.assert_allclose(np.asarray(model.discriminator(z)), real, rtol=1e-5, atol=1e-5)

    def log_probabilities(logits):  # dlib clips the softmax to [1e-6, 1 - 1e-6] before the log
        return np.log(np.clip(special.softmax(logits, axis=1), 1e-6, 1 - 1e-6))

    log_p_real, log_p_fake = log_probabilities(real), log_probabilities(fake)
    terms = {k: np.asarray(v, "float64") for k, v in model.total_correlation_terms(z).items()}
    # disentanglement_lib: -(0.5 E log D(z)[:, 0] + 0.5 E log D(z_perm)[:, 1]), column 0 = real.
    dlib = -(0.5 * log_p_real[:, 0].mean() + 0.5 * log_p_fake[:, 1].mean())
    swapped = -(0.5 * log_p_real[:, 1].mean() + 0.5 * log_p_fake[:, 0].mean())
    assert swapped - dlib > 0.5
    np.testing.assert_allclose(terms["discriminator_loss"].mean(), dlib, rtol=1e-5)
    np.testing.assert_allclose(terms["discriminator_loss"], -0.5 * (log_p_real[:, 0] + log_p_fake[:, 1]),
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(terms["tc"], real[:, 0] - real[:, 1], rtol=1e-5, atol=1e-5)


def test_discriminator_learns_to_spot_dependence():
    """On strongly correlated codes D beats chance and its TC estimate approaches the true TC."""
    tf.random.set_seed(0)
    rng = np.random.default_rng(3)
    cov = np.array([[1.0, 0.9], [0.9, 1.0]])
    model = FactorVAE(latent_dim=2, seed=0, discriminator_units=64, discriminator_layers=2,
                      discriminator_learning_rate=2e-3, **TINY)
    weights = model.discriminator.trainable_weights

    @tf.function
    def step(codes):
        with tf.GradientTape() as tape:
            terms = model.total_correlation_terms(codes, training=True)
            loss = tf.reduce_mean(terms["discriminator_loss"])
        model.discriminator_optimizer.apply(tape.gradient(loss, weights), weights)
        return terms

    for _ in range(300):
        step(correlated_codes(rng, 256, cov))
    terms = model.total_correlation_terms(correlated_codes(rng, 4000, cov))
    accuracy = float(np.mean(terms["discriminator_accuracy"]))
    tc = float(np.mean(terms["tc"]))
    assert accuracy > 0.65, accuracy
    # True TC 0.83; D's estimate lands at 0.75-0.89 over training seeds (standard error 0.013 at 4000
    # codes). Half or twice the TC, or a D trained 10x more slowly (~0.5), falls outside.
    truth = gaussian_total_correlation(cov)
    assert abs(tc - truth) < 0.2, (tc, truth)


# -- beta-TCVAE: minibatch-weighted sampling ----------------------------------------------------
def aggregate_posterior_batch(rng, n, cov, variance):
    mean = correlated_codes(rng, n, cov)
    log_variance = np.full_like(mean, np.log(variance))
    z = (mean + np.sqrt(variance) * rng.normal(size=mean.shape)).astype("float32")
    return z, mean, log_variance


def test_mws_estimate_matches_analytic_gaussian_total_correlation():
    # Means ~ N(0, C) and q(z|x) = N(mean, s^2 I) make the aggregate posterior N(0, C + s^2 I).
    rng = np.random.default_rng(4)
    cov, variance = np.array([[1.0, 0.8, 0.3], [0.8, 1.0, 0.2], [0.3, 0.2, 1.0]]), 0.25
    estimates = [float(np.mean(total_correlation(*aggregate_posterior_batch(rng, 2000, cov, variance))))
                 for _ in range(2)]
    truth = gaussian_total_correlation(cov + variance * np.eye(3))  # 0.293
    assert abs(np.mean(estimates) - truth) < 0.05, (estimates, truth)


def scipy_mws(z, mean, log_variance):
    """The MWS estimate per code in float64 from scipy's normal density (normalised by the batch size M)."""
    log_q = stats.norm.logpdf(z[:, None, :], mean[None], np.exp(0.5 * log_variance[None]))  # [j, i, l]
    m = len(z)
    joint = special.logsumexp(log_q.sum(2), axis=1) - np.log(m)
    product = (special.logsumexp(log_q, axis=1) - np.log(m)).sum(1)
    return joint - product


def test_mws_estimate_of_independent_codes_is_zero_plus_its_known_bias():
    """True TC 0; counting each code's own posterior biases MWS upwards. The bias at M = 64, p = 4
    is the expectation of the estimator itself, here from 400 batches in float64 scipy (0.36, standard
    error 0.005): the mean of 50 batches must match it within 4 standard errors of both (~0.08),
    which a TC scaled by 2 or 1/2 (+-0.18 or more), or one log M too many or too few (+-4.2), would not."""
    def batch(rng):
        return aggregate_posterior_batch(rng, 64, np.eye(4), 0.25)

    reference = np.array([scipy_mws(*batch(np.random.default_rng(1000 + i))).mean() for i in range(400)])
    bias = reference.mean()
    assert 0.25 < bias < 0.5
    rng = np.random.default_rng(5)
    estimates = [float(np.mean(total_correlation(*batch(rng)))) for _ in range(50)]
    standard_error = np.std(estimates, ddof=1) / np.sqrt(len(estimates))
    assert abs(np.mean(estimates) - bias) < 4 * standard_error + 4 * reference.std() / np.sqrt(400), (
        np.mean(estimates), bias, standard_error)
    assert min(estimates) > -0.05, estimates


def test_mws_estimate_is_disentanglement_lib_plus_its_dropped_constant():
    rng = np.random.default_rng(6)
    z, mean, log_variance = (rng.normal(size=(32, 4)).astype("float32") for _ in range(3))
    log_q = stats.norm.logpdf(z[:, None, :], mean[None], np.exp(0.5 * log_variance[None]))
    dlib = special.logsumexp(log_q.sum(2), axis=1) - special.logsumexp(log_q, axis=1).sum(1)
    np.testing.assert_allclose(np.asarray(total_correlation(z, mean, log_variance)),
                               dlib + 3 * np.log(32), rtol=1e-4, atol=1e-4)


# -- BF-VAE: Gamma hyperprior --------------------------------------------------------------------
def test_gamma_kl_matches_tfp():
    rng = np.random.default_rng(7)
    shape_q, rate_q, shape_p, rate_p = (rng.uniform(0.3, 20.0, size=50).astype("float32") for _ in range(4))
    ours = np.asarray(gamma_prior.gamma_kl(shape_q, rate_q, shape_p, rate_p))
    oracle = tfd.Gamma(shape_q, rate_q).kl_divergence(tfd.Gamma(shape_p, rate_p)).numpy()
    np.testing.assert_allclose(ours, oracle, rtol=2e-4, atol=2e-4)


def test_gaussian_kl_to_learned_variance_matches_tfp():
    rng = np.random.default_rng(8)
    mean, log_variance = rng.normal(size=(2, 10, 4)).astype("float32")
    v = rng.uniform(0.1, 3.0, size=4).astype("float32")
    ours = np.asarray(gamma_prior.gaussian_kl_to_variance(mean, log_variance, v))
    oracle = tfd.Normal(mean, np.exp(0.5 * log_variance)).kl_divergence(tfd.Normal(0.0, np.sqrt(v))).numpy()
    np.testing.assert_allclose(ours, oracle, rtol=1e-5, atol=1e-6)


def test_expected_kl_matches_monte_carlo_over_alpha():
    rng = np.random.default_rng(9)
    mean, log_variance = np.array([0.7, -1.2, 0.1], "float32"), np.array([-1.0, 0.3, -2.5], "float32")
    shape, rate = np.array([1.5, 4.0, 30.0], "float32"), np.array([0.7, 2.5, 12.0], "float32")
    alpha = rng.gamma(shape, 1.0 / rate, size=(200000, 3))
    kl = tfd.Normal(mean.astype("float64"), np.exp(0.5 * log_variance.astype("float64"))).kl_divergence(
        tfd.Normal(0.0, 1.0 / np.sqrt(alpha))).numpy()
    ours = np.asarray(gamma_prior.expected_gaussian_kl(mean, log_variance, shape, rate))
    standard_error = kl.std(0) / np.sqrt(len(kl))
    assert np.all(np.abs(ours - kl.mean(0)) < 4 * standard_error + 1e-4), (ours, kl.mean(0), standard_error)


def test_relevance_prior_and_entropy():
    eps = 1e-3
    r = np.array([1.0, 0.5, 1e-6], "float32")
    a, b = (np.asarray(t, "float64") for t in gamma_prior.relevance_prior(r, eps))
    np.testing.assert_allclose(a, (1 + 2 * eps) / (r + eps), rtol=1e-6)
    np.testing.assert_allclose(b, a - 1, rtol=1e-4, atol=1e-6)  # mode (a - 1)/b of alpha at 1
    assert b[0] < 2 * eps and a[2] > 0.9 / eps  # relevant: flat prior; irrelevant: alpha pinned at 1
    logit = np.array([-30.0, -2.0, 0.0, 3.0, 30.0], "float32")
    p = special.expit(logit.astype("float64"))
    oracle = [stats.bernoulli(q).entropy() for q in p]
    np.testing.assert_allclose(np.asarray(gamma_prior.binary_entropy_from_logit(logit)), oracle, atol=1e-6)


def set_hyperparameters(model, rng):
    p = model.latent_dim
    model.log_posterior_shape.assign(np.log(rng.uniform(1.5, 8.0, p)).astype("float32"))
    model.log_posterior_rate.assign(np.log(rng.uniform(0.3, 4.0, p)).astype("float32"))
    if isinstance(model, BFVAE2):
        model.relevance_logit.assign(rng.normal(scale=2.0, size=p).astype("float32"))
    else:
        model.l.assign(rng.normal(size=p).astype("float32"))


@pytest.mark.parametrize("cls", [BFVAE1, BFVAE2])
def test_bf_vae_terms_against_tfp(cls):
    rng = np.random.default_rng(10)
    model = cls(latent_dim=3, dataset_size=1000, seed=0, **TINY, **SMALL_D)
    set_hyperparameters(model, rng)
    x = ellipse_batch(4)
    terms = {k: np.asarray(v, "float64") for k, v in model.compute_terms(x, noise=np.zeros((4, 3), "float32")).items()}
    shape_q, rate_q = (np.asarray(t) for t in model.hyperposterior())
    if cls is BFVAE1:
        shape_p = 1.0 + np.exp(model.l.numpy())
    else:
        r = special.expit(model.relevance_logit.numpy())
        shape_p = (1 + 2 * model.eps) / (r + model.eps)
        np.testing.assert_allclose(terms["relevance_l1"], r.sum(), rtol=1e-5)
    kl_gamma = tfd.Gamma(shape_q, rate_q).kl_divergence(tfd.Gamma(shape_p, shape_p - 1.0)).numpy().sum()
    np.testing.assert_allclose(terms["kl_hyperprior"], kl_gamma, rtol=1e-3, atol=1e-4)
    mean, log_variance = (np.asarray(t, "float64") for t in model.encode(x))
    expected = 0.5 * ((shape_q / rate_q) * (mean ** 2 + np.exp(log_variance)) - 1 + np.log(rate_q)
                      - special.digamma(shape_q) - log_variance).sum(1)
    np.testing.assert_allclose(terms["kl_latent"], expected, rtol=1e-4)
    np.testing.assert_allclose(terms["elbo"], -(terms["reconstruction"] + terms["kl_latent"]
                                                + terms["kl_hyperprior"] / 1000), rtol=1e-5)
    penalty = 0.0 if cls is BFVAE1 else (model.eta_s * terms["relevance_l1"] + model.eta_h * terms["relevance_entropy"])
    np.testing.assert_allclose(terms["loss"], -terms["elbo"] + model.gamma * terms["tc"] + penalty, rtol=1e-4)


def test_bf_vae_1_samples_the_student_t_of_its_hyperposterior():
    rng = np.random.default_rng(11)
    model = BFVAE1(latent_dim=2, seed=0, **TINY, **SMALL_D)
    model.log_posterior_shape.assign(np.log([1.5, 6.0]).astype("float32"))
    model.log_posterior_rate.assign(np.log([0.5, 3.0]).astype("float32"))
    z = np.asarray(model.sample_latents(20000))
    for j, (a, b) in enumerate([(1.5, 0.5), (6.0, 3.0)]):
        # alpha ~ Gamma(a, b), z | alpha ~ N(0, 1/alpha)  =>  z ~ t(2a, scale sqrt(b/a)).
        assert stats.kstest(z[:, j], stats.t(df=2 * a, scale=np.sqrt(b / a)).cdf).pvalue > 1e-3
    model.l.assign(np.log([0.25, 4.0]).astype("float32"))  # a = 1.25, 5; b = a - 1
    z = np.asarray(model.sample_latents(20000, from_prior=True))
    for j, a in enumerate([1.25, 5.0]):
        assert stats.kstest(z[:, j], stats.t(df=2 * a, scale=np.sqrt((a - 1) / a)).cdf).pvalue > 1e-3
    del rng


def test_bf_vae_0_kl_and_samples_use_learned_variances():
    model = BFVAE0(latent_dim=3, seed=0, **TINY, **SMALL_D)
    v = np.array([0.25, 1.0, 4.0], "float32")
    model.log_prior_variance.assign(np.log(v))
    x = ellipse_batch(4)
    terms = {k: np.asarray(v_) for k, v_ in model.compute_terms(x, noise=np.zeros((4, 3), "float32")).items()}
    mean, log_variance = model.encode(x)
    oracle = tfd.MultivariateNormalDiag(mean, tf.exp(0.5 * log_variance)).kl_divergence(
        tfd.MultivariateNormalDiag(tf.zeros(3), np.sqrt(v))).numpy()
    np.testing.assert_allclose(terms["kl"], oracle, rtol=1e-4)
    np.testing.assert_allclose(terms["variance_penalty"], ((v - 1) ** 2).sum(), rtol=1e-5)
    np.testing.assert_allclose(np.var(np.asarray(model.sample_latents(20000)), axis=0), v, rtol=0.05)


@pytest.mark.parametrize("cls", [BFVAE1, BFVAE2])
def test_bf_vae_hyperposterior_starts_at_the_authors_gamma_1_1(cls):
    """The authors draw log a^, log b^ ~ N(0, 0.01^2): q(alpha) starts at Gamma(1, 1) up to that jitter."""
    model = cls(latent_dim=4, dataset_size=1000, seed=0, **TINY, **SMALL_D)
    shape_q, rate_q = (np.asarray(t) for t in model.hyperposterior())
    np.testing.assert_array_equal(shape_q, 1.0)
    np.testing.assert_array_equal(rate_q, 1.0)
    # The priors start where the authors' do too: a = 2, b = 1 (BF-VAE-1); r = 1/2 (BF-VAE-2).
    shape_p = 2.0 if cls is BFVAE1 else (1 + 2 * model.eps) / (0.5 + model.eps)
    np.testing.assert_allclose(np.asarray(model.hyperprior()[0]), shape_p, rtol=1e-6)
    terms = model.compute_terms(ellipse_batch(2), noise=np.zeros((2, 4), "float32"))
    oracle = 4 * tfd.Gamma(1.0, 1.0).kl_divergence(tfd.Gamma(shape_p, shape_p - 1.0)).numpy()
    np.testing.assert_allclose(np.asarray(terms["kl_hyperprior"]), oracle, rtol=1e-4)
