"""The custom layers against numpy and distributional oracles."""

import keras
import numpy as np
import pytest

from hwkeras.layers import (
    CholeskyGaussianHead,
    InverseWishartSampler,
    bartlett_inverse_wishart,
    build_decoder,
    build_encoder,
)
from tests.helpers import random_spd


def softplus(x):
    return np.log1p(np.exp(-np.abs(x))) + np.maximum(x, 0)


def test_cholesky_head_matches_numpy_construction():
    p, features = 4, 7
    head = CholeskyGaussianHead(p)
    head.build((None, features))
    rng = np.random.default_rng(0)
    head.dense.kernel.assign(rng.normal(size=(features, p + p * (p + 1) // 2)).astype("float32"))
    head.dense.bias.assign(rng.normal(size=(p + p * (p + 1) // 2,)).astype("float32"))
    f = rng.normal(size=(3, features)).astype("float32")
    mean, scale_tril = (np.asarray(t) for t in head(f))

    out = f @ np.asarray(head.dense.kernel) + np.asarray(head.dense.bias)
    np.testing.assert_allclose(mean, out[:, :p], rtol=1e-5, atol=1e-6)
    rows, cols = np.tril_indices(p)
    for b in range(3):
        lower = np.zeros((p, p))
        lower[rows, cols] = out[b, p:]
        lower[np.diag_indices(p)] = softplus(np.diag(lower)) + 1e-4
        covariance = lower @ lower.T + 1e-4 * np.eye(p)
        np.testing.assert_allclose(scale_tril[b] @ scale_tril[b].T, covariance, rtol=1e-4, atol=1e-5)
        assert np.allclose(np.triu(scale_tril[b], 1), 0.0)
        assert np.all(np.diag(scale_tril[b]) > 0)


def test_cholesky_head_serialises():
    head = CholeskyGaussianHead(5, name="h")
    clone = keras.layers.deserialize(keras.layers.serialize(head))
    assert isinstance(clone, CholeskyGaussianHead) and clone.latent_dim == 5 and clone.name == "h"


def _check_moments(sigmas, psi, nu):
    """Sample means of Sigma and Sigma^-1 against Psi/(nu-p-1) and nu Psi^-1, within 5 standard errors."""
    p = psi.shape[0]
    sigmas = np.asarray(sigmas, dtype="float64")
    assert sigmas.shape[1:] == (p, p)
    for draws, expected in (
        (sigmas, psi / (nu - p - 1)),
        (np.linalg.inv(sigmas), nu * np.linalg.inv(psi)),
    ):
        mean = draws.mean(axis=0)
        se = draws.std(axis=0) / np.sqrt(len(draws))
        assert np.all(np.abs(mean - expected) < 5 * se + 1e-6), (mean, expected, se)
        # The tolerance is tight enough that a wrong scale (e.g. Psi instead of Psi^-1) would fail.
        assert np.all(5 * se < 0.1 * np.abs(expected).max())


def test_inverse_wishart_sampler_moments_tfp():
    rng = np.random.default_rng(3)
    p, nu = 3, 12.0
    psi = random_spd(rng, p, scale=nu - p - 1)
    sampler = InverseWishartSampler(psi, nu, seed=1)
    _check_moments(sampler.sample(40000), psi, nu)


def test_bartlett_keras_ops_sampler_moments():
    rng = np.random.default_rng(4)
    p, nu = 4, 15.0
    psi = random_spd(rng, p, scale=nu - p - 1)
    _check_moments(bartlett_inverse_wishart(40000, psi, nu, seed=2), psi, nu)


def test_inverse_wishart_sampler_config_and_errors():
    sampler = InverseWishartSampler(2.0 * np.eye(3), 7.0, seed=5)
    clone = InverseWishartSampler.from_config(sampler.get_config())
    np.testing.assert_allclose(clone.psi, sampler.psi)
    assert clone.nu == 7.0
    with pytest.raises(ValueError, match="must exceed latent_dim - 1"):
        InverseWishartSampler(np.eye(3), 2.0)
    with pytest.raises(ValueError, match="positive definite"):
        InverseWishartSampler(np.diag([1.0, -1.0, 1.0]), 7.0)
    with pytest.raises(ValueError, match="symmetric"):
        InverseWishartSampler(np.array([[1.0, 0.5], [0.0, 1.0]]), 7.0)


@pytest.mark.parametrize("shape,hidden", [((64, 64, 1), 128), ((32, 48, 3), 256)])
def test_encoder_decoder_shapes(shape, hidden):
    encoder = build_encoder(shape, hidden)
    decoder = build_decoder(shape, latent_dim=6, hidden_units=hidden)
    x = np.zeros((2,) + shape, "float32")
    assert tuple(encoder(x).shape) == (2, hidden)
    assert tuple(decoder(np.zeros((2, 6), "float32")).shape) == (2,) + shape
    # The paper's architecture: 4x4 stride-2 convolutions with 32, 32, 64, 64 filters.
    convs = [layer for layer in encoder.layers if isinstance(layer, keras.layers.Conv2D)]
    assert [c.filters for c in convs] == [32, 32, 64, 64]
    assert all(c.kernel_size == (4, 4) and c.strides == (2, 2) for c in convs)


@pytest.mark.parametrize("shape,match", [((50, 64, 1), "multiples of 16"), ((64, 64, 2), "channels"),
                                         ((64, 64), "height, width")])
def test_bad_image_shapes_are_rejected(shape, match):
    with pytest.raises(ValueError, match=match):
        build_encoder(shape)
