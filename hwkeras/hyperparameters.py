"""The models' hyperparameters and their checks, without Keras.

The model constructors run these checks, and ``hwkeras fit`` and ``hwkeras sweep`` run the same
ones before Keras (and with it TensorFlow, JAX or torch) loads, so a bad value is refused in a
fraction of a second. Each check raises a one-line ValueError that names the fix.
"""

import math
import warnings

import numpy as np

# --------------------------------------------------------------------------------------------
# CHyVAE's inverse-Wishart hyperprior IW(Psi, nu).
# --------------------------------------------------------------------------------------------

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
    from keras import ops  # a tensor nu: Keras is loaded already

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
                         f"use nu > {latent_dim + 1}, where its mean exists (e.g. {max(DEFAULT_NU, latent_dim + 2):g})")
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


# --------------------------------------------------------------------------------------------
# The adversarial models' update order (FactorVAE, BF-VAE; see hwkeras.training).
# --------------------------------------------------------------------------------------------

SIMULTANEOUS = "simultaneous"
VAE_FIRST = "vae-first"
UPDATE_ORDERS = (SIMULTANEOUS, VAE_FIRST)


def check_update_order(update_order):
    if update_order not in UPDATE_ORDERS:
        raise ValueError(f"update_order must be one of {', '.join(UPDATE_ORDERS)}, got {update_order!r}")
    return update_order


def images_per_step(update_order):
    """Batches of images a step of this order consumes (the VAE's batch, then D's in "vae-first")."""
    return 2 if update_order == VAE_FIRST else 1


def check_dataset_size(dataset_size):
    """BF-VAE-1/2's N (the 1/N of the Gamma KL) as an int, or a one-line ValueError."""
    dataset_size = int(dataset_size)
    if dataset_size < 1:
        raise ValueError(f"dataset_size (N, the number of training images) must be positive, got {dataset_size}")
    return dataset_size


def check_nonnegative(name, value):
    """A weight or capacity (DIP-VAE's lambdas, AnnealedVAE's gamma and c_max) as a float >= 0, else a
    one-line ValueError."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(f"{name} must be a finite number >= 0, got {value:g}")
    return value


def check_positive_int(name, value):
    """A count of steps (AnnealedVAE's iteration_threshold) as an int >= 1, or a one-line ValueError."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a whole number >= 1, got {value!r}")
    return value


def check_finite(name, value):
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value}")
    return value


def check(latent_dim, options):
    """Runs every check that applies to ``options`` (a model's options by name) with ``latent_dim``.

    Warnings (nu <= p + 1) are left to the model's constructor, which gives them once.
    """
    for name, value in options.items():
        check_finite(name, value)
    if "nu" in options or options.get("psi") is not None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            hyperprior_parameters(options.get("nu", DEFAULT_NU), options.get("psi"), latent_dim)
    if "update_order" in options:
        check_update_order(options["update_order"])
    if "dataset_size" in options:
        check_dataset_size(options["dataset_size"])
