"""A toy model for the registry's tests: beta-VAE whose codes also feed a small "wobble" layer of
``wobble_units`` units, a model the package does not know until ``toy_cli`` registers it."""

import keras
from keras import ops

from hwkeras.baselines.vae import BetaVAE


@keras.saving.register_keras_serializable(package="hwkeras_tests")
class WobblyVAE(BetaVAE):
    """beta-VAE plus ``1e-3 * mean(wobble(z)^2)``, ``wobble`` a Dense layer of ``wobble_units`` units."""

    term_names = BetaVAE.term_names + ("wobble",)

    def __init__(self, latent_dim=10, beta=4.0, wobble_units=4, image_shape=(64, 64, 1), hidden_units=128,
                 seed=None, **kwargs):
        self.wobble_units = int(wobble_units)
        super().__init__(latent_dim=latent_dim, beta=beta, image_shape=image_shape, hidden_units=hidden_units,
                         seed=seed, **kwargs)
        self.wobble = keras.layers.Dense(self.wobble_units, name="wobble")
        self.wobble.build((None, self.latent_dim))

    def compute_terms(self, x, training=False, noise=None):
        terms = super().compute_terms(x, training=training, noise=noise)
        mean, _ = self.encode(x, training=training)
        wobble = ops.mean(ops.square(self.wobble(mean)), axis=-1)
        return {**terms, "loss": terms["loss"] + 1e-3 * wobble, "wobble": wobble}

    def get_config(self):
        return {**super().get_config(), "wobble_units": self.wobble_units}
