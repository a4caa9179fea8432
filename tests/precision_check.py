"""mixed_bfloat16 against float32 under the active Keras backend; used by tests/test_precision.py
(TensorFlow, in-process) and tests/backend_worker.py (JAX, torch).

For each model in ``MODELS``: a float32 model and a mixed_bfloat16 model with the same weights
give their per-example loss terms on the same images and fixed noise; the dtypes of what must
stay float32 are recorded; a short mixed fit's loss before and after; and a .keras round trip
of the mixed model (its policy and outputs).

Tolerance: bfloat16 keeps 8 significant bits, so one rounding changes a value by at most 2^-9
(0.2%) of itself. Under mixed_bfloat16 the image, the code z entering the decoder, the weights of
the 11 encoder and decoder layers and their 11 outputs are rounded: ``ROUNDINGS = 24`` on a path
from the image to a term. To first order their effects add, so with every error aligned (and
non-expansive layers) the network outputs move by at most 24 * 2^-9 = 4.7% of their size, and by
about sqrt(24) * 2^-9 = 1.0% when the signs are random. A loss term is at most quadratic in those
outputs near where it is small (KL(N(m, s^2) || N(0, 1)) ~ m^2 / 2), which doubles the relative
error. So each term must agree with float32's within ``WORST = 2 * 24 * 2^-9 = 9.4%`` of its
scale (the largest |value| over the batch) everywhere, and within ``TYPICAL = 2 * sqrt(24) *
2^-9 = 1.9%`` in the median over the batch. (Measured on the three backends: at most 1.7%, median
under 0.5%.) The posterior heads, the logits, the KL terms and every reduction must be float32 in
the mixed model: ``float32_dtypes`` checks that exactly, which no tolerance could.

Being float32 is not enough: a KL computed in bfloat16 and cast back would pass that check and
the 9.4% bound above. ``check_kl_float64`` recomputes CHyVAE's two KL terms in float64 (numpy,
scipy) from the mixed model's own posterior ``(mean, scale_tril)`` and noise, and asks for
float32's accuracy: within ``KL_RTOL = 1e-4`` of the terms' scale, where one bfloat16 rounding
of the inputs or of the result is already 2^-9 = 0.2%.
"""

import os

import keras
import numpy as np
from keras import ops

from hwkeras.models import build_model

ROUNDINGS = 24
WORST = 2 * ROUNDINGS * 2.0 ** -9
TYPICAL = 2 * np.sqrt(ROUNDINGS) * 2.0 ** -9
MODELS = ("chyvae", "factor-vae")
P, SIDE, BATCH = 4, 32, 16
MIXED = "mixed_bfloat16"
NU = 20.0  # the tiny CHyVAE's
KL_RTOL = 1e-4


def tiny(name, dtype=None):
    options = {"nu": NU} if name == "chyvae" else {"discriminator_units": 32, "discriminator_layers": 2}
    return build_model(name, latent_dim=P, image_shape=(SIDE, SIDE, 1), hidden_units=32, seed=0, dtype=dtype,
                       **options)


def images(seed=0, n=BATCH):
    """Ellipses on a 32 x 32 canvas (soft edges): the data the models are built for."""
    from hwkeras.data import CorrelatedEllipses

    return CorrelatedEllipses(image_size=SIDE).sample_observations(n, np.random.RandomState(seed))


def noise_for(name, rng):
    eps = [rng.normal(size=(BATCH, P)).astype("float32") for _ in range(2)]
    return tuple(eps) if name == "chyvae" else eps[0]


def _numpy(terms):
    return {k: ops.convert_to_numpy(v) for k, v in terms.items()}


def float32_dtypes(model, x, noise):
    """True when the posterior parameters, the logits and every term are float32."""
    parameters = model.encode(x)
    logits = model.decode_logits(parameters[0])
    terms = model.compute_terms(x, noise=noise)
    values = list(parameters) + [logits] + list(terms.values())
    return all(keras.backend.standardize_dtype(v.dtype) == "float32" for v in values)


def compare(name, workdir, out):
    keras.utils.set_random_seed(0)
    x = images()
    reference = tiny(name)
    # A fresh head gives codes near 0, where the KL terms are tiny differences of O(1) numbers; a
    # larger head makes every term O(1), as after some training.
    reference.head.dense.kernel.assign(reference.head.dense.kernel * 20.0)
    mixed = tiny(name, dtype=MIXED)
    mixed.set_weights(reference.get_weights())
    noise = noise_for(name, np.random.RandomState(1))
    for tag, model in (("float32", reference), ("mixed", mixed)):
        for key, value in _numpy(model.compute_terms(x, noise=noise)).items():
            out[f"precision/{name}/{tag}/{key}"] = value
    out[f"precision/{name}/float32_dtypes"] = float32_dtypes(mixed, x, noise)
    if name == "chyvae":  # what check_kl_float64 recomputes the KL terms from
        mean, scale_tril = (ops.convert_to_numpy(t) for t in mixed.encode(x))
        out["precision/chyvae/posterior/mean"] = mean
        out["precision/chyvae/posterior/scale_tril"] = scale_tril
        out["precision/chyvae/posterior/eps_tilde"] = noise[1]
    out[f"precision/{name}/encoder_policy"] = mixed.encoder_body.layers[0].dtype_policy.name
    out[f"precision/{name}/head_policy"] = mixed.head.dtype_policy.name

    # A short fit of the mixed model lowers its loss; the reported terms are float32.
    mixed.compile(optimizer=keras.optimizers.Adam(3e-3))
    out[f"precision/{name}/fit_before"] = mixed.evaluate(x, batch_size=8, verbose=0, return_dict=True)["loss"]
    history = mixed.fit(x, batch_size=8, epochs=8, verbose=0)
    out[f"precision/{name}/fit_after"] = mixed.evaluate(x, batch_size=8, verbose=0, return_dict=True)["loss"]
    out[f"precision/{name}/fit_finite"] = all(np.all(np.isfinite(v)) for v in history.history.values())
    out[f"precision/{name}/tracker_dtypes"] = sorted(
        {keras.backend.standardize_dtype(t.result().dtype) for t in mixed.metrics})

    # The .keras file keeps the policy, and the loaded model gives the same outputs.
    path = os.path.join(workdir, f"{keras.backend.backend()}_{name}_mixed.keras")
    mixed.save(path)
    loaded = keras.saving.load_model(path)
    out[f"precision/{name}/loaded_policy"] = loaded.dtype_policy.name
    out[f"precision/{name}/loaded_encoder_policy"] = loaded.encoder_body.layers[0].dtype_policy.name
    out[f"precision/{name}/saved_call"] = ops.convert_to_numpy(mixed(x))
    out[f"precision/{name}/loaded_call"] = ops.convert_to_numpy(loaded(x))


def run(workdir):
    out = {}
    for name in MODELS:
        compare(name, workdir, out)
    return out


def check(out, name):
    """The assertions on ``run``'s record of one model (raises AssertionError)."""
    prefix = f"precision/{name}"
    terms = [k.split("/")[-1] for k in out if k.startswith(f"{prefix}/float32/")]
    assert terms and sorted(terms) == sorted(k.split("/")[-1] for k in out if k.startswith(f"{prefix}/mixed/"))
    for term in terms:
        reference = np.asarray(out[f"{prefix}/float32/{term}"], "float64")
        mixed = np.asarray(out[f"{prefix}/mixed/{term}"], "float64")
        assert np.all(np.isfinite(mixed)), (term, mixed)
        if term == "discriminator_accuracy":  # 0, 1/2 or 1: a sign of a logit difference
            continue
        error = np.abs(mixed - reference) / max(np.abs(reference).max(), 1e-12)
        assert error.max() <= WORST and np.median(error) <= TYPICAL, (term, error.max(), np.median(error))
    assert bool(out[f"{prefix}/float32_dtypes"])
    assert str(out[f"{prefix}/encoder_policy"]) == MIXED and str(out[f"{prefix}/head_policy"]) == "float32"
    assert (bool(out[f"{prefix}/fit_finite"])
            and float(out[f"{prefix}/fit_after"]) < 0.9 * float(out[f"{prefix}/fit_before"]))
    assert list(np.atleast_1d(out[f"{prefix}/tracker_dtypes"])) == ["float32"]
    assert str(out[f"{prefix}/loaded_policy"]) == MIXED and str(out[f"{prefix}/loaded_encoder_policy"]) == MIXED
    np.testing.assert_array_equal(out[f"{prefix}/loaded_call"], out[f"{prefix}/saved_call"])


def chyvae_kl_float64(mean, scale_tril, eps_tilde, nu=NU):
    """CHyVAE's kl_latent and kl_hyperprior per example, in float64 from the closed forms of
    DESIGN.md section 2 (explicit inverses and determinants of Psi' = Psi + z~ z~^T, none of
    hwkeras.priors' rank-one shortcuts), with Psi = (nu - p - 1) I and z~ = mean + scale_tril eps~."""
    from scipy import special

    mean, scale_tril, eps = (np.asarray(a, "float64") for a in (mean, scale_tril, eps_tilde))
    p = mean.shape[1]
    nu_post = nu + 1.0
    psi = (nu - p - 1.0) * np.eye(p)
    z = mean + np.einsum("bij,bj->bi", scale_tril, eps)
    psi_post = psi + np.einsum("bi,bj->bij", z, z)
    psi_post_inverse = np.linalg.inv(psi_post)
    logdet_post, logdet_psi = np.linalg.slogdet(psi_post)[1], np.linalg.slogdet(psi)[1]
    s = np.einsum("bij,bkj->bik", scale_tril, scale_tril)
    logdet_s = np.linalg.slogdet(s)[1]
    digamma_p = np.sum(special.digamma(nu_post / 2.0 + (1.0 - np.arange(1, p + 1)) / 2.0))
    second_moment = s + np.einsum("bi,bj->bij", mean, mean)
    kl_latent = 0.5 * (nu_post * np.einsum("bij,bji->b", psi_post_inverse, second_moment) - p + logdet_post
                       - p * np.log(2.0) - digamma_p - logdet_s)
    kl_hyperprior = (nu / 2.0 * (logdet_post - logdet_psi)
                     + nu_post / 2.0 * np.einsum("ij,bji->b", psi, psi_post_inverse) - nu_post * p / 2.0
                     + special.multigammaln(nu / 2.0, p) - special.multigammaln(nu_post / 2.0, p)
                     + (nu_post - nu) / 2.0 * digamma_p)
    return {"kl_latent": kl_latent, "kl_hyperprior": kl_hyperprior}


def check_kl_float64(out):
    """The mixed CHyVAE's KL terms against ``chyvae_kl_float64`` of its own posterior and noise."""
    reference = chyvae_kl_float64(out["precision/chyvae/posterior/mean"], out["precision/chyvae/posterior/scale_tril"],
                                  out["precision/chyvae/posterior/eps_tilde"])
    for term, expected in reference.items():
        actual = np.asarray(out[f"precision/chyvae/mixed/{term}"], "float64")
        scale = np.abs(expected).max()
        assert scale > 0.1, (term, expected)  # terms of O(1) (the head is scaled up), not near-0 differences
        np.testing.assert_allclose(actual, expected, rtol=KL_RTOL, atol=KL_RTOL * scale, err_msg=term)
