"""CHyVAE (Ansari & Soh, AAAI 2019): a VAE whose prior covariance has an inverse-Wishart hyperprior.

    Sigma ~ IW(Psi, nu),  z | Sigma ~ N(0, Sigma),  x | z ~ Bernoulli(sigmoid(decoder(z)))

The encoder gives a full-covariance posterior N(mu, S). The loss is the negative three-term ELBO
(``reconstruction + kl_latent + kl_hyperprior``, see ``hwkeras.priors``), where the
covariance's conjugate posterior IW(Psi + z~ z~^T, nu + 1) is evaluated at a second
reparameterised sample z~ (drawn separately from the decoder's, as in the original code).
"""

import keras
from keras import ops

from hwkeras import priors
from hwkeras.base import LatentVariableModel, bernoulli_nll
from hwkeras.layers import CholeskyGaussianHead, InverseWishartSampler


@keras.saving.register_keras_serializable(package="hwkeras")
class HyperpriorVAE(LatentVariableModel):
    """CHyVAE as a ``keras.Model``: ``compile(optimizer=...)`` then ``fit(images)``.

    Args:
        latent_dim: p, the number of latent dimensions.
        nu: degrees of freedom of the inverse-Wishart hyperprior; must exceed p - 1
            (its mean exists only for nu > p + 1). Larger nu pulls Sigma towards Sigma0.
        psi: the (p, p) scale matrix Psi; default ``hwkeras.priors.prior_scale(nu, p)`` so E[Sigma] = I.
        image_shape: (height, width, channels), sides multiples of 16, 1 or 3 channels.
        hidden_units: width of the dense layer after the convolutions (128 or 256 in the paper).
        seed: seed of the model's sampling noise (the initial weights follow
            ``keras.utils.set_random_seed``, as for any Keras model; `hwkeras fit --seed` sets both).
    """

    term_names = ("reconstruction", "kl_latent", "kl_hyperprior", "elbo")

    def __init__(self, latent_dim=10, nu=priors.DEFAULT_NU, psi=None, image_shape=(64, 64, 1),
                 hidden_units=128, seed=None, **kwargs):
        # The hyperprior is validated first (by its layer, once), so a bad nu or Psi is reported
        # before any weight is built.
        hyperprior = InverseWishartSampler(psi, nu, seed=seed, latent_dim=int(latent_dim), name="hyperprior")
        super().__init__(latent_dim=latent_dim, image_shape=image_shape, hidden_units=hidden_units,
                         seed=seed, **kwargs)
        self.hyperprior = hyperprior
        self.nu, self.psi = hyperprior.nu, hyperprior.psi

    def build_head(self):
        return CholeskyGaussianHead(self.latent_dim, name="posterior")

    def compute_terms(self, x, training=False, noise=None):
        """Per-example loss terms. ``noise`` = (eps, eps_tilde), each (B, p), fixes the draws."""
        mean, scale_tril = self.encode(x, training=training)
        eps, eps_tilde = noise if noise is not None else (None, None)
        shape = ops.shape(mean)
        z = mean + ops.einsum("bij,bj->bi", scale_tril, self.standard_normal(shape, eps))
        z_tilde = mean + ops.einsum("bij,bj->bi", scale_tril, self.standard_normal(shape, eps_tilde))
        reconstruction = bernoulli_nll(x, self.decode_logits(z, training=training))
        # Psi is a float64 numpy constant: priors inverts it once, in float64.
        kl_latent = priors.kl_latent(mean, scale_tril, z_tilde, self.psi, self.nu)
        kl_hyperprior = priors.kl_hyperprior(z_tilde, self.psi, self.nu)
        loss = reconstruction + kl_latent + kl_hyperprior
        return {
            "loss": loss,
            "reconstruction": reconstruction,
            "kl_latent": kl_latent,
            "kl_hyperprior": kl_hyperprior,
            "elbo": -loss,
        }

    def prior_covariances(self, num_samples, nu=None, seed=None):
        """Sigma ~ IW(Psi, nu), one per sample.

        A ``nu`` other than the model's rescales Psi by max(nu-p-1,1)/max(nu0-p-1,1) so E[Sigma]
        stays the same and only the concentration around it changes. ``seed`` makes the draw
        repeatable (see ``InverseWishartSampler.sample``).
        """
        if nu is None:
            return self.hyperprior.sample(num_samples, seed=seed)
        p = self.latent_dim
        if isinstance(nu, (int, float)):
            nu = priors.check_nu(nu, p)
        factor = priors.prior_scale_factor(nu, p) / priors.prior_scale_factor(self.nu, p)
        return factor * self.hyperprior.sample(num_samples, nu=nu, seed=seed)

    def sample_latents(self, num_samples, nu=None, noise=None, seed=None):
        """z ~ N(0, Sigma) with Sigma ~ IW(Psi, nu); ``noise`` (num_samples, p) fixes the Gaussian draw."""
        sigma = self.prior_covariances(num_samples, nu=nu, seed=seed)
        eps = self.standard_normal((num_samples, self.latent_dim), noise)
        return ops.einsum("bij,bj->bi", ops.cholesky(sigma), eps)

    def sample(self, num_samples, nu=None):
        """New images from the generative model: Sigma, then z, then decoder probabilities."""
        return self.decode(self.sample_latents(num_samples, nu=nu))

    def get_config(self):
        return {**super().get_config(), "nu": self.nu, "psi": self.psi.tolist()}
