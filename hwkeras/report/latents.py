"""What each latent does: its average KL (the order of the traversal rows), traversals, prior samples.

Average KL of latent j, in nats, over a fixed set of images x_1..x_n:

* diagonal posteriors (VAE, beta-VAE, FactorVAE, beta-TCVAE, BF-VAE-*):
  ``KL_j = mean_i KL(N(mu_ij, s_ij^2) || N(0, 1))``;
* CHyVAE (full covariance S_i): the posterior marginal against the prior marginal at the
  hyperprior's mean covariance, ``KL_j = mean_i KL(N(mu_ij, (S_i)_jj) || N(0, E[Sigma]_jj))`` with
  ``E[Sigma] = Psi / (nu - p - 1)``. When nu <= p + 1 that mean does not exist and
  ``Psi / max(nu - p - 1, 1)`` is used (the Sigma0 that the default Psi is built from).

A latent whose average KL is below ``COLLAPSED_KL`` carries (almost) no information about the
image: its posterior is the prior whatever the input, and its traversal changes nothing.
"""

import numpy as np

from hwkeras.viz import TRAVERSAL_RANGE, TRAVERSAL_STEPS, traversal_latents

#: Nats; below it a latent is marked collapsed (an active latent of a trained model carries
#: tenths of a nat to several nats, a collapsed one thousandths).
COLLAPSED_KL = 0.01
#: Images the average KL is taken over, drawn with ``np.random.RandomState(PREVIEW_SEED)``.
KL_IMAGES = 256
#: Seed of the images a page shows (the first is the traversal's starting point) and of the
#: prior samples' noise: the same images for every run of a dataset, so seeds compare side by side.
PREVIEW_SEED = 0
PREVIEW_IMAGES = 8
#: CHyVAE's prior samples: the model's nu times these factors (kept where nu > p + 1), each row
#: with the same Gaussian noise, so the rows differ only by the covariance's concentration.
NU_FACTORS = (0.25, 1.0, 4.0, 16.0)
ENCODE_BATCH_SIZE = 64


def to_numpy(tensor):
    """A backend tensor as numpy (torch's carry gradients and must be detached first)."""
    from keras import ops

    return np.asarray(ops.convert_to_numpy(tensor))


def posterior_mean(model, image):
    """(p,) the posterior mean of one image, where its traversal starts."""
    return to_numpy(model.encode(np.asarray(image, np.float32)[None])[0])[0]


def reconstructions(model, images):
    """decode(posterior mean) of each image: ``model(images)``, as numpy."""
    return to_numpy(model(np.asarray(images, np.float32)))


def posterior_marginals(model, images, batch_size=ENCODE_BATCH_SIZE):
    """(mean, variance), each (n, p): q(z_j | x_i) = N(mean_ij, variance_ij) for every image."""
    means, variances = [], []
    for start in range(0, len(images), batch_size):
        mean, second = model.encode(np.asarray(images[start:start + batch_size], np.float32))[:2]
        second = to_numpy(second).astype(np.float64)
        if second.ndim == 3:  # CHyVAE's scale_tril L: the marginal variance is diag(L L^T)
            variances.append(np.sum(np.square(second), axis=-1))
        else:  # the baselines' log-variance
            variances.append(np.exp(second))
        means.append(to_numpy(mean).astype(np.float64))
    return np.concatenate(means), np.concatenate(variances)


def prior_marginal_variance(model):
    """(p,): the prior variance each latent's KL is taken against (see the module docstring)."""
    psi, nu = getattr(model, "psi", None), getattr(model, "nu", None)
    if psi is None or nu is None:
        return np.ones(model.latent_dim)
    p = model.latent_dim
    return np.diag(np.asarray(psi, np.float64)) / max(float(nu) - p - 1.0, 1.0)


def latent_kl(model, images):
    """(p,) average KL of each latent over ``images``, in nats."""
    mean, variance = posterior_marginals(model, images)
    ratio = variance / prior_marginal_variance(model)
    kl = 0.5 * (ratio + np.square(mean) / prior_marginal_variance(model) - 1.0 - np.log(ratio))
    return kl.mean(axis=0)


def latent_rows(kl, threshold=COLLAPSED_KL):
    """One dict per latent, largest average KL first: ``{"latent", "kl", "collapsed"}``."""
    kl = np.asarray(kl, np.float64)
    order = np.argsort(-kl, kind="stable")
    return [{"latent": int(j), "kl": float(kl[j]), "collapsed": bool(kl[j] < threshold)} for j in order]


def traversal_values(steps=TRAVERSAL_STEPS):
    return np.linspace(*TRAVERSAL_RANGE, steps)


def sorted_traversals(model, code, order, steps=TRAVERSAL_STEPS):
    """(len(order), steps, H, W, C): ``code`` (p,) with each latent of ``order`` swept in turn."""
    values = traversal_values(steps).astype(np.float32)
    z = to_numpy(traversal_latents(np.asarray(code, np.float32), values))[list(order)]
    decoded = to_numpy(model.decode(z.reshape(-1, z.shape[-1])))
    return decoded.reshape(z.shape[:2] + decoded.shape[1:])


def _stateless_seed(seed):
    """The Sigma draw's seed: repeatable on TensorFlow; elsewhere Keras has no stateless
    inverse-Wishart draw, so each row gets its own covariance draw (the noise is still shared)."""
    import keras

    return np.array([seed, 0], np.int32) if keras.backend.backend() == "tensorflow" else None


def prior_sample_rows(model, num=PREVIEW_IMAGES, seed=PREVIEW_SEED):
    """[(label, images (num, H, W, C))]: decoded prior draws; for CHyVAE one row per nu, same noise."""
    p = model.latent_dim
    noise = np.random.RandomState(seed).standard_normal((num, p)).astype(np.float32)
    nu = getattr(model, "nu", None)
    if nu is None or getattr(model, "psi", None) is None:
        return [("prior", to_numpy(model.decode(model.sample_latents(num, noise=noise))))]
    rows = []
    for factor in NU_FACTORS:
        value = float(nu) * factor
        if value <= p + 1:
            continue
        z = model.sample_latents(num, nu=value, noise=noise, seed=_stateless_seed(seed))
        label = f"nu = {value:g}" + (" (the model's)" if factor == 1.0 else "")
        rows.append((label, to_numpy(model.decode(z))))
    return rows
