"""FactorVAE (Kim & Mnih, "Disentangling by Factorising", ICML 2018), as disentanglement_lib trains it.

Loss per image: ``reconstruction + kl + gamma * tc`` with ``tc = logit_real - logit_permuted``
from the discriminator of ``hwkeras.baselines.discriminator``. By default the discriminator is
trained at the same step, on the same codes, by its own Adam (``update_order="simultaneous"``,
see ``hwkeras.training``).
"""

import keras
from keras import ops

from hwkeras import hyperparameters, training
from hwkeras.base import bernoulli_nll
from hwkeras.baselines import discriminator as adversary
from hwkeras.baselines.vae import DiagonalGaussianVAE, diagonal_gaussian_kl

DEFAULT_GAMMA = 10.0  # disentanglement_lib sweeps 10, 20, 30, 40, 50, 100


class AdversarialTCModel(DiagonalGaussianVAE):
    """A diagonal-Gaussian VAE with a total-correlation discriminator and its optimizer.

    ``update_order`` (one of ``hwkeras.training.UPDATE_ORDERS``) says how a training step updates
    the two players: ``"simultaneous"`` (both gradients from one pass on one batch) or
    ``"vae-first"`` (the VAE step on the first half of the batch, then D on the second half encoded
    by the updated encoder; the step then wants ``images_per_step = 2`` batches of images).
    """

    #: Kernel initializer of every layer of D (a Keras identifier); biases start at zero.
    discriminator_initializer = adversary.GLOROT_UNIFORM

    def __init__(self, latent_dim=10, gamma=DEFAULT_GAMMA, image_shape=(64, 64, 1), hidden_units=128,
                 seed=None, discriminator_units=adversary.DISCRIMINATOR_UNITS,
                 discriminator_layers=adversary.DISCRIMINATOR_LAYERS,
                 discriminator_learning_rate=adversary.DISCRIMINATOR_LEARNING_RATE,
                 update_order=training.SIMULTANEOUS, **kwargs):
        hyperparameters.check_update_order(update_order)
        self.gamma = float(gamma)
        self.discriminator_units = int(discriminator_units)
        self.discriminator_layers = int(discriminator_layers)
        self.discriminator_learning_rate = float(discriminator_learning_rate)
        self.update_order = update_order
        super().__init__(latent_dim=latent_dim, image_shape=image_shape, hidden_units=hidden_units,
                         seed=seed, **kwargs)
        self.discriminator = adversary.build_discriminator(
            self.latent_dim, self.discriminator_units, self.discriminator_layers,
            kernel_initializer=self.discriminator_initializer, dtype=self.dtype_policy.name)
        self.discriminator_optimizer = adversary.discriminator_optimizer(self.discriminator_learning_rate)
        # Built now so that a .keras file restores its slots into variables that already exist.
        self.discriminator_optimizer.build(self.discriminator.trainable_variables)

    @property
    def non_trainable_variables(self):
        # Keras's JAX trainer carries only model.optimizer's state through its jitted steps; D's
        # optimizer state rides along as non-trainable model state there, so that its slots and
        # iterations advance and are synced back after each epoch. Other backends update the
        # variables in place and keep Keras's list. (.keras saving walks the attributes, not
        # this list, so the files are the same on every backend.)
        variables = super().non_trainable_variables
        if keras.backend.backend() == "jax":
            variables = variables + list(self.discriminator_optimizer.variables)
        return variables

    @property
    def images_per_step(self):
        """Batches of images one training step consumes: 2 in the "vae-first" order, else 1.

        ``hwkeras fit`` asks its data stream for ``images_per_step * batch_size`` images, so that
        ``--batch-size`` stays the VAE's batch; ``model.fit`` users pass that batch size themselves.
        """
        return training.images_per_step(self.update_order)

    def tc_codes(self, z):
        """What the discriminator sees of the sampled codes z: z itself unless a subclass says."""
        return z

    def discriminator_codes(self, x, training=False, noise=None):
        """The codes D trains on in the "vae-first" order: a fresh z ~ q(z|x) of images x, as
        ``tc_codes`` presents it; no gradient flows back to the encoder."""
        mean, log_variance = self.encode(x, training=training)
        return ops.stop_gradient(self.tc_codes(self.reparameterize(mean, log_variance, noise)))

    def total_correlation_terms(self, codes, training=False):
        """``tc``, ``discriminator_loss``, ``discriminator_accuracy`` per example for codes (B, p)."""
        return adversary.discriminator_terms(self.discriminator, codes, seed=self.seed_generator,
                                             training=training)

    def get_config(self):
        return {
            **super().get_config(),
            "gamma": self.gamma,
            "discriminator_units": self.discriminator_units,
            "discriminator_layers": self.discriminator_layers,
            "discriminator_learning_rate": self.discriminator_learning_rate,
            "update_order": self.update_order,
        }


@keras.saving.register_keras_serializable(package="hwkeras")
class FactorVAE(AdversarialTCModel):
    """FactorVAE: ``loss = reconstruction + kl + gamma * tc``.

    Args:
        latent_dim: number of latent dimensions.
        gamma: weight of the total-correlation penalty (default 10).
        discriminator_units, discriminator_layers: the MLP D (1000 x 6 as in disentanglement_lib,
            Glorot-uniform kernels); smaller values only for quick tests.
        discriminator_learning_rate: Adam learning rate of D (beta_1 0.5, beta_2 0.9).
        update_order: "simultaneous" (default, disentanglement_lib's: both updates from one pass
            on one batch) or "vae-first" (see ``AdversarialTCModel``).
    """

    term_names = ("reconstruction", "kl", "tc", "discriminator_loss", "discriminator_accuracy", "elbo")

    def compute_terms(self, x, training=False, noise=None):
        mean, log_variance = self.encode(x, training=training)
        z = self.reparameterize(mean, log_variance, noise)
        reconstruction = bernoulli_nll(x, self.decode_logits(z, training=training))
        kl = diagonal_gaussian_kl(mean, log_variance)
        adversarial = self.total_correlation_terms(self.tc_codes(z), training=training)
        return {
            "loss": reconstruction + kl + self.gamma * adversarial["tc"],
            "reconstruction": reconstruction,
            "kl": kl,
            **adversarial,
            "elbo": -(reconstruction + kl),
        }
