"""The convolutional encoder and decoder of Ansari & Soh (2019), after Higgins et al.

Encoder: four 4x4 stride-2 ReLU convolutions (32, 32, 64, 64 filters), then a dense layer
(128 units for dSprites/CorrelatedEllipses, 256 for CelebA, 3D Chairs, 3D Faces).
Decoder: the mirror image with transposed convolutions, ending in per-pixel Bernoulli logits.
"""

import keras

CONV_FILTERS = (32, 32, 64, 64)
KERNEL_SIZE = 4


def validate_image_shape(image_shape):
    """Returns the shape as a tuple of ints or raises ValueError with a one-line fix."""
    try:
        shape = tuple(int(d) for d in image_shape)
    except (TypeError, ValueError):
        raise ValueError(f"image_shape must be (height, width, channels), got {image_shape!r}") from None
    if len(shape) != 3:
        raise ValueError(f"image_shape must be (height, width, channels), got {shape}")
    h, w, c = shape
    if h <= 0 or w <= 0 or h % 16 or w % 16:
        raise ValueError(
            f"image height and width must be positive multiples of 16 (four stride-2 convolutions), "
            f"got {h}x{w}; resize the images, e.g. to 64x64"
        )
    if c not in (1, 3):
        raise ValueError(f"images must have 1 (grayscale) or 3 (RGB) channels, got {c}")
    return shape


def build_encoder(image_shape, hidden_units=128, name="encoder", dtype=None):
    """images (B, H, W, C) in [0, 1] -> features (B, hidden_units).

    ``dtype``: the layers' Keras dtype policy (e.g. "mixed_bfloat16"); None takes the global one.
    """
    image_shape = validate_image_shape(image_shape)
    layers = [keras.Input(shape=image_shape)]
    for i, filters in enumerate(CONV_FILTERS):
        layers.append(
            keras.layers.Conv2D(
                filters, KERNEL_SIZE, strides=2, padding="same", activation="relu", name=f"conv{i}", dtype=dtype
            )
        )
    layers += [keras.layers.Flatten(dtype=dtype),
               keras.layers.Dense(hidden_units, activation="relu", name="hidden", dtype=dtype)]
    return keras.Sequential(layers, name=name)


def build_decoder(image_shape, latent_dim, hidden_units=128, name="decoder", dtype=None):
    """z (B, latent_dim) -> Bernoulli logits (B, H, W, C), computed in ``dtype``'s policy."""
    h, w, c = validate_image_shape(image_shape)
    top = CONV_FILTERS[-1]
    layers = [
        keras.Input(shape=(latent_dim,)),
        keras.layers.Dense(hidden_units, activation="relu", name="hidden", dtype=dtype),
        keras.layers.Dense((h // 16) * (w // 16) * top, activation="relu", name="project", dtype=dtype),
        keras.layers.Reshape((h // 16, w // 16, top), dtype=dtype),
    ]
    for i, filters in enumerate(reversed(CONV_FILTERS[:-1])):
        layers.append(
            keras.layers.Conv2DTranspose(
                filters, KERNEL_SIZE, strides=2, padding="same", activation="relu", name=f"deconv{i}",
                dtype=dtype,
            )
        )
    layers.append(
        keras.layers.Conv2DTranspose(c, KERNEL_SIZE, strides=2, padding="same", name="logits", dtype=dtype)
    )
    return keras.Sequential(layers, name=name)
