"""The plain VAE (Kingma & Welling) and beta-VAE (Higgins et al.) with a diagonal posterior."""

import keras
from keras import ops

from hwkeras.base import LatentVariableModel, bernoulli_nll
from hwkeras.layers import DiagonalGaussianHead


def diagonal_gaussian_kl(mean, log_variance):
    """KL(N(mean, diag exp(log_variance)) || N(0, I)), summed over dimensions, per example."""
    return 0.5 * ops.sum(ops.exp(log_variance) + ops.square(mean) - 1.0 - log_variance, axis=-1)


@keras.saving.register_keras_serializable(package="hwkeras")
class VAE(LatentVariableModel):
    """Diagonal-Gaussian VAE; ``beta`` weights the KL (beta = 1 is the plain VAE)."""

    term_names = ("reconstruction", "kl", "elbo")

    def __init__(self, latent_dim=10, beta=1.0, image_shape=(64, 64, 1), hidden_units=128, seed=None, **kwargs):
        self.beta = float(beta)
        super().__init__(latent_dim=latent_dim, image_shape=image_shape, hidden_units=hidden_units,
                         seed=seed, **kwargs)

    def build_head(self):
        return DiagonalGaussianHead(self.latent_dim, name="posterior")

    def compute_terms(self, x, training=False, noise=None):
        mean, log_variance = self.encode(x, training=training)
        eps = self.standard_normal(ops.shape(mean), noise)
        z = mean + ops.exp(0.5 * log_variance) * eps
        reconstruction = bernoulli_nll(x, self.decode_logits(z, training=training))
        kl = diagonal_gaussian_kl(mean, log_variance)
        return {
            "loss": reconstruction + self.beta * kl,
            "reconstruction": reconstruction,
            "kl": kl,
            "elbo": -(reconstruction + kl),
        }

    def sample(self, num_samples):
        return self.decode(keras.random.normal((num_samples, self.latent_dim), seed=self.seed_generator))

    def get_config(self):
        return {**super().get_config(), "beta": self.beta}
