"""HyperpriorVAE: loss identity, gradients, training, saving, validation."""

import warnings

import numpy as np
import pytest
import keras
import tensorflow as tf
from scipy import special

import hwkeras
from tests.helpers import ellipse_batch

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


def test_gradients_are_finite_for_every_weight():
    model = tiny_model()
    x = ellipse_batch(8)
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(model.compute_terms(x, training=True)["loss"])
    grads = tape.gradient(loss, model.trainable_weights)
    assert len(grads) == len(model.trainable_weights) > 10
    for weight, grad in zip(model.trainable_weights, grads):
        assert grad is not None, weight.path
        assert np.all(np.isfinite(np.asarray(grad))), weight.path
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
    z = np.asarray(model.sample_latents(20000))
    # Marginally z ~ N(0, E[Sigma]) = N(0, I) with the default Psi; cov(z) estimates it.
    np.testing.assert_allclose(np.cov(z.T), np.eye(P), atol=0.06)
    images = np.asarray(model.sample(3))
    assert images.shape == (3, 32, 32, 1) and images.min() >= 0 and images.max() <= 1
    first, second = np.asarray(model.sample_latents(4)), np.asarray(model.sample_latents(4))
    assert not np.allclose(first, second)
    # Another nu keeps E[Sigma] = I (Psi rescaled), only the concentration changes.
    np.testing.assert_allclose(np.cov(np.asarray(model.sample_latents(20000, nu=8.0)).T), np.eye(P), atol=0.08)


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
