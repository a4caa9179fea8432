"""Plumbing shared by CHyVAE and the baselines: encoder, decoder, metrics, train/test steps.

A subclass supplies ``build_head()`` (features -> posterior parameters) and
``compute_terms(x, training, noise)`` returning per-example tensors, at least ``loss``,
``reconstruction`` and ``elbo`` plus its own regulariser terms named in ``term_names``.

Precision: the model's Keras dtype policy (its ``dtype`` argument, else the global policy of
``keras.config.set_dtype_policy``) is ``"float32"`` or ``"mixed_bfloat16"``. Under the mixed
policy the encoder and decoder networks compute in bfloat16 with float32 weights; the posterior
heads, the hyperprior layer and everything after them stay float32 (they set their own policy),
and the decoder's logits are cast to float32 before the likelihood, so every loss term, its
batch mean and what the trackers report are float32.
"""

import warnings

import keras
from keras import ops

from hwkeras.architectures import DEFAULT_ARCHITECTURE, architecture_hidden_units
from hwkeras.device_ops import seed_generator
from hwkeras.devices import PRECISIONS
from hwkeras.layers import NETWORKS, validate_image_shape


def bernoulli_nll(x, logits):
    """-log p(x | logits) summed over pixels, per example: the stable sigmoid cross-entropy."""
    # x may be a numpy batch (compute_terms called directly); torch cannot mix it with a grad tensor.
    x = ops.convert_to_tensor(x, dtype=logits.dtype)
    per_pixel = ops.relu(logits) - logits * x + ops.log1p(ops.exp(-ops.abs(logits)))
    return ops.sum(ops.reshape(per_pixel, (ops.shape(per_pixel)[0], -1)), axis=-1)


class LatentVariableModel(keras.Model):
    #: Names of the tracked per-example terms besides ``loss``; subclasses extend it.
    term_names = ("reconstruction", "elbo")

    def __init__(self, latent_dim=10, image_shape=(64, 64, 1), hidden_units=128, seed=None,
                 architecture=DEFAULT_ARCHITECTURE, **kwargs):
        # The body's name first: a typo is reported before anything is built.
        width = architecture_hidden_units(architecture)
        super().__init__(**kwargs)  # ``dtype`` in kwargs sets self.dtype_policy (default: the global one)
        precision = self.dtype_policy.name
        if precision not in PRECISIONS:
            raise ValueError(f"hwkeras models train in {' or '.join(PRECISIONS)}, not the dtype policy "
                             f"{precision!r}; pass dtype='mixed_bfloat16' or set keras.config.set_dtype_policy")
        latent_dim = int(latent_dim)
        if latent_dim < 1:
            raise ValueError(f"latent_dim must be a positive integer, got {latent_dim}")
        self.latent_dim = latent_dim
        self.image_shape = validate_image_shape(image_shape)
        self.hidden_units = int(hidden_units)
        if width is not None and self.hidden_units != width:
            warnings.warn(f"architecture {architecture!r} has dense layers of {width} units, this model "
                          f"{self.hidden_units}; pass hidden_units={width} for that architecture exactly")
        self.architecture = architecture
        self.seed = seed
        build_encoder, build_decoder = NETWORKS[architecture]
        self.encoder_body = build_encoder(self.image_shape, self.hidden_units, dtype=precision)
        self.decoder = build_decoder(self.image_shape, latent_dim, self.hidden_units, dtype=precision)
        self.head = self.build_head()
        self.head.build((None, self.hidden_units))
        self.seed_generator = seed_generator(seed)
        self.trackers = {
            name: keras.metrics.Mean(name=name) for name in ("loss",) + tuple(self.term_names)
        }
        self.built = True

    # -- subclass hooks ---------------------------------------------------------------
    def build_head(self):
        raise NotImplementedError

    def compute_terms(self, x, training=False, noise=None):
        raise NotImplementedError

    # -- public API ----------------------------------------------------------------------
    def encode(self, x, training=False):
        """Images (B, H, W, C) in [0, 1] -> posterior parameters, the mean first."""
        return self.head(self.encoder_body(x, training=training), training=training)

    def decode_logits(self, z, training=False):
        """Bernoulli logits (B, H, W, C), in float32 whatever the decoder computes in."""
        return ops.cast(self.decoder(z, training=training), "float32")

    def decode(self, z, training=False):
        """Latents (B, p) -> pixel probabilities (B, H, W, C)."""
        return ops.sigmoid(self.decode_logits(z, training=training))

    def call(self, x, training=False):
        """Reconstruction from the posterior mean (deterministic)."""
        return self.decode(self.encode(x, training=training)[0], training=training)

    def sample_latents(self, num_samples, noise=None, seed=None):
        """Latents from the prior; N(0, I) unless a subclass has another prior.

        ``noise`` (num_samples, p) fixes the standard-normal draw; ``seed`` is for subclasses whose
        prior has further randomness (a stateless seed, see ``HyperpriorVAE``).
        """
        return self.standard_normal((num_samples, self.latent_dim), noise)

    def sample(self, num_samples):
        """New images: latents from the prior, then decoder probabilities."""
        return self.decode(self.sample_latents(num_samples))

    # -- training ------------------------------------------------------------------------
    def images_from_batch(self, data):
        x, _, _ = keras.utils.unpack_x_y_sample_weight(data)
        if isinstance(x, (tuple, list)):
            x = x[0]
        x = ops.convert_to_tensor(x)
        if tuple(x.shape[1:]) != self.image_shape:
            raise ValueError(
                f"images have shape {tuple(x.shape[1:])} but the model expects {self.image_shape}; "
                f"resize the images or build the model with image_shape={tuple(x.shape[1:])}"
            )
        return ops.cast(x, "float32")

    # ``*args``: ``(data)`` on TensorFlow and torch, ``(state, data)`` on JAX, whose trainer is stateless.
    def train_step(self, *args):
        from hwkeras import training

        return training.train_step(self, *args)

    def test_step(self, *args):
        from hwkeras import training

        return training.test_step(self, *args)

    def update_trackers(self, terms):
        for name, tracker in self.trackers.items():
            tracker.update_state(terms[name])
        return {name: tracker.result() for name, tracker in self.trackers.items()}

    @property
    def metrics(self):
        return list(self.trackers.values())

    def standard_normal(self, shape, noise=None):
        if noise is None:
            return keras.random.normal(shape, seed=self.seed_generator)
        return ops.convert_to_tensor(noise, dtype="float32")  # numpy noise would not mix with torch tensors

    def get_config(self):
        return {
            "name": self.name,
            "latent_dim": self.latent_dim,
            "image_shape": list(self.image_shape),
            "hidden_units": self.hidden_units,
            "architecture": self.architecture,
            "seed": self.seed,
            "dtype": self.dtype_policy.name,
        }
