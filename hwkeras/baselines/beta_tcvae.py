"""beta-TCVAE (Chen, Li, Grosse, Duvenaud, "Isolating Sources of Disentanglement in VAEs", 2018).

With alpha = gamma = 1 in their Eq. 4 the objective is the ELBO plus (1 - beta) TC, so the loss
per image is ``reconstruction + kl + (beta - 1) * tc`` (disentanglement_lib's ``beta_tc_vae``),
where ``tc`` is the minibatch-weighted-sampling (MWS) estimate of
TC = E_q(z)[log q(z) - sum_j log q(z_j)] on the batch.
"""

import math

import keras
from keras import ops

from hwkeras.base import bernoulli_nll
from hwkeras.baselines.vae import DiagonalGaussianVAE, diagonal_gaussian_kl

DEFAULT_BETA = 6.0  # disentanglement_lib sweeps 1, 2, 4, 6, 8, 10


def gaussian_log_density(z, mean, log_variance):
    """log N(z; mean, exp(log_variance)) elementwise (broadcasting)."""
    return -0.5 * (ops.square(z - mean) * ops.exp(-log_variance) + log_variance + math.log(2.0 * math.pi))


def total_correlation(z, mean, log_variance):
    """Per-example MWS estimate of the total correlation of the aggregate posterior.

    For each code z_j of the batch, q(z_j) and every q(z_jl) are estimated by the batch mixture
    (1/M) sum_i q(. | x_i), with the (M, M, p) matrix log q(z_jl | x_i) shared by both, as
    disentanglement_lib computes it. dlib drops the normalisers, leaving its value short of the
    estimate by the constant (p - 1) log M; it is added back here so that ``tc`` estimates the
    TC itself (zero for independent dimensions). Gradients are unchanged.

    z, mean, log_variance: (M, p). Returns (M,); the batch mean is the estimate.
    """
    # log q(z_jl | x_i), indexed [j, i, l].
    log_q = gaussian_log_density(ops.expand_dims(z, 1), ops.expand_dims(mean, 0),
                                 ops.expand_dims(log_variance, 0))
    log_q_joint = ops.logsumexp(ops.sum(log_q, axis=2), axis=1)
    log_q_product = ops.sum(ops.logsumexp(log_q, axis=1), axis=1)
    batch_size = ops.cast(ops.shape(z)[0], z.dtype)
    p = z.shape[-1]
    return log_q_joint - log_q_product + (p - 1) * ops.log(batch_size)


@keras.saving.register_keras_serializable(package="hwkeras")
class BetaTCVAE(DiagonalGaussianVAE):
    """beta-TCVAE: ``loss = reconstruction + kl + (beta - 1) * tc`` (beta default 6)."""

    term_names = ("reconstruction", "kl", "tc", "elbo")

    def __init__(self, latent_dim=10, beta=DEFAULT_BETA, image_shape=(64, 64, 1), hidden_units=128,
                 seed=None, **kwargs):
        self.beta = float(beta)
        super().__init__(latent_dim=latent_dim, image_shape=image_shape, hidden_units=hidden_units,
                         seed=seed, **kwargs)

    def compute_terms(self, x, training=False, noise=None):
        mean, log_variance = self.encode(x, training=training)
        z = self.reparameterize(mean, log_variance, noise)
        reconstruction = bernoulli_nll(x, self.decode_logits(z, training=training))
        kl = diagonal_gaussian_kl(mean, log_variance)
        tc = total_correlation(z, mean, log_variance)
        return {
            "loss": reconstruction + kl + (self.beta - 1.0) * tc,
            "reconstruction": reconstruction,
            "kl": kl,
            "tc": tc,
            "elbo": -(reconstruction + kl),
        }

    def get_config(self):
        return {**super().get_config(), "beta": self.beta}
