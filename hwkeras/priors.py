"""Inverse-Wishart hyperprior math in keras.ops, in closed form (DESIGN.md section 2).

Notation follows Ansari & Soh (2019): latent size ``p``, prior ``Sigma ~ IW(Psi, nu)``,
posterior ``q(z|x) = N(mu, S)`` and the conjugate ``q(Sigma|z) = IW(Psi + z z^T, nu + 1)``.
Every function works on a batch: ``mu`` is (B, p), ``S`` and ``scale_tril`` are (B, p, p);
``Psi`` is (p, p) and ``nu`` a scalar. All constants are kept, so the terms are true KLs.
"""

import math
import warnings

import numpy as np
from keras import ops

from hwkeras.special import digamma, lgamma


def multivariate_lgamma(a, p):
    """log Gamma_p(a) = p(p-1)/4 log(pi) + sum_{j=1..p} log Gamma(a + (1 - j)/2)."""
    a = ops.convert_to_tensor(a, dtype="float32")
    offsets = (1.0 - ops.arange(1, p + 1, dtype="float32")) / 2.0
    terms = lgamma(ops.expand_dims(a, -1) + offsets)
    return p * (p - 1) / 4.0 * math.log(math.pi) + ops.sum(terms, axis=-1)


def multivariate_digamma(a, p):
    """psi_p(a) = sum_{j=1..p} psi(a + (1 - j)/2), the derivative of log Gamma_p."""
    a = ops.convert_to_tensor(a, dtype="float32")
    offsets = (1.0 - ops.arange(1, p + 1, dtype="float32")) / 2.0
    return ops.sum(digamma(ops.expand_dims(a, -1) + offsets), axis=-1)


#: Degrees of freedom of the hyperprior when none is given: the paper's CorrelatedEllipses value.
DEFAULT_NU = 200.0


def nu_rule(latent_dim, nu="nu"):
    """The existence condition of IW(Psi, nu), in words (also used by the serving checks)."""
    return f"{nu} must exceed latent_dim - 1 = {latent_dim - 1}"


def prior_scale_factor(nu, latent_dim):
    """max(nu - p - 1, 1): the multiple of Sigma0 that makes E[Sigma] = Sigma0 when nu > p + 1.

    The clamp at 1 is the original code's; it only matters when the mean is undefined. ``nu`` may
    be a Python number or a tensor (the serving signatures take nu as an input).
    """
    if isinstance(nu, (int, float)):
        return max(float(nu) - latent_dim - 1.0, 1.0)
    return ops.maximum(nu - latent_dim - 1.0, 1.0)


def prior_scale(nu, latent_dim, sigma0=None):
    """Psi = max(nu - p - 1, 1) * Sigma0 (Sigma0 = I by default), so that E[Sigma] = Sigma0."""
    sigma0 = np.eye(latent_dim) if sigma0 is None else np.asarray(sigma0, dtype="float64")
    return prior_scale_factor(float(nu), latent_dim) * sigma0


def check_nu(nu, latent_dim):
    """nu as a float, or ValueError with a one-line fix unless IW(., nu) exists in p dimensions."""
    try:
        nu = float(nu)
    except (TypeError, ValueError):
        raise ValueError(f"nu must be a number, got {nu!r}") from None
    if not math.isfinite(nu):
        raise ValueError(f"nu must be a finite number, got {nu}; use e.g. nu={DEFAULT_NU:g}")
    if not nu > latent_dim - 1:
        raise ValueError(f"{nu_rule(latent_dim, f'nu={nu:g}')} for IW(Psi, nu) to exist; "
                         f"use nu > {latent_dim + 1} (e.g. {max(DEFAULT_NU, latent_dim + 2):g})")
    return nu


def hyperprior_parameters(nu, psi, latent_dim):
    """The one validation of the hyperprior IW(Psi, nu): returns (nu, Psi) as (float, float64 (p, p)).

    ``psi=None`` gives the default ``prior_scale(nu, p)``. Raises a one-line ValueError naming the
    problem (nu first, since a bad nu would make the default Psi look wrong); warns when
    nu <= p + 1, where E[Sigma] is undefined and the default Psi is clamped.
    """
    latent_dim = int(latent_dim)
    if latent_dim < 1:
        raise ValueError(f"latent_dim must be a positive integer, got {latent_dim}")
    nu = check_nu(nu, latent_dim)
    psi = prior_scale(nu, latent_dim) if psi is None else np.asarray(psi, dtype="float64")
    if psi.ndim != 2 or psi.shape[0] != psi.shape[1]:
        raise ValueError(f"Psi must be a square (p, p) matrix, got shape {psi.shape}")
    if psi.shape[0] != latent_dim:
        raise ValueError(f"Psi is {psi.shape[0]}x{psi.shape[0]} but latent_dim is {latent_dim}")
    if not np.all(np.isfinite(psi)):
        raise ValueError("Psi contains NaN or inf; pass a finite positive-definite matrix")
    if not np.allclose(psi, psi.T, rtol=1e-6, atol=1e-8):
        raise ValueError("Psi must be symmetric; pass (Psi + Psi.T) / 2")
    if np.linalg.eigvalsh(psi).min() <= 0:
        raise ValueError("Psi must be positive definite (all eigenvalues > 0); e.g. use a multiple of the identity")
    if nu <= latent_dim + 1:
        warnings.warn(
            f"nu={nu:g} <= latent_dim + 1 = {latent_dim + 1}: the inverse-Wishart mean is "
            "undefined and the default Psi is clamped to I; use nu > latent_dim + 1",
            stacklevel=3,
        )
    return nu, psi


def _batch_trace(m):
    return ops.trace(m, axis1=-2, axis2=-1)


def _logdet_from_tril(scale_tril):
    return 2.0 * ops.sum(ops.log(ops.diagonal(scale_tril, axis1=-2, axis2=-1)), axis=-1)


def posterior_scale(psi, z):
    """Psi' = Psi + z z^T for a batch of latent samples z (B, p)."""
    return psi + ops.einsum("bi,bj->bij", z, z)


def kl_latent(mean, scale_tril, z, psi, nu):
    """Term (A): E_{Sigma ~ IW(Psi', nu')} KL(N(mu, S) || N(0, Sigma)), Psi' = Psi + z z^T, nu' = nu + 1.

    = 1/2 [ nu' tr(Psi'^-1 (S + mu mu^T)) - p + log|Psi'| - p log 2 - psi_p(nu'/2) - log|S| ]
    """
    p = mean.shape[-1]
    nu_post = nu + 1.0
    psi_post = posterior_scale(psi, z)
    chol_post = ops.cholesky(psi_post)
    second_moment = ops.matmul(scale_tril, ops.swapaxes(scale_tril, -1, -2)) + ops.einsum(
        "bi,bj->bij", mean, mean
    )
    trace_term = _batch_trace(_cholesky_solve(chol_post, second_moment))
    return 0.5 * (
        nu_post * trace_term
        - p
        + _logdet_from_tril(chol_post)
        - p * math.log(2.0)
        - multivariate_digamma(nu_post / 2.0, p)
        - _logdet_from_tril(scale_tril)
    )


def kl_hyperprior(z, psi, nu):
    """Term (B): KL(IW(Psi', nu') || IW(Psi, nu)) with Psi' = Psi + z z^T, nu' = nu + 1.

    = nu/2 (log|Psi'| - log|Psi|) + nu'/2 tr(Psi Psi'^-1) - nu' p / 2
      + log Gamma_p(nu/2) - log Gamma_p(nu'/2) + (nu' - nu)/2 psi_p(nu'/2)
    """
    p = z.shape[-1]
    nu_post = nu + 1.0
    psi = ops.convert_to_tensor(psi, dtype=z.dtype)
    psi_post = posterior_scale(psi, z)
    chol_post = ops.cholesky(psi_post)
    logdet_psi = _logdet_from_tril(ops.cholesky(psi))
    batch_psi = ops.broadcast_to(psi, ops.shape(psi_post))
    trace_term = _batch_trace(_cholesky_solve(chol_post, batch_psi))
    return (
        nu / 2.0 * (_logdet_from_tril(chol_post) - logdet_psi)
        + nu_post / 2.0 * trace_term
        - nu_post * p / 2.0
        + multivariate_lgamma(nu / 2.0, p)
        - multivariate_lgamma(nu_post / 2.0, p)
        + (nu_post - nu) / 2.0 * multivariate_digamma(nu_post / 2.0, p)
    )


def _cholesky_solve(chol, rhs):
    """A^-1 rhs for A = chol chol^T, by two triangular solves (no explicit inverse)."""
    y = ops.solve_triangular(chol, rhs, lower=True)
    return ops.solve_triangular(ops.swapaxes(chol, -1, -2), y, lower=False)
