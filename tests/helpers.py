"""Small shared fixtures for the tests: tiny models and ellipse images."""

import numpy as np

from hwkeras.data import CorrelatedEllipses


def ellipse_batch(n=16, image_size=32, seed=0):
    return CorrelatedEllipses(image_size=image_size).sample_observations(n, np.random.RandomState(seed))


def random_spd(rng, p, scale=1.0):
    a = rng.normal(size=(p, p))
    return scale * (a @ a.T / p + 0.5 * np.eye(p))
