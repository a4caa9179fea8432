"""DIP-VAE-I and DIP-VAE-II (Kumar, Sattigeri, Balakrishnan, "Variational Inference of Disentangled
Latent Concepts from Unlabeled Observations", ICLR 2018), as disentanglement_lib's ``dip_vae``.

Both add to the ELBO a penalty that pushes a covariance matrix of the codes towards the identity:

    lambda_od * sum_{i != j} Cov_ij^2 + lambda_d * sum_i (Cov_ii - 1)^2,    lambda_d = lambda_d_factor * lambda_od

- DIP-VAE-I (their Eq. 6): Cov = Cov_p(x)[mu(x)], the covariance of the encoder means over the batch.
- DIP-VAE-II (Eq. 7): Cov = E_p(x)[diag sigma^2(x)] + Cov_p(x)[mu(x)], the covariance of the aggregate
  posterior q(z): the mean encoder variance added on the diagonal.

The covariance is a property of the batch, not of one image: disentanglement_lib computes it once per
batch (``E[mu mu^T] - E[mu] E[mu]^T``, the biased 1/M estimate) and adds the penalty to the batch-mean
reconstruction and KL. Here every example of the batch carries the same penalty value, so the batch
mean of the per-example ``loss`` (what the optimizer minimises) is dlib's loss exactly, and its
gradient is dlib's.
"""

import keras
from keras import ops

from hwkeras.base import bernoulli_nll
from hwkeras.baselines.vae import DiagonalGaussianVAE, diagonal_gaussian_kl
from hwkeras.hyperparameters import check_nonnegative

#: lambda_od's default: the middle of disentanglement_lib's study grid (1, 2, 5, 10, 20, 50).
DEFAULT_LAMBDA_OD = 10.0
#: lambda_d = lambda_d_factor * lambda_od: 10 for DIP-VAE-I and 1 for DIP-VAE-II in dlib's study.
DEFAULT_LAMBDA_D_FACTOR_I = 10.0
DEFAULT_LAMBDA_D_FACTOR_II = 1.0


def covariance_of_means(mean):
    """Cov_p(x)[mu(x)] over the batch: E[mu mu^T] - E[mu] E[mu]^T (dividing by M, as dlib). (M, p) -> (p, p)."""
    expected_outer = ops.mean(ops.expand_dims(mean, 2) * ops.expand_dims(mean, 1), axis=0)
    expected = ops.mean(mean, axis=0)
    return expected_outer - ops.expand_dims(expected, 1) * ops.expand_dims(expected, 0)


def aggregate_posterior_covariance(mean, log_variance):
    """Cov_q(z)[z] = E_p(x)[diag sigma^2(x)] + Cov_p(x)[mu(x)] over the batch. (M, p) x 2 -> (p, p)."""
    expected_variance = ops.mean(ops.exp(log_variance), axis=0)
    return covariance_of_means(mean) + ops.diag(expected_variance)


def covariance_penalties(covariance):
    """(sum_{i != j} Cov_ij^2, sum_i (Cov_ii - 1)^2): the off-diagonal and diagonal deviations from I."""
    diagonal = ops.diagonal(covariance)
    off_diagonal = covariance - ops.diag(diagonal)
    return ops.sum(ops.square(off_diagonal)), ops.sum(ops.square(diagonal - 1.0))


class _DIPVAE(DiagonalGaussianVAE):
    """The shared DIP-VAE loss; a subclass says which covariance it regularises (``covariance``)."""

    term_names = ("reconstruction", "kl", "off_diagonal", "diagonal", "elbo")

    def __init__(self, latent_dim=10, lambda_od=DEFAULT_LAMBDA_OD, lambda_d_factor=DEFAULT_LAMBDA_D_FACTOR_I,
                 image_shape=(64, 64, 1), hidden_units=128, seed=None, **kwargs):
        self.lambda_od = check_nonnegative("lambda_od", lambda_od)
        self.lambda_d_factor = check_nonnegative("lambda_d_factor", lambda_d_factor)
        super().__init__(latent_dim=latent_dim, image_shape=image_shape, hidden_units=hidden_units,
                         seed=seed, **kwargs)

    @property
    def lambda_d(self):
        return self.lambda_d_factor * self.lambda_od

    def covariance(self, mean, log_variance):
        raise NotImplementedError

    def compute_terms(self, x, training=False, noise=None):
        mean, log_variance = self.encode(x, training=training)
        z = self.reparameterize(mean, log_variance, noise)
        reconstruction = bernoulli_nll(x, self.decode_logits(z, training=training))
        kl = diagonal_gaussian_kl(mean, log_variance)
        off_diagonal, diagonal = covariance_penalties(self.covariance(mean, log_variance))
        # The batch's penalties given to each of its examples (see the module docstring): the batch
        # mean of ``loss`` is then dlib's mean reconstruction + mean KL + penalty.
        per_example = ops.zeros_like(reconstruction)
        off_diagonal, diagonal = off_diagonal + per_example, diagonal + per_example
        return {
            "loss": reconstruction + kl + self.lambda_od * off_diagonal + self.lambda_d * diagonal,
            "reconstruction": reconstruction,
            "kl": kl,
            "off_diagonal": off_diagonal,
            "diagonal": diagonal,
            "elbo": -(reconstruction + kl),
        }

    def get_config(self):
        return {**super().get_config(), "lambda_od": self.lambda_od, "lambda_d_factor": self.lambda_d_factor}


@keras.saving.register_keras_serializable(package="hwkeras")
class DIPVAEI(_DIPVAE):
    """DIP-VAE-I: the covariance of the encoder means, Cov_p(x)[mu(x)], pushed towards I.

    ``loss = reconstruction + kl + lambda_od * off_diagonal + lambda_d_factor * lambda_od * diagonal``.
    """

    def covariance(self, mean, log_variance):
        return covariance_of_means(mean)


@keras.saving.register_keras_serializable(package="hwkeras")
class DIPVAEII(_DIPVAE):
    """DIP-VAE-II: the aggregate posterior's covariance, E[diag sigma^2(x)] + Cov[mu(x)], pushed towards I."""

    def __init__(self, latent_dim=10, lambda_od=DEFAULT_LAMBDA_OD, lambda_d_factor=DEFAULT_LAMBDA_D_FACTOR_II,
                 image_shape=(64, 64, 1), hidden_units=128, seed=None, **kwargs):
        super().__init__(latent_dim=latent_dim, lambda_od=lambda_od, lambda_d_factor=lambda_d_factor,
                         image_shape=image_shape, hidden_units=hidden_units, seed=seed, **kwargs)

    def covariance(self, mean, log_variance):
        return aggregate_posterior_covariance(mean, log_variance)
