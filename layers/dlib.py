"""disentanglement_lib's convolutional encoder and decoder (Locatello et al., ICML 2019), in Keras.

These are the networks of disentanglement_lib's ``conv_encoder`` and ``deconv_decoder``
(``methods/shared/architectures.py``), which every model of its studies uses:

- encoder: Conv 32 4x4, Conv 32 4x4, Conv 64 2x2, Conv 64 2x2, all stride 2, 'same' padding and
  ReLU; flatten; Dense 256 ReLU. The Gaussian head on top (``DiagonalGaussianHead``: one Dense of
  2p = the ``means`` and ``log_var`` Dense layers of p side by side) gives means and log-variances;
  CHyVAE puts its ``CholeskyGaussianHead`` on the same body.
- decoder: Dense 256 ReLU, Dense 1024 ReLU, reshape to 4x4x64, transposed Conv 64, 32, 32 and C,
  all 4x4 stride 2 'same', ReLU but the last, which gives the Bernoulli logits.

Kernels start Glorot-uniform and biases at zero, as ``tf.layers`` did in TF1 (and Keras does).
disentanglement_lib fixes the images to 64x64; here the reshape is (H/16, W/16, 64), which is its
4x4x64 at 64x64 and lets the same body take other sides that are multiples of 16. The dense width
256 is ``hidden_units`` (``DLIB_HIDDEN_UNITS`` by default), so ``--hidden-units`` still sets it.
tests/models/test_architecture_dlib.py holds these networks equal, layer by layer and on a forward
pass, to disentanglement_lib's own graph.
"""

import keras

from hwkeras.architectures import architecture_hidden_units
from hwkeras.layers.conv import validate_image_shape

#: (filters, kernel size) of the encoder's four stride-2 convolutions.
DLIB_ENCODER_CONVS = ((32, 4), (32, 4), (64, 2), (64, 2))
#: Filters of the decoder's transposed convolutions before the last (which has the image's channels).
DLIB_DECODER_FILTERS = (64, 32, 32)
DLIB_DECODER_KERNEL = 4
#: The width of the encoder's last and the decoder's first dense layer (e5 and d1 in dlib): 256.
DLIB_HIDDEN_UNITS = architecture_hidden_units("dlib")
#: Channels of the decoder's first feature map (its reshape to 4x4x64 at 64x64).
DLIB_TOP_FILTERS = 64


def build_dlib_encoder(image_shape, hidden_units=DLIB_HIDDEN_UNITS, name="encoder", dtype=None):
    """images (B, H, W, C) -> features (B, hidden_units): dlib's ``conv_encoder`` up to ``e5``."""
    image_shape = validate_image_shape(image_shape)
    layers = [keras.Input(shape=image_shape)]
    for i, (filters, kernel) in enumerate(DLIB_ENCODER_CONVS):
        layers.append(keras.layers.Conv2D(filters, kernel, strides=2, padding="same", activation="relu",
                                          name=f"e{i + 1}", dtype=dtype))
    layers += [keras.layers.Flatten(dtype=dtype),
               keras.layers.Dense(hidden_units, activation="relu", name="e5", dtype=dtype)]
    return keras.Sequential(layers, name=name)


def build_dlib_decoder(image_shape, latent_dim, hidden_units=DLIB_HIDDEN_UNITS, name="decoder", dtype=None):
    """z (B, latent_dim) -> Bernoulli logits (B, H, W, C): dlib's ``deconv_decoder``."""
    h, w, c = validate_image_shape(image_shape)
    layers = [
        keras.Input(shape=(latent_dim,)),
        keras.layers.Dense(hidden_units, activation="relu", name="d1", dtype=dtype),
        keras.layers.Dense((h // 16) * (w // 16) * DLIB_TOP_FILTERS, activation="relu", name="d2", dtype=dtype),
        keras.layers.Reshape((h // 16, w // 16, DLIB_TOP_FILTERS), dtype=dtype),
    ]
    for i, filters in enumerate(DLIB_DECODER_FILTERS):
        layers.append(keras.layers.Conv2DTranspose(filters, DLIB_DECODER_KERNEL, strides=2, padding="same",
                                                   activation="relu", name=f"d{i + 3}", dtype=dtype))
    layers.append(keras.layers.Conv2DTranspose(c, DLIB_DECODER_KERNEL, strides=2, padding="same", name="d6",
                                               dtype=dtype))
    return keras.Sequential(layers, name=name)


def dlib_head_initializer(features, latent_dim):
    """The initializer of ``DiagonalGaussianHead``'s Dense(2p) that draws as dlib's ``means`` and
    ``log_var`` did: each a Dense(p), Glorot-uniform, so U(-a, a) with a = sqrt(6 / (features + p)).

    VarianceScaling's fan_avg uniform rule gives a = sqrt(3 s / ((features + 2p) / 2)) for a
    (features, 2p) kernel, which is that ``a`` at s = (features + 2p) / (features + p) (plain Glorot
    would give the slightly narrower sqrt(6 / (features + 2p))).
    """
    scale = (features + 2 * latent_dim) / (features + latent_dim)
    return keras.initializers.VarianceScaling(scale=scale, mode="fan_avg", distribution="uniform")
