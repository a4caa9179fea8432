"""Bayes-Factor-VAE (Kim, Wang, Sahu, Pavlovic, ICCV 2019; arXiv 1909.02820): BF-VAE-0, -1, -2.

All three keep FactorVAE's discriminator estimate of the total correlation (weight gamma, 35 in
the authors' commands) and a diagonal posterior N(m, diag s^2); they replace the N(0, I) prior
by z_j ~ N(0, 1/alpha_j) with a learned prior on each precision alpha_j (DESIGN.md section 2):

- BF-VAE-0: point estimates v_j = 1/alpha_j, pulled towards 1 by eta * sum_j (v_j - 1)^2.
- BF-VAE-1: alpha_j ~ Gamma(a_j, a_j - 1), a_j = 1 + exp(l_j) learned, q(alpha_j) = Gamma(a^_j, b^_j);
  the global KL(q(alpha) || p(alpha)) is shared by the N images of the dataset (weight 1/N).
- BF-VAE-2: as BF-VAE-1 with a_j = (1 + 2 eps)/(r_j + eps) from a relevance r_j = sigmoid(logit_j),
  the TC taken on r * z, plus eta_S ||r||_1 + eta_H H(r).

Trained as in the authors' code (seqam-lab/bfvae) by default: their discriminator (5 x Dense(1000),
leaky ReLU 0.2, N(0, 0.02) kernels, zero biases) and their update order (``update_order="vae-first"``:
the VAE step, then D's step on a second half-batch encoded by the updated encoder; a step then
takes 2 x the VAE's batch, see ``images_per_step``). ``update_order="simultaneous"`` and
``discriminator_layers=6`` give disentanglement_lib's FactorVAE schedule instead.

Global terms (one value per model) are broadcast to every example so that all tracked terms
are per-example and the batch mean of ``loss`` is the objective.
"""

import keras
from keras import ops

from hwkeras import hyperparameters, training
from hwkeras.base import bernoulli_nll
from hwkeras.baselines import discriminator as adversary
from hwkeras.baselines import gamma_prior
from hwkeras.baselines.factor_vae import AdversarialTCModel

DEFAULT_GAMMA = 35.0
# N of the full dSprites (hwkeras's ``dsprites``), which the authors' code also supports; their
# shipped commands train on oval dSprites only (N = 245760). ``hwkeras fit`` passes the N of the
# dataset it trains on; Python users should pass theirs.
DEFAULT_DATASET_SIZE = 737280
AUTHORS_DISCRIMINATOR_LAYERS = 5
ADVERSARIAL_TERMS = ("tc", "discriminator_loss", "discriminator_accuracy")


def _standard_gamma(shape, concentration, seed_generator, seed=None):
    """Gamma(concentration, 1) draws; a stateless ``seed`` tensor makes them repeatable (TF only)."""
    if seed is None:
        return keras.random.gamma(shape, alpha=concentration, seed=seed_generator)
    if keras.backend.backend() != "tensorflow":
        raise NotImplementedError("stateless seeds are supported on the TensorFlow backend only")
    import tensorflow as tf

    return tf.random.stateless_gamma(shape, seed=tf.cast(seed, tf.int32), alpha=concentration)


def _per_example(value, like):
    """A global scalar broadcast to the batch of ``like`` (B,)."""
    return ops.zeros_like(like) + value


class BayesFactorModel(AdversarialTCModel):
    """What the three BF-VAEs share: gamma 35 and the authors' discriminator and update order."""

    discriminator_initializer = adversary.AUTHORS_NORMAL

    def __init__(self, latent_dim=10, gamma=DEFAULT_GAMMA, discriminator_layers=AUTHORS_DISCRIMINATOR_LAYERS,
                 update_order=training.VAE_FIRST, **kwargs):
        super().__init__(latent_dim=latent_dim, gamma=gamma, discriminator_layers=discriminator_layers,
                         update_order=update_order, **kwargs)


@keras.saving.register_keras_serializable(package="hwkeras")
class BFVAE0(BayesFactorModel):
    """BF-VAE-0: ``reconstruction + sum_j KL(N(m_j, s_j^2) || N(0, v_j)) + gamma tc + eta sum_j (v_j - 1)^2``.

    ``prior_variance`` v = exp(log_prior_variance) is learned with the encoder and decoder;
    ``sample_latents`` draws z ~ N(0, diag v).
    """

    term_names = ("reconstruction", "kl", "variance_penalty") + ADVERSARIAL_TERMS + ("elbo",)

    def __init__(self, latent_dim=10, gamma=DEFAULT_GAMMA, eta=0.05, **kwargs):
        self.eta = float(eta)
        super().__init__(latent_dim=latent_dim, gamma=gamma, **kwargs)
        self.log_prior_variance = self.add_weight(shape=(self.latent_dim,), initializer="zeros",
                                                  name="log_prior_variance")

    @property
    def prior_variance(self):
        return ops.exp(self.log_prior_variance)

    def compute_terms(self, x, training=False, noise=None):
        mean, log_variance = self.encode(x, training=training)
        z = self.reparameterize(mean, log_variance, noise)
        reconstruction = bernoulli_nll(x, self.decode_logits(z, training=training))
        v = self.prior_variance
        kl = ops.sum(gamma_prior.gaussian_kl_to_variance(mean, log_variance, v), axis=-1)
        variance_penalty = _per_example(ops.sum(ops.square(v - 1.0)), kl)
        adversarial = self.total_correlation_terms(self.tc_codes(z), training=training)
        return {
            "loss": reconstruction + kl + self.gamma * adversarial["tc"] + self.eta * variance_penalty,
            "reconstruction": reconstruction,
            "kl": kl,
            "variance_penalty": variance_penalty,
            **adversarial,
            "elbo": -(reconstruction + kl),
        }

    def sample_latents(self, num_samples, noise=None, seed=None):
        """z ~ N(0, diag v); ``noise`` (num_samples, p) fixes the standard-normal draw."""
        return self.standard_normal((num_samples, self.latent_dim), noise) * ops.sqrt(self.prior_variance)

    def get_config(self):
        return {**super().get_config(), "eta": self.eta}


class GammaHyperpriorModel(BayesFactorModel):
    """BF-VAE-1/2 plumbing: q(alpha_j) = Gamma(a^_j, b^_j), loss and sampling; subclasses give p(alpha)."""

    term_names = ("reconstruction", "kl_latent", "kl_hyperprior") + ADVERSARIAL_TERMS + ("elbo",)

    def __init__(self, latent_dim=10, gamma=DEFAULT_GAMMA, dataset_size=DEFAULT_DATASET_SIZE, **kwargs):
        self.dataset_size = hyperparameters.check_dataset_size(dataset_size)
        super().__init__(latent_dim=latent_dim, gamma=gamma, **kwargs)
        p = self.latent_dim
        # q(alpha) starts at Gamma(1, 1), the centre of the authors' start (log a^, log b^ ~ N(0, 0.01^2)).
        self.log_posterior_shape = self.add_weight(shape=(p,), initializer="zeros", name="log_posterior_shape")
        self.log_posterior_rate = self.add_weight(shape=(p,), initializer="zeros", name="log_posterior_rate")

    def hyperprior(self):
        """(a, b), shape and rate of p(alpha), each (p,)."""
        raise NotImplementedError

    def hyperposterior(self):
        """(a^, b^), shape and rate of q(alpha), each (p,)."""
        return ops.exp(self.log_posterior_shape), ops.exp(self.log_posterior_rate)

    def prior_penalties(self, like):
        """Extra per-example regularisers {name: (weight, value)}; none for BF-VAE-1."""
        return {}

    def compute_terms(self, x, training=False, noise=None):
        mean, log_variance = self.encode(x, training=training)
        z = self.reparameterize(mean, log_variance, noise)
        reconstruction = bernoulli_nll(x, self.decode_logits(z, training=training))
        shape_q, rate_q = self.hyperposterior()
        shape_p, rate_p = self.hyperprior()
        kl_latent = ops.sum(gamma_prior.expected_gaussian_kl(mean, log_variance, shape_q, rate_q), axis=-1)
        kl_hyperprior = _per_example(ops.sum(gamma_prior.gamma_kl(shape_q, rate_q, shape_p, rate_p)), kl_latent)
        # The hyperprior KL is one term of the dataset's ELBO; each image carries 1/N of it.
        negative_elbo = reconstruction + kl_latent + kl_hyperprior / self.dataset_size
        adversarial = self.total_correlation_terms(self.tc_codes(z), training=training)
        penalties = self.prior_penalties(kl_latent)
        loss = negative_elbo + self.gamma * adversarial["tc"]
        for weight, value in penalties.values():
            loss = loss + weight * value
        return {
            "loss": loss,
            "reconstruction": reconstruction,
            "kl_latent": kl_latent,
            "kl_hyperprior": kl_hyperprior,
            **{name: value for name, (_, value) in penalties.items()},
            **adversarial,
            "elbo": -negative_elbo,
        }

    def sample_latents(self, num_samples, noise=None, seed=None, from_prior=False):
        """alpha ~ q(alpha) (the data-corrected prior; ``from_prior``: p(alpha)), z ~ N(0, 1/alpha).

        Marginally z_j is a Student-t with 2 a^_j degrees of freedom and scale sqrt(b^_j / a^_j).
        ``noise`` (num_samples, p) fixes the standard-normal draw, ``seed`` (an int32 (2,) tensor,
        TensorFlow only) the precisions, as in ``HyperpriorVAE.sample_latents``.
        """
        shape, rate = self.hyperprior() if from_prior else self.hyperposterior()
        alpha = _standard_gamma((num_samples, self.latent_dim), shape, self.seed_generator, seed) / rate
        return self.standard_normal((num_samples, self.latent_dim), noise) * ops.rsqrt(alpha)

    def get_config(self):
        return {**super().get_config(), "dataset_size": self.dataset_size}


@keras.saving.register_keras_serializable(package="hwkeras")
class BFVAE1(GammaHyperpriorModel):
    """BF-VAE-1: p(alpha_j) = Gamma(a_j, a_j - 1), a_j = 1 + exp(l_j) learned (mode of alpha_j at 1).

    ``loss = reconstruction + kl_latent + kl_hyperprior / N + gamma tc``, N = ``dataset_size``.
    """

    def __init__(self, latent_dim=10, gamma=DEFAULT_GAMMA, dataset_size=DEFAULT_DATASET_SIZE, **kwargs):
        super().__init__(latent_dim=latent_dim, gamma=gamma, dataset_size=dataset_size, **kwargs)
        # l = 0: a = 2, b = 1 at the start. b = a - 1 = exp(l) exactly, so log b = l.
        self.l = self.add_weight(shape=(self.latent_dim,), initializer="zeros", name="l")

    def hyperprior(self):
        rate = ops.exp(self.l)
        return 1.0 + rate, rate


@keras.saving.register_keras_serializable(package="hwkeras")
class BFVAE2(GammaHyperpriorModel):
    """BF-VAE-2: relevance r_j = sigmoid(logit_j) sets p(alpha_j) = Gamma(a, a - 1), a = (1 + 2 eps)/(r_j + eps).

    ``loss = reconstruction + kl_latent + kl_hyperprior / N + gamma tc(r * z)
    + eta_s ||r||_1 + eta_h H(r)``; ``relevance_l1`` and ``relevance_entropy`` are tracked unweighted.
    """

    term_names = GammaHyperpriorModel.term_names[:3] + ("relevance_l1", "relevance_entropy") + \
        GammaHyperpriorModel.term_names[3:]

    def __init__(self, latent_dim=10, gamma=DEFAULT_GAMMA, dataset_size=DEFAULT_DATASET_SIZE,
                 eta_s=0.1, eta_h=0.1, eps=1e-3, **kwargs):
        self.eta_s, self.eta_h, self.eps = float(eta_s), float(eta_h), float(eps)
        super().__init__(latent_dim=latent_dim, gamma=gamma, dataset_size=dataset_size, **kwargs)
        # logit 0: every dimension starts half relevant (r = 0.5).
        self.relevance_logit = self.add_weight(shape=(self.latent_dim,), initializer="zeros",
                                               name="relevance_logit")

    @property
    def relevance(self):
        return ops.sigmoid(self.relevance_logit)

    def hyperprior(self):
        return gamma_prior.relevance_prior(self.relevance, self.eps)

    def tc_codes(self, z):
        # Irrelevant dimensions are switched off before the discriminator looks for dependence.
        return self.relevance * z

    def prior_penalties(self, like):
        return {
            "relevance_l1": (self.eta_s, _per_example(ops.sum(self.relevance), like)),
            "relevance_entropy": (self.eta_h, _per_example(
                ops.sum(gamma_prior.binary_entropy_from_logit(self.relevance_logit)), like)),
        }

    def get_config(self):
        return {**super().get_config(), "eta_s": self.eta_s, "eta_h": self.eta_h, "eps": self.eps}
