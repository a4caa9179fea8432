"""The ground-truth factor API shared by every dataset whose generative factors are known.

The metrics (``hwkeras.metrics``) read datasets only through this interface, the one of
google-research/disentanglement_lib: factors are integer indices into per-factor grids.
"""

import numpy as np

from hwkeras.data.batching import Batched, batch_random_state


class GroundTruthData(Batched):
    """Base class: a dataset whose images are a deterministic (or seeded) function of factors.

    Subclasses set ``factor_sizes`` and ``observation_shape`` and implement
    ``sample_factors`` and ``sample_observations_from_factors``.
    """

    #: Number of values on each factor's grid, e.g. ``(32, 32, 6, 40)``.
    factor_sizes: tuple = ()
    #: Names of the factors, in the order of ``factor_sizes``.
    factor_names: tuple = ()
    #: Shape of one image, ``(height, width, channels)``; pixels are float32 in [0, 1].
    observation_shape: tuple = ()

    @property
    def num_factors(self):
        return len(self.factor_sizes)

    def sample_factors(self, num, random_state):
        """Integer factor indices of shape ``(num, num_factors)``."""
        raise NotImplementedError

    def sample_observations_from_factors(self, factors, random_state):
        """Images of shape ``(len(factors),) + observation_shape``, float32 in [0, 1]."""
        raise NotImplementedError

    def sample(self, num, random_state):
        """Factors and the matching observations."""
        factors = self.sample_factors(num, random_state)
        return factors, self.sample_observations_from_factors(factors, random_state)

    def sample_observations(self, num, random_state):
        return self.sample(num, random_state)[1]

    def batch(self, batch_size, seed, index):
        """Procedural datasets: ``sample_observations`` drawn from ``(seed, index)`` alone.

        Datasets read from disk override it with shuffled epochs (``batching.Indexed``).
        """
        return np.asarray(self.sample_observations(batch_size, batch_random_state(seed, index)), np.float32)


def as_random_state(random_state):
    """Accepts a ``np.random.RandomState``, a ``np.random.Generator`` or an int seed."""
    if isinstance(random_state, (np.random.RandomState, np.random.Generator)):
        return random_state
    return np.random.RandomState(random_state)
