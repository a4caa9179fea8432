"""The plain VAE (Kingma & Welling) and beta-VAE (Higgins et al.) with a diagonal posterior.

``DiagonalGaussianVAE`` is the plumbing every baseline shares: the diagonal Gaussian head
(mean, log_variance) and the reparameterised sample.
"""

import keras
from keras import ops

from hwkeras.base import LatentVariableModel, bernoulli_nll
from hwkeras.layers import DiagonalGaussianHead
from hwkeras.layers.dlib import dlib_head_initializer


def diagonal_gaussian_kl(mean, log_variance):
    """KL(N(mean, diag exp(log_variance)) || N(0, I)), summed over dimensions, per example."""
    return 0.5 * ops.sum(ops.exp(log_variance) + ops.square(mean) - 1.0 - log_variance, axis=-1)


class DiagonalGaussianVAE(LatentVariableModel):
    """Base of the baselines: q(z|x) = N(mean, diag exp(log_variance)).

    The prior is N(0, I) (``LatentVariableModel.sample_latents``) unless a subclass learns one.
    """

    def build_head(self):
        initializer = dlib_head_initializer(self.hidden_units, self.latent_dim) if self.architecture == "dlib" \
            else "glorot_uniform"
        return DiagonalGaussianHead(self.latent_dim, kernel_initializer=initializer, name="posterior")

    def reparameterize(self, mean, log_variance, noise=None):
        """z = mean + sigma * eps; ``noise`` (B, p) fixes eps (tests, oracles)."""
        return mean + ops.exp(0.5 * log_variance) * self.standard_normal(ops.shape(mean), noise)


@keras.saving.register_keras_serializable(package="hwkeras")
class VAE(DiagonalGaussianVAE):
    """Diagonal-Gaussian VAE; ``beta`` weights the KL (beta = 1 is the plain VAE).

    Loss per image: ``reconstruction + beta * kl`` (disentanglement_lib's ``vae``).
    """

    term_names = ("reconstruction", "kl", "elbo")

    def __init__(self, latent_dim=10, beta=1.0, image_shape=(64, 64, 1), hidden_units=128, seed=None, **kwargs):
        self.beta = float(beta)
        super().__init__(latent_dim=latent_dim, image_shape=image_shape, hidden_units=hidden_units,
                         seed=seed, **kwargs)

    def compute_terms(self, x, training=False, noise=None):
        mean, log_variance = self.encode(x, training=training)
        z = self.reparameterize(mean, log_variance, noise)
        reconstruction = bernoulli_nll(x, self.decode_logits(z, training=training))
        kl = diagonal_gaussian_kl(mean, log_variance)
        return {
            "loss": reconstruction + self.beta * kl,
            "reconstruction": reconstruction,
            "kl": kl,
            "elbo": -(reconstruction + kl),
        }

    def get_config(self):
        return {**super().get_config(), "beta": self.beta}


@keras.saving.register_keras_serializable(package="hwkeras")
class BetaVAE(VAE):
    """beta-VAE (Higgins et al., ICLR 2017): the VAE with beta > 1 by default.

    disentanglement_lib sweeps beta over 1, 2, 4, 6, 8, 16; 4 is the paper's dSprites value.
    """

    def __init__(self, latent_dim=10, beta=4.0, image_shape=(64, 64, 1), hidden_units=128, seed=None, **kwargs):
        super().__init__(latent_dim=latent_dim, beta=beta, image_shape=image_shape,
                         hidden_units=hidden_units, seed=seed, **kwargs)
