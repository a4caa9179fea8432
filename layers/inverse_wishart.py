"""Draws covariance matrices from the inverse-Wishart hyperprior IW(Psi, nu).

Bartlett decomposition: W = L A A^T L^T ~ Wishart(Psi^-1, nu) with L = chol(Psi^-1), A lower
triangular, A_ii = sqrt(chi2(nu - i + 1)) (i = 1..p), A_ij ~ N(0, 1) below the diagonal;
then Sigma = W^-1 ~ IW(Psi, nu). On the TensorFlow backend TFP's ``WishartTriL`` does exactly
this; on the other backends ``bartlett_inverse_wishart`` does it in keras.ops.
"""

import keras
import numpy as np
from keras import ops

from hwkeras import priors
from hwkeras.layers.cholesky_head import float32_layer


def bartlett_inverse_wishart(num_samples, psi, nu, seed=None):
    """Sigma ~ IW(Psi, nu) by the Bartlett decomposition in keras.ops (any backend).

    ``psi`` is a (p, p) array, ``nu`` a float, ``seed`` a keras seed or SeedGenerator.
    """
    psi = np.asarray(psi, dtype="float64")
    p = psi.shape[0]
    chol_psi_inv = ops.convert_to_tensor(np.linalg.cholesky(np.linalg.inv(psi)), "float32")
    seeds = seed if isinstance(seed, keras.random.SeedGenerator) else keras.random.SeedGenerator(seed)
    # chi2(k) = 2 Gamma(k/2, 1); degrees of freedom nu, nu - 1, ..., nu - p + 1 down the diagonal.
    dof = nu - ops.arange(p, dtype="float32")
    chi2 = 2.0 * _gamma((num_samples, p), dof / 2.0, seeds)
    normal = keras.random.normal((num_samples, p, p), seed=seeds)
    a = ops.tril(normal, k=-1) + ops.eye(p) * ops.expand_dims(ops.sqrt(chi2), -1)
    la = ops.matmul(chol_psi_inv, a)
    # Sigma = (L A A^T L^T)^-1 = (L A)^-T (L A)^-1
    la_inv = ops.solve_triangular(la, ops.broadcast_to(ops.eye(p), ops.shape(la)), lower=True)
    return ops.matmul(ops.swapaxes(la_inv, -1, -2), la_inv)


def _gamma(shape, alpha, seed):
    """Gamma(alpha, 1) draws with a per-column shape parameter alpha (p,)."""
    columns = [
        keras.random.gamma((shape[0],), alpha=alpha[i], seed=seed) for i in range(shape[1])
    ]
    return ops.stack(columns, axis=1)


@keras.saving.register_keras_serializable(package="hwkeras")
class InverseWishartSampler(keras.layers.Layer):
    """Layer drawing covariance matrices from IW(Psi, nu).

    ``sampler.sample(num_samples, nu=None)`` (or ``sampler(num_samples=n)``) returns
    (num_samples, p, p); ``nu`` overrides the degrees of freedom for this call (Psi unchanged).
    ``psi=None`` takes the default scale ``max(nu - p - 1, 1) I`` of ``latent_dim`` dimensions.
    The pair is validated here, once (``hwkeras.priors.hyperprior_parameters``). It computes in
    float32 under any dtype policy (the Bartlett factors and triangular solves need it).
    """

    def __init__(self, psi=None, nu=priors.DEFAULT_NU, seed=None, latent_dim=None, **kwargs):
        super().__init__(**float32_layer(kwargs))
        if psi is None and latent_dim is None:
            raise ValueError("InverseWishartSampler needs psi or latent_dim")
        if latent_dim is None:
            latent_dim = np.shape(psi)[0] if np.ndim(psi) == 2 else 1  # a non-matrix Psi fails below
        self.nu, self.psi = priors.hyperprior_parameters(nu, psi, latent_dim)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    @property
    def latent_dim(self):
        return self.psi.shape[0]

    def call(self, num_samples, nu=None):
        return self.sample(num_samples, nu=nu)

    def sample(self, num_samples, nu=None, seed=None):
        """``seed``: an int32 tensor of shape (2,) for a repeatable (stateless) draw, TensorFlow
        backend only; by default the layer's seed generator advances, so each call draws anew."""
        nu = self.nu if nu is None else nu
        if keras.backend.backend() == "tensorflow":
            return self._sample_tfp(num_samples, nu, seed)
        if seed is not None:
            raise NotImplementedError("stateless seeds are supported on the TensorFlow backend only")
        return bartlett_inverse_wishart(num_samples, self.psi, nu, seed=self.seed_generator)

    def _sample_tfp(self, num_samples, nu, seed=None):
        import tensorflow as tf
        import tensorflow_probability as tfp

        scale_tril = tf.constant(np.linalg.cholesky(np.linalg.inv(self.psi)), tf.float32)
        wishart = tfp.distributions.WishartTriL(
            df=tf.cast(nu, tf.float32), scale_tril=scale_tril, input_output_cholesky=True
        )
        seed = tf.cast(self.seed_generator.next() if seed is None else seed, tf.int32)
        chol_w = wishart.sample(num_samples, seed=seed)
        # Sigma = W^-1 = chol_w^-T chol_w^-1, from the Cholesky factor TFP returns.
        eye = tf.broadcast_to(tf.eye(self.latent_dim), tf.shape(chol_w))
        chol_w_inv = tf.linalg.triangular_solve(chol_w, eye, lower=True)
        return tf.matmul(chol_w_inv, chol_w_inv, transpose_a=True)

    def get_config(self):
        return {**super().get_config(), "psi": self.psi.tolist(), "nu": self.nu, "seed": self.seed}
