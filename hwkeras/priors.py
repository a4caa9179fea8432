"""Inverse-Wishart hyperprior math in keras.ops, in closed form (DESIGN.md section 2).

Notation follows Ansari & Soh (2019): latent size ``p``, prior ``Sigma ~ IW(Psi, nu)``,
posterior ``q(z|x) = N(mu, S)`` and the conjugate ``q(Sigma|z) = IW(Psi + z z^T, nu + 1)``.
Every function works on a batch: ``mu`` is (B, p), ``S`` and ``scale_tril`` are (B, p, p);
``Psi`` is (p, p) and ``nu`` a number. All constants are kept, so the terms are true KLs; those
that depend on nu alone are computed once in float64 (scipy), the rest per batch in keras.ops.
"""

import math

import numpy as np
from keras import ops
from scipy import special

from hwkeras.device_ops import constant

# The hyperprior's parameters and their checks need no Keras (the CLI checks them before Keras
# loads); they are used here under their usual names.
from hwkeras.hyperparameters import (  # noqa: F401
    DEFAULT_NU,
    check_nu,
    hyperprior_parameters,
    nu_rule,
    prior_scale,
    prior_scale_factor,
)


def multivariate_lgamma(a, p):
    """log Gamma_p(a) = p(p-1)/4 log(pi) + sum_{j=1..p} log Gamma(a + (1 - j)/2), in float64."""
    return special.multigammaln(np.asarray(a, dtype="float64"), p)


def multivariate_digamma(a, p):
    """psi_p(a) = sum_{j=1..p} psi(a + (1 - j)/2), the derivative of log Gamma_p, in float64."""
    a = np.asarray(a, dtype="float64")
    return np.sum(special.digamma(a[..., None] + (1.0 - np.arange(1, p + 1)) / 2.0), axis=-1)


def _logdet_from_tril(scale_tril):
    return 2.0 * ops.sum(ops.log(ops.diagonal(scale_tril, axis1=-2, axis2=-1)), axis=-1)


def posterior_scale(psi, z):
    """Psi' = Psi + z z^T for a batch of latent samples z (B, p)."""
    return psi + ops.einsum("bi,bj->bij", z, z)


# Psi' = Psi + z z^T is a rank-one update of a constant matrix, so both terms need no per-example
# factorisation: with P = Psi^-1, a = P z and c = 1 + z^T P z,
#     log|Psi'| = log|Psi| + log c                      (matrix determinant lemma)
#     Psi'^-1   = P - a a^T / c                         (Sherman-Morrison)
# The only p x p work per example is the product P scale_tril. Psi is a constant of the model: given
# as a numpy array, P and log|Psi| are computed on the host in float64 and enter the step as
# constants, so a step has no factorisation at all (a tensor Psi, e.g. a serving input, is
# inverted in keras.ops instead).

def _dimension(z, psi):
    """p as a Python int: from a numpy Psi when there is one (under torch.compile a tensor's shape
    is symbolic, and scipy's multigammaln wants an int)."""
    return np.shape(psi)[0] if isinstance(psi, np.ndarray) else int(z.shape[-1])


def _rank_one_posterior(z, psi):
    """(P, log|Psi|, a = P z, c = 1 + z^T P z) for Psi' = Psi + z z^T."""
    if isinstance(psi, np.ndarray):
        psi = psi.astype("float64")
        psi_inverse, logdet_psi = constant(np.linalg.inv(psi), z.dtype), float(np.linalg.slogdet(psi)[1])
    else:
        psi = ops.convert_to_tensor(psi, dtype=z.dtype)
        psi_inverse, logdet_psi = ops.inv(psi), ops.logdet(psi)
    a = ops.matmul(z, psi_inverse)  # P is symmetric: z P = (P z)^T
    return psi_inverse, logdet_psi, a, 1.0 + ops.sum(a * z, axis=-1)


# The terms that depend on nu alone are computed once, in float64: at nu = 10^4 log Gamma_p(nu/2)
# is ~4e5, and its difference with log Gamma_p(nu'/2) would lose ~0.05 nats to float32 rounding.

def kl_latent(mean, scale_tril, z, psi, nu):
    """Term (A): E_{Sigma ~ IW(Psi', nu')} KL(N(mu, S) || N(0, Sigma)), Psi' = Psi + z z^T, nu' = nu + 1.

    = 1/2 [ nu' tr(Psi'^-1 (S + mu mu^T)) - p + log|Psi'| - p log 2 - psi_p(nu'/2) - log|S| ]

    with S = scale_tril scale_tril^T and, by Sherman-Morrison,
    tr(Psi'^-1 M) = tr(P M) - a^T M a / c for M = S + mu mu^T.
    """
    p = _dimension(mean, psi)
    nu = float(nu)
    nu_post = nu + 1.0
    constant = -p - p * math.log(2.0) - float(multivariate_digamma(nu_post / 2.0, p))
    psi_inverse, logdet_psi, a, c = _rank_one_posterior(z, psi)
    # tr(P S) = sum_ij (P L)_ij L_ij and a^T S a = |L^T a|^2, with L = scale_tril.
    trace_s = ops.sum(ops.matmul(psi_inverse, scale_tril) * scale_tril, axis=(-2, -1))
    a_s_a = ops.sum(ops.square(ops.einsum("bij,bi->bj", scale_tril, a)), axis=-1)
    trace_mean = ops.sum(ops.matmul(mean, psi_inverse) * mean, axis=-1)
    a_mean = ops.sum(a * mean, axis=-1)
    trace_term = trace_s + trace_mean - (a_s_a + ops.square(a_mean)) / c
    return 0.5 * (nu_post * trace_term + logdet_psi + ops.log(c) - _logdet_from_tril(scale_tril) + constant)


def kl_hyperprior(z, psi, nu):
    """Term (B): KL(IW(Psi', nu') || IW(Psi, nu)) with Psi' = Psi + z z^T, nu' = nu + 1.

    = nu/2 (log|Psi'| - log|Psi|) + nu'/2 tr(Psi Psi'^-1) - nu' p / 2
      + log Gamma_p(nu/2) - log Gamma_p(nu'/2) + (nu' - nu)/2 psi_p(nu'/2)

    where log|Psi'| - log|Psi| = log c and tr(Psi Psi'^-1) = p - z^T P z / c = p - (c - 1) / c.
    """
    p = _dimension(z, psi)
    nu = float(nu)
    nu_post = nu + 1.0
    constant = (float(multivariate_lgamma(nu / 2.0, p)) - float(multivariate_lgamma(nu_post / 2.0, p))
                + (nu_post - nu) / 2.0 * float(multivariate_digamma(nu_post / 2.0, p)))
    _, _, _, c = _rank_one_posterior(z, psi)
    return nu / 2.0 * ops.log(c) - nu_post / 2.0 * (c - 1.0) / c + constant
