"""Special functions keras.ops lacks (digamma, lgamma), dispatched to the active backend."""

import keras
from keras import ops


def _backend_module():
    name = keras.backend.backend()
    if name == "tensorflow":
        import tensorflow as tf

        return tf.math.lgamma, tf.math.digamma
    if name == "jax":
        import jax.scipy.special as jss

        return jss.gammaln, jss.digamma
    if name == "torch":
        import torch

        return torch.lgamma, torch.digamma
    raise NotImplementedError(
        f"hwkeras needs lgamma/digamma, which are not wired for the {name!r} backend; "
        "set KERAS_BACKEND to tensorflow, jax or torch."
    )


def lgamma(x):
    """log Gamma(x), elementwise."""
    return _backend_module()[0](ops.convert_to_tensor(x))


def digamma(x):
    """d/dx log Gamma(x), elementwise."""
    return _backend_module()[1](ops.convert_to_tensor(x))
