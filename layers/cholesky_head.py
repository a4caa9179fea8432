"""Encoder heads: features -> parameters of the Gaussian posterior q(z|x)."""

import keras
import numpy as np
from keras import ops

from hwkeras.device_ops import cholesky, constant

# The original code adds 1e-4 to the softplus diagonal and 1e-4 I to the covariance so that
# log|S| and S^-1 stay finite early in training.
DIAGONAL_OFFSET = 1e-4
COVARIANCE_JITTER = 1e-4


def float32_layer(kwargs):
    """Layer kwargs with the float32 dtype policy unless one is given.

    The posterior's parameters feed a Cholesky factorisation, log-determinants and the KL terms:
    in bfloat16 (about 3 significant digits) softplus(.) + 1e-4 and S + 1e-4 I would round away
    their offsets. Under ``mixed_bfloat16`` the heads therefore cast their bfloat16 features to
    float32 and compute in float32, as Keras's mixed-precision guide does for a model's last layer.
    """
    return {"dtype": "float32", **kwargs} if kwargs.get("dtype") is None else kwargs


@keras.saving.register_keras_serializable(package="hwkeras")
class CholeskyGaussianHead(keras.layers.Layer):
    """Full-covariance Gaussian head of CHyVAE.

    A dense layer gives the mean (p values) and the p(p+1)/2 entries of a lower-triangular
    ``L`` whose diagonal is ``softplus(.) + 1e-4``. The posterior covariance is
    ``S = L L^T + 1e-4 I`` and the layer returns ``(mean, scale_tril)`` with
    ``scale_tril = cholesky(S)``, the exact Cholesky factor of ``S``: ``z = mean + scale_tril @ eps``.
    It computes in float32 under any dtype policy (see ``float32_layer``).
    """

    def __init__(self, latent_dim, **kwargs):
        super().__init__(**float32_layer(kwargs))
        self.latent_dim = int(latent_dim)
        p = self.latent_dim
        self.dense = keras.layers.Dense(p + p * (p + 1) // 2, name="dense")
        # Gather map from the packed vector (with a leading zero slot) to a p x p lower triangle.
        rows, cols = np.tril_indices(p)
        index = np.zeros((p, p), dtype="int32")
        index[rows, cols] = np.arange(1, len(rows) + 1)
        self._tril_index = index.reshape(-1)
        self._diag_mask = np.eye(p, dtype="float32")

    def build(self, input_shape):
        self.dense.build(input_shape)

    def lower_factor(self, packed):
        """The packed vector (B, p(p+1)/2) -> L (B, p, p) with a softplus diagonal."""
        p = self.latent_dim
        padded = ops.pad(packed, [[0, 0], [1, 0]])
        full = ops.reshape(ops.take(padded, constant(self._tril_index, "int32"), axis=1), (-1, p, p))
        diag = ops.softplus(full) + DIAGONAL_OFFSET
        # A backend tensor, not the numpy mask: torch cannot mix a grad-carrying tensor with numpy.
        mask = constant(self._diag_mask, full.dtype)
        return full * (1.0 - mask) + diag * mask

    def call(self, features):
        p = self.latent_dim
        out = self.dense(features)
        mean = out[:, :p]
        lower = self.lower_factor(out[:, p:])
        covariance = ops.matmul(lower, ops.swapaxes(lower, -1, -2)) + COVARIANCE_JITTER * ops.eye(p)
        return mean, cholesky(covariance)

    def compute_output_shape(self, input_shape):
        b = input_shape[0]
        return (b, self.latent_dim), (b, self.latent_dim, self.latent_dim)

    def get_config(self):
        return {**super().get_config(), "latent_dim": self.latent_dim}


@keras.saving.register_keras_serializable(package="hwkeras")
class DiagonalGaussianHead(keras.layers.Layer):
    """Diagonal Gaussian head of the baselines: features -> (mean, log_variance), in float32.

    ``kernel_initializer``: of its one Dense(2p) (a Keras identifier; architecture "dlib" passes one
    that draws as its two Dense(p) layers did, ``hwkeras.layers.dlib.dlib_head_initializer``).
    """

    def __init__(self, latent_dim, kernel_initializer="glorot_uniform", **kwargs):
        super().__init__(**float32_layer(kwargs))
        self.latent_dim = int(latent_dim)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.dense = keras.layers.Dense(2 * self.latent_dim, kernel_initializer=self.kernel_initializer, name="dense")

    def build(self, input_shape):
        self.dense.build(input_shape)

    def call(self, features):
        out = self.dense(features)
        return out[:, : self.latent_dim], out[:, self.latent_dim :]

    def compute_output_shape(self, input_shape):
        b = input_shape[0]
        return (b, self.latent_dim), (b, self.latent_dim)

    def get_config(self):
        return {**super().get_config(), "latent_dim": self.latent_dim,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer)}
