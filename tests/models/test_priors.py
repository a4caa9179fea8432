"""Closed-form hyperprior terms against independent oracles (scipy, Monte Carlo)."""

import numpy as np
import pytest
from scipy import special, stats

from hwkeras import priors
from tests.helpers import random_spd, student_t_radius_pvalue


def gaussian_kl(mu, s, sigma):
    """KL(N(mu, s) || N(0, sigma)) for one mean/covariance and a stack of sigmas."""
    p = mu.shape[0]
    sigma_inv = np.linalg.inv(sigma)
    return 0.5 * (
        np.einsum("nij,ji->n", sigma_inv, s)
        + np.einsum("i,nij,j->n", mu, sigma_inv, mu)
        - p
        + np.linalg.slogdet(sigma)[1]
        - np.linalg.slogdet(s)[1]
    )


@pytest.mark.parametrize("p", [1, 3, 10])
def test_multivariate_digamma_is_derivative_of_lgamma(p):
    a = np.array([p / 2.0 + 0.7, 12.25, 100.5])
    h = 1e-4
    numeric = (special.multigammaln(a + h, p) - special.multigammaln(a - h, p)) / (2 * h)
    got = np.asarray(priors.multivariate_digamma(a, p))
    np.testing.assert_allclose(got, numeric, rtol=1e-4)


def _case(seed, p):
    rng = np.random.default_rng(seed)
    nu = p + 2.0 + rng.uniform(0.5, 20.0)
    psi = random_spd(rng, p, scale=nu - p - 1)
    mu = rng.normal(size=p)
    s = random_spd(rng, p, scale=0.3)
    z = rng.normal(size=p)
    return rng, nu, psi, mu, s, z


@pytest.mark.parametrize("seed,p", [(0, 2), (1, 3), (2, 6), (3, 10)])
def test_kl_latent_matches_monte_carlo(seed, p):
    rng, nu, psi, mu, s, z = _case(seed, p)
    closed = float(
        np.asarray(
            priors.kl_latent(
                mu[None].astype("float32"),
                np.linalg.cholesky(s)[None].astype("float32"),
                z[None].astype("float32"),
                psi.astype("float32"),
                nu,
            )
        )[0]
    )
    sigmas = stats.invwishart(df=nu + 1, scale=psi + np.outer(z, z)).rvs(
        size=40000, random_state=rng
    )
    kls = gaussian_kl(mu, s, sigmas)
    mc, se = kls.mean(), kls.std() / np.sqrt(len(kls))
    # The tolerance is a few standard errors and far below |closed|, so a dropped
    # constant, a sign error or a factor of 2 on any term would fail.
    assert abs(closed - mc) < 5 * se + 1e-3 * abs(mc), (closed, mc, se)
    assert 5 * se < 0.05 * abs(mc) + 0.05


def inverse_wishart_logpdf(sigmas, psi, nu):
    """log IW(Sigma; Psi, nu) of a stack of Sigmas, vectorised (checked against scipy's logpdf below)."""
    p = psi.shape[0]
    return (nu / 2 * np.linalg.slogdet(psi)[1] - nu * p / 2 * np.log(2) - special.multigammaln(nu / 2, p)
            - (nu + p + 1) / 2 * np.linalg.slogdet(sigmas)[1]
            - 0.5 * np.einsum("ij,bji->b", psi, np.linalg.inv(sigmas)))


@pytest.mark.parametrize("seed,p", [(4, 2), (5, 4), (6, 7), (7, 10)])
def test_kl_hyperprior_matches_monte_carlo(seed, p):
    """KL(q || p) = E_q[log q - log p] over 100000 draws of scipy's IW sampler; codes of scale 2 make
    the KL 1-12 nats, so the tolerance (5 standard errors) is at most 1.8% of it (p = 2)."""
    rng, nu, psi, mu, s, z = _case(seed, p)
    z = 2.0 * z
    closed = float(
        np.asarray(priors.kl_hyperprior(z[None].astype("float32"), psi.astype("float32"), nu))[0]
    )
    q = stats.invwishart(df=nu + 1, scale=psi + np.outer(z, z))
    prior = stats.invwishart(df=nu, scale=psi)
    sigmas = q.rvs(size=100000, random_state=rng)
    log_ratio = inverse_wishart_logpdf(sigmas, psi + np.outer(z, z), nu + 1) - inverse_wishart_logpdf(sigmas, psi, nu)
    scipy_ratio = q.logpdf(np.moveaxis(sigmas[:200], 0, -1)) - prior.logpdf(np.moveaxis(sigmas[:200], 0, -1))
    np.testing.assert_allclose(log_ratio[:200], scipy_ratio, rtol=0, atol=1e-9)
    mc, se = log_ratio.mean(), log_ratio.std() / np.sqrt(len(log_ratio))
    assert closed > 1.0
    assert abs(closed - mc) < 5 * se + 1e-3 * abs(mc), (closed, mc, se)
    assert 5 * se + 1e-3 * abs(mc) < 0.02 * closed


def test_terms_sum_to_authors_regulariser_plus_constant():
    """A + B = (nu+1)/2 log|Psi'| - 1/2 log|S| + (nu+1)/2 tr((S + mu mu^T + Psi) Psi'^-1) + c(nu, p, Psi)."""
    p, nu = 5, 30.0
    rng = np.random.default_rng(11)
    psi = random_spd(rng, p, scale=nu - p - 1)
    b = 16
    mu = rng.normal(size=(b, p))
    s = np.stack([random_spd(rng, p, 0.2) for _ in range(b)])
    z = rng.normal(size=(b, p)) * 2
    f32 = lambda a: a.astype("float32")  # noqa: E731
    total = np.asarray(priors.kl_latent(f32(mu), f32(np.linalg.cholesky(s)), f32(z), f32(psi), nu))
    total = total + np.asarray(priors.kl_hyperprior(f32(z), f32(psi), nu))
    psi_post = psi + np.einsum("bi,bj->bij", z, z)
    authors = (
        (nu + 1) / 2 * np.linalg.slogdet(psi_post)[1]
        - 0.5 * np.linalg.slogdet(s)[1]
        + (nu + 1) / 2 * np.einsum("bij,bji->b", s + np.einsum("bi,bj->bij", mu, mu) + psi, np.linalg.inv(psi_post))
    )
    nu_post = nu + 1
    expected_constant = (
        0.5 * (-p - p * np.log(2) - sum(special.digamma(nu_post / 2 + (1 - j) / 2) for j in range(1, p + 1)))
        - nu / 2 * np.linalg.slogdet(psi)[1]
        - nu_post * p / 2
        + special.multigammaln(nu / 2, p)
        - special.multigammaln(nu_post / 2, p)
        + 0.5 * sum(special.digamma(nu_post / 2 + (1 - j) / 2) for j in range(1, p + 1))
    )
    # float32 terms of a few nats against float64: ~1e-6 off; a constant of -336 nats must be exact to
    # 1e-3 (a digamma at nu/2 instead of nu'/2 alone would move it by 0.08).
    np.testing.assert_allclose(total - authors, expected_constant, rtol=0, atol=1e-3)


def test_prior_scale_gives_unit_mean_and_clamps():
    np.testing.assert_allclose(priors.prior_scale(20.0, 4), 15.0 * np.eye(4))
    np.testing.assert_allclose(priors.prior_scale(5.0, 4), np.eye(4))


def _closed_forms_float64(mu, s, z, psi, nu):
    """Terms (A) and (B) straight from their definitions, in float64 (DESIGN.md section 2)."""
    p, nu_post = len(z), nu + 1.0
    psi_post = psi + np.outer(z, z)
    psi_post_inv = np.linalg.inv(psi_post)
    digamma_p = sum(special.digamma(nu_post / 2 + (1 - j) / 2) for j in range(1, p + 1))
    a = 0.5 * (nu_post * np.trace(psi_post_inv @ (s + np.outer(mu, mu))) - p + np.linalg.slogdet(psi_post)[1]
               - p * np.log(2) - digamma_p - np.linalg.slogdet(s)[1])
    b = (nu / 2 * (np.linalg.slogdet(psi_post)[1] - np.linalg.slogdet(psi)[1])
         + nu_post / 2 * np.trace(psi @ psi_post_inv) - nu_post * p / 2
         + special.multigammaln(nu / 2, p) - special.multigammaln(nu_post / 2, p) + 0.5 * digamma_p)
    return a, b


@pytest.mark.parametrize("nu", [12.0, 200.0, 1000.0, 10000.0])
def test_terms_are_float64_accurate_for_every_nu(nu):
    """The rank-one (Sherman-Morrison) forms in float32 agree with the definitions in float64 to
    1e-4 nats, also at nu = 10^4 where float32 lgamma constants alone would be off by ~0.05."""
    p, rng = 10, np.random.default_rng(int(nu))
    psi = random_spd(rng, p, scale=max(nu - p - 1, 1.0))
    f32 = lambda a: np.asarray(a, "float32")  # noqa: E731
    for _ in range(4):
        mu, s, z = rng.normal(size=p), random_spd(rng, p, 0.3), rng.normal(size=p) * 1.5
        got_a = float(np.asarray(priors.kl_latent(f32(mu[None]), f32(np.linalg.cholesky(s)[None]), f32(z[None]),
                                                  f32(psi), nu))[0])
        got_b = float(np.asarray(priors.kl_hyperprior(f32(z[None]), f32(psi), nu))[0])
        want_a, want_b = _closed_forms_float64(mu, s, z, psi, nu)
        assert abs(got_a - want_a) < 1e-4 * max(1.0, abs(want_a)), (got_a, want_a)
        assert abs(got_b - want_b) < 1e-4, (got_b, want_b)


@pytest.mark.parametrize("p, nu", [(3, 5.0), (4, 8.0), (4, 20.0)])
def test_inverse_wishart_scale_mixture_is_the_student_t_the_sampling_tests_use(p, nu):
    """z | Sigma ~ N(0, Sigma) with Sigma ~ IW(Psi, nu) from scipy: k z^T Psi^-1 z / p ~ F(p, k),
    k = nu - p + 1 (tests/helpers.student_t_radius_pvalue); the Gaussian of the same covariance is not."""
    rng = np.random.default_rng(int(nu) + p)
    psi = random_spd(rng, p, scale=nu - p - 1)
    sigmas = stats.invwishart(df=nu, scale=psi).rvs(size=20000, random_state=rng)
    z = np.einsum("bij,bj->bi", np.linalg.cholesky(sigmas), rng.normal(size=(20000, p)))
    assert student_t_radius_pvalue(z, psi, nu) > 1e-3
    gaussian = rng.multivariate_normal(np.zeros(p), psi / (nu - p - 1), size=20000)
    assert student_t_radius_pvalue(gaussian, psi, nu) < 1e-6
