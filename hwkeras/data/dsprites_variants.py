"""Color-dSprites and Noisy-dSprites: dSprites with a random colour or a noise background per image.

Defined as disentanglement_lib defines them (``data/ground_truth/dsprites.py``, Locatello et al.
2019): the factors, their sampling and the shape images are dSprites' (``sample_factors`` draws one
``randint(size, size=n)`` per factor in order); each observation then draws from the same
``random_state``, after the factors:

- Color-dSprites: the sprite in a colour ``uniform(0.5, 1, (n, 1, 1, 3))``, one RGB triple per
  image, on black: ``repeat(shape, 3 channels) * colour``.
- Noisy-dSprites: the sprite, white, on noise ``uniform(0, 1, (n, 64, 64, 3))``:
  ``minimum(repeat(shape, 3 channels) + noise, 1)``.

(disentanglement_lib first completes the factors with its non-latent colour factor,
``randint(1, size=n)``, which draws nothing from the state.) So, given the same
``np.random.RandomState``, ``sample``/``sample_observations_from_factors`` return what
disentanglement_lib's numpy code returns, cast from its float64 to float32. Training batch ``i``
takes the shapes of the epoch order (every shape image once an epoch, as for dSprites) and draws
its colours or noise from ``RandomState([seed, i])``, so it is a function of ``(seed, i)``.
"""

import numpy as np

from hwkeras.data.batching import batch_items, batch_random_state
from hwkeras.data.dsprites import DSpritesGrid
from hwkeras.data.ground_truth import as_random_state


class DSpritesVariant(DSpritesGrid):
    """A dSprites grid (the file's ``DSprites`` or the procedural one) whose images are redrawn in RGB."""

    observation_shape = (64, 64, 3)
    # Each observation draws its colour or noise from the caller's random_state: not a function of
    # the factors, so evaluation keeps encoding every draw (hwkeras.metrics.table).
    observations_fixed_by_factors = False

    def __init__(self, base):
        self.base = base
        self.factor_sizes = tuple(base.factor_sizes)
        self.factor_names = tuple(base.factor_names)
        self.factor_values = getattr(base, "factor_values", None)
        self.source = getattr(base, "path", None)

    def prepare(self, accelerated=False):
        self.base.prepare(accelerated)

    def recolour(self, shapes, random_state):
        """float32 (n, 64, 64, 3) from binary shapes (n, 64, 64, 1), drawing from ``random_state``."""
        raise NotImplementedError

    def sample_observations_from_factors(self, factors, random_state):
        shapes = self.base.images_at(self.index_of(factors))
        return self.recolour(shapes, as_random_state(random_state))

    def images_at(self, indices):
        raise TypeError(f"{type(self).__name__} images are random given the factors: use "
                        f"sample_observations_from_factors(factors, random_state)")

    def batch(self, batch_size, seed, index):
        shapes = self.base.images_at(batch_items(self.num_rows, batch_size, seed, index))
        return self.recolour(shapes, batch_random_state(seed, index))


class ColorDSprites(DSpritesVariant):
    """dSprites with each sprite in a random colour, uniform in [0.5, 1] per channel, on black."""

    def recolour(self, shapes, random_state):
        observations = np.repeat(shapes, 3, axis=3)
        colour = random_state.uniform(0.5, 1, [observations.shape[0], 1, 1, 3])
        return (observations * colour).astype(np.float32)


class NoisyDSprites(DSpritesVariant):
    """dSprites with the white sprite on uniform noise in [0, 1] (sprite pixels stay 1)."""

    def recolour(self, shapes, random_state):
        observations = np.repeat(shapes, 3, axis=3)
        noise = random_state.uniform(0, 1, [observations.shape[0], 64, 64, 3])
        return np.minimum(observations + noise, 1.0).astype(np.float32)
