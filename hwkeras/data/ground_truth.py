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
    #: True when ``sample_observations_from_factors`` is a function of the factor indices alone: it
    #: draws nothing from ``random_state`` and gives the same image for the same row every time.
    #: Evaluation may then encode each distinct image once (``hwkeras.metrics.table``).
    observations_fixed_by_factors: bool = False

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


def index_bases(sizes):
    """Weights of the mixed-radix index of a factor grid: the last factor varies fastest."""
    sizes = np.asarray(sizes, np.int64)
    return np.concatenate([np.cumprod(sizes[::-1])[::-1][1:], [1]]).astype(np.int64)


def check_image_size(name, image_size):
    """The grid datasets (dSprites, Shapes3D and their variants) are published at 64x64 only."""
    if int(image_size) != 64:
        raise ValueError(f"{name} images are 64x64; got image_size={image_size} (use 64)")


class FactorGrid(GroundTruthData):
    """A finite dataset holding one image per point of its factor grid, in mixed-radix order.

    Image ``i`` has the factors ``np.unravel_index(i, factor_sizes)``, the order of dSprites,
    Shapes3D and disentanglement_lib's ``factor_bases``. Subclasses set ``factor_sizes`` and
    implement ``images_at(indices)``; with ``batching.Indexed`` every epoch visits the grid once.
    """

    observations_fixed_by_factors = True

    @property
    def num_images(self):
        return int(np.prod(self.factor_sizes))

    def __len__(self):
        return self.num_images

    def sample_factors(self, num, random_state):
        """One ``randint(size, size=num)`` per factor in order, as disentanglement_lib draws them."""
        rs = as_random_state(random_state)
        return np.stack([rs.randint(size, size=num) for size in self.factor_sizes], axis=1).astype(np.int64)

    def index_of(self, factors):
        """Flat image indices of integer factor rows, checked against the grid."""
        factors = np.asarray(factors, np.int64)
        if factors.ndim != 2 or factors.shape[1] != self.num_factors:
            raise ValueError(f"factors must have shape (n, {self.num_factors}), got {factors.shape}")
        if np.any(factors < 0) or np.any(factors >= np.array(self.factor_sizes)):
            raise ValueError(f"factor indices out of range for sizes {tuple(self.factor_sizes)}")
        return factors @ index_bases(self.factor_sizes)

    def factors_of(self, index):
        """Inverse of ``index_of``."""
        return np.stack(np.unravel_index(np.asarray(index, np.int64), self.factor_sizes), axis=1)

    def sample_observations_from_factors(self, factors, random_state=None):
        return self.images_at(self.index_of(factors))

    def images_at(self, indices):
        """Float32 images ``(n,) + observation_shape`` in [0, 1] at flat grid indices."""
        raise NotImplementedError
