"""AnnealedVAE (Burgess et al., "Understanding disentangling in beta-VAE", 2018, their Eq. 8), as
disentanglement_lib's ``annealed_vae``:

    loss = reconstruction + gamma * |KL - C(step)|,    C(step) = min(c_max, c_max * step / iteration_threshold)

The KL is pulled towards a capacity C that rises linearly from 0 to ``c_max`` nats over
``iteration_threshold`` training steps and then stays there.

Two things are as dlib has them and matter:

- ``KL`` inside the absolute value is the *batch mean* KL (``|mean_i kl_i - C|``, not
  ``mean_i |kl_i - C|``). Every example of the batch carries that one value of ``gamma * |KL - C|``,
  so the batch mean of the per-example ``loss`` is dlib's loss and its gradient dlib's.
- ``step`` is the number of training steps taken before this one (dlib's global step when the
  loss is computed: 0 on the first step). The model counts it in its own non-trainable variable
  ``annealing_step`` (read, then incremented by each ``compute_terms(training=True)``, i.e. once
  per training step), which is one of the model's weights: checkpoints, ``.keras`` files and
  ``save_weights`` keep it, so a resumed run continues the schedule where it stopped. It lives in
  the model rather than being read from ``optimizer.iterations`` because JAX's stateless training
  step maps only the model's variables while it computes the loss.
"""

import keras
from keras import ops

from hwkeras.base import bernoulli_nll
from hwkeras.baselines.vae import DiagonalGaussianVAE, diagonal_gaussian_kl
from hwkeras.hyperparameters import check_nonnegative, check_positive_int

#: dlib's study: gamma 1000, iteration_threshold 100000, c_max swept over 5, 10, 25, 50, 75, 100.
DEFAULT_GAMMA = 1000.0
#: Burgess et al.'s dSprites capacity (25 nats), also in dlib's grid.
DEFAULT_C_MAX = 25.0
DEFAULT_ITERATION_THRESHOLD = 100000


def capacity(c_max, step, iteration_threshold):
    """C(step) = min(c_max, c_max * step / iteration_threshold), in float32 (dlib's ``anneal``)."""
    step = ops.cast(step, "float32")
    return ops.minimum(c_max, c_max * step / float(iteration_threshold))


@keras.saving.register_keras_serializable(package="hwkeras")
class AnnealedVAE(DiagonalGaussianVAE):
    """AnnealedVAE: ``loss = reconstruction + gamma * |KL - C(step)|``; tracks ``capacity`` C(step)."""

    term_names = ("reconstruction", "kl", "capacity", "elbo")

    def __init__(self, latent_dim=10, gamma=DEFAULT_GAMMA, c_max=DEFAULT_C_MAX,
                 iteration_threshold=DEFAULT_ITERATION_THRESHOLD, image_shape=(64, 64, 1), hidden_units=128,
                 seed=None, **kwargs):
        self.gamma = check_nonnegative("gamma", gamma)
        self.c_max = check_nonnegative("c_max", c_max)
        self.iteration_threshold = check_positive_int("iteration_threshold", iteration_threshold)
        super().__init__(latent_dim=latent_dim, image_shape=image_shape, hidden_units=hidden_units,
                         seed=seed, **kwargs)
        # The training steps taken so far (see the module docstring). "only_first_replica": under a
        # MirroredStrategy every replica runs the step, and the count must go up by one, as the
        # optimizer's own iteration count does.
        self.annealing_step = self.add_weight(name="annealing_step", shape=(), dtype="int", initializer="zeros",
                                              trainable=False, aggregation="only_first_replica")

    def compute_terms(self, x, training=False, noise=None):
        mean, log_variance = self.encode(x, training=training)
        z = self.reparameterize(mean, log_variance, noise)
        reconstruction = bernoulli_nll(x, self.decode_logits(z, training=training))
        kl = diagonal_gaussian_kl(mean, log_variance)
        c = capacity(self.c_max, self.annealing_step, self.iteration_threshold)
        if training:
            self.annealing_step.assign_add(ops.ones((), dtype=self.annealing_step.dtype))
        # One batch-level value for every example (see the module docstring).
        per_example = ops.zeros_like(reconstruction)
        return {
            "loss": reconstruction + self.gamma * ops.abs(ops.mean(kl) - c) + per_example,
            "reconstruction": reconstruction,
            "kl": kl,
            "capacity": c + per_example,
            "elbo": -(reconstruction + kl),
        }

    def get_config(self):
        return {**super().get_config(), "gamma": self.gamma, "c_max": self.c_max,
                "iteration_threshold": self.iteration_threshold}
