"""HyperpriorVAE: loss identity, gradients, training, saving, validation."""

import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf
from scipy import special

import hwkeras
from tests.helpers import ellipse_batch, student_t_radius_pvalue

P, NU = 4, 20.0


def tiny_model(seed=0, **kwargs):
    options = dict(latent_dim=P, nu=NU, image_shape=(32, 32, 1), hidden_units=32, seed=seed)
    options.update(kwargs)
    return hwkeras.HyperpriorVAE(**options)


def expected_constant(psi, nu):
    """c(nu, p, Psi) of A + B = authors' regulariser + c, computed with scipy in float64."""
    p = psi.shape[0]
    nu_post = nu + 1
    mv_digamma = sum(special.digamma(nu_post / 2 + (1 - j) / 2) for j in range(1, p + 1))
    return (
        0.5 * (-p - p * np.log(2) - mv_digamma)
        - nu / 2 * np.linalg.slogdet(psi)[1]
        - nu_post * p / 2
        + special.multigammaln(nu / 2, p)
        - special.multigammaln(nu_post / 2, p)
        + 0.5 * mv_digamma
    )


def test_loss_minus_authors_regulariser_is_one_constant():
    rng = np.random.default_rng(0)
    constants = []
    for seed, data_seed in [(0, 0), (1, 1), (2, 5)]:
        model = tiny_model(seed=seed)
        x = ellipse_batch(8, seed=data_seed)
        eps, eps_tilde = (rng.normal(size=(8, P)).astype("float32") for _ in range(2))
        terms = {k: np.asarray(v, "float64") for k, v in model.compute_terms(x, noise=(eps, eps_tilde)).items()}
        mean, scale_tril = (np.asarray(t, "float64") for t in model.encode(x))
        z_tilde = mean + np.einsum("bij,bj->bi", scale_tril, eps_tilde)
        s = scale_tril @ np.swapaxes(scale_tril, 1, 2)
        psi = model.psi
        psi_post = psi + np.einsum("bi,bj->bij", z_tilde, z_tilde)
        authors = (
            (NU + 1) / 2 * np.linalg.slogdet(psi_post)[1]
            - 0.5 * np.linalg.slogdet(s)[1]
            + (NU + 1) / 2 * np.einsum(
                "bij,bji->b", s + np.einsum("bi,bj->bij", mean, mean) + psi, np.linalg.inv(psi_post)
            )
        )
        constants.append(terms["loss"] - terms["reconstruction"] - authors)
        np.testing.assert_allclose(terms["elbo"], -terms["loss"], rtol=1e-6)
        np.testing.assert_allclose(
            terms["loss"], terms["reconstruction"] + terms["kl_latent"] + terms["kl_hyperprior"], rtol=1e-5
        )
    constants = np.concatenate(constants)
    np.testing.assert_allclose(constants, expected_constant(model.psi, NU), atol=5e-3)


def test_reconstruction_is_bernoulli_nll():
    model = tiny_model()
    x = ellipse_batch(4)
    noise = (np.zeros((4, P), "float32"), np.zeros((4, P), "float32"))
    rec = np.asarray(model.compute_terms(x, noise=noise)["reconstruction"], "float64")
    probs = np.asarray(model(x), "float64")  # zero noise: z is the posterior mean
    nll = -(x * np.log(probs) + (1 - x) * np.log1p(-probs)).reshape(4, -1).sum(axis=1)
    np.testing.assert_allclose(rec, nll, rtol=1e-4)


def test_each_term_matches_its_definition_with_fixed_noise():
    """reconstruction = -log p(x | z) at z = mu + L eps (the decoder's sample), kl_latent (A) and
    kl_hyperprior (B) = their float64 definitions (scipy) at z~ = mu + L eps~, loss = their sum.

    With eps != eps~ decoding z~ instead of z moves the reconstruction by 0.02-0.3 nats here, a KL
    term of the wrong sign or doubled moves it by 0.04-0.5 nats: 20-500x the tolerances below."""
    from tests.models.test_priors import _closed_forms_float64

    model = tiny_model(seed=1)
    x = ellipse_batch(6, seed=2)
    rng = np.random.default_rng(3)
    eps, eps_tilde = (rng.normal(size=(6, P)).astype("float32") for _ in range(2))
    terms = {k: np.asarray(v, "float64") for k, v in model.compute_terms(x, noise=(eps, eps_tilde)).items()}
    mean, scale_tril = (np.asarray(t, "float64") for t in model.encode(x))
    z = mean + np.einsum("bij,bj->bi", scale_tril, eps)
    z_tilde = mean + np.einsum("bij,bj->bi", scale_tril, eps_tilde)
    logits = np.asarray(model.decode_logits(z.astype("float32")), "float64")
    probs = special.expit(logits)
    reconstruction = -(x * np.log(probs) + (1 - x) * np.log1p(-probs)).reshape(6, -1).sum(axis=1)
    a, b = np.transpose([_closed_forms_float64(m, tril @ tril.T, zt, model.psi, NU)
                         for m, tril, zt in zip(mean, scale_tril, z_tilde)])
    assert np.all(a > 0.3) and np.all(b > 0.04)  # far from 0: a sign or a factor shows
    np.testing.assert_allclose(terms["reconstruction"], reconstruction, rtol=0, atol=1e-3)
    np.testing.assert_allclose(terms["kl_latent"], a, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(terms["kl_hyperprior"], b, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(terms["loss"], reconstruction + a + b, rtol=0, atol=2e-3)
    np.testing.assert_allclose(terms["elbo"], -(reconstruction + a + b), rtol=0, atol=2e-3)


def definition_loss(model, x, eps, eps_tilde):
    """The mean loss from the definitions, in float64 TensorFlow (inverse and log-determinants of
    Psi' itself, no rank-one identities): an independent route to the same gradients."""
    mean, scale_tril = (tf.cast(t, tf.float64) for t in model.encode(x, training=True))
    z = mean + tf.einsum("bij,bj->bi", scale_tril, tf.constant(eps, tf.float64))
    z_tilde = mean + tf.einsum("bij,bj->bi", scale_tril, tf.constant(eps_tilde, tf.float64))
    logits = tf.cast(model.decode_logits(tf.cast(z, tf.float32), training=True), tf.float64)
    labels = tf.constant(x, tf.float64)
    reconstruction = tf.reduce_sum(tf.reshape(tf.nn.sigmoid_cross_entropy_with_logits(labels, logits),
                                              (len(x), -1)), axis=1)
    psi = tf.constant(model.psi, tf.float64)
    psi_post = psi + tf.einsum("bi,bj->bij", z_tilde, z_tilde)
    psi_post_inv = tf.linalg.inv(psi_post)
    s = tf.matmul(scale_tril, scale_tril, transpose_b=True)
    nu, nu_post = NU, NU + 1.0
    # The nu-only constants carry no gradient; left out.
    kl_latent = 0.5 * (nu_post * tf.linalg.trace(psi_post_inv @ (s + tf.einsum("bi,bj->bij", mean, mean)))
                       + tf.linalg.logdet(psi_post) - tf.linalg.logdet(s))
    kl_hyperprior = (nu / 2 * (tf.linalg.logdet(psi_post) - tf.linalg.logdet(psi))
                     + nu_post / 2 * tf.linalg.trace(psi @ psi_post_inv))
    return tf.reduce_mean(reconstruction + kl_latent + kl_hyperprior)


def test_gradients_are_those_of_the_definitions_for_every_weight():
    """The training gradient of every weight equals the float64 definitions' (within 1e-3 of its
    largest entry); flipping or doubling a KL term in the loss moves the encoder's gradients by far more."""
    model = tiny_model()
    x = ellipse_batch(8)
    rng = np.random.default_rng(5)
    eps, eps_tilde = (rng.normal(size=(8, P)).astype("float32") for _ in range(2))
    with tf.GradientTape(persistent=True) as tape:
        loss = tf.reduce_mean(model.compute_terms(x, training=True, noise=(eps, eps_tilde))["loss"])
        reference = definition_loss(model, x, eps, eps_tilde)
    grads = tape.gradient(loss, model.trainable_weights)
    expected = tape.gradient(reference, model.trainable_weights)
    assert len(grads) == len(model.trainable_weights) > 10
    for weight, grad, want in zip(model.trainable_weights, grads, expected):
        assert grad is not None, weight.path
        grad, want = np.asarray(grad, "float64"), np.asarray(want, "float64")
        assert np.all(np.isfinite(grad)), weight.path
        np.testing.assert_allclose(grad, want, rtol=0, atol=1e-3 * np.abs(want).max() + 1e-7, err_msg=weight.path)
    assert any(np.abs(np.asarray(g)).max() > 0 for g in grads)


@pytest.mark.parametrize("jit_compile", [False, True])
def test_short_fit_lowers_the_loss(jit_compile):
    keras.utils.set_random_seed(0)
    model = tiny_model()
    x = ellipse_batch(64, seed=1)
    model.compile(optimizer=keras.optimizers.Adam(2e-3), jit_compile=jit_compile)
    before = model.evaluate(x, batch_size=32, verbose=0, return_dict=True)
    history = model.fit(x, batch_size=32, epochs=15, verbose=0)
    after = model.evaluate(x, batch_size=32, verbose=0, return_dict=True)
    assert set(history.history) >= {"loss", "reconstruction", "kl_latent", "kl_hyperprior", "elbo"}
    assert after["loss"] < 0.7 * before["loss"], (before, after)
    assert all(np.isfinite(v) for v in after.values())
    # The tracked loss is the sum of the tracked terms, both KLs stay positive (a KL of the wrong sign
    # in the loss would be driven up, here and in the identity), and the ELBO is its negative.
    for logs in (before, after):
        assert logs["kl_latent"] > 0 and logs["kl_hyperprior"] > 0, logs
        np.testing.assert_allclose(logs["loss"], logs["reconstruction"] + logs["kl_latent"] + logs["kl_hyperprior"],
                                   rtol=1e-5)
        np.testing.assert_allclose(logs["elbo"], -logs["loss"], rtol=1e-6)


def test_keras_round_trip_gives_identical_outputs(tmp_path):
    model = tiny_model(seed=3)
    x = ellipse_batch(5)
    model.compile(optimizer="adam")
    model.fit(x, epochs=1, verbose=0)
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded, hwkeras.HyperpriorVAE)
    assert loaded.get_config() == model.get_config()
    for a, b in zip(model.encode(x), loaded.encode(x)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    np.testing.assert_array_equal(np.asarray(model(x)), np.asarray(loaded(x)))
    z = np.random.default_rng(0).normal(size=(3, P)).astype("float32")
    np.testing.assert_array_equal(np.asarray(model.decode(z)), np.asarray(loaded.decode(z)))


def test_sample_draws_covariances_then_latents():
    model = tiny_model(seed=4)
    z = np.asarray(model.sample_latents(20000), "float64")
    # Marginally z ~ N(0, E[Sigma]) = N(0, I) with the default Psi; cov(z) estimates it ...
    np.testing.assert_allclose(np.cov(z.T), np.eye(P), atol=0.06)
    # ... but z is a Student t, not that Gaussian: Sigma is drawn from IW(Psi, nu) for each sample.
    assert student_t_radius_pvalue(z, model.psi, NU) > 1e-3
    images = np.asarray(model.sample(3))
    assert images.shape == (3, 32, 32, 1) and images.min() >= 0 and images.max() <= 1
    first, second = np.asarray(model.sample_latents(4)), np.asarray(model.sample_latents(4))
    assert not np.allclose(first, second)
    # Another nu keeps E[Sigma] = I (Psi rescaled by max(nu-p-1, 1) / max(nu0-p-1, 1)) and only the
    # concentration changes: the tails follow t with nu - p + 1 = 5 degrees of freedom.
    heavy = np.asarray(model.sample_latents(20000, nu=8.0), "float64")
    np.testing.assert_allclose(np.cov(heavy.T), np.eye(P), atol=0.1)
    rescaled = model.psi * (8.0 - P - 1) / (NU - P - 1)
    assert student_t_radius_pvalue(heavy, rescaled, 8.0) > 1e-3
    assert student_t_radius_pvalue(heavy, rescaled, NU) < 1e-6  # the law of the model's own nu is far off


def test_constructor_validates_nu_and_psi():
    with pytest.raises(ValueError, match="must exceed latent_dim - 1"):
        tiny_model(nu=P - 1.0)
    with pytest.raises(ValueError, match="positive definite"):
        tiny_model(psi=-np.eye(P))
    with pytest.raises(ValueError, match="latent_dim"):
        tiny_model(psi=np.eye(P + 1))
    with pytest.warns(UserWarning, match="undefined"):
        tiny_model(nu=P + 0.5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tiny_model(nu=P + 2.5)
    with pytest.raises(ValueError, match="multiples of 16"):
        tiny_model(image_shape=(30, 30, 1))


def test_fit_on_wrong_image_shape_says_so():
    model = tiny_model()
    model.compile(optimizer="adam")
    with pytest.raises(ValueError, match=r"expects \(32, 32, 1\)"):
        model.fit(np.zeros((4, 64, 64, 1), "float32"), epochs=1, verbose=0)


def test_default_psi_gives_identity_prior_mean():
    model = tiny_model(nu=30.0)
    np.testing.assert_allclose(model.psi / (30.0 - P - 1), np.eye(P))
