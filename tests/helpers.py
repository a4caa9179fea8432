"""Small shared fixtures for the tests: tiny models and ellipse images, subprocess deadlines, shared data."""

import os

import numpy as np
from scipy import stats

from hwkeras.data import CorrelatedEllipses

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def deadline(seconds):
    """A subprocess timeout: ``seconds`` (ample on 2 idle cores) times $HWKERAS_TEST_TIMEOUT_FACTOR,
    which a slow or busy CI machine raises. Every subprocess a test starts takes its timeout from here."""
    return seconds * float(os.environ.get("HWKERAS_TEST_TIMEOUT_FACTOR", "1"))


def shared_data(*parts):
    """A path under the project's shared data folder: $HWKERAS_SHARED_DATA (``make test`` sets it to
    ../shared/data beside the clone), else ../shared/data beside the repository. A missing path fails
    the test with the fix; it never skips."""
    import pytest

    root = os.path.abspath(os.environ.get("HWKERAS_SHARED_DATA") or os.path.join(ROOT, "..", "shared", "data"))
    path = os.path.join(root, *parts)
    if not os.path.exists(path):
        pytest.fail(f"{path} not found: set HWKERAS_SHARED_DATA to the shared data folder "
                    f"(`make test` passes ../shared/data beside the clone)", pytrace=False)
    return path


#: The 320 real dSprites frames on a stand-in factor grid (colour, shape, scale, orientation, posX, posY).
REAL_DSPRITES_SIZES = (1, 2, 2, 5, 4, 4)
#: dSprites' published file name, which the loader looks for.
DSPRITES_FILE = "dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz"


def write_real_dsprites(path):
    """dSprites' npz schema (imgs uint8 0/1, latents_classes, latents_values, a latin1-loadable metadata
    pickle) holding the 320 real frames of the shared dsprites.gif in index order; returns ``path``."""
    from PIL import Image

    gif = Image.open(shared_data("dsprites-sample", "dsprites.gif"))
    frames = []
    for i in range(gif.n_frames):
        gif.seek(i)
        frames.append(np.array(gif.convert("L")) > 127)
    imgs = np.stack(frames).astype(np.uint8)
    assert imgs.shape == (int(np.prod(REAL_DSPRITES_SIZES)), 64, 64), imgs.shape
    classes = np.stack(np.unravel_index(np.arange(len(imgs)), REAL_DSPRITES_SIZES), axis=1).astype(np.int64)
    names = ("color", "shape", "scale", "orientation", "posX", "posY")
    metadata = {"latents_sizes": np.array(REAL_DSPRITES_SIZES), "latents_names": names,
                "latents_possible_values": {n: np.linspace(0, 1, s) for n, s in zip(names, REAL_DSPRITES_SIZES)}}
    np.savez(path, imgs=imgs, latents_classes=classes, latents_values=classes.astype(np.float64),
             metadata=np.array(metadata, dtype=object))
    return path


def ellipse_batch(n=16, image_size=32, seed=0):
    return CorrelatedEllipses(image_size=image_size).sample_observations(n, np.random.RandomState(seed))


def random_spd(rng, p, scale=1.0):
    a = rng.normal(size=(p, p))
    return scale * (a @ a.T / p + 0.5 * np.eye(p))


def student_t_radius_pvalue(z, psi, nu):
    """KS p-value of draws z (n, p) against the marginal law of z | Sigma ~ N(0, Sigma), Sigma ~ IW(Psi, nu).

    That marginal is the multivariate Student t with k = nu - p + 1 degrees of freedom and scale
    Psi / k, so k z^T Psi^-1 z / p ~ F(p, k) (tests/models/test_priors.py checks this against scipy's
    inverse-Wishart). Its tails are heavier than those of the Gaussian with the same covariance,
    which a sampler ignoring the hyperprior would give: at p = 4, 0.047 away in KS distance for
    nu = 20 and 0.18 for nu = 8, against a critical distance of 0.014 (p-value 1e-3) at 20000 draws.
    """
    p = psi.shape[0]
    k = nu - p + 1
    radius = k * np.einsum("bi,ij,bj->b", z, np.linalg.inv(psi), z) / p
    return stats.kstest(radius, stats.f(p, k).cdf).pvalue
