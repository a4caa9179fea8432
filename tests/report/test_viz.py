"""The traversal and reconstruction pictures (``hwkeras.viz``) by their pixel values, not their size."""

import numpy as np
from PIL import Image

import hwkeras
from hwkeras.viz import save_reconstruction_grid, save_traversal_grid
from tests.helpers import ellipse_batch


def cell(grid, row, col, size, pad=2):
    top, left = pad + row * (size + pad), pad + col * (size + pad)
    return grid[top : top + size, left : left + size]


def to_uint8(images):
    return (np.clip(images, 0, 1) * 255.0 + 0.5).astype(np.uint8)


def responsive_model():
    """A tiny untrained CHyVAE whose kernels are scaled by 3: untrained, its pictures stay within
    2 grey levels of 0.5 whatever z is and its means near 0, so a wrong sweep or a wrong row would
    pass; scaled, sweeping one latent over -3..3 moves pixels across most of 0..1."""
    import keras

    keras.utils.set_random_seed(4)  # the initial weights come from the global seed (as in hwkeras fit)
    model = hwkeras.HyperpriorVAE(latent_dim=3, nu=10.0, image_shape=(16, 16, 1), hidden_units=8, seed=4)
    model(ellipse_batch(1, 16))  # builds every weight
    for weight in model.weights:
        if weight.path.endswith("kernel"):
            weight.assign(np.asarray(weight) * 3.0)
    return model


def test_traversal_grid_row_d_sweeps_latent_d_of_the_posterior_mean(tmp_path):
    model = responsive_model()
    image = ellipse_batch(1, 16, seed=2)[0]
    grid = np.asarray(Image.open(save_traversal_grid(model, image, tmp_path / "t.png", steps=5)))
    assert grid.shape == (3 * 18 + 2, 5 * 18 + 2)
    mean = np.asarray(model.encode(image[None])[0])[0]
    values = np.linspace(-3, 3, 5)  # the documented range, +-3 prior standard deviations
    for d in range(3):
        for k, value in enumerate(values):
            z = mean.copy()
            z[d] = value
            expected = to_uint8(np.asarray(model.decode(z[None].astype("float32")))[0, ..., 0])
            assert np.abs(cell(grid, d, k, 16).astype(int) - expected).max() <= 1, (d, k)
    assert np.all(grid[:2] == 255) and np.all(grid[:, :2] == 255)  # white padding
    # The sweep shows: the two ends of each row differ by many grey levels.
    assert all(np.abs(cell(grid, d, 0, 16).astype(int) - cell(grid, d, 4, 16)).max() > 50 for d in range(3))


def test_reconstruction_grid_shows_inputs_over_their_mean_reconstructions(tmp_path):
    model = responsive_model()
    images = ellipse_batch(4, 16, seed=3)
    grid = np.asarray(Image.open(save_reconstruction_grid(model, images, tmp_path / "r.png")))
    recon = np.asarray(model.decode(model.encode(images)[0]))  # decoder of the posterior mean
    assert np.ptp(recon) > 0.2  # a picture that shows which code was decoded
    for i in range(4):
        assert np.abs(cell(grid, 0, i, 16).astype(int) - to_uint8(images[i, ..., 0])).max() <= 1
        assert np.abs(cell(grid, 1, i, 16).astype(int) - to_uint8(recon[i, ..., 0])).max() <= 1
