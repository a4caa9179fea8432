"""The total-correlation discriminator of FactorVAE (Kim & Mnih, ICML 2018), shared by BF-VAE.

TC(z) = KL(q(z) || prod_j q(z_j)). Samples of prod_j q(z_j) come from permuting each latent
dimension independently across the batch; a classifier D tells real codes (class 0) from
permuted ones (class 1), and the density-ratio trick gives
TC ~= E_q(z)[log D(z)_0 - log D(z)_1] = mean(logit_real - logit_permuted) over the batch.
Optimizer: Adam(1e-4, beta_1=0.5, beta_2=0.9, epsilon=1e-8) for every model. The MLP is
Dense(1000) layers with leaky ReLU (slope 0.2), then 2 logits, in two published variants:
disentanglement_lib's ``fc_discriminator`` (FactorVAE: 6 hidden layers, its default Glorot-uniform
kernels and zero biases) and the BF-VAE authors' (5 hidden layers, N(0, 0.02) kernels, zero biases).
"""

import keras
from keras import ops

DISCRIMINATOR_LAYERS = 6  # disentanglement_lib's FactorVAE
DISCRIMINATOR_UNITS = 1000
GLOROT_UNIFORM = "glorot_uniform"  # what tf.layers.dense (dlib) and keras Dense default to
# The BF-VAE authors' normal_init: every Linear layer of D gets N(0, 0.02) weights and zero bias.
# A config, not an instance: each Dense deserialises its own, so the layers draw different seeds.
AUTHORS_NORMAL = {"class_name": "RandomNormal", "config": {"mean": 0.0, "stddev": 0.02}}
LEAKY_SLOPE = 0.2  # tf.nn.leaky_relu's default (dlib) and the authors' LeakyReLU(0.2)
DISCRIMINATOR_LEARNING_RATE = 1e-4
# disentanglement_lib clips the softmax probabilities before the log; kept for the same
# saturation behaviour (a confident discriminator stops getting gradient from that example).
PROBABILITY_CLIP = 1e-6


@keras.saving.register_keras_serializable(package="hwkeras")
def discriminator_leaky_relu(x):
    return keras.activations.leaky_relu(x, negative_slope=LEAKY_SLOPE)


def build_discriminator(latent_dim, units=DISCRIMINATOR_UNITS, num_layers=DISCRIMINATOR_LAYERS,
                        kernel_initializer=GLOROT_UNIFORM, name="discriminator", dtype=None):
    """The MLP D: codes (B, p) -> logits (B, 2), column 0 'real', column 1 'permuted'.

    ``kernel_initializer`` (a Keras identifier: a name or a config dict) is used for every layer,
    the logits' included; biases start at zero. ``dtype``: the layers' dtype policy (the model's);
    ``discriminator_terms`` takes the logits in float32 whatever it is.
    """
    inputs = keras.Input((latent_dim,), name="codes")
    h = inputs
    for i in range(num_layers):
        h = keras.layers.Dense(units, activation=discriminator_leaky_relu, kernel_initializer=kernel_initializer,
                               name=f"discriminator_dense_{i}", dtype=dtype)(h)
    logits = keras.layers.Dense(2, kernel_initializer=kernel_initializer, name="discriminator_logits",
                                dtype=dtype)(h)
    return keras.Model(inputs, logits, name=name)


def discriminator_optimizer(learning_rate=DISCRIMINATOR_LEARNING_RATE):
    return keras.optimizers.Adam(learning_rate, beta_1=0.5, beta_2=0.9, epsilon=1e-8,
                                     name="discriminator_optimizer")


def permute_dims(z, seed=None):
    """Each column of z (B, p) reordered by its own random permutation of the batch.

    This keeps every marginal q(z_j) and breaks the dependence between dimensions. Sorting an
    independent uniform draw per column gives p independent permutations in one XLA-friendly op.
    """
    order = ops.argsort(keras.random.uniform(ops.shape(z), seed=seed), axis=0)
    return ops.take_along_axis(z, order, axis=0)


def clipped_log_softmax(logits):
    return ops.log(ops.clip(ops.softmax(logits, axis=-1), PROBABILITY_CLIP, 1.0 - PROBABILITY_CLIP))


def discriminator_terms(discriminator, codes, seed=None, training=False):
    """Per-example ``tc``, ``discriminator_loss`` and ``discriminator_accuracy``.

    ``tc`` carries gradient to the encoder through D(codes); the permuted codes are only
    data for D, hence stop_gradient. ``discriminator_loss`` is the cross-entropy of D on
    (real_i, permuted_i) pairs: its batch mean is disentanglement_lib's
    -(0.5 mean log D(z)_0 + 0.5 mean log D(z_perm)_1). The training step minimises it over
    D's weights only, with D's own optimizer.
    """
    logits_real = ops.cast(discriminator(codes, training=training), "float32")
    permuted = permute_dims(ops.stop_gradient(codes), seed)
    logits_permuted = ops.cast(discriminator(permuted, training=training), "float32")
    tc = logits_real[:, 0] - logits_real[:, 1]
    log_p_real = clipped_log_softmax(logits_real)
    log_p_permuted = clipped_log_softmax(logits_permuted)
    discriminator_loss = -0.5 * (log_p_real[:, 0] + log_p_permuted[:, 1])
    correct_real = ops.cast(logits_real[:, 0] > logits_real[:, 1], "float32")
    correct_permuted = ops.cast(logits_permuted[:, 1] > logits_permuted[:, 0], "float32")
    return {
        "tc": tc,
        "discriminator_loss": discriminator_loss,
        "discriminator_accuracy": 0.5 * (correct_real + correct_permuted),
    }
