"""Per-dimension precision priors of Bayes-Factor-VAE (Kim et al., ICCV 2019), in keras.ops.

Notation (DESIGN.md section 2): z_j | alpha_j ~ N(0, 1/alpha_j), hyperprior
p(alpha_j) = Gamma(a_j, b_j) (shape, rate), variational q(alpha_j) = Gamma(a^_j, b^_j),
posterior q(z_j | x) = N(m_j, s_j^2). Every function is elementwise over dimensions; the
callers sum over j. All constants are kept so that the terms are true KLs.
"""

from keras import ops

from hwkeras.special import digamma, lgamma


def gaussian_kl_to_variance(mean, log_variance, prior_variance):
    """KL(N(m, s^2) || N(0, v)) = 1/2 [ (m^2 + s^2)/v - 1 + log v - log s^2 ] (BF-VAE-0)."""
    return 0.5 * ((ops.square(mean) + ops.exp(log_variance)) / prior_variance - 1.0
                  + ops.log(prior_variance) - log_variance)


def expected_gaussian_kl(mean, log_variance, shape, rate):
    """E_{alpha ~ Gamma(a^, b^)} KL(N(m, s^2) || N(0, 1/alpha)).

    KL is linear in alpha and log alpha, and E[alpha] = a^/b^, E[log alpha] = digamma(a^) - log b^:
    1/2 [ (a^/b^)(m^2 + s^2) - 1 + log b^ - digamma(a^) - log s^2 ].
    """
    return 0.5 * ((shape / rate) * (ops.square(mean) + ops.exp(log_variance)) - 1.0
                  + ops.log(rate) - digamma(shape) - log_variance)


def gamma_kl(shape_q, rate_q, shape_p, rate_p):
    """KL(Gamma(a^, b^) || Gamma(a, b)), shape-rate parameterisation.

    (a^ - a) digamma(a^) - lgamma(a^) + lgamma(a) + a (log b^ - log b) + a^ (b - b^)/b^
    """
    return ((shape_q - shape_p) * digamma(shape_q) - lgamma(shape_q) + lgamma(shape_p)
            + shape_p * (ops.log(rate_q) - ops.log(rate_p)) + shape_q * (rate_p - rate_q) / rate_q)


def relevance_prior(relevance, eps):
    """BF-VAE-2's hyperprior from relevance r in [0, 1]: a = (1 + 2 eps)/(r + eps), b = a - 1.

    r -> 1 gives a ~ 1, b ~ eps (a flat prior on alpha: a free, relevant factor); r -> 0 gives
    a ~ 1/eps, concentrated at alpha = 1 (a nuisance N(0, 1) dimension). b is written as
    (1 + eps - r)/(r + eps), not a - 1, to avoid cancellation near r = 1.
    """
    return (1.0 + 2.0 * eps) / (relevance + eps), (1.0 + eps - relevance) / (relevance + eps)


def binary_entropy_from_logit(logit):
    """H(sigmoid(t)) = -r log r - (1 - r) log(1 - r), computed from t without log(0)."""
    r = ops.sigmoid(logit)
    return r * ops.softplus(-logit) + (1.0 - r) * ops.softplus(logit)
